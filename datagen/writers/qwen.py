"""Qwen2.5-VL fine-tuning (``qwen-vl-finetune``): JSONL of image + conversations, no system turn.

::

    {"id": "...", "image": "/abs/build/images/3f/3f9a0c1e2b7d.jpg",
     "conversations": [{"from": "human", "value": "<image>\\nHow far ...?"},
                       {"from": "gpt", "value": "7.23"}]}

Several images (the pose task) give a list in ``image`` and one ``<image>`` per image;
the trainer pairs the placeholders with the images in order and rejects a count that
differs. It reads ``.jsonl`` annotation files line by line (any other suffix as one JSON
document). Register the file in ``qwenvl/data/__init__.py`` as
``{"annotation_path": "<this folder>/train.jsonl", "data_path": "<build folder>"}``: the
trainer opens ``data_path / image``, so absolute paths (the default) work with any
``data_path`` and relative ones (``paths="relative"``) need the build folder there.
``id`` is ignored by the trainer.
"""

from __future__ import annotations

from datagen.writers import register
from datagen.writers.base import JsonlSink
from datagen.writers.llava import LlavaWriter


@register("qwen")
class QwenWriter(LlavaWriter):
    """Qwen2.5-VL fine-tune rows: LLaVA's rows (image, human/gpt conversations), one JSON line each."""

    name = "qwen"
    suffix = ".jsonl"
    sink_class = JsonlSink
    relative_paths_hint = "set data_path: {build_dir} in qwenvl/data/__init__.py"
