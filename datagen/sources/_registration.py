"""Depth maps of one camera carried into another: decode, back-project, hand over as points.

Many RGB-D datasets record depth with a camera other than the colour one (ScanNet's
640x480 depth beside 1296x968 colour, raw Kinect frames, 7-Scenes). Their labels must be
moved into the colour image geometrically: each depth pixel is back-projected with the
depth camera's intrinsics (1), moved into the colour camera by ``T_color_depth`` (2), and
projected by the pipeline with a z-buffer and the see-through filter (3). Resizing the
depth map to the colour size would put every label on the wrong pixel wherever the two
cameras differ in principal point, focal length or position.

A source calls :func:`registered_points` and passes the result to ``Frame`` as
``points`` + ``T_cam_points`` with ``meta["points_from"] = "depth_map"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datagen.errors import DatagenError, SourceError
from datagen.geometry.se3 import as_transform
from datagen.sources._io import read_text
from datagen.types import DEPTH_KINDS, Camera

#: What ``Frame.meta["points_from"]`` says of points back-projected from a depth map.
POINTS_FROM = "depth_map"


@dataclass(frozen=True, eq=False)
class DepthRegistration:
    """How the pixels of a depth camera reach the colour camera.

    Attributes:
        depth_camera: intrinsics, lens model and image size of the depth map (its pose unused).
        T_color_depth: (4, 4) rigid transform from the depth camera frame to the colour
            camera frame, metres (identity when depth and colour share a viewpoint).
        depth_kind: what the depth map holds: "z" (along the depth camera's optical axis) or
            "range" (Euclidean distance from the depth camera's centre).
    """

    depth_camera: Camera
    T_color_depth: np.ndarray = field(default_factory=lambda: np.eye(4))
    depth_kind: str = "z"

    def __post_init__(self) -> None:
        if not isinstance(self.depth_camera, Camera):
            raise ValueError(f"DepthRegistration.depth_camera must be a Camera, got "
                             f"{type(self.depth_camera).__name__}")
        T = as_transform(self.T_color_depth, "DepthRegistration.T_color_depth")
        T.setflags(write=False)
        object.__setattr__(self, "T_color_depth", T)
        if self.depth_kind not in DEPTH_KINDS:
            raise ValueError(f"DepthRegistration.depth_kind must be one of {DEPTH_KINDS}, got {self.depth_kind!r}")


def decode_depth(raw: np.ndarray, units_per_m: float, invalid: tuple = (0,), where: str = "depth") -> np.ndarray:
    """A stored depth map in metres, float32, with 0 where the file marks no data.

    Args:
        raw: (H, W) stored values (uint16 PNG, float array, ...).
        units_per_m: stored units per metre (1000 for millimetres, 5000 for TUM, 1 for metres).
        invalid: stored values that mean "no data" (0, 65535, ...); NaN and inf always do.
        where: the file, for error messages.

    Returns:
        (H, W) float32 metres; 0 = no label.

    Raises:
        SourceError: not a 2-D map, or negative depths.
    """
    raw = np.asarray(raw)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    if raw.ndim != 2 or not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)):
        raise SourceError(f"{where}: a depth map must be one numeric channel, got shape {raw.shape} {raw.dtype}")
    no_data = ~np.isfinite(raw) if np.issubdtype(raw.dtype, np.floating) else np.zeros(raw.shape, dtype=bool)
    for value in invalid:
        no_data |= raw == value
    with np.errstate(invalid="ignore"):
        depth = np.where(no_data, 0.0, raw.astype(np.float64) / float(units_per_m))
    if (depth < 0).any():
        rows, cols = np.nonzero(depth < 0)
        raise SourceError(f"{where}: negative depth {raw[rows[0], cols[0]]} at row {rows[0]}, column {cols[0]}")
    return depth.astype(np.float32)


def depth_points(depth_m: np.ndarray, camera: Camera, kind: str = "z") -> np.ndarray:
    """Back-project every labelled pixel of a depth map into its camera's frame.

    Args:
        depth_m: (H, W) float metres of ``camera``'s image; 0 or NaN = no label.
        camera: the depth camera (any lens model).
        kind: "z" or "range".

    Returns:
        (N, 3) float64 points, metres, depth camera frame, in row-major pixel order;
        pixels without a forward viewing ray are left out.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        rows, cols = np.nonzero(np.isfinite(depth) & (depth > 0))
    uv = np.column_stack([cols, rows]).astype(np.float64)
    values = depth[rows, cols]
    if camera.is_pinhole:  # 1. pinhole: closed form, the hot path of every RGB-D frame
        x = (uv[:, 0] - camera.cx) / camera.fx
        y = (uv[:, 1] - camera.cy) / camera.fy
        rays = np.column_stack([x, y, np.ones_like(x)])
    else:
        rays = camera.rays(uv)
        keep = np.isfinite(rays).all(axis=1) & (rays[:, 2] > 0)
        rays, values = rays[keep], values[keep]
    if kind == "z":
        return rays * (values / rays[:, 2])[:, None]
    return rays * (values / np.linalg.norm(rays, axis=1))[:, None]


def registered_points(depth_m: np.ndarray, registration: DepthRegistration, where: str = "depth") -> dict:
    """The Frame fields that carry a depth map of another camera into the colour image.

    Args:
        depth_m: (H, W) float metres of the depth camera's image; 0 or NaN = no label.
        registration: the depth camera and its transform into the colour camera.
        where: the depth file, for error messages.

    Returns:
        ``{"points": (N, 3) float64 depth-camera-frame points, "T_cam_points": T_color_depth,
        "meta": {"points_from": "depth_map", "depth_size": [W, H]}}``.

    Raises:
        SourceError: the depth map's size is not the depth camera's.
    """
    camera = registration.depth_camera
    depth = np.asarray(depth_m)
    if depth.shape != (camera.height, camera.width):
        raise SourceError(f"{where}: depth map is {depth.shape[1]}x{depth.shape[0]} px but its intrinsics "
                          f"describe {camera.width}x{camera.height}")
    points = depth_points(depth, camera, registration.depth_kind)
    return {"points": points, "T_cam_points": registration.T_color_depth,
            "meta": {"points_from": POINTS_FROM, "depth_size": [camera.width, camera.height]}}


def read_matrix(path: Path, shape: tuple[int, int], layout: str, text: str | None = None) -> np.ndarray:
    """A whitespace-separated matrix file (``shape`` numbers, rows in order) as float64.

    ``-inf``/``nan`` entries are kept (ScanNet marks unknown poses with ``-inf``); a wrong
    count or a word that is not a number is a SourceError naming the file.
    """
    text = read_text(path, layout) if text is None else text
    try:
        values = np.array([float(v) for v in text.split()], dtype=np.float64)
    except ValueError:
        raise SourceError(f"{path}: expected {shape[0]}x{shape[1]} numbers ({layout}), got "
                          f"{text.strip()[:80]!r}") from None
    if values.size != shape[0] * shape[1]:
        raise SourceError(f"{path}: expected {shape[0]}x{shape[1]} = {shape[0] * shape[1]} numbers ({layout}), "
                          f"got {values.size}")
    return values.reshape(shape)


#: Largest deviation of a stored rotation's singular values from 1 that is rounding or drift
#: (KinectFusion poses of 7-Scenes deviate by about 1e-4) rather than a wrong matrix.
ROTATION_TOLERANCE = 1e-3


def rigid_transform(matrix: np.ndarray, where: str, what: str) -> np.ndarray:
    """``matrix`` as a (4, 4) rigid transform, its rotation made exactly orthonormal.

    A stored rotation whose singular values are within ``ROTATION_TOLERANCE`` of 1 is replaced
    by the nearest rotation (polar decomposition); anything further off is a SourceError
    naming the file.
    """
    T = np.array(matrix, dtype=np.float64)
    if T.shape == (4, 4) and np.all(np.isfinite(T)):
        U, singular, Vt = np.linalg.svd(T[:3, :3])
        if np.abs(singular - 1.0).max() <= ROTATION_TOLERANCE and np.linalg.det(U @ Vt) > 0:
            T[:3, :3] = U @ Vt
    try:
        return as_transform(T, what)
    except DatagenError as exc:
        raise SourceError(f"{where}: {exc}") from None
