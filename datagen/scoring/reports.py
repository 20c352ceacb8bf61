"""Reports: a predictions file scored against a build, overall and per group, as JSON and as tables."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from datagen.scoring.matching import Matched, match_predictions
from datagen.scoring.metrics import DEFAULT_DEPTH_BINS, Metrics, assign_depth_bins, compute_metrics, depth_bin_labels
from datagen.scoring.parsing import REASONS
from datagen.scoring.predictions import Predictions, read_predictions
from datagen.scoring.reference import DEPTH_TASKS, TASK_UNITS, Reference

#: How many ids a report lists for each kind of problem.
FIRST_FEW = 5
#: Longest id a report quotes (characters); a longer one is cut and ends with "...".
_ID_CHARS = 200


@dataclass(frozen=True)
class IdSample:
    """How many ids had a problem, and the first few of them."""

    count: int = 0
    first: tuple[str, ...] = ()

    @classmethod
    def of(cls, ids: Sequence[str]) -> "IdSample":
        return cls(len(ids), tuple(_quoted_id(record_id) for record_id in ids[:FIRST_FEW]))

    def to_dict(self) -> dict:
        return {"count": self.count, "first": list(self.first)}


@dataclass(frozen=True, eq=False)
class ScoreReport:
    """Every metric of one predictions file, overall and per group, and what went wrong.

    Attributes:
        name: the run's name in tables (the file name without extension).
        path: the predictions file.
        splits: the splits of the build that were scored.
        overall, by_task, by_source: metrics.
        by_depth_range: metrics per range of the depth of the record's point (metres),
            for the tasks of :data:`DEPTH_TASKS` (distance, axis_distance, speed, time).
        by_value_range: task -> metrics per range of the true value, for the other
            metre tasks (two_point separations, pose translations).
        reasons: parse outcome ("ok" or why not) -> count, over the scored predictions.
        missing: scored records without a prediction (counted as wrong unless skipped).
        unknown: prediction ids that are not in the build.
        outside_split: predictions of records outside the scored splits (ignored).
        invalid_truth: records whose true value is not > 0 (not scored).
        duplicates, broken_lines: from the predictions file.
        missing_counted_as_wrong: whether missing predictions count as misses.
    """

    name: str
    path: str
    splits: tuple[str, ...]
    overall: Metrics
    by_task: dict[str, Metrics]
    by_source: dict[str, Metrics]
    by_depth_range: dict[str, Metrics]
    by_value_range: dict[str, dict[str, Metrics]]
    reasons: dict[str, int]
    missing: IdSample
    unknown: IdSample
    outside_split: int
    invalid_truth: IdSample
    duplicates: tuple[tuple[int, str], ...]
    broken_lines: tuple[tuple[int, str], ...]
    missing_counted_as_wrong: bool = True

    def to_dict(self) -> dict:
        groups = {key: {name: m.to_dict() for name, m in getattr(self, key).items()}
                  for key in ("by_task", "by_source", "by_depth_range")}
        groups["by_value_range"] = {task: {name: m.to_dict() for name, m in ranges.items()}
                                    for task, ranges in self.by_value_range.items()}
        return {
            "name": self.name, "file": self.path, "splits": list(self.splits),
            "overall": self.overall.to_dict(), **groups,
            "parse": {"rate": self.overall.parse_rate, "reasons": dict(self.reasons)},
            "missing": {**self.missing.to_dict(),
                        "counted_as": "wrong" if self.missing_counted_as_wrong else "skipped"},
            "unknown": self.unknown.to_dict(),
            "outside_split": self.outside_split,
            "invalid_truth": self.invalid_truth.to_dict(),
            "duplicates": {"count": len(self.duplicates), "first": _line_items(self.duplicates, "id")},
            "broken_lines": {"count": len(self.broken_lines), "first": _line_items(self.broken_lines, "error")},
        }


def _line_items(items: Sequence[tuple[int, str]], key: str) -> list[dict]:
    return [{"line": line, key: _quoted_id(text)} for line, text in items[:FIRST_FEW]]


def _quoted_id(record_id: str) -> str:
    return record_id if len(record_id) <= _ID_CHARS else record_id[:_ID_CHARS - 3] + "..."


def score_predictions(predictions: Predictions, reference: Reference, *, split: str | None = None,
                      skip_missing: bool = False, depth_bins: Sequence[float] = DEFAULT_DEPTH_BINS,
                      bootstrap: int = 1000, seed: int = 0, name: str | None = None) -> ScoreReport:
    """Score one predictions file against the records of a build.

    Args:
        predictions: read by :func:`read_predictions`.
        reference: read by :func:`load_reference`.
        split: split to score, "all", or None for the splits of the records predicted.
        skip_missing: leave records without a prediction out instead of counting them wrong.
        depth_bins: edges (metres) of the depth ranges and of the value ranges of other metre tasks.
        bootstrap: resamples of the δ1 interval (0 = none); seed: its seed.
        name: the run's name; the file name without extension by default.

    Returns:
        The report, overall and per task, source, depth range and value range.

    Raises:
        PredictionsError: no prediction id is a record of the build.
    """
    matched = match_predictions(predictions, reference)
    splits = _scored_splits(reference, matched.answered, split)
    in_split = np.isin(reference.split_codes, [reference.split_names.index(s) for s in splits])
    bad_truth = in_split & ~(reference.values > 0)
    scope = in_split & ~bad_truth & (matched.answered if skip_missing else True)
    scored = np.flatnonzero(scope)
    groups = _group_metrics(reference, matched, scored, depth_bins, bootstrap, seed)
    codes = matched.reason_codes[scored]
    counts = np.bincount(codes[codes >= 0], minlength=len(REASONS))
    reasons = {REASONS[i]: int(c) for i, c in enumerate(counts) if c}
    return ScoreReport(
        name=name or predictions.path.stem, path=str(predictions.path), splits=splits,
        reasons=reasons, missing=_rows_sample(reference, scope & ~matched.answered),
        unknown=IdSample.of(matched.unknown), outside_split=int((matched.answered & ~in_split).sum()),
        invalid_truth=_rows_sample(reference, bad_truth),
        duplicates=predictions.duplicates, broken_lines=predictions.broken,
        missing_counted_as_wrong=not skip_missing, **groups)


def _rows_sample(reference: Reference, mask: np.ndarray) -> IdSample:
    rows = np.flatnonzero(mask)
    return IdSample(len(rows), tuple(_quoted_id(reference.ids[i]) for i in rows[:FIRST_FEW]))


def _scored_splits(reference: Reference, answered: np.ndarray, split: str | None) -> tuple[str, ...]:
    """The splits to score: the one asked, all, or those of the records that have predictions."""
    if split == "all":
        return reference.split_names
    if split is not None:
        reference.split_mask(split)  # raises when the build has no such split
        return (split,)
    present = np.unique(reference.split_codes[answered])
    return tuple(reference.split_names[i] for i in present) if len(present) else reference.split_names


def _group_metrics(reference: Reference, matched: Matched, scored: np.ndarray, depth_bins: Sequence[float],
                   bootstrap: int, seed: int) -> dict:
    """overall, by_task, by_source, by_depth_range and by_value_range metrics of the scored rows."""
    pred, gt, missing = matched.values[scored], reference.values[scored], ~matched.answered[scored]

    def metrics(mask: np.ndarray | None, key: str) -> Metrics:
        select = slice(None) if mask is None else mask
        group_seed = [seed, zlib.crc32(key.encode("utf-8"))]
        return compute_metrics(pred[select], gt[select], missing[select], bootstrap=bootstrap, seed=group_seed)

    out = {"overall": metrics(None, "overall")}
    for key, codes, names in (("task", reference.task_codes, _task_order(reference.task_names)),
                              ("source", reference.source_codes, sorted(reference.source_names))):
        codes = codes[scored]
        all_names = getattr(reference, f"{key}_names")
        out[f"by_{key}"] = {name: metrics(codes == all_names.index(name), f"{key}/{name}") for name in names
                            if np.any(codes == all_names.index(name))}
    out["by_depth_range"] = _range_metrics(reference.depths[scored], None, depth_bins, metrics, "depth")
    units, tasks = reference.unit_codes[scored], reference.task_codes[scored]
    metre = units == (reference.unit_names.index("m") if "m" in reference.unit_names else -1)
    out["by_value_range"] = {}
    for task in _task_order(set(reference.task_names) - set(DEPTH_TASKS)):
        ranges = _range_metrics(gt, metre & (tasks == reference.task_names.index(task)), depth_bins, metrics,
                                f"value/{task}")
        if ranges:
            out["by_value_range"][task] = ranges
    return out


def _range_metrics(values: np.ndarray, mask: np.ndarray | None, bins: Sequence[float],
                   metrics: Callable[[np.ndarray, str], Metrics], prefix: str) -> dict[str, Metrics]:
    """Metrics per range [lo, hi) of ``values`` (NaN: in no range), over the rows of ``mask``."""
    index = assign_depth_bins(values, bins)
    if mask is not None:
        index = np.where(mask, index, -1)
    labels = depth_bin_labels(bins)
    return {labels[i]: metrics(index == i, f"{prefix}/{labels[i]}") for i in np.unique(index[index >= 0]).tolist()}


def _task_order(names: Iterable[str]) -> list[str]:
    """Known tasks in their canonical order, then any others alphabetically."""
    names = set(names)
    return [t for t in TASK_UNITS if t in names] + sorted(names - set(TASK_UNITS))


def score_files(paths: Sequence[str | Path], reference: Reference, **options: Any) -> list[ScoreReport]:
    """Score several predictions files against one build; runs are named by file name.

    Two files with the same name (in different folders) are named by their full path.
    ``options`` are those of :func:`score_predictions` but ``name``.
    """
    stems = [Path(p).stem for p in paths]
    reports = []
    for path, stem in zip(paths, stems):
        name = stem if stems.count(stem) == 1 else str(path)
        reports.append(score_predictions(read_predictions(path), reference, name=name, **options))
    return reports


def reports_to_json(reports: Sequence[ScoreReport], reference: Reference, settings: dict) -> dict:
    """The JSON document of ``datagen score --json``: reference, settings and one entry per run.

    With a single predictions file its metrics (``overall``, ``by_task``, ``by_source``, ...) also
    stand at the top level, so ``doc["overall"]["delta1"]`` reads the headline number directly.
    """
    runs = [report.to_dict() for report in reports]
    document = {"reference": str(reference.path), "records": len(reference), "settings": dict(settings)}
    if len(runs) == 1:
        document.update({key: value for key, value in runs[0].items() if key not in document})
    document["runs"] = runs
    return document


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def format_table(reports: Sequence[ScoreReport], markdown: bool = False) -> str:
    """δ1 of each run (rows) per source and per task (columns), then overall with its interval.

    Args:
        reports: one per run, in row order.
        markdown: a GitHub-flavoured Markdown table instead of aligned plain text.
    """
    sources = sorted({name for r in reports for name in r.by_source})
    tasks = _task_order({name for r in reports for name in r.by_task})
    header = ["run", *sources, *tasks, "all", "95% CI", "parsed", "n"]
    rows = [[r.name, *(_cell(r.by_source.get(s)) for s in sources), *(_cell(r.by_task.get(t)) for t in tasks),
             _cell(r.overall), _interval(r.overall), _percent(r.overall.parse_rate), str(r.overall.n)]
            for r in reports]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                                 for row in rows]) + "\n"
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cell(metrics: Metrics | None) -> str:
    return "-" if metrics is None or metrics.delta1 is None else f"{metrics.delta1:.3f}"


def _interval(metrics: Metrics) -> str:
    return "-" if metrics.delta1_ci is None else f"[{metrics.delta1_ci[0]:.3f}, {metrics.delta1_ci[1]:.3f}]"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"
