"""Ego motion: poses interpolated in time, and LiDAR points moved to a camera's capture time.

A spinning LiDAR sweeps for about 100 ms while the vehicle moves (2 m at 20 m/s); a camera
fires at its own time. A point measured at time ``t_p`` in the LiDAR frame lands in the
camera taken at ``t_c`` through the world frame, where the vehicle stands still::

    x_cam = T_cam_body @ inv(T_world_body(t_c)) @ T_world_body(t_p) @ T_body_lidar @ x_lidar

``PoseTrack`` interpolates ``T_world_body(t)`` between timestamped poses (linear in
translation, spherical-linear in rotation), and ``points_to_camera`` applies the chain,
with one time for the whole sweep or one per point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagen.errors import GeometryError
from datagen.geometry.se3 import as_transform, invert


@dataclass(frozen=True, eq=False)
class PoseTrack:
    """Timestamped poses of a moving body, interpolated in between.

    Attributes:
        times_s: (N,) float64 strictly increasing timestamps, seconds.
        T_world_body: (N, 4, 4) float64 body-to-world poses at those times, metres.
        max_extrapolation_s: how far beyond the first or last pose ``at`` may reach; a time
            further out raises GeometryError (a pose guessed that far is not ground truth).
    """

    times_s: np.ndarray
    T_world_body: np.ndarray
    max_extrapolation_s: float = 0.0

    def __post_init__(self) -> None:
        times = np.asarray(self.times_s, dtype=np.float64).reshape(-1)
        poses = np.asarray(self.T_world_body, dtype=np.float64)
        if poses.shape != (len(times), 4, 4) or len(times) == 0:
            raise GeometryError(f"PoseTrack needs (N,) times and (N, 4, 4) poses, got {times.shape} and {poses.shape}")
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise GeometryError("PoseTrack.times_s must be finite and strictly increasing")
        for i, pose in enumerate(poses):
            as_transform(pose, f"PoseTrack.T_world_body[{i}]")
        times.setflags(write=False)
        poses.setflags(write=False)
        object.__setattr__(self, "times_s", times)
        object.__setattr__(self, "T_world_body", poses)

    def at(self, t_s: float | np.ndarray) -> np.ndarray:
        """Pose(s) at time(s) ``t_s``: (4, 4) for a scalar, (M, 4, 4) for an (M,) array.

        Raises:
            GeometryError: a time further than ``max_extrapolation_s`` outside the track.
        """
        from scipy.spatial.transform import Rotation

        t = np.asarray(t_s, dtype=np.float64)
        scalar = t.ndim == 0
        t = t.reshape(-1)
        lo, hi = self.times_s[0] - self.max_extrapolation_s, self.times_s[-1] + self.max_extrapolation_s
        if t.size and (not np.all(np.isfinite(t)) or t.min() < lo - 1e-9 or t.max() > hi + 1e-9):
            raise GeometryError(f"pose wanted at {t.min():.6f}..{t.max():.6f} s, outside the track "
                                f"{self.times_s[0]:.6f}..{self.times_s[-1]:.6f} s")
        out = np.tile(np.eye(4), (len(t), 1, 1))
        if len(self.times_s) == 1:
            out[:] = self.T_world_body[0]
            return out[0] if scalar else out
        # 1. the segment [i, i + 1] around each time, and the fraction along it (may lie outside [0, 1])
        i = np.clip(np.searchsorted(self.times_s, t, side="right") - 1, 0, len(self.times_s) - 2)
        fraction = (t - self.times_s[i]) / (self.times_s[i + 1] - self.times_s[i])
        # 2. translation linearly, rotation along the shortest arc between the two poses
        start, end = self.T_world_body[i], self.T_world_body[i + 1]
        out[:, :3, 3] = start[:, :3, 3] + fraction[:, None] * (end[:, :3, 3] - start[:, :3, 3])
        relative = Rotation.from_matrix(np.einsum("nji,njk->nik", start[:, :3, :3], end[:, :3, :3]))
        step = Rotation.from_rotvec(relative.as_rotvec() * fraction[:, None])
        out[:, :3, :3] = start[:, :3, :3] @ step.as_matrix()
        return out[0] if scalar else out


def points_to_camera(points: np.ndarray, T_body_sensor: np.ndarray, T_body_cam: np.ndarray, track: PoseTrack,
                     t_camera_s: float, t_points_s: float | np.ndarray) -> np.ndarray:
    """Move sensor points measured at ``t_points_s`` into the camera frame at ``t_camera_s``.

    Args:
        points: (N, 3) float sensor-frame points, metres.
        T_body_sensor: (4, 4) sensor-to-body (ego) extrinsics.
        T_body_cam: (4, 4) camera-to-body extrinsics (OpenCV camera axes).
        track: the body's poses in the world.
        t_camera_s: the camera's capture time, seconds.
        t_points_s: one time for every point, or (N,) times, seconds.

    Returns:
        (N, 3) float64 points in the camera frame, metres.
    """
    points = np.asarray(points, dtype=np.float64)[:, :3]
    T_cam_world = invert(T_body_cam) @ invert(track.at(t_camera_s))
    times = np.asarray(t_points_s, dtype=np.float64)
    if times.ndim == 0:
        T = T_cam_world @ track.at(float(times)) @ T_body_sensor
        return points @ T[:3, :3].T + T[:3, 3]
    if times.shape != (len(points),):
        raise GeometryError(f"t_points_s must be one time or one per point ({len(points)}), got {times.shape}")
    # Per-point times: group equal times (sweeps are stored in firing packets) to bound the work.
    unique, inverse = np.unique(times, return_inverse=True)
    T_world_sensor = track.at(unique) @ T_body_sensor
    T = np.einsum("ij,njk->nik", T_cam_world, T_world_sensor)[inverse]
    return np.einsum("nij,nj->ni", T[:, :3, :3], points) + T[:, :3, 3]
