"""δ1/δ2/δ3, AbsRel, RMSE and log10 error of predictions, a bootstrap interval on δ1, and value ranges.

A missing, unparsable or non-positive answer is a miss for δ and is left out of the
error metrics; see docs/scoring.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from datagen.scoring.errors import ScoringError

DELTA_BASE = 1.25
#: Most bootstrap resamples of one interval (beyond it the interval no longer moves, and memory does).
MAX_BOOTSTRAP = 100_000
#: Edges (metres) of the default ranges of true values: 0-2, 2-5, ..., 40-80, 80+.
DEFAULT_DEPTH_BINS = (0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0)


@dataclass(frozen=True)
class Metrics:
    """δ and error metrics of one group of answers.

    A missing, unparsable or non-positive answer is a miss for δ1/δ2/δ3 (their
    denominator is ``n``) and is left out of AbsRel, RMSE and log10 (their
    denominator is ``n_valid``); the counts say how many of each there were.

    Attributes:
        n: records scored (missing predictions included unless skipped).
        n_missing: records without a prediction.
        n_unparsable: predictions without a number (or a non-finite one).
        n_nonpositive: parsed predictions <= 0.
        delta1, delta2, delta3: share of ``n`` with max(pred/gt, gt/pred) < 1.25, 1.25², 1.25³.
        abs_rel: mean |pred - gt| / gt over valid predictions.
        rmse: root mean squared error over valid predictions, in the task's base unit.
        log10: mean |log10 pred - log10 gt| over valid predictions.
        delta1_ci: bootstrap 95% interval of delta1, or None when not computed.
    """

    n: int
    n_missing: int = 0
    n_unparsable: int = 0
    n_nonpositive: int = 0
    delta1: float | None = None
    delta2: float | None = None
    delta3: float | None = None
    abs_rel: float | None = None
    rmse: float | None = None
    log10: float | None = None
    delta1_ci: tuple[float, float] | None = None

    @property
    def n_predicted(self) -> int:
        return self.n - self.n_missing

    @property
    def n_parsed(self) -> int:
        return self.n_predicted - self.n_unparsable

    @property
    def n_valid(self) -> int:
        return self.n_parsed - self.n_nonpositive

    @property
    def parse_rate(self) -> float | None:
        """Share of the predictions given that hold a number."""
        return self.n_parsed / self.n_predicted if self.n_predicted else None

    def to_dict(self) -> dict:
        out = {"n": self.n, "n_predicted": self.n_predicted, "n_parsed": self.n_parsed, "n_valid": self.n_valid,
               "n_missing": self.n_missing, "n_unparsable": self.n_unparsable,
               "n_nonpositive": self.n_nonpositive, "parse_rate": self.parse_rate}
        for name in ("delta1", "delta2", "delta3", "abs_rel", "rmse", "log10"):
            out[name] = getattr(self, name)
        out["delta1_ci"] = list(self.delta1_ci) if self.delta1_ci is not None else None
        return out


def compute_metrics(pred: np.ndarray, gt: np.ndarray, missing: np.ndarray | None = None, *,
                    bootstrap: int = 0, seed: int | Sequence[int] = 0) -> Metrics:
    """δ1/δ2/δ3, AbsRel, RMSE and log10 error of predictions against positive truths.

    Args:
        pred: (N,) float predictions in the truth's unit; NaN (or inf) where unparsable.
        gt: (N,) float true values, all > 0.
        missing: (N,) bool, True where there was no prediction at all; None = none missing.
        bootstrap: number of bootstrap resamples for the δ1 interval; 0 = no interval.
        seed: seed of the bootstrap generator.

    Returns:
        The metrics; the δ are None when N = 0, the errors when no prediction is valid.
    """
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    missing = np.zeros(gt.shape, dtype=bool) if missing is None else np.asarray(missing, dtype=bool)
    if pred.shape != gt.shape or missing.shape != gt.shape or gt.ndim != 1:
        raise ScoringError(f"compute_metrics: pred, gt and missing must be (N,), got {pred.shape}, {gt.shape}, "
                           f"{missing.shape}")
    if not np.all(gt > 0) or not np.all(np.isfinite(gt)):
        raise ScoringError("compute_metrics: true values must be finite and > 0")
    finite = np.isfinite(pred) & ~missing
    valid = finite & (pred > 0)
    n = len(gt)
    counts = {"n": n, "n_missing": int(missing.sum()), "n_unparsable": int((~finite & ~missing).sum()),
              "n_nonpositive": int((finite & ~valid).sum())}
    if n == 0:
        return Metrics(**counts)
    p, g = pred[valid], gt[valid]
    ratio = np.maximum(p / g, g / p)
    hits = [int(np.count_nonzero(ratio < DELTA_BASE ** k)) for k in (1, 2, 3)]
    errors = _error_metrics(p, g)
    ci = bootstrap_delta1_ci(hits[0], n, bootstrap, seed) if bootstrap else None
    return Metrics(**counts, delta1=hits[0] / n, delta2=hits[1] / n, delta3=hits[2] / n, **errors, delta1_ci=ci)


def _error_metrics(p: np.ndarray, g: np.ndarray) -> dict:
    """AbsRel, RMSE and log10 error of valid (positive) predictions; None when there are none."""
    if len(p) == 0:
        return {"abs_rel": None, "rmse": None, "log10": None}
    return {"abs_rel": float(np.mean(np.abs(p - g) / g)),
            "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
            "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g))))}


def bootstrap_delta1_ci(hits: int, n: int, resamples: int, seed: int | Sequence[int] = 0,
                        level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of δ1 = hits / n.

    δ1 is the mean of n hit/miss indicators, so the number of hits in a resample of the
    n records (drawn with replacement) is Binomial(n, hits / n): drawing that count is
    the record-resampling bootstrap exactly, in O(resamples) instead of O(n * resamples).

    Args:
        hits: records that count as δ1 hits.
        n: records scored (hits and misses).
        resamples: bootstrap resamples.
        seed: seed (or seed sequence) of ``np.random.default_rng``.
        level: coverage of the interval.

    Returns:
        (low, high), or None when n or resamples is 0.

    Raises:
        ScoringError: more than MAX_BOOTSTRAP resamples, or a negative seed.
    """
    if resamples > MAX_BOOTSTRAP:
        raise ScoringError(f"bootstrap: at most {MAX_BOOTSTRAP:,} resamples, got {resamples:,}")
    if n <= 0 or resamples <= 0:
        return None
    if any(part < 0 for part in np.atleast_1d(seed)):
        raise ScoringError(f"bootstrap: the seed must be >= 0, got {seed}")
    rng = np.random.default_rng(seed)
    shares = rng.binomial(n, hits / n, size=resamples) / n
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(shares, [tail, 100 - tail])
    return float(low), float(high)


def depth_bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the depth ranges [e0, e1), ..., [e_last, inf): "0-2", ..., "80+"."""
    edges = check_depth_bins(edges)
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges, edges[1:])] + [f"{edges[-1]:g}+"]


def assign_depth_bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """(N,) int index of the range of each value; -1 below the first edge and for NaN."""
    edges = check_depth_bins(edges)
    values = np.asarray(values, dtype=np.float64)
    bins = np.searchsorted(np.asarray(edges), values, side="right") - 1
    bins[np.isnan(values)] = -1
    return bins


def check_depth_bins(edges: Sequence[float]) -> tuple[float, ...]:
    """``edges`` as a tuple of floats, or ScoringError unless finite, >= 0 and increasing."""
    try:
        edges = tuple(float(e) for e in edges)
    except (TypeError, ValueError, OverflowError):
        raise ScoringError(f"depth bins must be numbers, got {edges!r}") from None
    if not edges or not all(math.isfinite(e) and e >= 0 for e in edges) or any(
            b <= a for a, b in zip(edges, edges[1:])):
        raise ScoringError(f"depth bins must be finite, >= 0 and strictly increasing, got {list(edges)}")
    return edges
