"""Camera models, SE(3) helpers and point projection.

Conventions (the same as DESIGN.md section 3):

* Units: metres, seconds, metres per second; angles in radians in code.
* Camera frame: OpenCV axes, x right, y down, z forward. Sources convert to it
  once, at the boundary, with named constants such as ``T_CV_FROM_GL``.
* Poses: ``T_a_b`` maps points from frame b to frame a, ``x_a = T_a_b @ x_b``,
  so chains read ``T_a_c = T_a_b @ T_b_c``. A camera carries ``T_world_cam``.
* Pixels: ``(u, v)`` = (column, row); integer values are pixel centres. Resizing
  by s maps u to ``(u + 0.5) * s - 0.5`` and the principal point the same way.
* Depth: ``range_m`` is the Euclidean distance from the camera centre, ``z_m``
  the distance along the optical axis. Every label stores both.
"""

from datagen.geometry.cameras import (
    CAMERA_MODELS,
    distort_normalized,
    project,
    range_from_z,
    undistort_normalized,
    unproject,
    unproject_rays,
    z_from_range,
)
from datagen.geometry.se3 import (
    T_CV_FROM_GL,
    as_transform,
    compose,
    invert,
    make_transform,
    transform_points,
)

#: Names of ``geometry.projection``, loaded on first use: projection needs ``datagen.types``,
#: which imports this package, so an eager import here would be circular.
_PROJECTION_NAMES = ("OcclusionFilter", "ProjectionStats", "project_points", "project_points_with_stats",
                     "view_from_depth_map")


def __getattr__(name: str):
    if name in _PROJECTION_NAMES:
        from datagen.geometry import projection

        return getattr(projection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CAMERA_MODELS",
    "OcclusionFilter",
    "ProjectionStats",
    "T_CV_FROM_GL",
    "as_transform",
    "compose",
    "distort_normalized",
    "invert",
    "make_transform",
    "project",
    "project_points",
    "project_points_with_stats",
    "range_from_z",
    "transform_points",
    "undistort_normalized",
    "unproject",
    "unproject_rays",
    "view_from_depth_map",
    "z_from_range",
]
