"""KITTI (object, raw drives, tracking) as a source: colour cameras 2 and 3 with Velodyne ground truth.

Three official layouts, found from the root (or named with ``layout``)::

    object:    <root>/{training,testing}/{velodyne/<frame>.bin, calib/<frame>.txt, image_2/, image_3/}
    raw:       <root>/<date>/calib_{cam_to_cam,velo_to_cam,imu_to_velo}.txt
               <root>/<date>/<date>_drive_<nnnn>_sync/{image_02,image_03}/data/<frame>.png (+ timestamps.txt)
               .../velodyne_points/data/<frame>.bin (+ timestamps_start.txt, timestamps_end.txt)
               .../oxts/data/<frame>.txt (+ timestamps.txt)          (root may also be one <date> folder)
    tracking:  <root>/{training,testing}/{velodyne/<seq>/<frame>.bin, image_02/<seq>/, image_03/<seq>/,
               calib/<seq>.txt, oxts/<seq>.txt}

Labels follow the devkits' projection ``x = P_rect · R_rect · Tr_velo_to_cam · y``. Camera i's
``P_rect = K [I | t]`` (t: camera i's offset from rectified camera 0), so the camera is the
pinhole ``K`` (rectified images are undistorted) and the Velodyne -> camera transform is
``[I | t] · R_rect · Tr_velo_to_cam``; its z is the depth in camera i's own frame (the formula's
third entry). The key names differ by layout (``CALIBRATION_KEYS``).

Poses (raw, tracking): OXTS packets through the devkit's ``convertOxtsToPose`` (``_oxts``), then
``calib_imu_to_velo`` and Velodyne -> camera: ``T_world_cam = T_world_imu(t_cam) · T_imu_velo ·
T_velo_cam``. The object layout has no poses (identity) and every frame is its own sequence.

Motion compensation (raw, tracking): the raw data's Velodyne sweeps are not compensated ("you
have to 'untwist' the points", raw devkit readme); the scanner turns counter-clockwise, starts and
ends its sweep facing backwards and triggers the cameras when it faces forward. Each point gets the
time of its azimuth between the sweep's start and end, and is moved through the OXTS poses
(interpolated) into the camera at the image's timestamp. The tracking layout has no timestamps: it
uses the nominal 10 Hz (``TRACKING_FRAME_PERIOD_S``). The object layout has neither poses nor
times and is used as recorded; docs/sources/kitti.md gives the residual.

Optional dense ground truth (raw): the depth-completion benchmark's ``proj_depth/groundtruth``
PNGs (``depth_completion`` option: the folder holding its ``train/`` and ``val/``), uint16, metres
= value / 256, 0 = no label, z in that camera.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import CameraError, ConfigError, GeometryError, SourceError
from datagen.geometry.motion import PoseTrack, points_to_camera
from datagen.geometry.se3 import invert, make_transform
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._io import image_size, parse_numbers, read_binary, read_depth_png, read_text
from datagen.sources._oxts import poses_from_oxts, read_oxts_lines, read_timestamps
from datagen.sources._tables import check_choice, check_flag, check_root, optional_paths
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "kitti"
LAYOUTS = ("object", "raw", "tracking")
#: Colour cameras: name -> index of its ``P_rect``; the object layout calls their folders image_2, image_3.
CAMERAS = {"image_02": 2, "image_03": 3}
#: Velodyne scans: float32 little-endian (x, y, z, reflectance), x forward, y left, z up, metres.
VELODYNE_COLUMNS = 4
#: Depth-completion ground truth PNGs: metres = uint16 value / 256; 0 = no label; z (optical axis).
DEPTH_PNG_SCALE = 256.0
#: Tracking sequences have no timestamps; frames (and Velodyne turns) come at a nominal 10 Hz.
TRACKING_FRAME_PERIOD_S = 0.1
#: Per-point times are rounded to this before poses are interpolated (1.5 mm at 30 m/s).
POINT_TIME_STEP_S = 5e-5
#: Sequences (drives, tracking sequences, object frames) whose calibration, poses and timestamps stay cached.
CACHED_SEQUENCES = 8
#: How far a pose may be extrapolated beyond the first or last OXTS packet (half a sweep and more).
MAX_POSE_EXTRAPOLATION_S = 0.1
#: Calibration keys per layout: rectifying rotation, Velodyne -> camera 0, IMU -> Velodyne.
CALIBRATION_KEYS = {
    "object": {"P": "P{}", "R_rect": "R0_rect", "velo_to_cam": "Tr_velo_to_cam", "imu_to_velo": "Tr_imu_to_velo"},
    "tracking": {"P": "P{}", "R_rect": "R_rect", "velo_to_cam": "Tr_velo_cam", "imu_to_velo": "Tr_imu_velo"},
    "raw": {"P": "P_rect_0{}", "R_rect": "R_rect_00"},
}
#: Official splits of the object benchmark (by folder). Raw drives and tracking sequences have no
#: official train/val split: the build splits them by sequence.
FOLDER_SPLITS = {"training": "train", "testing": "test"}
_DRIVE = re.compile(r"^(?P<date>\d{4}_\d{2}_\d{2})_drive_(?P<number>\d{4})_sync$")


@register(NAME)
class KittiSource(Source):
    """KITTI colour images (cameras 2 and 3) with Velodyne points, from the object, raw or tracking layout."""

    @dataclass(frozen=True)
    class Config:
        """Options of the kitti source.

        Attributes:
            root: the dataset folder (see the module docstring for the three layouts).
            layout: "object", "raw", "tracking", or "auto" (found from the root).
            motion_compensation: move each Velodyne point to the image's capture time (raw, tracking).
            depth_completion: folder of the KITTI depth-completion ground truth (holding ``train/``,
                ``val/``); raw layout only. Frames without a ground-truth PNG are then left out.
        """

        root: Path | None = None
        layout: str = "auto"
        motion_compensation: bool = True
        depth_completion: Path | None = None

        def __post_init__(self) -> None:
            check_root(self, NAME, "the KITTI folder")
            check_choice(NAME, "layout", self.layout, ("auto",) + LAYOUTS)
            check_flag(NAME, "motion_compensation", self.motion_compensation)
            optional_paths(self, "depth_completion")
            if self.depth_completion is not None and self.layout not in ("auto", "raw"):
                raise ConfigError(f"{NAME} source: depth_completion applies to the raw layout only")

    def __init__(self, config: "KittiSource.Config | None" = None) -> None:
        super().__init__(config)
        self._layout: _Layout | None = None

    @property
    def layout(self) -> "_Layout":
        if self._layout is None:
            kind = self.config.layout if self.config.layout != "auto" else detect_layout(self.config.root)
            self._layout = {"object": _ObjectLayout, "raw": _RawLayout, "tracking": _TrackingLayout}[kind](self.config)
            if self.config.depth_completion is not None and kind != "raw":
                raise ConfigError(f"kitti source: depth_completion applies to the raw layout; {self.config.root} "
                                  f"is the {kind} layout")
        return self._layout

    def frame_table(self) -> FrameTable:
        rows = self.layout.frames()
        columns = list(zip(*rows)) if rows else [[], [], [], []]
        return FrameTable(*(np.array(c, dtype=object) for c in columns))

    def load_frame(self, frame_id: str) -> Frame:
        layout = self.layout
        key = layout.parse(frame_id)
        calibration = layout.calibration(key)
        K, T_cam_velo = calibration.cameras[key.camera]
        image_path = layout.image_path(key)
        width, height = image_size(image_path, layout.description)
        points = read_binary(layout.velodyne_path(key), "float32", VELODYNE_COLUMNS,
                             f"{layout.description}: Velodyne scan, {VELODYNE_COLUMNS} float32 per point")[:, :3]
        T_world_cam, T_cam_points, t_cam, meta = np.eye(4), T_cam_velo, 0.0, {}
        if calibration.T_imu_velo is not None:
            points, T_world_cam, T_cam_points, t_cam, meta = self._moving(key, points, calibration, T_cam_velo)
        camera = _camera(K, width, height, T_world_cam, calibration.path)
        depth = layout.depth_map(key, (height, width))
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=image_path, points=points,
                     T_cam_points=T_cam_points, depth_m=depth, depth_kind="z", sequence=key.sequence,
                     timestamp_s=t_cam, split=layout.split(key),
                     meta={"layout": layout.kind, "camera": key.camera, "velodyne": str(layout.velodyne_path(key)),
                           "depth_from": "depth_map" if depth is not None else "lidar",
                           "pose_known": calibration.T_imu_velo is not None, **meta})

    def _moving(self, key: "_Key", points: np.ndarray, calibration: "_Calibration", T_cam_velo: np.ndarray):
        """Camera pose at the image's time and, if asked, the points moved to that time (camera frame)."""
        track, t_cam, t_start, t_end = self.layout.timing(key)
        T_imu_velo = calibration.T_imu_velo
        T_imu_cam = T_imu_velo @ invert(T_cam_velo)
        meta = {"time_camera_s": t_cam, "sweep_s": [t_start, t_end], "motion_compensation": False}
        try:
            T_world_cam = track.at(t_cam) @ T_imu_cam
            if not self.config.motion_compensation:
                return points, T_world_cam, T_cam_velo, t_cam, meta
            t_points = point_times(points, t_start, t_end)
            moved = points_to_camera(points, T_imu_velo, T_imu_cam, track, t_cam, t_points)
        except GeometryError as exc:  # image or sweep times beyond the OXTS packets
            raise SourceError(f"{self.layout.oxts_path(key)}: no pose for frame {key.frame} ({exc}) "
                              f"({self.layout.description})") from None
        meta["motion_compensation"] = True
        return moved, T_world_cam, np.eye(4), t_cam, meta


def point_times(points: np.ndarray, t_start_s: float, t_end_s: float) -> np.ndarray:
    """(N,) capture time of each Velodyne point from its azimuth, rounded to ``POINT_TIME_STEP_S``.

    KITTI's HDL-64E turns counter-clockwise (azimuth ``atan2(y, x)`` grows with time) and each
    sweep starts and ends facing backwards (azimuth +-pi): the point at azimuth a was measured at
    ``t_start + (a + pi) / (2 pi) * (t_end - t_start)``, the forward one half-way.
    """
    azimuth = np.arctan2(points[:, 1].astype(np.float64), points[:, 0].astype(np.float64))
    fraction = (azimuth + np.pi) / (2.0 * np.pi)
    offset = np.round(fraction * (t_end_s - t_start_s) / POINT_TIME_STEP_S) * POINT_TIME_STEP_S
    return t_start_s + offset


def detect_layout(root: Path) -> str:
    """"object", "raw" or "tracking" from the files under ``root``.

    Raises:
        SourceError: the root matches none of the three layouts.
    """
    root = Path(root)
    for folder in ("training", "testing"):
        velodyne = root / folder / "velodyne"
        if velodyne.is_dir() and (root / folder / "calib").is_dir():
            nested = any(entry.is_dir() for entry in os.scandir(velodyne))
            return "tracking" if nested else "object"
    if (root / "calib_cam_to_cam.txt").is_file() or any(root.glob("*/calib_cam_to_cam.txt")):
        return "raw"
    raise SourceError(
        f"{root}: not a KITTI root; expected the object layout (training/velodyne/<frame>.bin, training/calib/), "
        f"the raw layout (<date>/calib_cam_to_cam.txt and <date>/<date>_drive_<nnnn>_sync/) or the tracking "
        f"layout (training/velodyne/<seq>/, training/calib/<seq>.txt)")


@dataclass(frozen=True)
class _Key:
    """Where a frame lives: its sequence (folder/frame, drive, or folder/seq), frame number and camera."""

    sequence: str
    folder: str
    frame: str
    camera: str


@dataclass(frozen=True)
class _Calibration:
    """Per camera (K (3, 3), T_cam_velo (4, 4)); T_imu_velo (4, 4) where poses exist; the file read."""

    cameras: dict
    T_imu_velo: np.ndarray | None
    path: Path


class _Layout:
    """What differs between KITTI layouts: listing, ids, file paths, calibration keys, timing."""

    kind = ""
    description = ""

    def __init__(self, config) -> None:
        self.root = config.root
        self.config = config
        self._calibrations: LruCache[_Calibration] = LruCache(CACHED_SEQUENCES)
        self._tracks: LruCache = LruCache(CACHED_SEQUENCES)
        self._times: LruCache[np.ndarray] = LruCache(4 * CACHED_SEQUENCES)

    def parse(self, frame_id: str) -> _Key:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        key = self._key(parts[1:-1], parts[-1]) if len(parts) >= 4 and parts[0] == NAME else None
        if key is None or key.camera not in CAMERAS:
            raise SourceError(f"kitti: frame id {frame_id!r} does not name a frame of the {self.kind} layout "
                              f"({self.id_pattern}, camera image_02 or image_03)")
        return key

    def calibration(self, key: _Key) -> _Calibration:
        return self._calibrations.get(key.sequence, lambda: self._read_calibration(key))

    def split(self, key: _Key) -> str | None:
        return FOLDER_SPLITS.get(key.folder)

    def depth_map(self, key: _Key, shape: tuple[int, int]) -> np.ndarray | None:
        return None

    def _cameras(self, values: dict, path: Path, T_cam0_velo: np.ndarray | None = None) -> dict:
        """name -> (K, T_cam_velo) from P_rect of each camera, R_rect and Velodyne -> camera 0.

        ``T_cam0_velo`` is read from ``values`` unless given (the raw layout keeps it in its own file).
        """
        keys = CALIBRATION_KEYS[self.kind]
        R_rect = np.eye(4)
        R_rect[:3, :3] = _matrix(values, keys["R_rect"], (3, 3), path, self.description)
        if T_cam0_velo is None:
            T_cam0_velo = _rigid(_matrix(values, keys["velo_to_cam"], (3, 4), path, self.description), path,
                                 keys["velo_to_cam"])
        out = {}
        for name, index in CAMERAS.items():
            P = _matrix(values, keys["P"].format(index), (3, 4), path, self.description)
            K = P[:, :3]
            if abs(np.linalg.det(K)) < 1e-9:
                raise SourceError(f"{path}: {keys['P'].format(index)} has a singular left 3x3 ({self.description})")
            out[name] = (K, make_transform(np.eye(3), np.linalg.solve(K, P[:, 3])) @ R_rect @ T_cam0_velo)
        return out


class _ObjectLayout(_Layout):
    kind = "object"
    description = "KITTI object layout: {training,testing}/{calib,velodyne,image_2,image_3}/<frame>"
    id_pattern = "kitti/<training|testing>/<frame>/<camera>"

    def frames(self) -> list[tuple]:
        """(id, sequence, camera, split) of each frame with a scan and that camera's image."""
        rows = []
        for folder, split in FOLDER_SPLITS.items():
            scans = _stems(self.root / folder / "velodyne", ".bin")
            images = {c: _stems(self.root / folder / _object_folder(c), ".png") for c in CAMERAS}
            rows += [(f"{NAME}/{folder}/{frame}/{camera}", f"{folder}/{frame}", camera, split)
                     for frame in sorted(scans) for camera in CAMERAS if frame in images[camera]]
        return rows

    def _key(self, middle: list[str], camera: str) -> _Key | None:
        if len(middle) != 2 or middle[0] not in FOLDER_SPLITS:
            return None
        return _Key(f"{middle[0]}/{middle[1]}", middle[0], middle[1], camera)

    def image_path(self, key: _Key) -> Path:
        return self.root / key.folder / _object_folder(key.camera) / f"{key.frame}.png"

    def velodyne_path(self, key: _Key) -> Path:
        return self.root / key.folder / "velodyne" / f"{key.frame}.bin"

    def _read_calibration(self, key: _Key) -> _Calibration:
        path = self.root / key.folder / "calib" / f"{key.frame}.txt"
        return _Calibration(self._cameras(_read_calibration_file(path, self.description), path), None, path)


class _TrackingLayout(_Layout):
    kind = "tracking"
    description = "KITTI tracking layout: {training,testing}/{calib/<seq>.txt,oxts/<seq>.txt,velodyne/<seq>/,image_02/<seq>/}"
    id_pattern = "kitti/<training|testing>/<seq>/<frame>/<camera>"

    def frames(self) -> list[tuple]:
        rows = []
        for folder in FOLDER_SPLITS:
            velodyne = self.root / folder / "velodyne"
            if not velodyne.is_dir():
                continue
            for seq in sorted(e.name for e in os.scandir(velodyne) if e.is_dir()):
                scans = _stems(velodyne / seq, ".bin")
                images = {c: _stems(self.root / folder / c / seq, ".png") for c in CAMERAS}
                rows += [(f"{NAME}/{folder}/{seq}/{frame}/{camera}", f"{folder}/{seq}", camera, "")
                         for frame in sorted(scans) for camera in CAMERAS if frame in images[camera]]
        return rows

    def split(self, key: _Key) -> str | None:
        return None  # no official train/val: the build splits by sequence

    def _key(self, middle: list[str], camera: str) -> _Key | None:
        if len(middle) != 3 or middle[0] not in FOLDER_SPLITS:
            return None
        return _Key(f"{middle[0]}/{middle[1]}", middle[0], middle[2], camera)

    def _seq(self, key: _Key) -> str:
        return key.sequence.split("/")[1]

    def image_path(self, key: _Key) -> Path:
        return self.root / key.folder / key.camera / self._seq(key) / f"{key.frame}.png"

    def velodyne_path(self, key: _Key) -> Path:
        return self.root / key.folder / "velodyne" / self._seq(key) / f"{key.frame}.bin"

    def _read_calibration(self, key: _Key) -> _Calibration:
        path = self.root / key.folder / "calib" / f"{self._seq(key)}.txt"
        values = _read_calibration_file(path, self.description)
        T_velo_imu = _rigid(_matrix(values, "Tr_imu_velo", (3, 4), path, self.description), path, "Tr_imu_velo")
        return _Calibration(self._cameras(values, path), invert(T_velo_imu), path)

    def oxts_path(self, key: _Key) -> Path:
        return self.root / key.folder / "oxts" / f"{self._seq(key)}.txt"

    def _read_track(self, key: _Key) -> tuple[PoseTrack, Path]:
        path = self.oxts_path(key)
        poses = poses_from_oxts(read_oxts_lines(path, self.description))
        return PoseTrack(np.arange(len(poses)) * TRACKING_FRAME_PERIOD_S, poses, MAX_POSE_EXTRAPOLATION_S), path

    def timing(self, key: _Key) -> tuple[PoseTrack, float, float, float]:
        """The sequence's pose track, the image's time and the sweep's start and end (nominal 10 Hz)."""
        track, path = self._tracks.get(key.sequence, lambda: self._read_track(key))
        index = int(key.frame)
        if index >= len(track.times_s):
            raise SourceError(f"{path}: has {len(track.times_s)} OXTS lines, frame {key.frame} needs line {index + 1} "
                              f"({self.description})")
        t = index * TRACKING_FRAME_PERIOD_S
        return track, t, t - TRACKING_FRAME_PERIOD_S / 2, t + TRACKING_FRAME_PERIOD_S / 2


class _RawLayout(_Layout):
    kind = "raw"
    description = ("KITTI raw layout: <date>/calib_*.txt, <date>/<drive>_sync/{image_02/data,velodyne_points/data,"
                   "oxts/data}/ with timestamps")
    id_pattern = "kitti/<date>_drive_<nnnn>/<frame>/<camera>"

    def drives(self) -> list[Path]:
        dates = [self.root] if (self.root / "calib_cam_to_cam.txt").is_file() else \
            sorted(p.parent for p in self.root.glob("*/calib_cam_to_cam.txt"))
        return [p for date in dates for p in sorted(date.iterdir()) if p.is_dir() and _DRIVE.match(p.name)]

    def frames(self) -> list[tuple]:
        rows = []
        for drive in self.drives():
            sequence = drive.name[: -len("_sync")]
            scans = _stems(drive / "velodyne_points" / "data", ".bin")
            for camera in CAMERAS:
                keep = scans & _stems(drive / camera / "data", ".png")
                split = ""
                if self.config.depth_completion is not None:
                    folder, split = self._depth_folder(sequence, camera)
                    keep &= _stems(folder, ".png")
                rows += [(f"{NAME}/{sequence}/{frame}/{camera}", sequence, camera, split or "") for frame in keep]
        return sorted(rows, key=lambda row: (row[1], row[0].split("/")[2], row[2]))

    def _key(self, middle: list[str], camera: str) -> _Key | None:
        if len(middle) != 2 or not _DRIVE.match(middle[0] + "_sync"):
            return None
        return _Key(middle[0], "", middle[1], camera)

    def drive_path(self, key: _Key) -> Path:
        """<root>/<date>/<drive>_sync, or <root>/<drive>_sync when the root is a date folder."""
        date = self.root if (self.root / "calib_cam_to_cam.txt").is_file() else self.root / key.sequence[:10]
        return date / f"{key.sequence}_sync"

    def image_path(self, key: _Key) -> Path:
        return self.drive_path(key) / key.camera / "data" / f"{key.frame}.png"

    def velodyne_path(self, key: _Key) -> Path:
        return self.drive_path(key) / "velodyne_points" / "data" / f"{key.frame}.bin"

    def split(self, key: _Key) -> str | None:
        if self.config.depth_completion is None:
            return None
        return self._depth_folder(key.sequence, key.camera)[1]

    def _read_calibration(self, key: _Key) -> _Calibration:
        date = self.drive_path(key).parent
        cam_path = date / "calib_cam_to_cam.txt"
        values = _read_calibration_file(cam_path, self.description)
        T_cam0_velo = _rt(date / "calib_velo_to_cam.txt", self.description)
        T_velo_imu = _rt(date / "calib_imu_to_velo.txt", self.description)
        return _Calibration(self._cameras(values, cam_path, T_cam0_velo), invert(T_velo_imu), cam_path)

    def oxts_path(self, key: _Key) -> Path:
        return self.drive_path(key) / "oxts"

    def timing(self, key: _Key) -> tuple[PoseTrack, float, float, float]:
        """The drive's pose track (OXTS at its timestamps), the image's time and the sweep's start and end."""
        drive = self.drive_path(key)
        track = self._track(key.sequence, drive)
        index = int(key.frame)
        t_cam = self._time(drive / key.camera / "timestamps.txt", index)
        start, end = drive / "velodyne_points" / "timestamps_start.txt", drive / "velodyne_points" / "timestamps_end.txt"
        if start.is_file() and end.is_file():
            return track, t_cam, self._time(start, index), self._time(end, index)
        return track, t_cam, t_cam - TRACKING_FRAME_PERIOD_S / 2, t_cam + TRACKING_FRAME_PERIOD_S / 2

    def _time(self, path: Path, index: int) -> float:
        """Line ``index`` of a timestamps file (read once while its drive is among the cached ones)."""
        times = self._times.get(path, lambda: read_timestamps(path, self.description))
        if index >= len(times):
            raise SourceError(f"{path}: has {len(times)} timestamps, frame {index:010d} needs line {index + 1} "
                              f"({self.description})")
        return float(times[index])

    def _track(self, sequence: str, drive: Path) -> PoseTrack:
        return self._tracks.get(sequence, lambda: self._read_drive_track(drive))

    def _read_drive_track(self, drive: Path) -> PoseTrack:
        """The drive's OXTS packets as a pose track at the OXTS timestamps."""
        folder = drive / "oxts" / "data"
        stems = sorted(_stems(folder, ".txt"))
        if not stems:
            raise SourceError(f"{folder}: no OXTS packets ({self.description})")
        packets = np.concatenate([read_oxts_lines(folder / f"{s}.txt", self.description) for s in stems])
        times = read_timestamps(drive / "oxts" / "timestamps.txt", self.description)
        index = np.array([int(s) for s in stems])
        if index.max() >= len(times):
            raise SourceError(f"{drive / 'oxts' / 'timestamps.txt'}: {len(times)} lines, but oxts/data has "
                              f"packet {stems[-1]} ({self.description})")
        return _pose_track(times[index], poses_from_oxts(packets), drive / "oxts")

    def _depth_folder(self, sequence: str, camera: str) -> tuple[Path, str | None]:
        """The depth-completion ground-truth folder of a drive and camera, and its split (train/val)."""
        base = self.config.depth_completion
        for split in ("train", "val"):
            folder = base / split / f"{sequence}_sync" / "proj_depth" / "groundtruth" / camera
            if folder.is_dir():
                return folder, split
        return base / f"{sequence}_sync" / "proj_depth" / "groundtruth" / camera, None

    def depth_map(self, key: _Key, shape: tuple[int, int]) -> np.ndarray | None:
        if self.config.depth_completion is None:
            return None
        path = self._depth_folder(key.sequence, key.camera)[0] / f"{key.frame}.png"
        layout = "KITTI depth completion: uint16 PNG, metres = value / 256, 0 = no label"
        values = read_depth_png(path, layout, (shape[1], shape[0]))  # the size of its image
        return (values.astype(np.float32) / DEPTH_PNG_SCALE).astype(np.float32)


def _object_folder(camera: str) -> str:
    return f"image_{CAMERAS[camera]}"


def _stems(folder: Path, suffix: str) -> set[str]:
    """File names (without ``suffix``) in a folder; empty if the folder is absent."""
    try:
        return {e.name[: -len(suffix)] for e in os.scandir(folder) if e.name.endswith(suffix)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _read_calibration_file(path: Path, layout: str) -> dict:
    """KITTI calibration text: ``key: numbers`` per line (tracking files also write ``key numbers``)."""
    values = {}
    for number, line in enumerate(read_text(path, layout).splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        key, sep, rest = line.partition(":")
        if not sep or " " in key.strip():
            key, _, rest = line.partition(" ")
        values[key.strip()] = (rest, f"{path}:{number}")
    return values


def _matrix(values: dict, key: str, shape: tuple[int, int], path: Path, layout: str) -> np.ndarray:
    if key not in values:
        raise SourceError(f"{path}: missing '{key}' ({layout})")
    text, where = values[key]
    return parse_numbers(text, shape[0] * shape[1], where, key).reshape(shape)


def _rigid(M: np.ndarray, path: Path, key: str) -> np.ndarray:
    """(4, 4) from a 3x4 [R | t]; SourceError naming the file if R is not a rotation."""
    R = M[:, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
        raise SourceError(f"{path}: '{key}' is not a rigid transform (its 3x3 part is not a rotation)")
    return make_transform(R, M[:, 3])


def _rt(path: Path, layout: str) -> np.ndarray:
    """The raw layout's ``R:`` and ``T:`` lines (calib_velo_to_cam.txt, calib_imu_to_velo.txt) as (4, 4)."""
    values = _read_calibration_file(path, layout)
    R, T = _matrix(values, "R", (3, 3), path, layout), _matrix(values, "T", (3, 1), path, layout)
    return _rigid(np.hstack([R, T]), path, "R")


def _pose_track(times: np.ndarray, poses: np.ndarray, where: Path) -> PoseTrack:
    """A PoseTrack; packets with a repeated timestamp keep the first."""
    keep = np.r_[True, np.diff(times) > 0]
    if np.any(np.diff(times) < 0):
        bad = int(np.flatnonzero(np.diff(times) < 0)[0]) + 2
        raise SourceError(f"{where / 'timestamps.txt'}:{bad}: timestamps go backwards")
    return PoseTrack(times[keep], poses[keep], MAX_POSE_EXTRAPOLATION_S)


def _camera(K: np.ndarray, width: int, height: int, T_world_cam: np.ndarray, path: Path) -> Camera:
    try:
        return Camera(K=K, width=width, height=height, T_world_cam=T_world_cam)
    except (CameraError, GeometryError) as exc:
        raise SourceError(f"{path}: {exc}") from None
