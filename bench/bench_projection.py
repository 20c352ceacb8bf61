"""Benchmark: LiDAR projection with z-buffer and see-through filter, numba vs plain numpy.

Run from the repository root (one core is enough; the numba kernels are single-threaded):

    python bench/bench_projection.py [--points 1000000] [--repeats 7]

The cloud is a seeded, sweep-like scan: 128 beams (elevation +15 to -25 degrees) of a
LiDAR 0.3 m above and 0.3 m behind the camera, hitting a ground plane, 30 boxes (cars,
pedestrians, poles) and a ring of building walls, with 2 cm range noise. Two layouts:
a full 360-degree sweep (most points culled, as in a real frame) and a 120-degree front
sector (most points land in the image). The camera is a 1920x1080 pinhole, f = 1000 px.
The numpy reference is written the obvious way: vectorised projection, ``np.minimum.at``
z-buffer, ``scipy.ndimage.minimum_filter`` for the see-through filter; its output is
compared with ``project_points`` point for point.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen.geometry.projection import OcclusionFilter, project_points_with_stats  # noqa: E402
from datagen.types import Camera  # noqa: E402

CAMERA_HEIGHT_M = 1.6
LIDAR_IN_CAM = np.array([0.0, -0.3, -0.3])  # LiDAR origin in the camera frame (above, behind)
#: LiDAR axes (x forward, y left, z up) to camera axes (x right, y down, z forward), then the offset.
T_CAM_LIDAR = np.array([[0.0, -1.0, 0.0, LIDAR_IN_CAM[0]], [0.0, 0.0, -1.0, LIDAR_IN_CAM[1]],
                        [1.0, 0.0, 0.0, LIDAR_IN_CAM[2]], [0.0, 0.0, 0.0, 1.0]])


def _box_hits(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N,) distance along each ray to an axis-aligned box (slab method); inf if missed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo - origin) / dirs
        t2 = (hi - origin) / dirs
    near = np.nanmax(np.minimum(t1, t2), axis=1)
    far = np.nanmin(np.maximum(t1, t2), axis=1)
    return np.where((far >= near) & (near > 0), near, np.inf)


def sweep_cloud(n_points: int, sector_deg: float, rng: np.random.Generator) -> np.ndarray:
    """(n_points, 4) float32 sweep-like cloud: x, y, z in the LiDAR frame (metres) and intensity."""
    beams = 128
    columns = n_points // beams
    elev = np.deg2rad(np.linspace(15.0, -25.0, beams))
    azim = np.deg2rad(np.linspace(-sector_deg / 2, sector_deg / 2, columns, endpoint=False))
    A, E = np.meshgrid(azim, elev)
    A = A + rng.normal(0.0, 1e-4, A.shape)
    dirs = np.stack([np.cos(E) * np.sin(A), -np.sin(E), np.cos(E) * np.cos(A)], -1).reshape(-1, 3)
    with np.errstate(divide="ignore"):
        t = np.where(dirs[:, 1] > 0, (CAMERA_HEIGHT_M - LIDAR_IN_CAM[1]) / dirs[:, 1], np.inf)
    sector = np.floor((np.arctan2(dirs[:, 0], dirs[:, 2]) + np.pi) / 0.2).astype(int)
    t = np.minimum(t, rng.uniform(25.0, 70.0, sector.max() + 1)[sector])  # walls, one depth per sector
    for _ in range(30):
        size = rng.choice([[1.8, 1.5, 4.2], [0.6, 1.8, 0.6], [0.3, 4.0, 0.3]])
        ground = np.array([rng.uniform(-20, 20), CAMERA_HEIGHT_M, rng.uniform(-20, 30)])
        lo = ground - [size[0] / 2, size[1], size[2] / 2]
        t = np.minimum(t, _box_hits(LIDAR_IN_CAM, dirs, lo, lo + size))
    hit = np.isfinite(t) & (t < 120.0)
    t = t[hit] + rng.normal(0.0, 0.02, hit.sum())
    xyz_cam = LIDAR_IN_CAM + dirs[hit] * t[:, None]
    xyz = (xyz_cam - T_CAM_LIDAR[:3, 3]) @ T_CAM_LIDAR[:3, :3]  # camera frame -> LiDAR frame
    out = np.empty((n_points, 4), dtype=np.float32)
    out[:, :3] = np.resize(xyz, (n_points, 3))  # misses are refilled by repeating hits
    out[:, 3] = rng.uniform(0.0, 1.0, n_points)
    return out


def numpy_reference(points: np.ndarray, camera: Camera, T: np.ndarray, flt: OcclusionFilter,
                    min_z_m: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Indices and camera-frame points of the points kept, the obvious numpy way."""
    cam = points[:, :3].astype(np.float64) @ T[:3, :3].T + T[:3, 3]
    z = cam[:, 2]
    u = camera.fx * (cam[:, 0] / z) + camera.cx
    v = camera.fy * (cam[:, 1] / z) + camera.cy
    ok = (z >= min_z_m) & (u >= -0.5) & (u < camera.width - 0.5) & (v >= -0.5) & (v < camera.height - 0.5)
    index = np.flatnonzero(ok)
    col = np.minimum(np.floor(u[index] + 0.5).astype(np.int64), camera.width - 1)
    row = np.minimum(np.floor(v[index] + 0.5).astype(np.int64), camera.height - 1)
    pixel = row * camera.width + col
    zbuf = np.full(camera.width * camera.height, np.inf)
    np.minimum.at(zbuf, pixel, z[index])
    nearest = np.flatnonzero(z[index] == zbuf[pixel])
    _, first = np.unique(pixel[nearest], return_index=True)  # ties: lowest input index
    winners = nearest[first]
    zmin = ndimage.minimum_filter(zbuf.reshape(camera.height, camera.width), size=flt.window_px,
                                  mode="constant", cval=np.inf).ravel()
    keep = ~(z[index[winners]] > flt.max_depth_ratio * zmin[pixel[winners]])
    kept = np.sort(index[winners[keep]])
    return kept, cam[kept]


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median and best seconds of ``repeats`` calls, and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), min(times), result


def run(name: str, points: np.ndarray, camera: Camera, repeats: int) -> None:
    flt = OcclusionFilter()
    project_points_with_stats(points[:1000], camera, T_CAM_LIDAR, occlusion=flt)  # warm-up: compile or load cache
    t_numba, best_numba, (view, stats) = timed(
        lambda: project_points_with_stats(points, camera, T_CAM_LIDAR, occlusion=flt), repeats)
    t_numpy, best_numpy, (kept, kept_cam) = timed(lambda: numpy_reference(points, camera, T_CAM_LIDAR, flt), repeats)
    same = len(kept) == len(view) and np.allclose(kept_cam, view.points_cam, rtol=0, atol=1e-9)
    n = len(points)
    print(f"\n{name}: {n:,} points, {stats.outside_image + stats.zbuffer_hidden + stats.occluded + stats.kept:,} "
          f"in front, {stats.zbuffer_hidden + stats.occluded + stats.kept:,} in the image, "
          f"{stats.occluded:,} removed by the filter, {stats.kept:,} kept; same labels as the reference: {same}")
    print(f"  {'method':<32}{'median ms':>10}{'Mpoints/s':>11}{'best ms':>9}{'Mpoints/s':>11}")
    for name, med, best in (("project_points (numba)", t_numba, best_numba),
                            ("numpy reference (minimum.at)", t_numpy, best_numpy)):
        print(f"  {name:<32}{1e3 * med:10.1f}{n / med / 1e6:11.1f}{1e3 * best:9.1f}{n / best / 1e6:11.1f}")
    print(f"  {'speed-up':<32}{t_numpy / t_numba:9.1f}x{'':>11}{best_numpy / best_numba:8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description="project_points benchmark")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    camera = Camera.from_intrinsics(1000.0, 1000.0, 959.5, 539.5, 1920, 1080)
    rng = np.random.default_rng(0)
    print(f"camera 1920x1080 pinhole f=1000 px; {OcclusionFilter()}; {args.repeats} runs each, one core")
    for name, sector in (("360-degree sweep", 360.0), ("120-degree front sector", 120.0)):
        run(name, sweep_cloud(args.points, sector, rng), camera, args.repeats)


if __name__ == "__main__":
    main()
