"""The time task: how long it takes to reach the marked point at a given speed (seconds)."""

from __future__ import annotations

import numpy as np

from datagen.tasks import register
from datagen.tasks.base import GIVEN_DECIMALS, TaskOptions, TaskTruth, draw_given, point_labels, require_points, \
    restated
from datagen.types import Sample


@register("time")
def time(sample: Sample, rng: np.random.Generator, options: TaskOptions) -> TaskTruth:
    """Time to reach the marked point at ``speed_mps``: range / speed.

    The speed is drawn uniformly from ``options.speed_range_mps`` at one decimal, and the
    value is computed from that rounded speed, so it matches what the question states.

    Args:
        sample: one pixel and its point (1, 3), metres, camera frame.
        rng: draws the speed.
        options: ``speed_range_mps`` and ``decimals``.

    Returns:
        value = |points_cam[0]| / speed_mps in seconds; the label adds ``speed_mps``.
    """
    range_m = float(np.linalg.norm(require_points(sample, "time", 1)[0]))
    speed_mps = draw_given(options.speed_range_mps, rng)
    time_s = range_m / speed_mps
    distance_r, distance_text = restated(range_m, options.decimals)
    speed_r, speed_text = restated(speed_mps, GIVEN_DECIMALS)
    chain = distance_r / speed_r
    fields = {"distance_m": range_m, "speed_mps": speed_mps, "time_s": time_s, "chain_time_s": chain}
    stated = {"distance_m": distance_text, "speed_mps": speed_text,
              "time_s": restated(time_s, options.decimals)[1],
              "chain_time_s": restated(chain, options.decimals)[1]}
    label = {**point_labels(sample), "speed_mps": speed_mps}
    return TaskTruth(task="time", value=time_s, unit="s", fields=fields, label=label, num_points=1,
                     stated=stated)
