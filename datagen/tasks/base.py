"""What every task shares: options, the truth a task returns, units, and number formatting.

A task is a pure function ``task(sample, rng, options) -> TaskTruth`` registered in
``datagen.tasks.REGISTRY``. It computes the value at full precision and every figure a
template may state, already formatted (``TaskTruth.stated``), so that a reasoning chain's
arithmetic is done on the rounded figures it states and a reader can redo it.

Figures are stated with ``SIGNIFICANT_DIGITS`` significant digits, and never fewer than
``TaskOptions.decimals`` decimals (``figure_text``): "0.0236", "4.43", "66.19", "123.46". So
a stated answer lies within ``ANSWER_RTOL`` (0.5%) of the value whatever its size; a chain
that divides stated figures takes more digits where rounding twice would break that
(``quotient_chain``).
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from datagen.errors import ConfigError, DatagenError
from datagen.types import Sample

log = logging.getLogger(__name__)

#: Base unit of each task's value.
TASK_UNITS = {"distance": "m", "axis_distance": "m", "speed": "m/s", "time": "s", "two_point": "m", "pose": "m"}

#: The figures each task offers its templates (keys of ``TaskTruth.fields`` and ``TaskTruth.stated``).
TASK_FIELDS = {
    "distance": ("distance_m",),
    "axis_distance": ("z_m",),
    "speed": ("distance_m", "time_s", "speed_mps", "chain_speed_mps"),
    "time": ("distance_m", "speed_mps", "time_s", "chain_time_s"),
    "two_point": ("distance_m", "distance_a_m", "distance_b_m", "dx_m", "dy_m", "dz_m"),
    "pose": ("distance_m", "dx_m", "dy_m", "dz_m"),
}
#: The words (not figures) each task offers its templates (keys of ``TaskTruth.words``).
TASK_WORDS = {"distance": (), "axis_distance": (), "speed": ("mover",), "time": ("mover",), "two_point": (),
              "pose": ()}

#: Decimals of stated figures unless TaskOptions.decimals says otherwise (a floor: see SIGNIFICANT_DIGITS).
DEFAULT_DECIMALS = 2
#: Significant digits every stated figure keeps at least: the rounding is then at most 0.5% of it.
SIGNIFICANT_DIGITS = 3
#: Largest relative gap between the answer an answer text states and the value.
ANSWER_RTOL = 0.005
#: Most decimals a figure is stated with.
MAX_DECIMALS = 9
#: Significant digits, and least decimals, of a quantity a question gives (the time of the speed
#: task, the speed of the time task): "0.035", "1.4", "12.0".
GIVEN_SIGNIFICANT = 2
GIVEN_DECIMALS = 1
#: Extra decimals an offset component may get so that its chain ends on the rounded value.
MAX_EXTRA_DECIMALS = 3
#: Extra significant digits a divided chain may take to keep its answer within ANSWER_RTOL.
MAX_EXTRA_DIGITS = 3


class TaskError(DatagenError, ValueError):
    """A sample does not fit its task (wrong number of points, a point behind the camera, no pose)."""


@dataclass(frozen=True)
class TaskOptions:
    """Options of the tasks; the defaults live here.

    Attributes:
        time_range_s: (low, high) seconds: travel times of the speed and time tasks are drawn
            log-uniformly from it (the speed task states one, the time task asks for one).
        speed_range_mps: (low, high) m/s: the speeds movers may have (each mover's own range,
            ``datagen.tasks.motion.MOVERS``, is clipped to it; movers outside it are left out).
        decimals: least number of decimals of every figure an answer states.
    """

    time_range_s: tuple[float, float] = (1.0, 60.0)
    speed_range_mps: tuple[float, float] = (0.01, 30.0)
    decimals: int = DEFAULT_DECIMALS

    def __post_init__(self) -> None:
        for name in ("time_range_s", "speed_range_mps"):
            object.__setattr__(self, name, _check_range(name, getattr(self, name)))
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, (int, np.integer)) \
                or not 0 <= self.decimals <= 6:
            raise ConfigError(f"TaskOptions.decimals must be an integer from 0 to 6, got {self.decimals!r}")
        object.__setattr__(self, "decimals", int(self.decimals))
        from datagen.tasks.motion import movers_in  # motion reads these options

        if not movers_in(self.speed_range_mps):
            raise ConfigError(f"TaskOptions.speed_range_mps {list(self.speed_range_mps)} holds the speed of no "
                              "mover (datagen.tasks.motion.MOVERS)")


def _check_range(name: str, value: object) -> tuple[float, float]:
    """``value`` as a (low, high) float pair with 0 < low <= high, finite."""
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"TaskOptions.{name} must be two numbers (low, high), got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high < low:
        raise ConfigError(f"TaskOptions.{name} must satisfy 0 < low <= high, got {[low, high]}")
    return low, high


@dataclass(frozen=True, eq=False)
class TaskTruth:
    """What a task computes for one sample.

    Attributes:
        task: the task name.
        value: the full-precision truth, in ``unit``.
        unit: "m", "m/s" or "s".
        fields: every figure a template may state, full precision (float), by name.
        stated: the same names, formatted as the text states them ("7.23"); chain figures are
            computed from the stated figures they follow from. Empty: each field by ``figure_text``.
        label: JSON-ready label of the record (pixels, range_m, z_m, points_cam, ...).
        num_points: how many points the image marks (0 for pose, 1, or 2).
        words: the task's words (``TASK_WORDS``), as the text states them ("a pedestrian").
    """

    task: str
    value: float
    unit: str
    fields: dict
    label: dict
    num_points: int
    stated: dict = field(default_factory=dict)
    words: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASK_UNITS:
            raise TaskError(f"TaskTruth.task must be one of {sorted(TASK_UNITS)}, got {self.task!r}")
        if self.unit != TASK_UNITS[self.task]:
            raise TaskError(f"TaskTruth.unit of {self.task} must be {TASK_UNITS[self.task]!r}, got {self.unit!r}")
        if not math.isfinite(self.value):
            raise TaskError(f"TaskTruth.value of {self.task} must be finite, got {self.value}")
        if self.num_points not in (0, 1, 2):
            raise TaskError(f"TaskTruth.num_points must be 0, 1 or 2, got {self.num_points}")
        if not self.stated:
            object.__setattr__(self, "stated", {k: figure_text(v, DEFAULT_DECIMALS) for k, v in self.fields.items()})
        for name, keys in (("fields", TASK_FIELDS), ("stated", TASK_FIELDS), ("words", TASK_WORDS)):
            expected = set(keys[self.task])
            if set(getattr(self, name)) != expected:
                raise TaskError(f"TaskTruth.{name} of {self.task} must have keys {sorted(expected)}, "
                                f"got {sorted(getattr(self, name))}")
        object.__setattr__(self, "value", float(self.value))


# --- helpers shared by the task modules -----------------------------------------------------


def fixed(value: float, decimals: int) -> str:
    """``value`` with exactly ``decimals`` decimals ("7.23"); never "-0.00"."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and not any(c in text for c in "123456789") else text


def figure_decimals(value: float, decimals: int, significant: int = SIGNIFICANT_DIGITS) -> int:
    """Decimals that state ``value`` with ``significant`` significant digits, and at least ``decimals``.

    Capped at ``MAX_DECIMALS``; zero (or a non-finite value) gets ``decimals``.
    """
    if value == 0 or not math.isfinite(value):
        return decimals
    exponent = math.floor(math.log10(abs(value)))
    return int(min(max(decimals, significant - 1 - exponent), max(decimals, MAX_DECIMALS)))


def figure_text(value: float, decimals: int, significant: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` as an answer states it: ``significant`` significant digits, never fewer than ``decimals``
    decimals ("0.0236", "4.43", "66.19" with 3 and 2)."""
    return fixed(value, figure_decimals(value, decimals, significant))


def quotient_chain(numerator: float, divisor: float, decimals: int) -> tuple[str, str]:
    """Texts of a stated numerator and of the quotient a chain computes from it.

    The divisor is a given the question states exactly. Both texts start at
    ``SIGNIFICANT_DIGITS`` significant digits and take one more together until the stated
    quotient lies within ``ANSWER_RTOL`` of ``numerator / divisor`` (rounding the numerator and
    then the quotient may each cost up to 0.5%). A reader dividing the stated numerator by
    the divisor finds the stated quotient at its decimals.

    Returns:
        (numerator text, quotient text).
    """
    truth = numerator / divisor
    for extra in range(MAX_EXTRA_DIGITS + 1):
        numerator_text = figure_text(numerator, decimals, SIGNIFICANT_DIGITS + extra)
        quotient_text = figure_text(float(numerator_text) / divisor, decimals, SIGNIFICANT_DIGITS + extra)
        if abs(float(quotient_text) - truth) <= ANSWER_RTOL * abs(truth):
            break
    return numerator_text, quotient_text


def point_labels(sample: Sample) -> dict:
    """The label keys every point task shares: pixels, range_m, z_m and points_cam (JSON lists)."""
    points = np.asarray(sample.points_cam, dtype=np.float64)
    return {"pixels": sample.pixels.tolist(), "range_m": np.linalg.norm(points, axis=1).tolist(),
            "z_m": points[:, 2].tolist(), "points_cam": points.tolist()}


def require_points(sample: Sample, task: str, count: int) -> np.ndarray:
    """The sample's (count, 3) float64 points, checked to lie in front of the camera.

    Raises:
        TaskError: the sample has another number of points, or a point with z <= 0 or not finite.
    """
    points = np.asarray(sample.points_cam, dtype=np.float64)
    if len(points) != count:
        raise TaskError(f"task {task} needs {count} marked point(s), sample {sample.frame_ids[0]} has {len(points)}")
    if not np.all(np.isfinite(points)) or np.any(points[:, 2] <= 0):
        raise TaskError(f"task {task}: sample {sample.frame_ids[0]} has a point not in front of the camera "
                        f"({points.tolist()})")
    return points


def offset_figures(offset: np.ndarray, norm_text: str, decimals: int) -> list[str]:
    """Components of a 3D offset, stated so that the norm computed from them rounds to ``norm_text``.

    Each component is rounded down or up (nearest first) at ``decimals`` decimals; if no
    combination gives ``norm_text``, one more decimal is tried, up to ``MAX_EXTRA_DECIMALS``.
    Every stated component is then within one unit of its last decimal of the truth, and a
    reader who redoes sqrt(dx² + dy² + dz²) on them finds the stated distance.

    Args:
        offset: (3,) float, metres.
        norm_text: the distance as stated, ``fixed(norm(offset), decimals)``.
        decimals: decimals of ``norm_text``.

    Returns:
        Three component texts.
    """
    offset = np.asarray(offset, dtype=np.float64).reshape(3)
    for places in range(decimals, decimals + MAX_EXTRA_DECIMALS + 1):
        scaled = offset * 10.0 ** places
        options = [sorted({math.floor(c), math.ceil(c)}, key=lambda k, c=c: abs(k - c)) for c in scaled]
        combos = sorted(itertools.product(*options), key=lambda ks: float(np.abs(np.subtract(ks, scaled)).sum()))
        for ks in combos:
            texts = [fixed(k / 10.0 ** places, places) for k in ks]
            if fixed(math.sqrt(sum(float(t) ** 2 for t in texts)), decimals) == norm_text:
                return texts
    log.debug("offset %s: no stated components round to %s; stating nearest", offset.tolist(), norm_text)
    return [fixed(c, decimals + MAX_EXTRA_DECIMALS) for c in offset]
