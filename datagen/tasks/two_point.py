"""The two-point task: how far apart the two marked points are (metres)."""

from __future__ import annotations

import numpy as np

from datagen.tasks import register
from datagen.tasks.base import (TaskOptions, TaskTruth, figure_decimals, figure_text, offset_figures, point_labels,
                                require_points)
from datagen.types import Sample


@register("two_point")
def two_point(sample: Sample, rng: np.random.Generator, options: TaskOptions) -> TaskTruth:
    """3D distance between the points marked A (first) and B (second).

    The reasoning figures are each point's range and the offset B - A in the camera's
    axes (x right, y down, z forward), stated so that sqrt(dx² + dy² + dz²) computed on
    them gives the stated distance (at the distance's decimals: three significant digits,
    at least ``options.decimals``).

    Args:
        sample: two pixels and their points (2, 3), metres, camera frame.
        rng: unused (the task draws nothing); kept for the common task signature.
        options: least ``decimals`` of the stated figures.

    Returns:
        value = |points_cam[1] - points_cam[0]| in metres; the label adds ``offset_m``.
    """
    points = require_points(sample, "two_point", 2)
    offset = points[1] - points[0]
    distance_m = float(np.linalg.norm(offset))
    ranges = np.linalg.norm(points, axis=1)
    distance_text = figure_text(distance_m, options.decimals)
    dx, dy, dz = offset_figures(offset, distance_text, figure_decimals(distance_m, options.decimals))
    fields = {"distance_m": distance_m, "distance_a_m": float(ranges[0]), "distance_b_m": float(ranges[1]),
              "dx_m": float(offset[0]), "dy_m": float(offset[1]), "dz_m": float(offset[2])}
    stated = {"distance_m": distance_text, "distance_a_m": figure_text(ranges[0], options.decimals),
              "distance_b_m": figure_text(ranges[1], options.decimals), "dx_m": dx, "dy_m": dy, "dz_m": dz}
    label = {**point_labels(sample), "offset_m": offset.tolist()}
    return TaskTruth(task="two_point", value=distance_m, unit="m", fields=fields, label=label, num_points=2,
                     stated=stated)
