"""The speed task: how fast a mover must go to reach the marked point in a given time (m/s)."""

from __future__ import annotations

import numpy as np

from datagen.tasks import register
from datagen.tasks.base import TaskOptions, TaskTruth
from datagen.tasks.motion import travel_truth
from datagen.types import Sample


@register("speed")
def speed(sample: Sample, rng: np.random.Generator, options: TaskOptions) -> TaskTruth:
    """Speed that reaches the marked point in ``time_s`` seconds: range / time.

    The mover and the time are drawn by ``datagen.tasks.motion.draw_motion`` (a travel time
    log-uniform in ``options.time_range_s``, stated with two significant digits), and the
    value is computed from that stated time, so it matches what the question says.

    Args:
        sample: one pixel and its point (1, 3), metres, camera frame.
        rng: draws the mover and the time.
        options: ``time_range_s``, ``speed_range_mps`` and ``decimals``.

    Returns:
        value = |points_cam[0]| / time_s in m/s; the label adds ``time_s`` and ``mover``.
    """
    return travel_truth("speed", sample, rng, options)
