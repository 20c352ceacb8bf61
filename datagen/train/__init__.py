"""The bundled minimal trainer: supervised fine-tuning of a vision-language model on a build,
and batched generation of its answers for ``datagen score``.

Needs the ``train`` extra (torch, transformers, peft); ``import datagen`` never imports this
package, and building data needs none of it. Modules:

* :mod:`datagen.train.data`: the build's records as prompt/answer examples (no torch).
* :mod:`datagen.train.options`: the options of a training and a prediction run (no torch).
* :mod:`datagen.train.models`: loading a local model and processor, LoRA, devices.
* :mod:`datagen.train.tiny`: a tiny random Qwen2.5-VL-shaped model, built offline.
* :mod:`datagen.train.encode`: examples to model inputs, with the answer-only label mask.
* :mod:`datagen.train.loop` and :mod:`datagen.train.checkpoint`: the training loop, exact resume.
* :mod:`datagen.train.run_folder`: folders of a run put in place and removed through its ledger.
* :mod:`datagen.train.predict`: greedy generation into a predictions JSONL file.
* :mod:`datagen.train.plot`: the loss curve as a PNG (Pillow only).
"""
