"""Who moves in the speed and time questions, how fast, and for how long.

A speed question gives a travel time and asks for the speed that covers the distance to
the marked point in it; a time question gives a speed and asks for the time. Both draw the
same way, so that answers spread over a sensible range for the scene's scale and the
given fits the words around it:

1. a travel time is drawn log-uniformly from ``TaskOptions.time_range_s``;
2. the speed it implies over the distance picks a mover whose usual speeds hold it (an ant
   on a table, a pedestrian across a room, a car down a street), uniformly among those that
   do; a speed no mover reaches is moved into the nearest mover's range;
3. the given (the time, or the speed) is rounded as the question states it
   (``GIVEN_SIGNIFICANT`` significant digits, at least ``GIVEN_DECIMALS`` decimals), the
   rounding that keeps the mover's speed in its range first;
4. the task computes its answer from that rounded given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datagen.tasks.base import (GIVEN_DECIMALS, GIVEN_SIGNIFICANT, TASK_UNITS, TaskTruth, figure_decimals, figure_text,
                                fixed, point_labels, quotient_chain, require_points)
from datagen.types import Sample

#: For each travel task: what the question gives (``draw_motion``'s ``given``), that figure, and the figure it asks.
TRAVEL_TASKS = {"speed": ("time", "time_s", "speed_mps"), "time": ("speed", "speed_mps", "time_s")}


@dataclass(frozen=True)
class Mover:
    """Something that moves from the camera to the marked point.

    Attributes:
        name: short key, kept in the record's label.
        phrase: how a question names it, with its article ("a pedestrian").
        speed_mps: (low, high) speeds it usually moves at, metres per second.
    """

    name: str
    phrase: str
    speed_mps: tuple[float, float]

    def __post_init__(self) -> None:
        low, high = self.speed_mps
        if not 0 < low <= high:
            raise ValueError(f"Mover {self.name!r}: speed_mps must be (low, high) with 0 < low <= high, "
                             f"got {self.speed_mps}")


#: The movers, slowest first; their ranges together cover 0.01-30 m/s.
MOVERS = (
    Mover("ant", "an ant", (0.01, 0.05)),
    Mover("robot", "a small robot", (0.05, 0.5)),
    Mover("pedestrian", "a pedestrian", (0.5, 2.5)),
    Mover("runner", "a runner", (2.5, 7.0)),
    Mover("cyclist", "a cyclist", (4.0, 12.0)),
    Mover("car", "a car", (8.0, 30.0)),
)


@dataclass(frozen=True)
class Motion:
    """A drawn trip: the mover, and the given as the question states it.

    Attributes:
        mover: who moves.
        given: the stated given (seconds for the speed task, m/s for the time task), exactly
            the float of ``given_text``.
        given_text: the given as the question states it ("4.2").
    """

    mover: Mover
    given: float
    given_text: str


def movers_in(speed_range_mps: tuple[float, float]) -> tuple[Mover, ...]:
    """The movers whose speeds overlap ``speed_range_mps``, each range clipped to it."""
    low, high = speed_range_mps
    out = []
    for mover in MOVERS:
        lo, hi = max(mover.speed_mps[0], low), min(mover.speed_mps[1], high)
        if lo <= hi:
            out.append(Mover(mover.name, mover.phrase, (lo, hi)))
    return tuple(out)


def draw_motion(distance_m: float, given: str, options, rng: np.random.Generator) -> Motion:
    """Draw a mover and the given of a speed or time question over ``distance_m``.

    Args:
        distance_m: distance from the camera to the marked point, metres (> 0).
        given: "time" (the speed task states a time) or "speed" (the time task states a speed).
        options: a ``TaskOptions``: ``time_range_s`` and ``speed_range_mps``.
        rng: the record's generator.

    Returns:
        The motion; the answer follows from ``distance_m`` and ``Motion.given``.
    """
    if given not in ("time", "speed"):
        raise ValueError(f"draw_motion: given must be 'time' or 'speed', got {given!r}")
    low, high = options.time_range_s
    time_s = math.exp(rng.uniform(math.log(low), math.log(high)))  # 1. log-uniform travel time
    mover = _pick_mover(distance_m / time_s, movers_in(options.speed_range_mps), rng)  # 2.
    lo, hi = mover.speed_mps
    speed_mps = min(max(distance_m / time_s, lo), hi)
    if given == "speed":  # 3. rounded as stated, keeping the speed in the mover's range
        text = _round_given(speed_mps, lambda v: lo <= v <= hi)
    else:
        text = _round_given(distance_m / speed_mps, lambda t: t > 0 and lo <= distance_m / t <= hi)
    return Motion(mover=mover, given=float(text), given_text=text)


def _pick_mover(speed_mps: float, movers: tuple[Mover, ...], rng: np.random.Generator) -> Mover:
    """A mover whose range holds the speed, uniformly; else the one nearest it on a log scale."""
    holding = [m for m in movers if m.speed_mps[0] <= speed_mps <= m.speed_mps[1]]
    if holding:
        return holding[int(rng.integers(len(holding)))]
    gap = [abs(math.log(speed_mps / min(max(speed_mps, m.speed_mps[0]), m.speed_mps[1]))) for m in movers]
    return movers[int(np.argmin(gap))]


def _round_given(value: float, fits) -> str:
    """``value`` as a question states a given: the nearer rounding whose figure ``fits``, else the
    other one, else the nearer (never 0: a given of at least one unit of the last decimal)."""
    places = figure_decimals(value, GIVEN_DECIMALS, GIVEN_SIGNIFICANT)
    unit = 10.0 ** -places
    down, up = math.floor(value / unit), math.ceil(value / unit)
    options = sorted({max(down, 1), max(up, 1)}, key=lambda k: abs(k * unit - value))
    # a rounding that carries into a new digit (0.0996 -> 0.100) keeps two significant digits (0.10)
    texts = [fixed(k * unit, min(places, figure_decimals(k * unit, GIVEN_DECIMALS, GIVEN_SIGNIFICANT)))
             for k in options]
    return next((text for text in texts if fits(float(text))), texts[0])


def travel_truth(task: str, sample: Sample, rng: np.random.Generator, options) -> TaskTruth:
    """The truth of a speed or time question: answer = range / given, the given as stated.

    Args:
        task: "speed" (a time is given) or "time" (a speed is given).
        sample: one pixel and its point (1, 3), metres, camera frame.
        rng: draws the mover and the given (``draw_motion``).
        options: a ``TaskOptions``.

    Returns:
        The truth; its chain divides the stated distance by the given (``quotient_chain``),
        and its label adds the given and the mover's name.
    """
    given, given_key, answer_key = TRAVEL_TASKS[task]
    range_m = float(np.linalg.norm(require_points(sample, task, 1)[0]))
    motion = draw_motion(range_m, given, options, rng)
    value = range_m / motion.given
    distance_text, chain_text = quotient_chain(range_m, motion.given, options.decimals)
    fields = {"distance_m": range_m, given_key: motion.given, answer_key: value,
              f"chain_{answer_key}": float(distance_text) / motion.given}
    stated = {"distance_m": distance_text, given_key: motion.given_text,
              answer_key: figure_text(value, options.decimals), f"chain_{answer_key}": chain_text}
    label = {**point_labels(sample), given_key: motion.given, "mover": motion.mover.name}
    return TaskTruth(task=task, value=value, unit=TASK_UNITS[task], fields=fields, label=label, num_points=1,
                     stated=stated, words={"mover": motion.mover.phrase})
