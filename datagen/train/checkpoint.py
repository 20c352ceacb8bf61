"""Checkpoints that resume a training run exactly.

A checkpoint holds, after optimiser step N: the trainable weights, the optimiser and
learning-rate schedule states, torch's random-number state (LoRA dropout draws from it)
and the step log so far. The order of the examples is a function of the seed and the
step, so a resumed run sees the same batches as an uninterrupted one; with the states
restored it computes the same losses and weights.

Layout in the run folder: ``checkpoints/step-00000020/{state.pt,checkpoint.json}``,
written under a temporary name, claimed in the run folder's ledger and renamed
(:mod:`datagen.train.run_folder`), so a checkpoint is complete or absent, and pruning
deletes only the files the trainer wrote.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from datagen._optional import require
from datagen.train import run_folder
from datagen.train.models import ModelError

torch = require("torch", "train")

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "state.pt"
INFO_FILE = "checkpoint.json"
_NAME_RE = re.compile(r"step-(\d{8})")


class CheckpointError(ModelError):
    """A checkpoint is unreadable or does not fit the model being resumed."""


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINTS_DIR / f"step-{step:08d}"


def trainable_state(model: Any) -> dict:
    """The trainable parameters by name, as CPU tensors."""
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(run_dir: Path, step: int, *, model: Any, optimizer: Any, scheduler: Any,
                    history: list[dict]) -> Path:
    """Write the checkpoint of step ``step`` (complete or not at all) and return its folder.

    The same step saved before by this run (only a resumed run gets there) is replaced.
    """
    final = checkpoint_dir(run_dir, step)
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    state = {"step": step, "trainable": trainable_state(model), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "rng": rng, "history": history}
    with run_folder.writing(final) as partial:
        torch.save(state, partial / STATE_FILE)
        info = {"step": step, "loss": history[-1]["loss"] if history else None}
        (partial / INFO_FILE).write_text(json.dumps(info) + "\n", encoding="utf-8")
    return final


def checkpoints(run_dir: Path) -> list[Path]:
    """The complete checkpoints of a run, oldest first."""
    folder = run_dir / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _NAME_RE.fullmatch(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints: the files the trainer wrote in them."""
    for old in checkpoints(run_dir)[:-keep]:
        left = run_folder.remove(old)
        if left:
            log.warning("%s: %d files there were not written by datagen and are kept (%s)", old, len(left), left[0])


def load_checkpoint(path: Path) -> dict:
    """The state saved in a checkpoint folder."""
    try:
        return torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise CheckpointError(f"{path / STATE_FILE}: cannot read the checkpoint ({exc})") from None


def restore(state: dict, *, model: Any, optimizer: Any, scheduler: Any, where: Path) -> None:
    """Put a checkpoint's weights, optimiser, schedule and random state back."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    saved = state["trainable"]
    if set(saved) != set(params):
        missing, extra = sorted(set(params) - set(saved)), sorted(set(saved) - set(params))
        raise CheckpointError(f"{where}: its weights do not fit the model (missing {missing[:3]}, "
                              f"unexpected {extra[:3]})")
    with torch.no_grad():
        for name, value in saved.items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["cpu"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
