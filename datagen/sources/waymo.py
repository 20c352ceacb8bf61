"""The ``waymo`` source: the Waymo Open Dataset (Perception) v2, read from its Parquet components.

Layout (docs/sources/waymo.md)::

    <root>/<split>/<component>/<segment_context_name>.parquet      split: training, validation, testing
    components: camera_image, camera_calibration, lidar, lidar_calibration, lidar_pose, vehicle_pose

One frame per camera image. The column names and conventions are those of the v2 component
definitions (waymo_open_dataset/v2/perception) and the range-image utilities; no TensorFlow:

1. Range image -> sensor points. Row r has the beam inclination ``incl[H - 1 - r]`` (the
   calibration's explicit, ascending ``beam_inclination.values``, else H values spread
   uniformly over [min, max] at row centres); column c the azimuth
   ``((W - c - 0.5) / W * 2 - 1) * pi - atan2(E[1, 0], E[0, 0])`` (E = LiDAR extrinsic);
   range > 0 marks a return.
2. Sensor -> vehicle by the extrinsic; vehicle -> world by the per-pixel pose of the TOP LiDAR
   (``lidar_pose``: roll, pitch, yaw, x, y, z, rotation ``Rz(yaw) Ry(pitch) Rx(roll)``), which
   removes the ego motion during the spin; a LiDAR without one (the short-range lasers, whose
   range images are already in the vehicle frame of the frame) uses ``vehicle_pose``.
3. World -> camera at the moment the point was captured. The cameras have a rolling shutter:
   each column (or row, by ``rolling_shutter_direction``) is exposed at
   ``trigger + shutter / 2 + readout * x / W`` with ``readout = readout_done - trigger - shutter``.
   The camera pose at time t is the image's vehicle pose at ``pose_timestamp`` moved by the
   image's velocity (linear, world frame; angular, vehicle frame, as Waymo's camera model reads
   it); each point's capture time is solved by fixed-point iteration, as that model does.
   Points are handed over in the camera frame (``T_cam_points`` = identity).
4. Axes and pixels, converted once here: Waymo's camera frame is x forward, y left, z up
   (``T_CV_FROM_WAYMO_CAMERA``), and its pixel coordinates put 0 at the left edge of the
   first pixel (so cx = c_u - 0.5 in our pixel-centre convention).

Frame ids: ``waymo/<segment_context_name>/<frame_timestamp_micros>/<camera>``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import GeometryError, SourceError
from datagen.geometry.se3 import as_transform
from datagen.sources import register
from datagen.sources._arrow import column_array, fixed_lists, parquet_file, read_parquet
from datagen.sources._cache import LruCache
from datagen.sources._io import decode_image, require_dir
from datagen.sources._tables import FrameTableBuilder, check_count, check_flag, check_root, names_option
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

logger = logging.getLogger(__name__)

NAME = "waymo"
#: Split folders of the v2 download and the split each one is.
SPLIT_FOLDERS = {"training": "train", "validation": "val", "testing": "test"}
#: camera_image.CameraName and lidar.LaserName enums.
CAMERA_NAMES = {1: "FRONT", 2: "FRONT_LEFT", 3: "FRONT_RIGHT", 4: "SIDE_LEFT", 5: "SIDE_RIGHT"}
LASER_NAMES = {1: "TOP", 2: "FRONT", 3: "SIDE_LEFT", 4: "SIDE_RIGHT", 5: "REAR"}
#: context.RollingShutterReadOutDirection.
TOP_TO_BOTTOM, LEFT_TO_RIGHT, BOTTOM_TO_TOP, RIGHT_TO_LEFT, GLOBAL_SHUTTER = 1, 2, 3, 4, 5
#: Waymo camera axes (x forward, y left, z up) to OpenCV's (x right, y down, z forward).
T_CV_FROM_WAYMO_CAMERA = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                                   [0.0, 0.0, 0.0, 1.0]])
#: Waymo pixel coordinates put 0 at the left (top) edge of the first pixel; ours at its centre.
WAYMO_PIXEL_ORIGIN_PX = 0.5
#: Iterations of the rolling-shutter capture-time solve (Waymo's camera model stops at 4).
CAPTURE_TIME_ITERATIONS = 4
#: Points farther behind the camera than this at the image's pose time are not iterated: the
#: vehicle moves a few decimetres during a readout (0.6 m in 30 ms at 20 m/s).
BEHIND_CAMERA_M = 1.0
#: A capture time that moves more than this in a last step has not converged (Waymo's model: 1e-5 s).
CAPTURE_TIME_TOLERANCE_S = 1e-5
MICROS_PER_S = 1_000_000

KEY_SEGMENT, KEY_FRAME = "key.segment_context_name", "key.frame_timestamp_micros"
KEY_CAMERA, KEY_LASER = "key.camera_name", "key.laser_name"
IMAGE = "[CameraImageComponent]"
CAMERA_CALIBRATION = "[CameraCalibrationComponent]"
LIDAR = "[LiDARComponent]"
LIDAR_CALIBRATION = "[LiDARCalibrationComponent]"
LIDAR_POSE = "[LiDARPoseComponent]"
VEHICLE_POSE = "[VehiclePoseComponent]"
IMAGE_COLUMNS = [f"{IMAGE}.image", f"{IMAGE}.pose.transform", f"{IMAGE}.pose_timestamp",
                 *(f"{IMAGE}.velocity.{kind}_velocity.{a}" for kind in ("linear", "angular") for a in "xyz"),
                 *(f"{IMAGE}.rolling_shutter_params.{p}" for p in ("shutter", "camera_trigger_time",
                                                                    "camera_readout_done_time"))]
INTRINSIC_FIELDS = ("f_u", "f_v", "c_u", "c_v", "k1", "k2", "p1", "p2", "k3")
LAYOUT = ("Waymo Open Dataset v2 layout: <split>/<component>/<segment>.parquet with camera_image, "
          "camera_calibration, lidar, lidar_calibration, lidar_pose, vehicle_pose")


class _Table:
    """One component file of one segment: its key index, and its row groups read on demand."""

    def __init__(self, path: Path, keys: list[str]) -> None:
        self.path = path
        self.handle = parquet_file(path, LAYOUT)
        table = read_parquet(self.handle, path, keys, LAYOUT)
        columns = [column_array(table, k, path, LAYOUT, np.int64) for k in keys if k != KEY_SEGMENT]
        self.rows = {tuple(int(c[i]) for c in columns): i for i in range(table.num_rows)}
        sizes = [self.handle.metadata.row_group(g).num_rows for g in range(self.handle.num_row_groups)]
        self.starts = np.cumsum([0] + sizes)
        self._groups: LruCache = LruCache(1)

    def row(self, key: tuple, columns: list[str], what: str):
        """The one-row table of ``key`` with ``columns`` (its row group is kept for the next call)."""
        if key not in self.rows:
            raise SourceError(f"{self.path}: no row for {what} ({LAYOUT})")
        index = self.rows[key]
        group = int(np.searchsorted(self.starts, index, side="right") - 1)
        table = self._groups.get((group, tuple(columns)),
                                 lambda: read_parquet(self.handle, self.path, columns, LAYOUT, group))
        return table.slice(index - int(self.starts[group]), 1)


@dataclass(frozen=True)
class _CameraCalibration:
    camera: Camera                  # OpenCV pixel convention and lens, identity pose
    T_vehicle_cam: np.ndarray       # (4, 4) camera (OpenCV axes) -> vehicle
    readout_direction: int


@dataclass(frozen=True)
class _LaserCalibration:
    extrinsic: np.ndarray           # (4, 4) LiDAR -> vehicle
    inclination_min: float
    inclination_max: float
    inclinations: np.ndarray | None  # (H,) ascending, radians, or None (uniform)


@dataclass(frozen=True)
class ImageTiming:
    """When an image's pixels were exposed, and the vehicle's motion then.

    Attributes:
        T_world_vehicle: (4, 4) vehicle pose at ``pose_time_s``.
        pose_time_s: time of that pose, seconds.
        velocity_mps: (3,) linear velocity, world frame, m/s.
        angular_velocity_rps: (3,) angular velocity, vehicle frame, rad/s.
        trigger_s, shutter_s, readout_done_s: rolling-shutter timing, seconds.
    """

    T_world_vehicle: np.ndarray
    pose_time_s: float
    velocity_mps: np.ndarray
    angular_velocity_rps: np.ndarray
    trigger_s: float
    shutter_s: float
    readout_done_s: float

    def in_vehicle_at(self, points_world: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """World points (N, 3) in the vehicle frame at their own times (N,), seconds.

        The vehicle moves at constant velocity from its pose at ``pose_time_s``: its origin by
        ``velocity_mps * dt`` (world frame), its axes turned by ``exp([w] dt)`` (w in the vehicle
        frame), so ``T_world_vehicle(t) = [R0 exp([w] dt), r0 + v dt]``; the point is moved by the
        inverse, the turn undone with Rodrigues' formula.
        """
        dt = np.asarray(t_s, dtype=np.float64).reshape(-1) - self.pose_time_s
        R0, r0 = self.T_world_vehicle[:3, :3], self.T_world_vehicle[:3, 3]
        q = (points_world - r0 - dt[:, None] * self.velocity_mps) @ R0
        rate = float(np.linalg.norm(self.angular_velocity_rps))
        if rate == 0.0:
            return q
        axis = self.angular_velocity_rps / rate
        cos, sin = np.cos(rate * dt)[:, None], np.sin(rate * dt)[:, None]
        return q * cos - np.cross(axis, q) * sin + (q @ axis)[:, None] * axis * (1.0 - cos)

    def pixel_time(self, uv: np.ndarray, direction: int, width: int, height: int) -> np.ndarray:
        """(N,) exposure-centre time of pixels (N, 2), ours (centre) convention, seconds.

        Pixels beyond the image take the time of its nearest edge (the exposure's first or last).
        """
        if direction == GLOBAL_SHUTTER:
            return np.full(len(uv), self.pose_time_s)
        readout = self.readout_done_s - self.trigger_s - self.shutter_s
        x, y = uv[:, 0] + WAYMO_PIXEL_ORIGIN_PX, uv[:, 1] + WAYMO_PIXEL_ORIGIN_PX
        along = {TOP_TO_BOTTOM: y / height, BOTTOM_TO_TOP: (height - y) / height,
                 LEFT_TO_RIGHT: x / width, RIGHT_TO_LEFT: (width - x) / width}[direction]
        return self.trigger_s + 0.5 * self.shutter_s + readout * np.clip(along, 0.0, 1.0)


@register(NAME)
class WaymoSource(Source):
    """Waymo Open Dataset v2 segments: camera images with the TOP LiDAR decoded from its range image."""

    @dataclass(frozen=True)
    class Config:
        """Options of the waymo source.

        Attributes:
            root: the folder holding ``training/``, ``validation/``, ``testing/``, or one of them.
            lidars: LiDARs whose points label the images (names of ``LASER_NAMES``).
            rolling_shutter: place each point at its own column's (row's) capture time; False treats
                the image as taken at once at ``pose_timestamp`` (for comparison only).
            cache_segments: how many segments' tables to keep open.
        """

        root: Path | None = None
        lidars: tuple = ("TOP",)
        rolling_shutter: bool = True
        cache_segments: int = 2

        def __post_init__(self) -> None:
            check_root(self, NAME, "the folder holding training/, validation/...")
            object.__setattr__(self, "lidars", names_option(NAME, "lidars", self.lidars, LASER_NAMES.values(), "some"))
            check_flag(NAME, "rolling_shutter", self.rolling_shutter)
            check_count(NAME, "cache_segments", self.cache_segments)

    def __init__(self, config: "WaymoSource.Config | None" = None) -> None:
        super().__init__(config)
        self._segment_splits: dict[str, tuple[Path, str | None]] | None = None
        self._segments: LruCache[dict] = LruCache(self.config.cache_segments)
        self._world_points: LruCache[np.ndarray] = LruCache(1)  # the last frame's, for its other cameras

    # ------------------------------------------------------------------ listing

    def segments(self) -> dict[str, tuple[Path, str | None]]:
        """segment name -> (split folder, split), from the camera_image file names."""
        if self._segment_splits is None:
            self._segment_splits = _find_segments(self.config.root)
        return self._segment_splits

    def frame_table(self) -> FrameTable:
        """Every camera image, segment by segment, frame by frame, cameras in enum order."""
        table = FrameTableBuilder()
        for segment, (folder, split) in self.segments().items():
            path = folder / "camera_image" / f"{segment}.parquet"
            keys = read_parquet(parquet_file(path, LAYOUT), path, [KEY_FRAME, KEY_CAMERA], LAYOUT)
            frames = column_array(keys, KEY_FRAME, path, LAYOUT, np.int64)
            numbers = column_array(keys, KEY_CAMERA, path, LAYOUT, np.int64)
            unknown = sorted(set(numbers.tolist()) - set(CAMERA_NAMES))
            if unknown:
                raise SourceError(f"{path}: unknown {KEY_CAMERA} value(s) {unknown}; expected {CAMERA_NAMES}")
            order = np.lexsort((numbers, frames))
            cameras = np.array([CAMERA_NAMES[n] for n in numbers[order]], dtype=object)
            table.add(f"{NAME}/{segment}/", frames[order], cameras, segment, split)
        return table.build()

    # ------------------------------------------------------------------ loading

    def load_frame(self, frame_id: str) -> Frame:
        """One camera image with the LiDAR points in its camera at their capture times (module docstring)."""
        segment, frame_us, camera_name = self._parse_id(frame_id)
        tables = self._segment(segment)
        camera_number = next(k for k, v in CAMERA_NAMES.items() if v == camera_name)
        calibration = tables["camera_calibrations"].get(camera_number)
        if calibration is None:
            raise SourceError(f"{tables['camera_calibration'].path}: no calibration for camera {camera_name} ({LAYOUT})")
        row = tables["camera_image"].row((frame_us, camera_number), IMAGE_COLUMNS, f"frame {frame_us} {camera_name}")
        image = _decode_image(row, tables["camera_image"].path, calibration.camera, frame_us, camera_name)
        timing = _image_timing(row, tables["camera_image"].path)
        points_world = self.points_world(segment, frame_us)
        points_cam = self._to_camera(points_world, calibration, timing)
        T_world_cam = timing.T_world_vehicle @ calibration.T_vehicle_cam
        _, split = self.segments()[segment]
        return Frame(frame_id=frame_id, source=NAME, camera=calibration.camera.replace(T_world_cam=T_world_cam),
                     image=image, points=points_cam, sequence=segment, timestamp_s=timing.pose_time_s, split=split,
                     meta={"segment": segment, "camera": camera_name, "frame_timestamp_micros": frame_us,
                           "lidars": list(self.config.lidars), "rolling_shutter": self.config.rolling_shutter,
                           "points_frame": "camera at each point's capture time"})

    def _parse_id(self, frame_id: str) -> tuple[str, int, str]:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        if len(parts) != 4 or parts[0] != NAME or not parts[2].isdigit() or parts[3] not in CAMERA_NAMES.values():
            raise SourceError(f"{NAME}: frame id {frame_id!r} is not '{NAME}/<segment>/<frame_timestamp_micros>/"
                              f"<camera>' with a camera of {', '.join(CAMERA_NAMES.values())}")
        return parts[1], int(parts[2]), parts[3]

    def _segment(self, segment: str) -> dict:
        """The open component tables and calibrations of a segment (cached)."""
        if segment not in self.segments():
            raise SourceError(f"{self.config.root}: no segment {segment!r} ({LAYOUT})")
        return self._segments.get(segment, lambda: _open_segment(self.segments()[segment][0], segment))

    def points_world(self, segment: str, frame_us: int) -> np.ndarray:
        """(N, 3) float64 world points of the chosen LiDARs' first returns at one frame, metres.

        Decoded from the range images with the per-pixel poses (steps 1-2 of the module
        docstring); the last frame's points are kept for its other cameras.
        """
        return self._world_points.get((segment, frame_us), lambda: self._read_points_world(segment, frame_us))

    def _read_points_world(self, segment: str, frame_us: int) -> np.ndarray:
        tables = self._segment(segment)
        parts = [_laser_points_world(tables, frame_us, number)
                 for number, name in LASER_NAMES.items() if name in self.config.lidars]
        return np.concatenate(parts) if parts else np.zeros((0, 3))

    def _to_camera(self, points_world: np.ndarray, calibration: _CameraCalibration,
                   timing: ImageTiming) -> np.ndarray:
        """(N, 3) points in the camera (OpenCV axes) at each one's capture time."""
        direction = calibration.readout_direction if self.config.rolling_shutter else GLOBAL_SHUTTER
        return points_at_capture(points_world, calibration.camera, calibration.T_vehicle_cam, timing, direction)


# ---------------------------------------------------------------------- rolling shutter


def points_at_capture(points_world: np.ndarray, camera: Camera, T_vehicle_cam: np.ndarray, timing: ImageTiming,
                      direction: int) -> np.ndarray:
    """World points moved into the camera at the time the camera captured each of them.

    A point lands on the column (or row) exposed at its capture time t, and t is that
    column's exposure time: t is found by fixed-point iteration from the pose time, as in
    Waymo's camera model (it converges in 2-3 steps: the image moves far less than a column
    per column of readout). Times stay within the exposure, so points far outside the view
    cannot drift to a pose extrapolated far away; a point inside the image whose time has not
    converged (to ``CAPTURE_TIME_TOLERANCE_S``) becomes NaN and is dropped downstream.

    Args:
        points_world: (N, 3) float, metres, world frame.
        camera: the camera (intrinsics, lens, image size).
        T_vehicle_cam: (4, 4) camera (OpenCV axes) -> vehicle.
        timing: the image's pose, velocity and shutter timing.
        direction: rolling-shutter readout direction (GLOBAL_SHUTTER: all at the pose time).

    Returns:
        (N, 3) float64 points in the camera frame at their capture times, metres.
    """
    R, offset = T_vehicle_cam[:3, :3], T_vehicle_cam[:3, 3]
    in_camera = (lambda points, times: (timing.in_vehicle_at(points, times) - offset) @ R)
    points_cam = in_camera(points_world, np.full(len(points_world), timing.pose_time_s))
    if direction == GLOBAL_SHUTTER:
        return points_cam
    # Only points in front of the camera (or within a metre behind it) can be seen during the readout.
    near = np.flatnonzero(points_cam[:, 2] > -BEHIND_CAMERA_M)
    ahead, t = points_world[near], np.full(len(near), timing.pose_time_s)
    for _ in range(CAPTURE_TIME_ITERATIONS):
        t = _capture_time(in_camera(ahead, t), camera, timing, direction, t)
    settled = in_camera(ahead, t)
    uv, valid = camera.project(settled)
    unsettled = valid & camera.contains(uv) & (np.abs(_capture_time(settled, camera, timing, direction, t) - t)
                                               > CAPTURE_TIME_TOLERANCE_S)
    settled[unsettled] = np.nan
    points_cam[near] = settled
    return points_cam


def _capture_time(points_cam: np.ndarray, camera: Camera, timing: ImageTiming, direction: int,
                  previous: np.ndarray) -> np.ndarray:
    """(N,) exposure time of the pixel each camera-frame point projects to (``previous`` where none)."""
    uv, valid = camera.project(points_cam)
    return np.where(valid, timing.pixel_time(np.nan_to_num(uv), direction, camera.width, camera.height), previous)


# ---------------------------------------------------------------------- range images


def range_image_points(ranges: np.ndarray, calibration: _LaserCalibration) -> tuple[np.ndarray, np.ndarray]:
    """Vehicle-frame points of a range image's returns.

    Args:
        ranges: (H, W) float range image channel 0, metres; > 0 marks a return.
        calibration: the LiDAR's extrinsic and beam inclinations.

    Returns:
        (N, 3) float64 points, metres, vehicle frame, and (N, 2) int64 (row, column) of each.
    """
    height, width = ranges.shape
    if calibration.inclinations is not None:
        if len(calibration.inclinations) != height:
            raise ValueError(f"{len(calibration.inclinations)} beam inclinations for a range image of {height} rows")
        ascending = np.asarray(calibration.inclinations, dtype=np.float64)
    else:
        ascending = calibration.inclination_min + (np.arange(height) + 0.5) / height * (
            calibration.inclination_max - calibration.inclination_min)
    inclination = ascending[::-1]  # row 0 is the highest beam
    E = calibration.extrinsic
    azimuth = ((width - np.arange(width) - 0.5) / width * 2.0 - 1.0) * np.pi - np.arctan2(E[1, 0], E[0, 0])
    rows, cols = np.nonzero(ranges > 0)
    r = ranges[rows, cols].astype(np.float64)
    horizontal = np.cos(inclination)[rows] * r
    sensor = np.empty((len(r), 3))
    sensor[:, 0] = np.cos(azimuth)[cols] * horizontal
    sensor[:, 1] = np.sin(azimuth)[cols] * horizontal
    sensor[:, 2] = np.sin(inclination)[rows] * r
    return sensor @ E[:3, :3].T + E[:3, 3], np.column_stack([rows, cols])


def rotate_roll_pitch_yaw(points: np.ndarray, roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """``Rz(yaw) Ry(pitch) Rx(roll) p`` for each point (N, 3) with its own angles (N,), radians."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    y, z = cr * y - sr * z, sr * y + cr * z
    x, z = cp * x + sp * z, -sp * x + cp * z
    x, y = cy * x - sy * y, sy * x + cy * y
    return np.column_stack([x, y, z])


def _laser_points_world(tables: dict, frame_us: int, laser: int) -> np.ndarray:
    """(N, 3) world points of one LiDAR's first return at one frame."""
    name = LASER_NAMES[laser]
    calibration = tables["laser_calibrations"].get(laser)
    if calibration is None:
        raise SourceError(f"{tables['lidar_calibration'].path}: no calibration for LiDAR {name} ({LAYOUT})")
    lidar = tables["lidar"]
    ranges = _range_image(lidar, (frame_us, laser), LIDAR, 4, f"frame {frame_us} LiDAR {name}")[..., 0]
    try:
        vehicle, pixels = range_image_points(ranges, calibration)
    except ValueError as exc:
        raise SourceError(f"{tables['lidar_calibration'].path}: LiDAR {name}: {exc} ({LAYOUT})") from None
    poses = tables["lidar_pose"]
    if poses is not None and (frame_us, laser) in poses.rows:
        pose = _range_image(poses, (frame_us, laser), LIDAR_POSE, 6, f"frame {frame_us} LiDAR {name} pose")
        if pose.shape[:2] != ranges.shape:
            raise SourceError(f"{poses.path}: pose image {pose.shape[:2]} does not match the range image "
                              f"{ranges.shape} of frame {frame_us} LiDAR {name} ({LAYOUT})")
        per_pixel = pose[pixels[:, 0], pixels[:, 1]].astype(np.float64)
        return rotate_roll_pitch_yaw(vehicle, *per_pixel[:, :3].T) + per_pixel[:, 3:]
    T = _vehicle_pose(tables, frame_us)
    return vehicle @ T[:3, :3].T + T[:3, 3]


def _range_image(table: _Table, key: tuple, prefix: str, channels: int, what: str) -> np.ndarray:
    """An (H, W, channels) float32 range image of the first return."""
    row = table.row(key, [f"{prefix}.range_image_return1.values", f"{prefix}.range_image_return1.shape"], what)
    shape = row.column(f"{prefix}.range_image_return1.shape").to_pylist()[0]
    values = row.column(f"{prefix}.range_image_return1.values").combine_chunks()
    if shape is None or values.null_count or len(shape) != 3 or shape[2] != channels:
        raise SourceError(f"{table.path}: {what}: range image shape {shape}, expected [H, W, {channels}] ({LAYOUT})")
    flat = np.asarray(values.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    if flat.size != shape[0] * shape[1] * shape[2]:
        raise SourceError(f"{table.path}: {what}: {flat.size} values for shape {shape} ({LAYOUT})")
    return flat.reshape(shape)


def _vehicle_pose(tables: dict, frame_us: int) -> np.ndarray:
    table = tables["vehicle_pose"]
    row = table.row((frame_us,), [f"{VEHICLE_POSE}.world_from_vehicle.transform"], f"frame {frame_us} vehicle pose")
    return _transform(row, f"{VEHICLE_POSE}.world_from_vehicle.transform", table.path)


# ---------------------------------------------------------------------- segment tables


def _find_segments(root: Path) -> dict[str, tuple[Path, str | None]]:
    require_dir(root, LAYOUT)
    folders = [(root / name, split) for name, split in SPLIT_FOLDERS.items() if (root / name).is_dir()]
    if not folders:
        folders = [(root, SPLIT_FOLDERS.get(root.name))]
    out: dict[str, tuple[Path, str | None]] = {}
    for folder, split in folders:
        images = folder / "camera_image"
        if not images.is_dir():
            continue
        for name in sorted(e.name for e in os.scandir(images) if e.name.endswith(".parquet")):
            out[name[: -len(".parquet")]] = (folder, split)
    if not out:
        raise SourceError(f"{root}: no camera_image/<segment>.parquet under {', '.join(SPLIT_FOLDERS)} "
                          f"or the root itself ({LAYOUT})")
    return out


def _open_segment(folder: Path, segment: str) -> dict:
    """The segment's component tables (key indexes only) and its calibrations."""
    path = (lambda component: folder / component / f"{segment}.parquet")
    tables = {"camera_image": _Table(path("camera_image"), [KEY_FRAME, KEY_CAMERA]),
              "lidar": _Table(path("lidar"), [KEY_FRAME, KEY_LASER]),
              "vehicle_pose": _Table(path("vehicle_pose"), [KEY_FRAME]),
              "camera_calibration": _Table(path("camera_calibration"), [KEY_CAMERA]),
              "lidar_calibration": _Table(path("lidar_calibration"), [KEY_LASER])}
    tables["lidar_pose"] = _Table(path("lidar_pose"), [KEY_FRAME, KEY_LASER]) if path("lidar_pose").is_file() else None
    tables["camera_calibrations"] = _camera_calibrations(tables["camera_calibration"])
    tables["laser_calibrations"] = _laser_calibrations(tables["lidar_calibration"])
    return tables


def _camera_calibrations(table: _Table) -> dict[int, _CameraCalibration]:
    prefix = CAMERA_CALIBRATION
    columns = [KEY_CAMERA, f"{prefix}.extrinsic.transform", f"{prefix}.width", f"{prefix}.height",
               f"{prefix}.rolling_shutter_direction", *(f"{prefix}.intrinsic.{f}" for f in INTRINSIC_FIELDS)]
    data = read_parquet(table.handle, table.path, columns, LAYOUT)
    extrinsics = fixed_lists(data, f"{prefix}.extrinsic.transform", 16, table.path, LAYOUT).reshape(-1, 4, 4)
    values = {c: column_array(data, c, table.path, LAYOUT, np.float64) for c in columns if "transform" not in c}
    out = {}
    for i, number in enumerate(values[KEY_CAMERA].astype(int)):
        f_u, f_v, c_u, c_v, *dist = (values[f"{prefix}.intrinsic.{f}"][i] for f in INTRINSIC_FIELDS)
        try:
            camera = Camera.from_intrinsics(f_u, f_v, c_u - WAYMO_PIXEL_ORIGIN_PX, c_v - WAYMO_PIXEL_ORIGIN_PX,
                                            int(values[f"{prefix}.width"][i]), int(values[f"{prefix}.height"][i]),
                                            model="radtan" if any(dist) else "pinhole", dist=dist if any(dist) else [])
        except ValueError as exc:
            raise SourceError(f"{table.path}: camera {CAMERA_NAMES.get(number, number)}: {exc} ({LAYOUT})") from None
        direction = int(values[f"{prefix}.rolling_shutter_direction"][i])
        if direction not in (TOP_TO_BOTTOM, LEFT_TO_RIGHT, BOTTOM_TO_TOP, RIGHT_TO_LEFT, GLOBAL_SHUTTER):
            raise SourceError(f"{table.path}: camera {CAMERA_NAMES.get(number, number)}: unknown "
                              f"rolling_shutter_direction {direction} ({LAYOUT})")
        T = _rigid(extrinsics[i], table.path, f"camera {number} extrinsic")
        out[int(number)] = _CameraCalibration(camera, T @ np.linalg.inv(T_CV_FROM_WAYMO_CAMERA), direction)
    return out


def _laser_calibrations(table: _Table) -> dict[int, _LaserCalibration]:
    prefix = LIDAR_CALIBRATION
    data = read_parquet(table.handle, table.path, [KEY_LASER, f"{prefix}.extrinsic.transform",
                                                   f"{prefix}.beam_inclination.min", f"{prefix}.beam_inclination.max",
                                                   f"{prefix}.beam_inclination.values"], LAYOUT)
    extrinsics = fixed_lists(data, f"{prefix}.extrinsic.transform", 16, table.path, LAYOUT).reshape(-1, 4, 4)
    lo = column_array(data, f"{prefix}.beam_inclination.min", table.path, LAYOUT, np.float64)
    hi = column_array(data, f"{prefix}.beam_inclination.max", table.path, LAYOUT, np.float64)
    explicit = data.column(f"{prefix}.beam_inclination.values").to_pylist()
    out = {}
    for i, number in enumerate(column_array(data, KEY_LASER, table.path, LAYOUT, np.int64)):
        values = np.asarray(explicit[i], dtype=np.float64) if explicit[i] else None
        if values is not None and (not np.all(np.isfinite(values)) or np.any(np.diff(values) < 0)):
            raise SourceError(f"{table.path}: LiDAR {LASER_NAMES.get(int(number), number)} beam inclinations must "
                              f"be finite and ascending ({LAYOUT})")
        out[int(number)] = _LaserCalibration(_rigid(extrinsics[i], table.path, f"LiDAR {number} extrinsic"),
                                             float(lo[i]), float(hi[i]), values)
    return out


def _rigid(matrix: np.ndarray, path: Path, what: str) -> np.ndarray:
    """A row-major 4x4 transform, checked to be rigid (float32 storage allowed)."""
    try:
        return as_transform(np.asarray(matrix, dtype=np.float64).reshape(4, 4), what)
    except GeometryError as exc:
        raise SourceError(f"{path}: {exc} ({LAYOUT})") from None


def _transform(row, column: str, path: Path) -> np.ndarray:
    return _rigid(fixed_lists(row, column, 16, path, LAYOUT)[0], path, column)


def _image_timing(row, path: Path) -> ImageTiming:
    scalar = (lambda name: float(column_array(row, f"{IMAGE}.{name}", path, LAYOUT, np.float64)[0]))
    velocity = np.array([scalar(f"velocity.linear_velocity.{a}") for a in "xyz"])
    angular = np.array([scalar(f"velocity.angular_velocity.{a}") for a in "xyz"])
    timing = ImageTiming(T_world_vehicle=_transform(row, f"{IMAGE}.pose.transform", path),
                         pose_time_s=scalar("pose_timestamp"), velocity_mps=velocity, angular_velocity_rps=angular,
                         trigger_s=scalar("rolling_shutter_params.camera_trigger_time"),
                         shutter_s=scalar("rolling_shutter_params.shutter"),
                         readout_done_s=scalar("rolling_shutter_params.camera_readout_done_time"))
    values = [timing.pose_time_s, *velocity, *angular, timing.trigger_s, timing.shutter_s, timing.readout_done_s]
    if not np.all(np.isfinite(values)):
        raise SourceError(f"{path}: non-finite pose time, velocity or shutter timing ({LAYOUT})")
    return timing


def _decode_image(row, path: Path, camera: Camera, frame_us: int, camera_name: str) -> np.ndarray:
    """The JPEG of an image row as (H, W, 3) uint8, checked against the calibration's size."""
    data = row.column(f"{IMAGE}.image").to_pylist()[0]
    where = f"{path}: frame {frame_us} {camera_name}"
    if not data:
        raise SourceError(f"{where}: empty image ({LAYOUT})")
    array = decode_image(data, where, LAYOUT, "JPEG")
    if array.shape[:2] != (camera.height, camera.width):
        raise SourceError(f"{where}: image is {array.shape[1]}x{array.shape[0]} px but the calibration says "
                          f"{camera.width}x{camera.height} ({LAYOUT})")
    return array
