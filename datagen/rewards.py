"""Reward functions for RL fine-tuning (TRL's ``GRPOTrainer(reward_funcs=...)``).

TRL calls each reward function once per batch as
``func(prompts=..., completions=..., completion_ids=..., **columns)``, where ``columns``
holds every other column of the training dataset as a list with one item per
completion (plus bookkeeping such as ``trainer_state``), and uses the function's
``__name__`` in its logs. A completion is a string for a plain-text dataset and a list
of message dicts ``[{"role": "assistant", "content": "..."}]`` for a conversational one.

The true value is read from the ``value`` column (canonical records keep it), else from
``solution`` or ``answer`` (a number, or an answer text that is parsed); the unit hint
from ``unit``, else from ``task``. Every reward is in [0, 1]; an answer that cannot be
parsed, or is not positive, earns 0. Nothing here imports torch or trl.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Sequence

from datagen.scoring import BASE_UNITS, DELTA_BASE, TASK_UNITS, ScoringError, completion_text, parse_value

log = logging.getLogger(__name__)

#: Default width of the smooth reward, in units of log(1.25): it reaches 0 at a ratio of 1.25**k.
SMOOTH_K = 2.0
_TRUTH_COLUMNS = ("value", "solution", "answer")


def depth_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 when the answer is a δ1 hit (max(pred/gt, gt/pred) < 1.25), else 0.0.

    Args:
        completions: model outputs, strings or lists of message dicts.
        **kwargs: dataset columns as TRL passes them; ``value`` (or ``solution`` /
            ``answer``) gives the truth, ``unit`` or ``task`` the unit.

    Returns:
        One reward per completion.
    """
    return [0.0 if ratio is None else float(ratio < DELTA_BASE) for ratio in _ratios(completions, kwargs)]


def smooth_depth_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1 - min(1, |log(pred/gt)| / (log(1.25) * SMOOTH_K)): 1 when exact, 0 from a ratio of 1.25**SMOOTH_K."""
    return _smooth(completions, kwargs, SMOOTH_K)


def make_smooth_depth_reward(k: float) -> Callable[..., list[float]]:
    """A smooth depth reward of width ``k`` (in log(1.25) units), named for TRL's logs."""
    if not (k > 0 and math.isfinite(k)):
        raise ScoringError(f"make_smooth_depth_reward: k must be a finite number > 0, got {k!r}")

    def reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return _smooth(completions, kwargs, k)

    reward.__name__ = reward.__qualname__ = f"smooth_depth_reward_k{k:g}"
    reward.__doc__ = f"Smooth depth reward reaching 0 at a ratio of 1.25**{k:g}."
    return reward


def _smooth(completions: Sequence[Any], columns: dict, k: float) -> list[float]:
    width = math.log(DELTA_BASE) * k
    ratios = _ratios(completions, columns)
    return [0.0 if ratio is None else 1.0 - min(1.0, math.log(ratio) / width) for ratio in ratios]


def _ratios(completions: Sequence[Any], columns: dict) -> list[float | None]:
    """max(pred/gt, gt/pred) per completion; None where the answer or the truth is unusable."""
    hints = _hints(len(completions), columns)
    truths = _truths(len(completions), columns, hints)
    out: list[float | None] = []
    for completion, truth, hint in zip(completions, truths, hints):
        pred = parse_value(completion_text(completion), hint)
        if truth is None or pred is None or pred <= 0:
            out.append(None)
        else:
            out.append(max(pred / truth, truth / pred))
    return out


def _truths(n: int, columns: dict, hints: list[str | None]) -> list[float | None]:
    """True values from the first truth column present; None (with a warning) where unusable."""
    key = next((k for k in _TRUTH_COLUMNS if columns.get(k) is not None), None)
    if key is None:
        raise ScoringError(f"depth reward: no truth column; expected one of {', '.join(_TRUTH_COLUMNS)} among the "
                           f"dataset columns, got {', '.join(sorted(columns)) or 'none'}")
    truths = [parse_value(item, hint) for item, hint in zip(_column(columns, key, n), hints)]
    bad = sum(1 for t in truths if t is None or not t > 0)
    if bad:
        log.warning("depth reward: %d of %d truths in column %r are not positive numbers; their rewards are 0",
                    bad, n, key)
    return [t if t is not None and t > 0 else None for t in truths]


def _hints(n: int, columns: dict) -> list[str | None]:
    """Unit hint per completion, from the ``unit`` column, else from ``task``, else None."""
    if columns.get("unit") is not None:
        return [u if u in BASE_UNITS else None for u in _column(columns, "unit", n)]
    if columns.get("task") is not None:
        return [TASK_UNITS.get(t) if isinstance(t, str) else None for t in _column(columns, "task", n)]
    return [None] * n


def _column(columns: dict, key: str, n: int) -> list:
    """A dataset column as a list of n items (a single value is repeated)."""
    column = columns[key]
    if isinstance(column, (str, bytes, int, float)):
        return [column] * n
    column = list(column)
    if len(column) != n:
        raise ScoringError(f"depth reward: column {key!r} has {len(column)} items for {n} completions")
    return column
