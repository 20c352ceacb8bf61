"""A Waymo Open Dataset v2 segment written with pyarrow in the v2 schema, from a scene of known geometry.

The world holds planes (the ground z = 0, a wall across the road at x = WALL_X, walls along it
at y = +-SIDE_Y); the vehicle drives at SPEED_MPS while turning at YAW_RATE_RPS, tilted by a
constant roll and pitch. The TOP LiDAR's range image is rendered pixel by pixel from the
vehicle's exact pose at each column's firing time (stored as the per-pixel pose), and the
cameras' rolling-shutter timing, pose and velocity are written as the dataset documents them.
Everything a test needs as truth (``vehicle_pose``, ``plane_depth``) is computed here, in
closed form, independently of datagen.sources.waymo.

Column names and types follow waymo_open_dataset/v2/perception (camera_image.py, context.py,
lidar.py, pose.py): keys ``key.segment_context_name``, ``key.frame_timestamp_micros``,
``key.camera_name`` / ``key.laser_name``; fields ``[<Component>].<field path>``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

T0_S = 1_600_000_000.0
FRAME_PERIOD_S = 0.1
SPEED_MPS = 20.0
YAW_RATE_RPS = 0.2
ROLL, PITCH = 0.01, -0.02
WALL_X, SIDE_Y, MAX_RANGE_M = 30.0, 6.0, 75.0
#: Planes n . x = c of the world.
PLANES = ((np.array([0.0, 0.0, 1.0]), 0.0), (np.array([1.0, 0.0, 0.0]), WALL_X),
          (np.array([0.0, 1.0, 0.0]), SIDE_Y), (np.array([0.0, 1.0, 0.0]), -SIDE_Y))
#: Waymo camera axes (x forward, y left, z up) from OpenCV's, written out independently.
WAYMO_FROM_CV = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rot_x(a):
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def rot_y(a):
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def rot_z(a):
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def transform(R, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def vehicle_pose(t_s: float) -> np.ndarray:
    """Exact world_from_vehicle at ``t_s``: an arc at SPEED_MPS turning at YAW_RATE_RPS from the origin."""
    yaw = YAW_RATE_RPS * (t_s - T0_S)
    radius = SPEED_MPS / YAW_RATE_RPS
    position = [radius * math.sin(yaw), radius * (1 - math.cos(yaw)), 0.0]
    return transform(rot_z(yaw) @ rot_y(PITCH) @ rot_x(ROLL), position)


def velocities(t_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear velocity (world frame) and angular velocity (vehicle frame) at ``t_s``."""
    yaw = YAW_RATE_RPS * (t_s - T0_S)
    linear = SPEED_MPS * np.array([math.cos(yaw), math.sin(yaw), 0.0])
    angular = YAW_RATE_RPS * (rot_y(PITCH) @ rot_x(ROLL)).T @ np.array([0.0, 0.0, 1.0])
    return linear, angular


def first_hit(origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(N,) distance along unit rays to the nearest plane (inf if none within MAX_RANGE_M)."""
    best = np.full(len(origins), np.inf)
    for normal, offset in PLANES:
        along = directions @ normal
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (offset - origins @ normal) / along
        best = np.where((t > 1e-6) & (t < best), t, best)
    return np.where(best <= MAX_RANGE_M, best, np.inf)


@dataclass
class LaserSpec:
    number: int = 1                    # TOP
    rows: int = 32
    columns: int = 360
    translation: tuple = (1.43, 0.0, 2.184)
    yaw: float = 0.02
    inclinations: np.ndarray | None = field(default_factory=lambda: np.sort(
        np.deg2rad(np.r_[np.linspace(-17.6, -4.0, 20), np.linspace(-3.5, 2.4, 12)])))
    uniform: tuple = (np.deg2rad(-17.6), np.deg2rad(2.4))

    @property
    def extrinsic(self) -> np.ndarray:
        return transform(rot_z(self.yaw), self.translation)

    def beam_inclinations(self) -> np.ndarray:
        """(rows,) ascending inclinations, the explicit ones or uniform over ``uniform`` at row centres."""
        if self.inclinations is not None:
            return self.inclinations
        lo, hi = self.uniform
        return lo + (np.arange(self.rows) + 0.5) / self.rows * (hi - lo)


@dataclass
class CameraSpec:
    number: int
    translation: tuple
    yaw: float
    pitch: float
    width: int = 640
    height: int = 400
    focal: float = 400.0
    c_u: float = 320.0
    c_v: float = 200.0
    distortion: tuple = (0.0, 0.0, 0.0, 0.0, 0.0)  # k1, k2, p1, p2, k3
    direction: int = 2                  # LEFT_TO_RIGHT
    shutter_s: float = 0.005
    readout_s: float = 0.03
    pose_offset_s: float = 0.01         # pose_timestamp - frame time

    @property
    def extrinsic(self) -> np.ndarray:
        """camera (Waymo axes) -> vehicle."""
        return transform(rot_z(self.yaw) @ rot_y(self.pitch), self.translation)

    def timing(self, frame_s: float) -> tuple[float, float, float]:
        """(pose time, trigger time, readout done time): the principal point is exposed at the pose time."""
        pose_time = frame_s + self.pose_offset_s
        share = {1: self.c_v / self.height, 2: self.c_u / self.width, 3: 1 - self.c_v / self.height,
                 4: 1 - self.c_u / self.width, 5: 0.0}[self.direction]
        trigger = pose_time - 0.5 * self.shutter_s - self.readout_s * share
        return pose_time, trigger, trigger + self.shutter_s + self.readout_s

    def pixel_time(self, u: np.ndarray, v: np.ndarray, frame_s: float) -> np.ndarray:
        """Exposure-centre time of OpenCV pixel (u, v) (0 = centre of the first pixel)."""
        pose_time, trigger, _ = self.timing(frame_s)
        x, y = u + 0.5, v + 0.5
        share = {1: y / self.height, 2: x / self.width, 3: (self.height - y) / self.height,
                 4: (self.width - x) / self.width}.get(self.direction)
        if share is None:
            return np.full(np.shape(u), pose_time)
        return trigger + 0.5 * self.shutter_s + self.readout_s * share

    def T_world_cam_cv(self, t_s: float) -> np.ndarray:
        """Exact camera pose (OpenCV axes) at ``t_s``."""
        return vehicle_pose(t_s) @ self.extrinsic @ transform(WAYMO_FROM_CV, [0, 0, 0])


FRONT = CameraSpec(number=1, translation=(1.5, -0.1, 2.0), yaw=0.0, pitch=0.05)
SIDE_LEFT = CameraSpec(number=4, translation=(1.0, 0.9, 1.9), yaw=math.pi / 2, pitch=0.03, direction=4,
                       distortion=(-0.02, 0.004, 0.0005, -0.0003, 0.0), pose_offset_s=0.03)


def plane_depth(camera: CameraSpec, u: np.ndarray, v: np.ndarray, frame_s: float) -> np.ndarray:
    """True optical-axis depth of pinhole pixels (u, v) at their own exposure time (rolling shutter)."""
    u, v = np.atleast_1d(u).astype(float), np.atleast_1d(v).astype(float)
    times = camera.pixel_time(u, v, frame_s)
    out = np.empty(len(u))
    cx, cy = camera.c_u - 0.5, camera.c_v - 0.5
    for i, (ui, vi, ti) in enumerate(zip(u, v, times)):
        T = camera.T_world_cam_cv(float(ti))
        ray_cam = np.array([(ui - cx) / camera.focal, (vi - cy) / camera.focal, 1.0])
        ray_world = T[:3, :3] @ ray_cam
        distance = first_hit(T[:3, 3][None], (ray_world / np.linalg.norm(ray_world))[None])[0]
        out[i] = distance / np.linalg.norm(ray_cam)
    return out


def render_range_image(laser: LaserSpec, frame_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 4) range image and (H, W, 6) per-pixel pose (roll, pitch, yaw, x, y, z) of one spin.

    Column c fires at ``frame_s + 0.1 * ((W - c - 0.5) / W - 0.5)``; its azimuth in the sensor
    frame is the documented ``((W - c - 0.5) / W * 2 - 1) * pi - yaw_of_extrinsic``.
    """
    H, W = laser.rows, laser.columns
    inclination = laser.beam_inclinations()[::-1]  # row 0 = highest beam
    ranges = np.zeros((H, W, 4), dtype=np.float32)
    poses = np.zeros((H, W, 6), dtype=np.float32)
    E = laser.extrinsic
    for c in range(W):
        fraction = (W - c - 0.5) / W
        t = frame_s + FRAME_PERIOD_S * (fraction - 0.5)
        azimuth = (fraction * 2.0 - 1.0) * math.pi - math.atan2(E[1, 0], E[0, 0])
        direction = np.column_stack([np.cos(azimuth) * np.cos(inclination), np.sin(azimuth) * np.cos(inclination),
                                     np.sin(inclination)])
        T = vehicle_pose(t) @ E
        rays = direction @ T[:3, :3].T
        hit = first_hit(np.repeat(T[:3, 3][None], H, axis=0), rays)
        ranges[:, c, 0] = np.where(np.isfinite(hit), hit, 0.0)
        pose = vehicle_pose(t)
        poses[:, c] = [ROLL, PITCH, YAW_RATE_RPS * (t - T0_S), *pose[:3, 3]]
    return ranges, poses


def jpeg(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(70, 110, size=(max(height // 40, 2), max(width // 40, 2)), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR).convert("RGB").save(buffer, "JPEG",
                                                                                                   quality=85)
    return buffer.getvalue()


def _write(root: Path, split: str, component: str, segment: str, columns: dict) -> Path:
    path = root / split / component / f"{segment}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, row_group_size=4)
    return path


def _transforms(matrices) -> pa.Array:
    return pa.array([np.asarray(m, dtype=np.float64).reshape(16).tolist() for m in matrices],
                    type=pa.list_(pa.float64(), 16))


def write_segment(root: Path, segment: str = "1005081002024129653_5313_150_5333_150", split: str = "training",
                  frames: int = 2, cameras: tuple = (FRONT, SIDE_LEFT), laser: LaserSpec | None = None,
                  with_lidar_pose: bool = True) -> list[float]:
    """Write the six components of one segment; returns the frame times (seconds)."""
    laser = laser or LaserSpec()
    times = [T0_S + k * FRAME_PERIOD_S for k in range(frames)]
    micros = [round(t * 1_000_000) for t in times]
    _write_camera_images(root, split, segment, times, micros, cameras)
    _write_calibrations(root, split, segment, cameras, laser)
    images = [render_range_image(laser, t) for t in times]
    keys = {"key.segment_context_name": [segment] * frames, "key.frame_timestamp_micros": micros,
            "key.laser_name": pa.array([laser.number] * frames, pa.int8())}
    range_type = pa.list_(pa.float32())
    shape_type = pa.list_(pa.int32(), 3)
    _write(root, split, "lidar", segment, {
        **keys, "[LiDARComponent].range_image_return1.values": pa.array([r.ravel() for r, _ in images], range_type),
        "[LiDARComponent].range_image_return1.shape": pa.array([list(r.shape) for r, _ in images], shape_type)})
    if with_lidar_pose:
        _write(root, split, "lidar_pose", segment, {
            **keys, "[LiDARPoseComponent].range_image_return1.values": pa.array([p.ravel() for _, p in images],
                                                                                range_type),
            "[LiDARPoseComponent].range_image_return1.shape": pa.array([list(p.shape) for _, p in images],
                                                                       shape_type)})
    _write(root, split, "vehicle_pose", segment, {
        "key.segment_context_name": [segment] * frames, "key.frame_timestamp_micros": micros,
        "[VehiclePoseComponent].world_from_vehicle.transform": pa.array(
            [vehicle_pose(t).reshape(16).astype(np.float32).tolist() for t in times], pa.list_(pa.float32(), 16))})
    return times


def _write_camera_images(root, split, segment, times, micros, cameras) -> None:
    rows = [(t, us, cam) for t, us in zip(times, micros) for cam in cameras]
    prefix = "[CameraImageComponent]"
    columns = {"key.segment_context_name": [segment] * len(rows), "key.frame_timestamp_micros": [r[1] for r in rows],
               "key.camera_name": pa.array([r[2].number for r in rows], pa.int8()),
               f"{prefix}.image": pa.array([jpeg(c.width, c.height, i) for i, (_, _, c) in enumerate(rows)],
                                           pa.binary())}
    timing = [cam.timing(t) for t, _, cam in rows]
    columns[f"{prefix}.pose.transform"] = _transforms([vehicle_pose(p) for p, _, _ in timing])
    speeds = [velocities(p) for p, _, _ in timing]
    for i, axis in enumerate("xyz"):
        columns[f"{prefix}.velocity.linear_velocity.{axis}"] = pa.array([s[0][i] for s in speeds], pa.float32())
    for i, axis in enumerate("xyz"):
        columns[f"{prefix}.velocity.angular_velocity.{axis}"] = pa.array([s[1][i] for s in speeds], pa.float64())
    columns[f"{prefix}.pose_timestamp"] = pa.array([p for p, _, _ in timing], pa.float64())
    columns[f"{prefix}.rolling_shutter_params.shutter"] = pa.array([c.shutter_s for _, _, c in rows], pa.float64())
    columns[f"{prefix}.rolling_shutter_params.camera_trigger_time"] = pa.array([tr for _, tr, _ in timing])
    columns[f"{prefix}.rolling_shutter_params.camera_readout_done_time"] = pa.array([d for _, _, d in timing])
    _write(root, split, "camera_image", segment, columns)


def _write_calibrations(root, split, segment, cameras, laser) -> None:
    prefix = "[CameraCalibrationComponent]"
    columns = {"key.segment_context_name": [segment] * len(cameras),
               "key.camera_name": pa.array([c.number for c in cameras], pa.int8())}
    for name, values in (("f_u", [c.focal for c in cameras]), ("f_v", [c.focal for c in cameras]),
                         ("c_u", [c.c_u for c in cameras]), ("c_v", [c.c_v for c in cameras]),
                         *((k, [c.distortion[i] for c in cameras]) for i, k in enumerate(("k1", "k2", "p1", "p2",
                                                                                           "k3")))):
        columns[f"{prefix}.intrinsic.{name}"] = pa.array(values, pa.float64())
    columns[f"{prefix}.extrinsic.transform"] = _transforms([c.extrinsic for c in cameras])
    columns[f"{prefix}.width"] = pa.array([c.width for c in cameras], pa.int32())
    columns[f"{prefix}.height"] = pa.array([c.height for c in cameras], pa.int32())
    columns[f"{prefix}.rolling_shutter_direction"] = pa.array([c.direction for c in cameras], pa.int8())
    _write(root, split, "camera_calibration", segment, columns)
    prefix = "[LiDARCalibrationComponent]"
    lo, hi = laser.uniform
    _write(root, split, "lidar_calibration", segment, {
        "key.segment_context_name": [segment], "key.laser_name": pa.array([laser.number], pa.int8()),
        f"{prefix}.extrinsic.transform": _transforms([laser.extrinsic]),
        f"{prefix}.beam_inclination.min": pa.array([lo], pa.float64()),
        f"{prefix}.beam_inclination.max": pa.array([hi], pa.float64()),
        f"{prefix}.beam_inclination.values": pa.array(
            [None if laser.inclinations is None else laser.inclinations.tolist()], pa.list_(pa.float64()))})
