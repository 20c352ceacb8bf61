"""The time task: how long a mover takes to reach the marked point at a given speed (seconds)."""

from __future__ import annotations

import numpy as np

from datagen.tasks import register
from datagen.tasks.base import TaskOptions, TaskTruth
from datagen.tasks.motion import travel_truth
from datagen.types import Sample


@register("time")
def time(sample: Sample, rng: np.random.Generator, options: TaskOptions) -> TaskTruth:
    """Time to reach the marked point at ``speed_mps``: range / speed.

    The mover and its speed are drawn by ``datagen.tasks.motion.draw_motion`` (a travel
    time log-uniform in ``options.time_range_s``, the speed it implies within the mover's
    range, stated with two significant digits), and the value is computed from that stated
    speed, so it matches what the question says.

    Args:
        sample: one pixel and its point (1, 3), metres, camera frame.
        rng: draws the mover and the speed.
        options: ``time_range_s``, ``speed_range_mps`` and ``decimals``.

    Returns:
        value = |points_cam[0]| / speed_mps in seconds; the label adds ``speed_mps`` and ``mover``.
    """
    return travel_truth("time", sample, rng, options)
