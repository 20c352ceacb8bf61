"""The pose task: how far the camera moved between two images (metres)."""

from __future__ import annotations

import math

import numpy as np

from datagen.tasks import register
from datagen.tasks.base import TaskError, TaskOptions, TaskTruth, figure_decimals, figure_text, offset_figures
from datagen.types import Sample


@register("pose")
def pose(sample: Sample, rng: np.random.Generator, options: TaskOptions) -> TaskTruth:
    """Norm of the translation of ``T_cam0_cam1``: the second camera's centre in the first camera's frame.

    The reasoning figures are that translation's components in the first camera's axes
    (x right, y down, z forward), stated so that the norm computed on them gives the
    stated distance. The label keeps the full relative pose.

    Args:
        sample: two frames, their cameras and ``T_cam0_cam1`` (4, 4), metres.
        rng: unused (the task draws nothing); kept for the common task signature.
        options: least ``decimals`` of the stated figures.

    Returns:
        value = |T_cam0_cam1[:3, 3]| in metres.

    Raises:
        TaskError: the sample lacks two cameras or the relative pose.
    """
    if sample.T_cam0_cam1 is None or len(sample.cameras) != 2:
        raise TaskError(f"task pose needs two frames and T_cam0_cam1, sample {sample.frame_ids} has "
                        f"{len(sample.cameras)} camera(s) and {'a' if sample.T_cam0_cam1 is not None else 'no'} pose")
    T = np.asarray(sample.T_cam0_cam1, dtype=np.float64)
    translation = T[:3, 3]
    distance_m = float(np.linalg.norm(translation))
    distance_text = figure_text(distance_m, options.decimals)
    dx, dy, dz = offset_figures(translation, distance_text, figure_decimals(distance_m, options.decimals))
    fields = {"distance_m": distance_m, "dx_m": float(translation[0]), "dy_m": float(translation[1]),
              "dz_m": float(translation[2])}
    return TaskTruth(task="pose", value=distance_m, unit="m", fields=fields, label=_label(sample, T), num_points=0,
                     stated={"distance_m": distance_text, "dx_m": dx, "dy_m": dy, "dz_m": dz})


def _label(sample: Sample, T: np.ndarray) -> dict:
    """Empty point lists (the images mark nothing), the relative pose, and both cameras."""
    cos_angle = np.clip((np.trace(T[:3, :3]) - 1.0) / 2.0, -1.0, 1.0)
    return {"pixels": [], "range_m": [], "z_m": [], "points_cam": [],
            "T_cam0_cam1": T.tolist(), "translation_m": T[:3, 3].tolist(),
            "rotation_deg": math.degrees(math.acos(cos_angle)),
            "cameras": [camera.intrinsics() for camera in sample.cameras]}
