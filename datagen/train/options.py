"""The options of a training run and of a prediction run (no torch needed).

Defaults live here only; the CLI passes what the user set. A resumed training run must
have the same options as the run it continues, except those in ``RESUME_MAY_CHANGE``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from datagen.errors import ConfigError
from datagen.train.data import SPLIT_CHOICES

#: The model name that builds a tiny random Qwen2.5-VL-shaped model locally.
TINY_RANDOM = "tiny-random"
PRECISIONS = ("auto", "bf16", "fp32")
LORA_TARGETS = ("language", "all")
#: Options that do not change what a run computes, so a resumed run may set them anew.
RESUME_MAY_CHANGE = frozenset({"resume", "save_every", "keep_checkpoints", "workers"})


def _check_positive(owner: str, **values: float | None) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not value > 0 or not math.isfinite(value)):
            raise ConfigError(f"{owner}.{name} must be a positive number, got {value!r}")


def _check_pixels(owner: str, min_pixels: int | None, max_pixels: int | None) -> None:
    _check_positive(owner, min_pixels=min_pixels, max_pixels=max_pixels)
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        raise ConfigError(f"{owner}: min_pixels {min_pixels} exceeds max_pixels {max_pixels}")


@dataclass(frozen=True)
class TrainOptions:
    """Supervised fine-tuning of an image-text-to-text model on a build.

    Attributes:
        model: a local Hugging Face model folder, or ``tiny-random``.
        data: the build folder; out: the run folder (checkpoints, final model, log, plot).
        split: records used ("train", "val", "test" or "all").
        lora: train LoRA adapters (peft) on the frozen model; False trains every weight.
        lora_rank, lora_alpha, lora_dropout: the adapters' shape and regularisation.
        lora_targets: "language" (every linear layer of the language model) or "all"
            (the vision tower's too).
        batch_size: examples per forward pass; grad_accum: forward passes per optimiser step.
        lr: peak learning rate, reached after ``warmup_ratio`` of the steps, then cosine decay to 0.
        max_steps: optimiser steps; when None, ``epochs`` passes over the data decide.
        precision: "bf16" (autocast; LoRA keeps the frozen weights in bf16), "fp32", or
            "auto" (bf16 where the device supports it).
        gradient_checkpointing: None = on for CUDA devices.
        save_every: checkpoint every N steps (and always at the end); keep_checkpoints: how many are kept.
        min_pixels, max_pixels: override the processor's pixel budget (Qwen2-VL family).
        workers: data-loading processes (0 = in the training process).
        resume: continue from the run folder's last checkpoint.
    """

    model: str
    data: Path
    out: Path
    split: str = "train"
    lora: bool = True
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    lora_targets: str = "language"
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_steps: int | None = None
    epochs: float = 1.0
    max_grad_norm: float = 1.0
    seed: int = 0
    precision: str = "auto"
    gradient_checkpointing: bool | None = None
    device: str = "auto"
    save_every: int = 500
    keep_checkpoints: int = 2
    min_pixels: int | None = None
    max_pixels: int | None = None
    workers: int = 0
    resume: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out", Path(self.out))
        owner = "TrainOptions"
        _check_positive(owner, lora_rank=self.lora_rank, lora_alpha=self.lora_alpha, batch_size=self.batch_size,
                        grad_accum=self.grad_accum, lr=self.lr, max_steps=self.max_steps, epochs=self.epochs,
                        max_grad_norm=self.max_grad_norm, save_every=self.save_every,
                        keep_checkpoints=self.keep_checkpoints)
        _check_pixels(owner, self.min_pixels, self.max_pixels)
        for name in ("lora_rank", "batch_size", "grad_accum", "save_every", "keep_checkpoints"):
            if not isinstance(getattr(self, name), int):
                raise ConfigError(f"{owner}.{name} must be an integer, got {getattr(self, name)!r}")
        if not 0 <= self.lora_dropout < 1 or not 0 <= self.warmup_ratio < 1 or self.weight_decay < 0:
            raise ConfigError(f"{owner}: lora_dropout and warmup_ratio must be in [0, 1) and weight_decay >= 0, "
                              f"got {self.lora_dropout}, {self.warmup_ratio}, {self.weight_decay}")
        _check_choices(owner, split=(self.split, SPLIT_CHOICES), precision=(self.precision, PRECISIONS),
                       lora_targets=(self.lora_targets, LORA_TARGETS))
        if not isinstance(self.seed, int) or self.seed < 0 or not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"{owner}: seed and workers must be non-negative integers, got {self.seed!r}, "
                              f"{self.workers!r}")

    def to_dict(self) -> dict:
        return {key: str(value) if isinstance(value, Path) else value
                for key, value in dataclasses.asdict(self).items()}

    def trajectory(self) -> dict:
        """The options that decide what the run computes (all but ``RESUME_MAY_CHANGE`` and the folders)."""
        return {key: value for key, value in self.to_dict().items()
                if key not in RESUME_MAY_CHANGE and key not in ("data", "out")}


@dataclass(frozen=True)
class PredictOptions:
    """Greedy generation over a build's records.

    Attributes:
        model: a run folder of ``datagen train`` (LoRA adapters or a full model), a local
            Hugging Face model folder, or ``tiny-random``.
        data: the build folder; out: the predictions JSONL file (appended to when it exists).
        split, ids, limit: which records (ids: only these).
        base: the base model folder of a LoRA run (default: the one the run recorded).
        batch_size: prompts per generate call; max_new_tokens: the longest answer.
    """

    model: str
    data: Path
    out: Path
    split: str = "test"
    ids: tuple[str, ...] | None = None
    limit: int | None = None
    base: Path | None = None
    batch_size: int = 8
    max_new_tokens: int = 256
    precision: str = "auto"
    device: str = "auto"
    min_pixels: int | None = None
    max_pixels: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out", Path(self.out))
        if self.base is not None:
            object.__setattr__(self, "base", Path(self.base))
        if self.ids is not None:
            object.__setattr__(self, "ids", tuple(self.ids))
        owner = "PredictOptions"
        _check_positive(owner, batch_size=self.batch_size, max_new_tokens=self.max_new_tokens, limit=self.limit)
        _check_pixels(owner, self.min_pixels, self.max_pixels)
        _check_choices(owner, split=(self.split, SPLIT_CHOICES), precision=(self.precision, PRECISIONS))


def _check_choices(owner: str, **pairs: tuple[str, tuple[str, ...]]) -> None:
    for name, (value, allowed) in pairs.items():
        if value not in allowed:
            raise ConfigError(f"{owner}.{name} must be one of {', '.join(allowed)}, got {value!r}")
