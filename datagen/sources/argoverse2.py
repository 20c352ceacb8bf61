"""The ``argoverse2`` source: the Argoverse 2 Sensor Dataset, from its official download.

Layout (docs/sources/argoverse2.md)::

    <root>/sensor/<split>/<log_id>/
        calibration/egovehicle_SE3_sensor.feather   sensor -> egovehicle (qw qx qy qz tx_m ty_m tz_m)
        calibration/intrinsics.feather              fx_px fy_px cx_px cy_px k1 k2 k3 height_px width_px
        city_SE3_egovehicle.feather                 egovehicle -> city, per timestamp_ns
        sensors/lidar/<timestamp_ns>.feather        x y z (egovehicle frame) intensity laser_number offset_ns
        sensors/cameras/<camera>/<timestamp_ns>.jpg

One frame per camera image (the seven ring cameras; the two stereo cameras with ``stereo``),
with the LiDAR sweep whose capture covers the image (see ``_sweep_for``). The official user
guide states the facts this adapter relies on: each sweep is already in the egovehicle frame
and motion-compensated to the sweep's reference timestamp (the start of the sweep; a point's
``offset_ns`` counts forward from it), and the images are undistorted. So the points move
egovehicle(t_sweep) -> city -> egovehicle(t_image) -> camera, through the city poses
interpolated at both times; ``offset_ns`` is not applied again (that would compensate twice),
and the camera is a pinhole whose k1..k3 are kept only as provenance.

Frame ids: ``argoverse2/<log_id>/<image timestamp_ns>/<camera>``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import GeometryError, SourceError
from datagen.geometry.motion import PoseTrack
from datagen.geometry.se3 import invert, quaternion_to_matrix
from datagen.sources import register
from datagen.sources._arrow import column_array, read_feather
from datagen.sources._cache import LruCache
from datagen.sources._io import image_size, require_dir
from datagen.sources._tables import FrameTableBuilder, check_choice, check_count, check_flag, check_number, check_root
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

logger = logging.getLogger(__name__)

NAME = "argoverse2"
#: The seven ring cameras (20 Hz, global shutter), in the order frames list them.
RING_CAMERAS = ("ring_front_center", "ring_front_left", "ring_front_right", "ring_side_left",
                "ring_side_right", "ring_rear_left", "ring_rear_right")
#: The two front stereo cameras, listed only with ``stereo: true``.
STEREO_CAMERAS = ("stereo_front_left", "stereo_front_right")
#: Official split folders under ``sensor/`` and the split each one is.
SPLIT_FOLDERS = {"train": "train", "val": "val", "test": "test"}
#: LiDAR sweeps come at 10 Hz: a sweep covers [timestamp_ns, timestamp_ns + 0.1 s).
SWEEP_PERIOD_S = 0.1
NS_PER_S = 1_000_000_000
#: Quaternions in the calibration and pose tables are scalar first (columns qw, qx, qy, qz).
QUATERNION_ORDER = "wxyz"
#: Camera axes in egovehicle_SE3_sensor are already OpenCV's (x right, y down, z forward).
T_CV_FROM_AV2_CAMERA = np.eye(4)
#: Sweep points are in the egovehicle frame (not in up_lidar / down_lidar): sensor = body.
T_EGO_SWEEP = np.eye(4)

POSE_COLUMNS = ("qw", "qx", "qy", "qz", "tx_m", "ty_m", "tz_m")
INTRINSIC_COLUMNS = ("fx_px", "fy_px", "cx_px", "cy_px", "k1", "k2", "k3", "height_px", "width_px")
LIDAR_COLUMNS = ("x", "y", "z")
LAYOUT = "Argoverse 2 Sensor layout: sensor/<split>/<log_id>/{calibration,sensors,city_SE3_egovehicle.feather}"
LIDAR_MATCHES = ("capture", "nearest")


@dataclass(frozen=True)
class _Log:
    """What one log's frames share: its folder, split, calibration and pose track."""

    folder: Path
    split: str | None
    T_ego_sensor: dict          # sensor name -> (4, 4) sensor-to-egovehicle
    intrinsics: dict            # camera name -> dict of INTRINSIC_COLUMNS
    track: PoseTrack            # egovehicle -> city, times in seconds after ``t0_ns``
    t0_ns: int
    sweeps_ns: np.ndarray       # (S,) int64 sorted sweep timestamps


@register(NAME)
class Argoverse2Source(Source):
    """Argoverse 2 Sensor Dataset logs: camera images with motion-compensated LiDAR sweeps."""

    @dataclass(frozen=True)
    class Config:
        """Options of the argoverse2 source.

        Attributes:
            root: the dataset root (holding ``sensor/``), the ``sensor`` folder, a split folder
                or one log folder.
            stereo: also list the two front stereo cameras.
            lidar_match: "capture" (default): the sweep whose 0.1 s capture contains the image
                time, so the points the camera sees were measured within about 50 ms of it;
                "nearest": the sweep with the nearest reference timestamp (the av2 API's choice).
            max_lidar_gap_s: an image farther than this from its sweep's reference timestamp
                is skipped (no sweep covers it), seconds.
            cache_logs: how many logs' calibration and poses to keep in memory.
        """

        root: Path | None = None
        stereo: bool = False
        lidar_match: str = "capture"
        max_lidar_gap_s: float = 0.1
        cache_logs: int = 4

        def __post_init__(self) -> None:
            check_root(self, NAME, "the folder holding sensor/<split>/<log_id>")
            check_flag(NAME, "stereo", self.stereo)
            check_choice(NAME, "lidar_match", self.lidar_match, LIDAR_MATCHES)
            check_number(NAME, "max_lidar_gap_s", self.max_lidar_gap_s, 0.0, 1.0, unit="seconds")
            check_count(NAME, "cache_logs", self.cache_logs)

    def __init__(self, config: "Argoverse2Source.Config | None" = None) -> None:
        super().__init__(config)
        self._log_folders: dict[str, tuple[Path, str | None]] | None = None
        self._logs: LruCache[_Log] = LruCache(self.config.cache_logs)

    @property
    def cameras(self) -> tuple[str, ...]:
        return RING_CAMERAS + (STEREO_CAMERAS if self.config.stereo else ())

    # ------------------------------------------------------------------ listing

    def log_folders(self) -> dict[str, tuple[Path, str | None]]:
        """log_id -> (log folder, official split or None), in a fixed order (split, then log id)."""
        if self._log_folders is None:
            self._log_folders = _find_logs(self.config.root)
        return self._log_folders

    def frame_table(self) -> FrameTable:
        """Every image of the chosen cameras, log by log, in time order (cameras interleaved)."""
        table = FrameTableBuilder()
        names = np.asarray(self.cameras, dtype=object)
        for log_id, (folder, split) in self.log_folders().items():
            stamps, cams = _log_images(folder, self.cameras)
            order = np.lexsort((cams, stamps))
            table.add(f"{NAME}/{log_id}/", stamps[order], names[cams[order]], log_id, split)
        return table.build()

    # ------------------------------------------------------------------ loading

    def load_frame(self, frame_id: str) -> Frame:
        """One camera image with its sweep, moved into the camera at the image's time (module docstring)."""
        log_id, image_ns, camera_name = self._parse_id(frame_id)
        log = self._log(log_id)
        image_path = log.folder / "sensors" / "cameras" / camera_name / f"{image_ns}.jpg"
        camera = self._camera(log, camera_name, image_path)
        sweep_ns = self._sweep_for(log, image_ns)
        sweep_path = log.folder / "sensors" / "lidar" / f"{sweep_ns}.feather"
        points = _read_sweep(sweep_path)
        # 1. egovehicle(t_sweep) -> city -> egovehicle(t_image), 2. egovehicle -> camera (OpenCV axes).
        T_city_ego_image = self._pose(log, image_ns)
        T_city_ego_sweep = self._pose(log, sweep_ns)
        T_ego_cam = log.T_ego_sensor[camera_name] @ invert(T_CV_FROM_AV2_CAMERA)
        T_cam_points = invert(T_ego_cam) @ invert(T_city_ego_image) @ T_city_ego_sweep @ T_EGO_SWEEP
        return Frame(frame_id=frame_id, source=NAME, camera=camera.replace(T_world_cam=T_city_ego_image @ T_ego_cam),
                     image_path=image_path, points=points, T_cam_points=T_cam_points, sequence=log_id,
                     timestamp_s=image_ns / NS_PER_S, split=log.split,
                     meta={"log": log_id, "camera": camera_name, "image": str(image_path), "sweep": str(sweep_path),
                           "image_minus_sweep_s": (image_ns - sweep_ns) / NS_PER_S,
                           "distortion_k1_k2_k3": [float(log.intrinsics[camera_name][k]) for k in ("k1", "k2", "k3")],
                           "lidar_frame": "egovehicle (x forward, y left, z up) at the sweep timestamp"})

    def _parse_id(self, frame_id: str) -> tuple[str, int, str]:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        if len(parts) != 4 or parts[0] != NAME or not parts[2].isdigit() or parts[3] not in self.cameras:
            raise SourceError(f"{NAME}: frame id {frame_id!r} is not '{NAME}/<log_id>/<timestamp_ns>/<camera>' "
                              f"with a camera of {', '.join(self.cameras)}")
        return parts[1], int(parts[2]), parts[3]

    def _log(self, log_id: str) -> _Log:
        if log_id not in self.log_folders():
            raise SourceError(f"{self.config.root}: no log {log_id!r} ({LAYOUT})")
        return self._logs.get(log_id, lambda: _read_log(*self.log_folders()[log_id]))

    def _camera(self, log: _Log, name: str, image_path: Path) -> Camera:
        """The pinhole camera of ``name``, checked against the image's size."""
        calibration = log.folder / "calibration" / "intrinsics.feather"
        if name not in log.intrinsics or name not in log.T_ego_sensor:
            raise SourceError(f"{calibration}: no calibration for camera {name!r} ({LAYOUT})")
        c = log.intrinsics[name]
        width, height = image_size(image_path, LAYOUT)
        if (width, height) != (int(c["width_px"]), int(c["height_px"])):
            raise SourceError(f"{image_path}: image is {width}x{height} px but {calibration} says "
                              f"{int(c['width_px'])}x{int(c['height_px'])}")
        try:
            return Camera.from_intrinsics(c["fx_px"], c["fy_px"], c["cx_px"], c["cy_px"], width, height)
        except ValueError as exc:
            raise SourceError(f"{calibration}: camera {name!r}: {exc}") from None

    def _sweep_for(self, log: _Log, image_ns: int) -> int:
        """Timestamp of the sweep used for an image.

        "capture": the last sweep starting at or before the image, whose capture (0.1 s) the image
        falls in; the cameras are triggered as the LiDAR sweeps through their view, so that sweep's
        points in view are the closest in time. Before the first sweep, or with "nearest", the
        sweep with the nearest reference timestamp.
        """
        stamps = log.sweeps_ns
        if len(stamps) == 0:
            raise SourceError(f"{log.folder / 'sensors' / 'lidar'}: no LiDAR sweep (*.feather) ({LAYOUT})")
        after = int(np.searchsorted(stamps, image_ns, side="right"))
        if self.config.lidar_match == "capture" and after > 0:
            chosen = int(stamps[after - 1])
        else:
            near = [i for i in (after - 1, after) if 0 <= i < len(stamps)]
            chosen = int(min((stamps[i] for i in near), key=lambda s: abs(int(s) - image_ns)))
        if abs(image_ns - chosen) > self.config.max_lidar_gap_s * NS_PER_S:
            raise SourceError(f"{log.folder / 'sensors' / 'lidar'}: no sweep within {self.config.max_lidar_gap_s} s "
                              f"of image {image_ns} (nearest used: {chosen})")
        return chosen

    def _pose(self, log: _Log, t_ns: int) -> np.ndarray:
        """egovehicle -> city at ``t_ns``, interpolated between the recorded poses."""
        try:
            return log.track.at((t_ns - log.t0_ns) / NS_PER_S)
        except GeometryError:
            first, last = log.t0_ns, log.t0_ns + round(log.track.times_s[-1] * NS_PER_S)
            raise SourceError(f"{log.folder / 'city_SE3_egovehicle.feather'}: no pose around {t_ns} "
                              f"(poses cover {first}..{last})") from None


# ---------------------------------------------------------------------- listing helpers


def _find_logs(root: Path) -> dict[str, tuple[Path, str | None]]:
    """log_id -> (folder, split), for a dataset root, its ``sensor`` folder, a split folder or a log."""
    require_dir(root, LAYOUT)
    if (root / "calibration").is_dir() and (root / "sensors").is_dir():
        return {root.name: (root, SPLIT_FOLDERS.get(root.parent.name))}
    base = root / "sensor" if (root / "sensor").is_dir() else root
    split_dirs = [(base / folder, split) for folder, split in SPLIT_FOLDERS.items() if (base / folder).is_dir()]
    if not split_dirs:
        split_dirs = [(base, SPLIT_FOLDERS.get(base.name))]
    logs: dict[str, tuple[Path, str | None]] = {}
    for folder, split in split_dirs:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_dir() and os.path.isdir(os.path.join(entry.path, "sensors")):
                if entry.name in logs:
                    raise SourceError(f"{entry.path}: log {entry.name} is also in {logs[entry.name][0]} ({LAYOUT})")
                logs[entry.name] = (Path(entry.path), split)
    if not logs:
        raise SourceError(f"{root}: no log folder with sensors/ found ({LAYOUT})")
    return logs


def _log_images(folder: Path, cameras: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps (N,) int64, camera index (N,) int64) of a log's images, from the file names alone."""
    stamps, cams = [], []
    for index, camera in enumerate(cameras):
        directory = folder / "sensors" / "cameras" / camera
        if not directory.is_dir():
            continue
        names = [e.name[:-4] for e in os.scandir(directory) if e.name.endswith(".jpg") and e.name[:-4].isdigit()]
        stamps.append(np.array(names, dtype=np.int64))
        cams.append(np.full(len(names), index, dtype=np.int64))
    if not stamps:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(stamps), np.concatenate(cams)


# ---------------------------------------------------------------------- per-log tables


def _read_log(folder: Path, split: str | None) -> _Log:
    """Calibration, intrinsics, poses and sweep timestamps of one log."""
    times_ns, track = _read_poses(folder / "city_SE3_egovehicle.feather")
    lidar = require_dir(folder / "sensors" / "lidar", LAYOUT)
    sweeps = np.sort(np.array([e.name[:-8] for e in os.scandir(lidar) if e.name.endswith(".feather")
                               and e.name[:-8].isdigit()], dtype=np.int64))
    return _Log(folder=folder, split=split, T_ego_sensor=_read_extrinsics(folder / "calibration"
                                                                          / "egovehicle_SE3_sensor.feather"),
                intrinsics=_read_intrinsics(folder / "calibration" / "intrinsics.feather"),
                track=track, t0_ns=int(times_ns[0]), sweeps_ns=sweeps)


def _pose_rows(path: Path, table) -> np.ndarray:
    """(N, 4, 4) transforms of a table's qw..tz_m columns; a bad quaternion names the file and row."""
    values = np.column_stack([column_array(table, c, path, LAYOUT, np.float64) for c in POSE_COLUMNS])
    if not np.all(np.isfinite(values)):
        row = int(np.flatnonzero(~np.all(np.isfinite(values), axis=1))[0])
        raise SourceError(f"{path}: row {row} has non-finite pose values ({LAYOUT})")
    norms = np.linalg.norm(values[:, :4], axis=1)
    if np.any(np.abs(norms - 1.0) > 1e-3):
        row = int(np.flatnonzero(np.abs(norms - 1.0) > 1e-3)[0])
        raise SourceError(f"{path}: row {row} quaternion (qw, qx, qy, qz) has norm {norms[row]:.4f}, "
                          f"expected a unit quaternion ({LAYOUT})")
    out = np.tile(np.eye(4), (len(values), 1, 1))
    if len(values) == 0:
        return out
    out[:, :3, :3] = quaternion_to_matrix(values[:, :4], order=QUATERNION_ORDER)
    out[:, :3, 3] = values[:, 4:]
    return out


def _read_extrinsics(path: Path) -> dict:
    table = read_feather(path, LAYOUT, ("sensor_name",) + POSE_COLUMNS)
    names = column_array(table, "sensor_name", path, LAYOUT).astype(str)
    return dict(zip(names.tolist(), _pose_rows(path, table)))


def _read_intrinsics(path: Path) -> dict:
    table = read_feather(path, LAYOUT, ("sensor_name",) + INTRINSIC_COLUMNS)
    names = column_array(table, "sensor_name", path, LAYOUT).astype(str).tolist()
    columns = {c: column_array(table, c, path, LAYOUT, np.float64) for c in INTRINSIC_COLUMNS}
    return {name: {c: float(columns[c][i]) for c in INTRINSIC_COLUMNS} for i, name in enumerate(names)}


def _read_poses(path: Path) -> tuple[np.ndarray, PoseTrack]:
    """Pose timestamps (N,) int64 ns and the egovehicle -> city track (seconds after the first)."""
    table = read_feather(path, LAYOUT, ("timestamp_ns",) + POSE_COLUMNS)
    times = column_array(table, "timestamp_ns", path, LAYOUT, np.int64)
    if len(times) == 0:
        raise SourceError(f"{path}: no pose rows ({LAYOUT})")
    # Sort by time; rows that repeat a timestamp are the same pose recorded twice: keep the first.
    times, first = np.unique(times, return_index=True)
    poses = _pose_rows(path, table)[first]
    return times, PoseTrack((times - times[0]) / NS_PER_S, poses)


def _read_sweep(path: Path) -> np.ndarray:
    """(N, 3) float64 points of a sweep, metres, egovehicle frame at the sweep's timestamp."""
    table = read_feather(path, LAYOUT, LIDAR_COLUMNS)
    return np.column_stack([column_array(table, c, path, LAYOUT, np.float64) for c in LIDAR_COLUMNS]) \
        if table.num_rows else np.zeros((0, 3))
