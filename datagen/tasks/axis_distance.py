"""The principal-axis distance task: depth of the marked point along the camera's viewing axis (z, metres)."""

from __future__ import annotations

import numpy as np

from datagen.tasks import register
from datagen.tasks.base import TaskOptions, TaskTruth, figure_text, point_labels, require_points
from datagen.types import Sample


@register("axis_distance")
def axis_distance(sample: Sample, rng: np.random.Generator, options: TaskOptions) -> TaskTruth:
    """Distance of the one marked point along the camera's optical axis (its viewing direction).

    The optical axis tilts with the camera: for a camera pitched down it is not the
    horizontal forward direction, so questions name the camera's viewing direction.

    Args:
        sample: one pixel and its point (1, 3), metres, camera frame (z forward).
        rng: unused (the task draws nothing); kept for the common task signature.
        options: least ``decimals`` of the stated distance (three significant digits at least).

    Returns:
        value = points_cam[0, 2] in metres.
    """
    z_m = float(require_points(sample, "axis_distance", 1)[0, 2])
    text = figure_text(z_m, options.decimals)
    return TaskTruth(task="axis_distance", value=z_m, unit="m", fields={"z_m": z_m},
                     label=point_labels(sample), num_points=1, stated={"z_m": text})
