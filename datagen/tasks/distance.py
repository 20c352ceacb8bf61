"""The distance task: how far the marked point is from the camera (Euclidean range, metres)."""

from __future__ import annotations

import numpy as np

from datagen.tasks import register
from datagen.tasks.base import TaskOptions, TaskTruth, figure_text, point_labels, require_points
from datagen.types import Sample


@register("distance")
def distance(sample: Sample, rng: np.random.Generator, options: TaskOptions) -> TaskTruth:
    """Range of the one marked point from the camera centre.

    Args:
        sample: one pixel and its point (1, 3), metres, camera frame.
        rng: unused (the task draws nothing); kept for the common task signature.
        options: least ``decimals`` of the stated distance (three significant digits at least).

    Returns:
        value = |points_cam[0]| in metres.
    """
    point = require_points(sample, "distance", 1)[0]
    range_m = float(np.linalg.norm(point))
    text = figure_text(range_m, options.decimals)
    return TaskTruth(task="distance", value=range_m, unit="m", fields={"distance_m": range_m},
                     label=point_labels(sample), num_points=1, stated={"distance_m": text})
