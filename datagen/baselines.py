"""Baselines written as predictions that ``datagen score`` reads: a constant, or the train median per task.

The constant baseline is the DepthLM paper's "always answer 2.0 m" row; the median
baseline answers, for every record, the median true ``value`` of its task over the
train split of the same build. Values are in each task's base unit (m, m/s, s).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datagen.scoring import Reference, ScoringError, load_reference

log = logging.getLogger(__name__)

KINDS = ("constant", "median")


@dataclass(frozen=True)
class BaselineResult:
    """What a baseline run wrote.

    Attributes:
        path: the predictions file.
        count: predictions written.
        values: task -> the answer given for its records.
    """

    path: Path
    count: int
    values: dict[str, float] = field(default_factory=dict)


def median_values(reference: Reference, split: str = "train") -> dict[str, float]:
    """Median true value of each task over the records of ``split``."""
    in_split = reference.split_mask(split)
    out = {}
    for code, task in enumerate(reference.task_names):
        values = reference.values[in_split & (reference.task_codes == code)]
        if len(values):
            out[task] = float(np.median(values))
    return out


def baseline_values(reference: Reference, kind: str, rows: np.ndarray, value: float | None = None,
                    fit_split: str = "train") -> dict[str, float]:
    """task -> answer, for the tasks of the records in ``rows``.

    Args:
        reference: the build's records.
        kind: "constant" (``value`` for every task) or "median" (train median per task).
        rows: (K,) int record rows the baseline answers.
        value: the constant, in each task's base unit.
        fit_split: split the medians are taken over.
    """
    tasks = [reference.task_names[code] for code in np.unique(reference.task_codes[rows])]
    if kind == "constant":
        if value is None or not math.isfinite(value):
            raise ScoringError(f"constant baseline needs a finite --value, got {value!r}")
        return {task: float(value) for task in tasks}
    if kind != "median":
        raise ScoringError(f"unknown baseline kind {kind!r} (kinds: {', '.join(KINDS)})")
    medians = median_values(reference, fit_split)
    lacking = [task for task in tasks if task not in medians]
    if lacking:
        raise ScoringError(f"{reference.path}: no {fit_split} records of task(s) {', '.join(lacking)} to take a "
                           f"median from (tasks with {fit_split} records: {', '.join(sorted(medians)) or 'none'})")
    return {task: medians[task] for task in tasks}


def write_baseline(build_dir: str | Path, out: str | Path, kind: str = "constant", value: float | None = None,
                   split: str = "test", fit_split: str = "train") -> BaselineResult:
    """Write one prediction per record of ``split`` ("all" for every record) to ``out``.

    Each line is ``{"id": ..., "output": "2.0", "model": "baseline-constant"}``.

    Raises:
        NotABuildError: ``build_dir`` is not a build.
        ScoringError: no record in ``split``, no value for a constant, or a task without
            records in ``fit_split`` for the median.
    """
    reference = load_reference(build_dir)
    mask = np.ones(len(reference), dtype=bool) if split == "all" else reference.split_mask(split)
    rows = np.flatnonzero(mask)
    values = baseline_values(reference, kind, rows, value, fit_split)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = f"baseline-{kind}"
    with out.open("w", encoding="utf-8") as handle:
        for row in rows.tolist():
            answer = repr(values[reference.task_names[reference.task_codes[row]]])
            handle.write(json.dumps({"id": reference.ids[row], "output": answer, "model": model}) + "\n")
    log.info("%s: %d %s baseline predictions", out, len(rows), kind)
    return BaselineResult(out, len(rows), values)
