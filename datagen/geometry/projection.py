"""Project LiDAR points into a camera image: z-buffer and see-through (occlusion) filter.

The steps, for ``project_points``:

1. Map the points into the camera frame with ``T_cam_points``; drop non-finite ones.
2. Cull points with ``z < min_z_m``, invalid for the lens model, or outside the image.
3. Z-buffer: keep the nearest point (smallest z) per integer pixel
   ``(floor(u + 0.5), floor(v + 0.5))``; ties go to the lowest input index.
4. See-through filter: the LiDAR sits apart from the camera, so at depth edges far
   points (the background seen past an object's edge from the LiDAR) land among the
   near ones. A kept point is dropped when its z exceeds ``max_depth_ratio`` times the
   smallest z kept in its ``window_px x window_px`` neighbourhood.

Steps 1-3 run in one numba loop for pinhole cameras; distorted models project with
``Camera.project`` and share the numba z-buffer and filter. See docs/occlusion_filter.md
for how the defaults were chosen.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import numba
import numpy as np

from datagen.errors import ConfigError, GeometryError
from datagen.geometry.se3 import as_transform
from datagen.types import DEPTH_KINDS, Camera, DepthView

logger = logging.getLogger(__name__)

#: What a DepthView's labels may come from.
DEPTH_SOURCES = ("lidar", "depth_map", "mesh")


@dataclass(frozen=True)
class OcclusionFilter:
    """Settings of the see-through filter.

    A point kept by the z-buffer is dropped when ``z > max_depth_ratio * z_min``, where
    ``z_min`` is the smallest z kept in the ``window_px x window_px`` pixel square
    centred on the point's pixel (clipped at the image border).

    The defaults suit 64-beam LiDARs as in KITTI (window within one scan ring, several
    neighbours along it); for 32-beam LiDARs such as nuScenes' use ``window_px=31``.
    docs/occlusion_filter.md gives the measurements behind both.

    Attributes:
        window_px: side of the square neighbourhood in pixels (odd, >= 3).
        max_depth_ratio: largest allowed ratio of a point's z to its neighbourhood's
            smallest z (> 1).
    """

    window_px: int = 9
    max_depth_ratio: float = 1.15

    def __post_init__(self) -> None:
        w = self.window_px
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, np.integer)) or w < 3 or w % 2 == 0:
            raise ConfigError(f"OcclusionFilter.window_px must be an odd integer >= 3, got {w!r}")
        object.__setattr__(self, "window_px", int(w))
        r = self.max_depth_ratio
        if isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, float, np.number)) \
                or not math.isfinite(r) or r <= 1.0:
            raise ConfigError(f"OcclusionFilter.max_depth_ratio must be a finite number > 1, got {r!r}")
        object.__setattr__(self, "max_depth_ratio", float(r))


@dataclass(frozen=True)
class ProjectionStats:
    """Where the input points went; the counts add up to ``total``.

    Attributes:
        total: points given.
        non_finite: points with NaN/inf coordinates (before or after the transform).
        behind_or_invalid: points with ``z < min_z_m`` or outside the lens model's domain.
        outside_image: points projecting outside the image.
        zbuffer_hidden: points behind a nearer point on the same pixel.
        occluded: points removed by the see-through filter.
        kept: points in the returned view.
    """

    total: int
    non_finite: int
    behind_or_invalid: int
    outside_image: int
    zbuffer_hidden: int
    occluded: int
    kept: int

    def __post_init__(self) -> None:
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in counts.items():
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"ProjectionStats.{name} must be a non-negative integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        parts = sum(v for k, v in counts.items() if k != "total")
        if parts != self.total:
            raise ValueError(f"ProjectionStats counts add up to {parts}, not total={self.total}")


# ----------------------------------------------------------------------------- numba kernels
# The kernels use error_model="numpy" (no Python exceptions on division) and are cached on
# disk; each input dtype of ``points`` (float32, float64) compiles once.


@numba.njit(cache=True, inline="always")
def _to_camera(xyz, i, T):
    """Point ``i`` of ``xyz`` mapped by the (4, 4) transform ``T``, as three floats."""
    x, y, z = xyz[i, 0], xyz[i, 1], xyz[i, 2]
    xc = T[0, 0] * x + T[0, 1] * y + T[0, 2] * z + T[0, 3]
    yc = T[1, 0] * x + T[1, 1] * y + T[1, 2] * z + T[1, 3]
    zc = T[2, 0] * x + T[2, 1] * y + T[2, 2] * z + T[2, 3]
    return xc, yc, zc


@numba.njit(cache=True, inline="always", error_model="numpy")
def _pinhole_uv(xc, yc, zc, K):
    """Pixel of a camera-frame point, in the order of ``cameras.project``: (x/z, y/z), then K."""
    xn, yn = xc / zc, yc / zc
    return K[0, 0] * xn + K[0, 1] * yn + K[0, 2], K[1, 1] * yn + K[1, 2]


@numba.njit(cache=True, inline="always")
def _pixel_of(u, v, width, height):
    """Row and column of the pixel whose centre is nearest (u, v), clamped to the image."""
    col = min(max(int(math.floor(u + 0.5)), 0), width - 1)
    row = min(max(int(math.floor(v + 0.5)), 0), height - 1)
    return row, col


@numba.njit(cache=True, inline="always")
def _zbuffer_insert(i, z, row, col, zbuf, owner, touched, n_touched):
    """Make point ``i`` the owner of pixel (row, col) if strictly nearer than its owner;
    return the new count of filled pixels, listed as (row, col) in ``touched``."""
    if z < zbuf[row, col]:
        if zbuf[row, col] == np.inf:
            touched[n_touched, 0] = row
            touched[n_touched, 1] = col
            n_touched += 1
        zbuf[row, col] = z
        owner[row, col] = i
    return n_touched


@numba.njit(cache=True, error_model="numpy")
def _pinhole_zbuffer_kernel(xyz, T, K, min_z, zbuf, owner, touched):
    """Steps 1-3 for a pinhole camera in one pass over the points.

    Consecutive points on one pixel (common along a scan line) are merged in registers
    before touching the z-buffer. Points are taken in input order and a later point wins
    only when strictly nearer, so a tie in z goes to the lowest index.

    Returns:
        (non_finite, behind, outside, candidates, filled) counts; ``zbuf`` (H, W) holds
        the nearest z per pixel (+inf where empty), ``owner`` its point index, and
        ``touched[:filled]`` the (row, col) of the filled pixels.
    """
    height, width = zbuf.shape
    n_bad = n_behind = n_outside = n_candidates = n_touched = 0
    run_row, run_col, run_z, run_i = -1, -1, np.inf, -1
    for i in range(xyz.shape[0]):
        xc, yc, zc = _to_camera(xyz, i, T)
        if not (math.isfinite(xc) and math.isfinite(yc) and math.isfinite(zc)):
            n_bad += 1  # NaN/inf in stays NaN/inf out, as T is finite
            continue
        if not zc >= min_z:
            n_behind += 1
            continue
        u, v = _pinhole_uv(xc, yc, zc, K)
        if not (u >= -0.5 and u < width - 0.5 and v >= -0.5 and v < height - 0.5):
            n_outside += 1
            continue
        n_candidates += 1
        row, col = _pixel_of(u, v, width, height)
        if row != run_row or col != run_col:
            if run_i >= 0:
                n_touched = _zbuffer_insert(run_i, run_z, run_row, run_col, zbuf, owner, touched, n_touched)
            run_row, run_col, run_z, run_i = row, col, zc, i
        elif zc < run_z:
            run_z, run_i = zc, i
    if run_i >= 0:
        n_touched = _zbuffer_insert(run_i, run_z, run_row, run_col, zbuf, owner, touched, n_touched)
    return n_bad, n_behind, n_outside, n_candidates, n_touched


@numba.njit(cache=True)
def _zbuffer_kernel(uv, z, candidates, zbuf, owner, touched):
    """Step 3 for points projected elsewhere: ``candidates`` (M,) ascending point indices
    into ``uv`` (N, 2) and ``z`` (N,). Returns the number of filled pixels."""
    height, width = zbuf.shape
    n_touched = 0
    for i in candidates:
        row, col = _pixel_of(uv[i, 0], uv[i, 1], width, height)
        n_touched = _zbuffer_insert(i, z[i], row, col, zbuf, owner, touched, n_touched)
    return n_touched


@numba.njit(cache=True)
def _columns_by_row(touched, height):
    """Counting sort of the filled pixels by row: (columns (n,), start (H + 1,)) such that
    ``columns[start[r]:start[r + 1]]`` are the filled columns of row r."""
    start = np.zeros(height + 1, dtype=np.int64)
    for k in range(len(touched)):
        start[touched[k, 0] + 1] += 1
    for r in range(height):
        start[r + 1] += start[r]
    fill = start[:-1].copy()
    columns = np.empty(len(touched), dtype=np.int64)
    for k in range(len(touched)):
        row = touched[k, 0]
        columns[fill[row]] = touched[k, 1]
        fill[row] += 1
    return columns, start


@numba.njit(cache=True, inline="always")
def _shifted_min(src, shift, dst, n):
    """dst[c] = min(src[c], src[c + shift]) for c < n (a select, so LLVM vectorises it)."""
    for c in range(n):
        a, b = src[c], src[c + shift]
        dst[c] = a if a < b else b


@numba.njit(cache=True)
def _window_min_row(zbuf, r, half, line, spare):
    """Minimum of ``zbuf`` over rows r - half .. r + half and columns c - half .. c + half,
    for each column c of row r (clipped at the border).

    ``line`` and ``spare`` are (W + 2 * half,) scratch rows; the result is returned as a
    (W,) view of one of them. The rows are reduced first, then the columns by doubling
    (minimum over 2, 4, 8, ... cells) and one last shifted minimum.
    """
    height, width = zbuf.shape
    w = 2 * half + 1
    line[:half] = np.inf
    line[half + width:] = np.inf
    out = line[half:half + width]
    out[:] = zbuf[max(r - half, 0)]
    for rr in range(max(r - half, 0) + 1, min(r + half + 1, height)):
        src = zbuf[rr]
        for c in range(width):
            a, b = out[c], src[c]
            out[c] = a if a < b else b
    span = 1
    while 2 * span <= w:  # line[c] becomes the minimum of the padded line over [c, c + 2 * span)
        _shifted_min(line, span, spare, len(line) - span)
        line, spare = spare, line
        span *= 2
    _shifted_min(line, w - span, spare, width)  # [c, c + w) padded = columns c - half .. c + half
    return spare[:width]


@numba.njit(cache=True)
def _occlusion_kernel(zbuf, owner, touched, half, ratio, keep):
    """Step 4: set ``keep[owner]`` for each filled pixel that passes the see-through test.

    A pixel fails when its z exceeds ``ratio`` times the smallest z filled in its
    (2 * half + 1)^2 window (itself included, clipped at the border); the window minimum
    is computed a row of the image at a time, for the rows that have filled pixels.
    Returns the number of pixels that fail.
    """
    height, width = zbuf.shape
    columns, start = _columns_by_row(touched, height)
    line, spare = np.empty(width + 2 * half), np.empty(width + 2 * half)
    n_occluded = 0
    for r in range(height):
        if start[r] == start[r + 1]:
            continue
        window_min = _window_min_row(zbuf, r, half, line, spare)
        for col in columns[start[r]:start[r + 1]]:
            if zbuf[r, col] > ratio * window_min[col]:
                n_occluded += 1
            else:
                keep[owner[r, col]] = True
    return n_occluded


@numba.njit(cache=True, error_model="numpy")
def _pinhole_gather_kernel(xyz, T, K, index, points_cam, uv, range_m):
    """Camera-frame points (M, 3), pixels (M, 2) and ranges (M,) of the points ``index``,
    computed as in ``_pinhole_zbuffer_kernel`` (same inlined code, so the same bits)."""
    for k in range(len(index)):
        xc, yc, zc = _to_camera(xyz, index[k], T)
        points_cam[k, 0], points_cam[k, 1], points_cam[k, 2] = xc, yc, zc
        uv[k, 0], uv[k, 1] = _pinhole_uv(xc, yc, zc, K)
        range_m[k] = math.sqrt(xc * xc + yc * yc + zc * zc)


# ----------------------------------------------------------------------------- steps


def _check_camera(camera: Camera, depth_from: str, caller: str) -> None:
    if not isinstance(camera, Camera):
        raise ConfigError(f"{caller}: camera must be a Camera, got {type(camera).__name__}")
    if depth_from not in DEPTH_SOURCES:
        raise ConfigError(f"{caller}: depth_from must be one of {DEPTH_SOURCES}, got {depth_from!r}")


def _check_options(camera: Camera, occlusion: OcclusionFilter | None, min_z_m: float, depth_from: str) -> None:
    _check_camera(camera, depth_from, "project_points")
    if occlusion is not None and not isinstance(occlusion, OcclusionFilter):
        raise ConfigError(f"project_points: occlusion must be an OcclusionFilter or None, got {occlusion!r}")
    if isinstance(min_z_m, bool) or not isinstance(min_z_m, (int, float, np.number)) \
            or not math.isfinite(min_z_m) or min_z_m <= 0:
        raise ConfigError(f"project_points: min_z_m must be a finite number > 0 (metres), got {min_z_m!r}")


def _as_points(points: object) -> np.ndarray:
    """(N, >=3) array-like -> C-contiguous float32 or float64 (N, >=3) array (no copy if already so)."""
    array = np.asarray(points)
    if array.size == 0 and array.ndim <= 2:
        return np.zeros((0, 3))
    if array.ndim != 2 or array.shape[1] < 3 or not (np.issubdtype(array.dtype, np.integer)
                                                     or np.issubdtype(array.dtype, np.floating)):
        raise GeometryError(f"points must be a numeric (N, 3) or (N, >=3) array, got shape {array.shape} "
                            f"dtype {array.dtype}")
    dtype = array.dtype if array.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(array, dtype=dtype)


@dataclass(frozen=True)
class _ZBuffer:
    """Working state of one projection: the z-buffer and the per-step counts."""

    zbuf: np.ndarray        # (H, W) float64 nearest z, +inf where empty
    owner: np.ndarray       # (H, W) int point index owning each filled pixel
    touched: np.ndarray     # (n, 2) int64 (row, col) of the filled pixels
    counts: dict            # ProjectionStats counts of steps 1-3


def _new_buffers(camera: Camera, n_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index_type = np.int32 if n_points < 2**31 else np.int64
    return (np.full((camera.height, camera.width), np.inf),
            np.empty((camera.height, camera.width), dtype=index_type),
            np.empty((min(n_points, camera.height * camera.width), 2), dtype=np.int64))


def _filter(buffers: _ZBuffer, n_points: int, occlusion: OcclusionFilter | None) -> tuple[np.ndarray, int]:
    """Step 4: ascending indices of the points kept, and how many the filter removed."""
    keep = np.zeros(n_points, dtype=bool)
    if occlusion is None:
        keep[buffers.owner[buffers.touched[:, 0], buffers.touched[:, 1]]] = True
        return np.flatnonzero(keep), 0
    n_occluded = _occlusion_kernel(buffers.zbuf, buffers.owner, buffers.touched,
                                   occlusion.window_px // 2, occlusion.max_depth_ratio, keep)
    return np.flatnonzero(keep), n_occluded


def _zbuffer_pinhole(points: np.ndarray, T: np.ndarray, camera: Camera, min_z_m: float) -> _ZBuffer:
    """Steps 1-3 in one numba pass (pinhole cameras)."""
    zbuf, owner, touched = _new_buffers(camera, len(points))
    n_bad, n_behind, n_outside, n_cand, n_touched = _pinhole_zbuffer_kernel(
        points, T, camera.K, float(min_z_m), zbuf, owner, touched)
    counts = {"non_finite": n_bad, "behind_or_invalid": n_behind, "outside_image": n_outside,
              "zbuffer_hidden": n_cand - n_touched}
    return _ZBuffer(zbuf, owner, touched[:n_touched], counts)


def _project_pinhole(points: np.ndarray, T: np.ndarray, camera: Camera, min_z_m: float,
                     occlusion: OcclusionFilter | None):
    """All steps for a pinhole camera: kept points (K, 3), pixels (K, 2), ranges (K,), counts."""
    buffers = _zbuffer_pinhole(points, T, camera, min_z_m)
    kept, n_occluded = _filter(buffers, len(points), occlusion)
    points_cam, uv, range_m = np.empty((len(kept), 3)), np.empty((len(kept), 2)), np.empty(len(kept))
    _pinhole_gather_kernel(points, T, camera.K, kept, points_cam, uv, range_m)
    return points_cam, uv, range_m, {**buffers.counts, "occluded": n_occluded, "kept": len(kept)}


def _cull_and_project_lens(points: np.ndarray, T: np.ndarray, camera: Camera, min_z_m: float):
    """Steps 1-2 with ``Camera.project``: camera-frame points (N, 3), pixels (N, 2), counts,
    and the ascending indices of the points that land in the image."""
    with np.errstate(invalid="ignore", over="ignore"):
        cam = points[:, :3].astype(np.float64) @ T[:3, :3].T + T[:3, 3]
    finite = np.isfinite(cam).all(axis=1)
    front = np.flatnonzero(finite & (cam[:, 2] >= min_z_m))
    uv = np.full((len(points), 2), np.nan)
    uv[front], valid = camera.project(cam[front])
    inside = front[valid][camera.contains(uv[front[valid]])]
    counts = {"non_finite": int((~finite).sum()), "behind_or_invalid": int(finite.sum()) - int(valid.sum()),
              "outside_image": int(valid.sum()) - len(inside)}
    return cam, uv, counts, inside


def _zbuffer_lens(points: np.ndarray, T: np.ndarray, camera: Camera, min_z_m: float):
    """Steps 1-3 for distorted lens models; also returns the points (N, 3) and pixels (N, 2)."""
    cam, uv, counts, inside = _cull_and_project_lens(points, T, camera, min_z_m)
    zbuf, owner, touched = _new_buffers(camera, len(points))
    n_touched = _zbuffer_kernel(uv, np.ascontiguousarray(cam[:, 2]), inside, zbuf, owner, touched)
    counts["zbuffer_hidden"] = len(inside) - n_touched
    return _ZBuffer(zbuf, owner, touched[:n_touched], counts), cam, uv


def _project_distorted(points: np.ndarray, T: np.ndarray, camera: Camera, min_z_m: float,
                       occlusion: OcclusionFilter | None):
    """All steps for a distorted lens model; returns as ``_project_pinhole``."""
    buffers, cam, uv = _zbuffer_lens(points, T, camera, min_z_m)
    kept, n_occluded = _filter(buffers, len(points), occlusion)
    points_cam = cam[kept]
    range_m = np.sqrt(np.sum(points_cam * points_cam, axis=1))
    return points_cam, uv[kept], range_m, {**buffers.counts, "occluded": n_occluded, "kept": len(kept)}


# ----------------------------------------------------------------------------- public API


def project_points_with_stats(points: np.ndarray, camera: Camera, T_cam_points: np.ndarray | None = None, *,
                              occlusion: OcclusionFilter | None = OcclusionFilter(), min_z_m: float = 0.1,
                              depth_from: str = "lidar") -> tuple[DepthView, ProjectionStats]:
    """Project points into a camera image with a z-buffer and the see-through filter.

    Args:
        points: (N, 3) or (N, >=3) float, metres, in the frame ``T_cam_points`` maps from
            (extra columns such as intensity are ignored). NaN/inf rows are dropped.
        camera: the camera of the image (any lens model).
        T_cam_points: (4, 4) rigid transform from the points' frame to the camera frame;
            identity when None. A (3, 4) matrix is refused (GeometryError).
        occlusion: see-through filter settings; None turns the filter off.
        min_z_m: points with camera-frame z below this (metres) are culled.
        depth_from: provenance stored in the view: "lidar", "depth_map" or "mesh".

    Returns:
        The view of the kept points, in input order (``pixels`` (K, 2) float64 exact
        sub-pixel projections, ``z_m``/``range_m`` (K,) metres, ``points_cam`` (K, 3)
        metres, camera frame), and the counts of where every input point went.

    Raises:
        GeometryError: ``points`` or ``T_cam_points`` has the wrong shape or values.
        ConfigError: an option is out of range.
    """
    _check_options(camera, occlusion, min_z_m, depth_from)
    T = as_transform(np.eye(4) if T_cam_points is None else T_cam_points, "T_cam_points")
    points = _as_points(points)
    run = _project_pinhole if camera.is_pinhole else _project_distorted
    points_cam, uv, range_m, counts = run(points, T, camera, min_z_m, occlusion)
    stats = ProjectionStats(total=len(points), **counts)
    if stats.non_finite:
        logger.debug("project_points: dropped %d non-finite points of %d", stats.non_finite, stats.total)
    return DepthView(camera, uv, points_cam[:, 2], range_m, points_cam, depth_from), stats


def project_points(points: np.ndarray, camera: Camera, T_cam_points: np.ndarray | None = None, *,
                   occlusion: OcclusionFilter | None = OcclusionFilter(), min_z_m: float = 0.1,
                   depth_from: str = "lidar") -> DepthView:
    """``project_points_with_stats`` without the counts; see there for arguments."""
    view, _ = project_points_with_stats(points, camera, T_cam_points, occlusion=occlusion,
                                        min_z_m=min_z_m, depth_from=depth_from)
    return view


def _valid_depth_mask(depth: np.ndarray, camera: Camera) -> np.ndarray:
    """(H, W) bool labelled pixels; 0 and NaN mean "no label", inf or < 0 are errors."""
    if depth.shape != (camera.height, camera.width):
        raise GeometryError(f"depth_m must be (H, W) = ({camera.height}, {camera.width}) to match the "
                            f"camera, got {depth.shape}")
    with np.errstate(invalid="ignore"):
        bad = np.isinf(depth) | (depth < 0)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise GeometryError(f"depth_m has {int(bad.sum())} infinite or negative values (first at row "
                            f"{rows[0]}, column {cols[0]}: {depth[rows[0], cols[0]]}); expected metres >= 0, "
                            f"with 0 or NaN for no label")
    return np.isfinite(depth) & (depth > 0)


def view_from_depth_map(depth_m: np.ndarray, camera: Camera, kind: str = "z",
                        depth_from: str = "depth_map") -> DepthView:
    """Turn a dense depth map in the camera's own image into labels at every valid pixel.

    Args:
        depth_m: (H, W) float depth in metres of the camera's image; 0 or NaN = no label.
        camera: the camera of the image (any lens model).
        kind: what ``depth_m`` holds: "z" (optical-axis depth) or "range" (Euclidean).
        depth_from: provenance stored in the view.

    Returns:
        DepthView of the labelled pixels in row-major order; ``pixels`` are the integer
        pixel centres, points back-projected through the lens model. Pixels whose
        viewing ray does not point forward (z <= 0, fisheye beyond 90 degrees) or that
        lie outside the lens model's invertible region are left out.

    Raises:
        GeometryError: wrong shape, or infinite/negative depths.
        ConfigError: unknown ``kind`` or ``depth_from``.
    """
    if kind not in DEPTH_KINDS:
        raise ConfigError(f"view_from_depth_map: kind must be one of {DEPTH_KINDS}, got {kind!r}")
    _check_camera(camera, depth_from, "view_from_depth_map")
    depth = np.asarray(depth_m, dtype=np.float64)
    rows, cols = np.nonzero(_valid_depth_mask(depth, camera))
    uv = np.column_stack([cols, rows]).astype(np.float64)
    rays = camera.rays(uv)
    forward = np.isfinite(rays).all(axis=1) & (rays[:, 2] > 0)
    if not forward.all():
        logger.debug("view_from_depth_map: %d labelled pixels have no forward ray", int((~forward).sum()))
    uv, rays, values = uv[forward], rays[forward], depth[rows[forward], cols[forward]]
    if kind == "z":
        points = rays * (values / rays[:, 2])[:, None]
        return DepthView(camera, uv, values, np.linalg.norm(points, axis=1), points, depth_from)
    points = rays * values[:, None]
    return DepthView(camera, uv, points[:, 2], values, points, depth_from)
