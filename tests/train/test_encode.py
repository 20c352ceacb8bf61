"""Model inputs: the label mask puts loss on the answer tokens only, checked token by token."""

from __future__ import annotations

import pytest
import torch

from datagen.train.data import Example, load_examples
from datagen.train.encode import (IGNORE, answer_logits, collate, encode_for_training, encode_prompt,
                                  pad_token_id)
from datagen.train.models import load_model, load_processor

IMAGE_TOKENS_140_PX = 25  # (140 / 28) ** 2 merged patches


@pytest.fixture(scope="module")
def processor(tiny_model):
    return load_processor(tiny_model)


@pytest.fixture(scope="module")
def examples(train_build):
    return load_examples(train_build)


def test_labels_are_exactly_the_answer_tokens_and_the_end_of_turn(processor, examples):
    tokenizer = processor.tokenizer
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for example in examples:
        features = encode_for_training(processor, example)
        ids, labels = features["input_ids"][0].tolist(), features["labels"][0].tolist()
        answer_ids = tokenizer(example.answer, add_special_tokens=False)["input_ids"]
        expected = answer_ids + [im_end] + tokenizer("\n", add_special_tokens=False)["input_ids"]
        labelled = [i for i, label in enumerate(labels) if label != IGNORE]
        assert labelled == list(range(len(ids) - len(expected), len(ids))), example.id  # one block, at the end
        assert [labels[i] for i in labelled] == expected == [ids[i] for i in labelled]
        assert tokenizer.decode([labels[i] for i in labelled][:len(answer_ids)]) == example.answer
        prompt = tokenizer.decode(ids[:labelled[0]])
        assert prompt.endswith(f"{example.question}<|im_end|>\n<|im_start|>assistant\n")
        assert prompt.count("<|image_pad|>") == IMAGE_TOKENS_140_PX


def test_every_image_of_a_record_gets_its_tokens_and_pixels(processor, examples):
    first = examples[0]
    pair = Example(id="pair", split="train", images=(first.images[0], examples[2].images[0]), question="Which?",
                   answer="the second", camera=first.camera, where="-")
    features = encode_for_training(processor, pair)
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert (features["input_ids"] == image_id).sum() == 2 * IMAGE_TOKENS_140_PX
    assert features["image_grid_thw"].tolist() == [[1, 10, 10], [1, 10, 10]]  # 14-px patches
    assert features["pixel_values"].shape[0] == 2 * 100


def test_collate_pads_right_for_training_and_left_for_generation(processor, examples):
    short, long = sorted((encode_for_training(processor, e) for e in examples[:4]),
                         key=lambda f: f["input_ids"].shape[1])[::3]
    gap = long["input_ids"].shape[1] - short["input_ids"].shape[1]
    assert gap > 0
    pad = pad_token_id(processor)
    batch = collate([short, long], pad)
    assert batch["input_ids"][0, -gap:].tolist() == [pad] * gap
    assert batch["labels"][0, -gap:].tolist() == [IGNORE] * gap and batch["attention_mask"][0, -gap:].sum() == 0
    assert torch.equal(batch["labels"][1], long["labels"][0])
    assert batch["pixel_values"].shape[0] == short["pixel_values"].shape[0] + long["pixel_values"].shape[0]
    prompts = [encode_prompt(processor, e) for e in examples[:2]]
    left = collate(prompts, pad, left=True)
    for row, prompt in zip(left["input_ids"], prompts):
        assert row[-prompt["input_ids"].shape[1]:].tolist() == prompt["input_ids"][0].tolist()


def test_logits_are_computed_at_the_answer_positions_only(processor, examples, tiny_model):
    model = load_model(tiny_model, dtype=torch.float32, device=torch.device("cpu"))
    batch = collate([encode_for_training(processor, e) for e in examples[:2]], pad_token_id(processor))
    labels = batch.pop("labels")
    with torch.no_grad():
        logits, targets = answer_logits(model, batch, labels)
        full = model(**batch).logits
    keep = labels[:, 1:] != IGNORE
    assert logits.shape == (int(keep.sum()), full.shape[-1])
    assert torch.equal(targets, labels[:, 1:][keep])
    torch.testing.assert_close(logits, full[:, :-1][keep], rtol=1e-4, atol=1e-4)
