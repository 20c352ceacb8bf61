"""Examples to model inputs: the prompt through the processor, the answer through the tokenizer.

A training example is the chat template's prompt (system, user turn with the image
placeholders and the question, then the assistant header), encoded by the processor with
the images, followed by the rest of the rendered conversation (the answer and the
template's end of turn) encoded by the tokenizer alone. The labels are -100 on every
prompt token and the token ids on the answer, so the loss falls on the answer only; the
two parts are encoded apart so that the boundary cannot shift by a merged token.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from PIL import Image, UnidentifiedImageError

from datagen._optional import require
from datagen.train.data import Example, TrainDataError, conversation, prompt_messages
from datagen.train.models import ModelError

torch = require("torch", "train")

#: Label of a position that carries no loss (torch's cross-entropy ignore index).
IGNORE = -100


class ChatTemplateError(ModelError):
    """The model's chat template does not render the prompt as the start of the conversation."""


def load_images(example: Example) -> list[Image.Image]:
    """The example's images as RGB, exactly as the build wrote them (no resize here)."""
    images = []
    for path in example.images:
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
            raise TrainDataError(f"{path}: image of record {example.id!r} cannot be read ({exc})") from None
    return images


def prompt_text(processor: Any, example: Example) -> str:
    return processor.apply_chat_template(prompt_messages(example), add_generation_prompt=True, tokenize=False)


def completion_text(processor: Any, example: Example) -> str:
    """What follows the prompt in the rendered conversation: the answer and the end of turn."""
    prompt = prompt_text(processor, example)
    full = processor.apply_chat_template(conversation(example), tokenize=False)
    if not full.startswith(prompt):
        raise ChatTemplateError(f"the chat template does not render the prompt of record {example.id!r} as the "
                            f"start of its conversation, so the answer tokens cannot be told apart")
    return full[len(prompt):]


def encode_prompt(processor: Any, example: Example) -> dict:
    """The prompt with its images, as the processor's tensors (batch of one)."""
    return dict(processor(text=[prompt_text(processor, example)], images=load_images(example), return_tensors="pt"))


def encode_for_training(processor: Any, example: Example) -> dict:
    """Prompt and answer tensors (batch of one) with ``labels``: -100 on the prompt, the ids on the answer."""
    features = encode_prompt(processor, example)
    answer = processor.tokenizer(completion_text(processor, example), add_special_tokens=False,
                                 return_tensors="pt")["input_ids"]
    prompt_ids = features["input_ids"]
    for key, value in list(features.items()):
        if _is_sequence(value, prompt_ids):
            filler = answer if key == "input_ids" else torch.full_like(answer, 1 if key == "attention_mask" else 0)
            features[key] = torch.cat([value, filler.to(value.dtype)], dim=1)
    features["labels"] = torch.cat([torch.full_like(prompt_ids, IGNORE), answer], dim=1)
    return features


def _is_sequence(value: Any, input_ids) -> bool:
    return torch.is_tensor(value) and value.dim() == 2 and value.shape == input_ids.shape


def collate(features: Sequence[dict], pad_id: int, *, left: bool = False) -> dict:
    """Stack examples into one batch.

    Tensors shaped like ``input_ids`` (1, T) are padded to the longest (``pad_id`` for
    input ids, -100 for labels, 0 otherwise), on the right for training, on the left for
    generation; every other tensor (pixel values, patch grids) is concatenated along dim 0.
    """
    length = max(f["input_ids"].shape[1] for f in features)
    batch = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if _is_sequence(values[0], features[0]["input_ids"]):
            fill = pad_id if key == "input_ids" else IGNORE if key == "labels" else 0
            batch[key] = torch.cat([_pad(v, length, fill, left) for v in values], dim=0)
        elif torch.is_tensor(values[0]):
            batch[key] = torch.cat(values, dim=0)
    return batch


def _pad(value, length: int, fill: int, left: bool):
    pad = torch.full((1, length - value.shape[1]), fill, dtype=value.dtype)
    return torch.cat([pad, value] if left else [value, pad], dim=1)


def answer_positions(labels):
    """(B, T) bool: True at the positions whose next token is an answer token (those that carry loss)."""
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE
    return keep


def answer_logits(model: Any, inputs: dict, labels) -> tuple[Any, Any]:
    """The logits at the positions that carry loss, and their target tokens.

    Only those positions go through the output head (``logits_to_keep``, where the model
    takes it): with a vocabulary of 150k tokens the head costs more than a small model.

    Returns:
        logits: (N, V), one row per answer token; targets: (N,) the answer tokens.
    """
    keep = answer_positions(labels)
    targets = labels[:, 1:][keep[:, :-1]]
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if "logits_to_keep" in inspect.signature(base.forward).parameters:
        logits = model(**inputs, use_cache=False, logits_to_keep=keep).logits
    else:
        logits = model(**inputs, use_cache=False).logits[keep]
    if logits.shape[0] != targets.shape[0]:
        raise ModelError(f"{type(base).__name__}: got {tuple(logits.shape)} logits for {targets.shape[0]} answer "
                         f"tokens")
    return logits, targets


def answer_loss_sum(logits, targets):
    """Summed cross-entropy (float32) of answer-token logits (N, V) against targets (N,)."""
    return torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")


class Batcher:
    """Turns a list of example indices into a collated training batch (picklable, for DataLoader workers)."""

    def __init__(self, processor: Any, examples: Sequence[Example]) -> None:
        self.processor = processor
        self.examples = examples
        self.pad_id = pad_token_id(processor)

    def __call__(self, indices: Sequence[int]) -> dict:
        return collate([encode_for_training(self.processor, self.examples[i]) for i in indices], self.pad_id)


def pad_token_id(processor: Any) -> int:
    tokenizer = processor.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ChatTemplateError(f"{type(tokenizer).__name__} has neither a pad nor an end-of-sequence token")
    return pad
