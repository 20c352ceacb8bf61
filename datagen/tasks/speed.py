"""The speed task: how fast to move to reach the marked point in a given time (m/s)."""

from __future__ import annotations

import numpy as np

from datagen.tasks import register
from datagen.tasks.base import GIVEN_DECIMALS, TaskOptions, TaskTruth, draw_given, point_labels, require_points, \
    restated
from datagen.types import Sample


@register("speed")
def speed(sample: Sample, rng: np.random.Generator, options: TaskOptions) -> TaskTruth:
    """Speed that reaches the marked point in ``time_s`` seconds: range / time.

    The time is drawn uniformly from ``options.time_range_s`` at one decimal, and the
    value is computed from that rounded time, so it matches what the question states.

    Args:
        sample: one pixel and its point (1, 3), metres, camera frame.
        rng: draws the time.
        options: ``time_range_s`` and ``decimals``.

    Returns:
        value = |points_cam[0]| / time_s in m/s; the label adds ``time_s``.
    """
    range_m = float(np.linalg.norm(require_points(sample, "speed", 1)[0]))
    time_s = draw_given(options.time_range_s, rng)
    speed_mps = range_m / time_s
    distance_r, distance_text = restated(range_m, options.decimals)
    time_r, time_text = restated(time_s, GIVEN_DECIMALS)
    chain = distance_r / time_r
    fields = {"distance_m": range_m, "time_s": time_s, "speed_mps": speed_mps, "chain_speed_mps": chain}
    stated = {"distance_m": distance_text, "time_s": time_text,
              "speed_mps": restated(speed_mps, options.decimals)[1],
              "chain_speed_mps": restated(chain, options.decimals)[1]}
    label = {**point_labels(sample), "time_s": time_s}
    return TaskTruth(task="speed", value=speed_mps, unit="m/s", fields=fields, label=label, num_points=1,
                     stated=stated)
