"""The reference side of scoring: what it needs from a build's canonical records, as columns."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from datagen.records import check_build_dir, record_files
from datagen.scoring.errors import ScoringError
from datagen.tasks.base import TASK_UNITS  # base unit of every task; answers are converted to it

log = logging.getLogger(__name__)

#: Tasks whose records are grouped by the depth of their point, and the label key that holds it:
#: the distance task asks the range, the axis-distance task z, speed and time cover the range.
DEPTH_TASKS = {"distance": "range_m", "axis_distance": "z_m", "speed": "range_m", "time": "range_m"}


@dataclass(frozen=True, eq=False)
class Reference:
    """What scoring needs from the records of a build, as columns.

    Attributes:
        path: the build folder.
        ids: (N,) record ids.
        values: (N,) float64 true values, base unit of each record's ``unit``.
        task_codes, source_codes, split_codes, unit_codes: (N,) int32 indices into the
            matching ``*_names`` tuple (tasks, ``provenance.source``, splits, units).
        depths: (N,) float64 depth of the record's point in metres for the tasks of
            :data:`DEPTH_TASKS` (``label.range_m`` or ``label.z_m``); NaN for other tasks
            and where the label lacks it. None: the value itself for distance and
            axis_distance, NaN for the rest.
    """

    path: Path
    ids: tuple[str, ...]
    values: np.ndarray
    task_codes: np.ndarray
    task_names: tuple[str, ...]
    source_codes: np.ndarray
    source_names: tuple[str, ...]
    split_codes: np.ndarray
    split_names: tuple[str, ...]
    unit_codes: np.ndarray
    unit_names: tuple[str, ...]
    depths: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("values", "task_codes", "source_codes", "split_codes", "unit_codes"):
            if np.shape(getattr(self, name)) != (n,):
                raise ValueError(f"Reference.{name} must be ({n},), got {np.shape(getattr(self, name))}")
        if self.depths is None:
            depth_tasks = [code for code, task in enumerate(self.task_names) if task in ("distance", "axis_distance")]
            depths = np.where(np.isin(self.task_codes, depth_tasks), self.values, np.nan)
            object.__setattr__(self, "depths", depths)
        elif np.shape(self.depths) != (n,):
            raise ValueError(f"Reference.depths must be ({n},), got {np.shape(self.depths)}")

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def index(self) -> dict[str, int]:
        """Record id -> row."""
        return {record_id: i for i, record_id in enumerate(self.ids)}

    def column(self, name: str) -> list[str]:
        """Per-record names of "task", "source", "split" or "unit"."""
        names = getattr(self, f"{name}_names")
        return [names[code] for code in getattr(self, f"{name}_codes").tolist()]

    def split_mask(self, split: str) -> np.ndarray:
        """(N,) bool: records of ``split``; ScoringError naming the splits there are if none."""
        if split not in self.split_names:
            raise ScoringError(f"{self.path}: no records in split {split!r} (splits: {', '.join(self.split_names)})")
        return self.split_codes == self.split_names.index(split)


class _Encoder:
    """Strings -> small int codes, in order of first appearance."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.column: list[int] = []

    def add(self, name: str) -> None:
        code = self.codes.get(name)
        if code is None:
            code = self.codes[name] = len(self.codes)
        self.column.append(code)

    def arrays(self) -> tuple[np.ndarray, tuple[str, ...]]:
        return np.asarray(self.column, dtype=np.int32), tuple(self.codes)


def load_reference(build_dir: str | Path) -> Reference:
    """Read id, task, split, value, unit, source and depth of every record of a build.

    Raises:
        NotABuildError: the folder is not a build.
        ScoringError: a record file cannot be read, or a line is not JSON, lacks a field,
            or repeats an id.
    """
    build_dir = check_build_dir(build_dir)
    ids, values, depths, seen = [], [], [], set()
    encoders = {name: _Encoder() for name in ("task", "source", "split", "unit")}
    for path in record_files(build_dir):
        for where, line in _record_lines(path):
            record_id, fields, value, depth = _reference_fields(line, where)
            if record_id in seen:
                raise ScoringError(f"{where}: duplicate record id {record_id!r} (ids are unique in a build)")
            seen.add(record_id)
            ids.append(record_id)
            values.append(value)
            depths.append(depth)
            for name, encoder in encoders.items():
                encoder.add(fields[name])
    columns = {}
    for name, encoder in encoders.items():
        columns[f"{name}_codes"], columns[f"{name}_names"] = encoder.arrays()
    log.info("%s: %d reference records", build_dir, len(ids))
    return Reference(build_dir, tuple(ids), np.asarray(values, dtype=np.float64),
                     depths=np.asarray(depths, dtype=np.float64), **columns)


def _record_lines(path: Path):
    """("file:line", text) of each non-blank line of a record shard."""
    line_number = 0
    try:
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, 1):
                if line.strip():
                    yield f"{path}:{line_number}", line
    except UnicodeDecodeError:
        raise ScoringError(f"{path}:{line_number + 1}: not UTF-8 text (canonical records are UTF-8 JSONL)") from None
    except OSError as exc:
        raise ScoringError(f"{path}: cannot read records ({exc.strerror or exc})") from None


def _reference_fields(line: str, where: str) -> tuple[str, dict[str, str], float, float]:
    """(id, {task, source, split, unit}, value, depth) of one canonical record line."""
    record = _record_object(line, where)
    missing = [key for key in ("id", "task", "split", "value") if key not in record]
    if missing:
        raise ScoringError(f"{where}: record lacks {missing} (canonical record, DESIGN.md section 4)")
    for key in ("id", "task", "split"):
        if not isinstance(record[key], str):
            raise ScoringError(f"{where}: {key!r} must be a string, got {type(record[key]).__name__}")
    value = _finite(record["value"])
    if value is None:
        raise ScoringError(f"{where}: 'value' must be a finite number, got {str(record['value'])[:40]}")
    provenance = record.get("provenance")
    source = provenance.get("source") if isinstance(provenance, dict) else None
    unit = record.get("unit") or TASK_UNITS.get(record["task"], "")
    fields = {"task": record["task"], "source": str(source or "unknown"), "split": record["split"], "unit": str(unit)}
    return record["id"], fields, value, _depth(record, value)


def _record_object(line: str, where: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ScoringError(f"{where}: not a JSON record ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise ScoringError(f"{where}: not a readable JSON record ({type(exc).__name__})") from None
    if not isinstance(record, dict):
        raise ScoringError(f"{where}: expected a JSON object (canonical record), got {type(record).__name__}")
    return record


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, a boolean, inf, NaN, or too large)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _depth(record: dict, value: float) -> float:
    """Depth (m) of the point of a depth task's record, from its label; NaN for other tasks or no label."""
    key = DEPTH_TASKS.get(record["task"])
    if key is None:
        return math.nan
    label = record.get("label")
    column = label.get(key) if isinstance(label, dict) else None
    depth = _finite(column[0]) if isinstance(column, list) and column else None
    if depth is None and record["task"] in ("distance", "axis_distance"):
        return value  # the value is the depth itself
    return math.nan if depth is None else depth
