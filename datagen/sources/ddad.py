"""The ``ddad`` source: DDAD (Dense Depth for Autonomous Driving) in TRI's DGP layout, read from its JSON.

Layout (docs/sources/ddad.md)::

    <root>/ddad.json                           split file: scene_splits {"0": train, "1": val, "2": test}
    <root>/<scene>/scene_<sha1>.json           samples (datum keys per time step) and data (datums)
    <root>/<scene>/calibration/<sha1>.json     names, intrinsics, extrinsics (sensor -> vehicle)
    <root>/<scene>/point_cloud/LIDAR/<t_us>.npz   key "data": (N, C) columns named by point_format
    <root>/<scene>/rgb/CAMERA_XX/<t_us>.png

One frame per camera datum of a sample that also holds the LiDAR datum. The DGP schema
(dgp/proto) gives the conventions used here: a datum's ``pose`` is the pose of its sensor in
the scene's world frame at the datum's own timestamp (sensor -> world, quaternion fields
qw, qx, qy, qz, translation x, y, z in metres); so LiDAR points reach the camera through the
world frame, ``T_cam_lidar = inv(pose_camera(t_image)) . pose_lidar(t_sweep)``, which is the
motion compensation DGP itself applies between the two timestamps. Intrinsics are fx, fy, cx,
cy, skew with OpenCV (Brown-Conrady) distortion fields k1, k2, p1, p2, k3 where present; other
lens models (``fisheye``, k4-k6, xi, alpha, ...) are refused rather than read wrongly.

Frame ids: ``ddad/<scene>/<sample index:06d>/<camera>``.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import SourceError
from datagen.geometry.se3 import invert, pose_from_quaternion
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._io import image_size, read_image_array, read_json, require_dir, require_file
from datagen.sources._tables import FrameTableBuilder, check_count, check_name, check_root, optional_paths
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

logger = logging.getLogger(__name__)

NAME = "ddad"
#: DDAD's six cameras (1936x1216): 01 front, 05 front-left, 06 front-right, 07 rear-left,
#: 08 rear-right, 09 rear. Other DGP datasets may name others; they are listed after these.
CAMERAS = ("CAMERA_01", "CAMERA_05", "CAMERA_06", "CAMERA_07", "CAMERA_08", "CAMERA_09")
LIDAR = "LIDAR"
SPLIT_FILE = "ddad.json"
#: dgp.proto.DatasetSplit: TRAIN = 0, VAL = 1, TEST = 2 (TRAIN_OVERFIT = 3 is a subset of train: ignored).
DGP_SPLITS = {"0": "train", "1": "val", "2": "test"}
#: Point columns by dgp.proto.PointCloud.ChannelType (JSON writes enum names; numbers are accepted too).
POINT_CHANNELS = {"X": 0, "Y": 1, "Z": 2}
#: Quaternions are named fields qw, qx, qy, qz (dgp.proto.Quaternion): read as scalar first.
QUATERNION_ORDER = "wxyz"
#: DGP cameras use OpenCV axes (x right, y down, z forward): no change at the boundary.
T_CV_FROM_DGP_CAMERA = np.eye(4)
#: OpenCV radial-tangential distortion fields of dgp.proto.CameraIntrinsics, in our order.
RADTAN_FIELDS = ("k1", "k2", "p1", "p2", "k3")
#: Lens fields of other models; a non-zero value means a lens datagen does not read.
OTHER_LENS_FIELDS = ("fisheye", "k4", "k5", "k6", "s1", "s2", "s3", "s4", "taux", "tauy", "alpha", "beta", "w",
                     "xi", "equirectangular")
LAYOUT = "DDAD / DGP layout: [ddad.json,] <scene>/scene_<sha1>.json, calibration/, point_cloud/LIDAR/, rgb/CAMERA_XX/"
#: Whether this process has warned that no self-occlusion masks were given (once is enough).
_WARNED_NO_MASKS: list = []
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


@dataclass(frozen=True)
class _Scene:
    """One parsed scene file: its samples' datum keys, its datums by key, its split."""

    folder: Path
    file: Path
    split: str | None
    samples: list               # [{"datum_keys": [...], "calibration_key": ...}, ...]
    datums: dict                # key -> datum dict


@register(NAME)
class DDADSource(Source):
    """DDAD scenes (or any DGP scene dataset with cameras and a LiDAR): images with their LiDAR sweep."""

    @dataclass(frozen=True)
    class Config:
        """Options of the ddad source.

        Attributes:
            root: folder of the split file and the scene folders (``ddad_train_val``), or one scene folder.
            split_file: name of the DGP dataset JSON under ``root`` that lists the scenes of each split;
                when it is absent every ``<scene>/scene_*.json`` is read, without official splits.
            lidar: name of the LiDAR datum whose points label the images.
            masks: folder of self-occlusion masks, ``<camera>.png`` (or ``<scene>/<camera>.png`` for one
                scene), the image's size, zero where the camera sees the ego vehicle: LiDAR points that
                land there are dropped (they lie on the road behind the car's body). Cameras without a
                mask keep all their points.
            cache_scenes: how many parsed scene files to keep in memory.
        """

        root: Path | None = None
        split_file: str = SPLIT_FILE
        lidar: str = LIDAR
        masks: Path | None = None
        cache_scenes: int = 2

        def __post_init__(self) -> None:
            check_root(self, NAME, f"the folder holding {SPLIT_FILE} and the scenes")
            optional_paths(self, "masks")
            check_name(NAME, "split_file", self.split_file)
            check_name(NAME, "lidar", self.lidar)
            check_count(NAME, "cache_scenes", self.cache_scenes)

    def __init__(self, config: "DDADSource.Config | None" = None) -> None:
        super().__init__(config)
        self._scene_files: dict[str, tuple[Path, str | None]] | None = None
        self._scenes: LruCache[_Scene] = LruCache(self.config.cache_scenes)
        self._calibrations: LruCache[dict] = LruCache(1)  # scenes do not share calibration files
        self._masks: LruCache[np.ndarray] = LruCache(len(CAMERAS))
        if self.config.masks is None and not _WARNED_NO_MASKS:
            _WARNED_NO_MASKS.append(True)
            logger.warning("%s: no masks given; DDAD's cameras 05-09 see the ego vehicle's body, and LiDAR points "
                           "on the road behind it label those pixels (see docs/sources/ddad.md)", NAME)

    # ------------------------------------------------------------------ listing

    def scene_files(self) -> dict[str, tuple[Path, str | None]]:
        """scene name -> (scene JSON, official split or None), in a fixed order."""
        if self._scene_files is None:
            self._scene_files = _find_scenes(self.config.root, self.config.split_file)
        return self._scene_files

    def frame_table(self) -> FrameTable:
        """Every camera datum of every sample that has the LiDAR datum, scene by scene, sample by sample."""
        table = FrameTableBuilder()
        for name in self.scene_files():
            scene = self._scene(name)
            samples, cameras = [], []
            for index, sample in enumerate(scene.samples):
                names = _datum_names(scene, sample)
                if self.config.lidar in names:
                    found = _ordered_cameras(n for n, kind in names.items() if kind == "image")
                    samples += [f"{index:06d}"] * len(found)
                    cameras += found
            table.add(f"{NAME}/{name}/", np.array(samples, dtype=str), np.array(cameras, dtype=object), name,
                      scene.split)
        return table.build()

    # ------------------------------------------------------------------ loading

    def load_frame(self, frame_id: str) -> Frame:
        """One camera datum with its sample's LiDAR points, moved through the world frame (module docstring)."""
        name, index, camera_name = self._parse_id(frame_id)
        scene = self._scene(name)
        if index >= len(scene.samples):
            raise SourceError(f"{scene.file}: no sample {index} (the scene has {len(scene.samples)}) ({LAYOUT})")
        sample = scene.samples[index]
        image_datum = _datum_of(scene, sample, camera_name)
        lidar_datum = _datum_of(scene, sample, self.config.lidar)
        image, cloud = _payload(scene, image_datum, "image"), _payload(scene, lidar_datum, "point_cloud")
        calibration = self._calibration(scene, sample)
        image_path = scene.folder / str(image.get("filename", ""))
        camera = _camera(calibration, camera_name, image_path, image)
        T_world_cam = _pose(scene, image_datum, image) @ invert(T_CV_FROM_DGP_CAMERA)
        T_world_lidar = _pose(scene, lidar_datum, cloud)
        T_cam_lidar = invert(T_world_cam) @ T_world_lidar
        points = _read_points(scene.folder / str(cloud.get("filename", "")), cloud)
        points = self._unmasked(points, T_cam_lidar, camera, name, camera_name)
        image_us, lidar_us = _timestamp_us(scene, image_datum), _timestamp_us(scene, lidar_datum)
        return Frame(frame_id=frame_id, source=NAME, camera=camera.replace(T_world_cam=T_world_cam),
                     image_path=image_path, points=points, T_cam_points=T_cam_lidar,
                     sequence=name, timestamp_s=image_us / 1e6, split=scene.split,
                     meta={"scene": str(scene.file), "sample": index, "camera": camera_name,
                           "image": str(image_path), "point_cloud": str(scene.folder / cloud["filename"]),
                           "image_minus_lidar_s": (image_us - lidar_us) / 1e6, "lidar_frame": self.config.lidar})

    def _unmasked(self, points: np.ndarray, T_cam_lidar: np.ndarray, camera: Camera, scene: str,
                  camera_name: str) -> np.ndarray:
        """The points that do not land on the camera's ego-vehicle mask (all of them without a mask)."""
        mask = self._mask(scene, camera_name, camera)
        if mask is None:
            return points
        in_camera = points @ T_cam_lidar[:3, :3].T + T_cam_lidar[:3, 3]
        front = in_camera[:, 2] > 0
        uv = np.full((len(points), 2), np.nan)
        uv[front], valid = camera.project(in_camera[front])
        hit = front.copy()
        hit[front] = valid & camera.contains(uv[front])
        cols, rows = np.floor(uv[hit] + 0.5).astype(np.int64).T
        drop = np.zeros(len(points), dtype=bool)
        drop[np.flatnonzero(hit)[~mask[rows, cols]]] = True
        return points[~drop]

    def _mask(self, scene: str, camera_name: str, camera: Camera) -> np.ndarray | None:
        """(H, W) bool, True where the image shows the scene; None without a mask for this camera."""
        if self.config.masks is None:
            return None
        path = next((p for p in (self.config.masks / scene / f"{camera_name}.png",
                                 self.config.masks / f"{camera_name}.png") if p.is_file()), None)
        if path is None:
            return None
        mask = self._masks.get(path, lambda: _read_mask(path))
        if mask.shape != (camera.height, camera.width):
            raise SourceError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} px, the camera's images "
                              f"{camera.width}x{camera.height}")
        return mask

    def _parse_id(self, frame_id: str) -> tuple[str, int, str]:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        if len(parts) < 4 or parts[0] != NAME or not parts[-2].isdigit():
            raise SourceError(f"{NAME}: frame id {frame_id!r} is not '{NAME}/<scene>/<sample>/<camera>'")
        return "/".join(parts[1:-2]), int(parts[-2]), parts[-1]

    def _scene(self, name: str) -> _Scene:
        if name not in self.scene_files():
            raise SourceError(f"{self.config.root}: no scene {name!r} ({LAYOUT})")
        return self._scenes.get(name, lambda: _read_scene(*self.scene_files()[name]))

    def _calibration(self, scene: _Scene, sample: dict) -> dict:
        """name -> {"intrinsics": dict, "extrinsics": dict} of the sample's calibration file."""
        path = scene.folder / "calibration" / f"{sample.get('calibration_key', '')}.json"
        return self._calibrations.get(path, lambda: _read_calibration(path))


# ---------------------------------------------------------------------- scenes and splits


def _find_scenes(root: Path, split_file: str) -> dict[str, tuple[Path, str | None]]:
    """scene name (its folder, relative to root) -> (scene JSON, split)."""
    require_dir(root, LAYOUT)
    if (root / split_file).is_file():
        return _scenes_from_split_file(root, root / split_file)
    files = sorted(root.glob("scene_*.json")) or sorted(root.glob("*/scene_*.json"))
    if not files:
        raise SourceError(f"{root}: no {split_file} and no <scene>/scene_*.json ({LAYOUT})")
    out: dict[str, tuple[Path, str | None]] = {}
    for path in files:
        name = path.parent.name if path.parent != root else root.name
        if name in out:
            raise SourceError(f"{path.parent}: more than one scene_*.json ({out[name][0].name}, {path.name}); "
                              f"name the scenes in {split_file} ({LAYOUT})")
        out[name] = (path, None)
    logger.info("%s: no %s; %d scenes without official splits", root, split_file, len(out))
    return out


def _scenes_from_split_file(root: Path, path: Path) -> dict[str, tuple[Path, str | None]]:
    data = read_json(path, LAYOUT)
    splits = data.get("scene_splits") if isinstance(data, dict) else None
    if not isinstance(splits, dict):
        raise SourceError(f"{path}: no 'scene_splits' object ({LAYOUT})")
    out: dict[str, tuple[Path, str | None]] = {}
    for key in sorted(splits, key=str):
        split = DGP_SPLITS.get(str(key))
        files = splits[key].get("filenames") if isinstance(splits[key], dict) else None
        if split is None:
            continue
        if not isinstance(files, list) or not all(isinstance(f, str) and f.endswith(".json") for f in files):
            raise SourceError(f"{path}: scene_splits[{key!r}].filenames must be a list of scene JSON paths ({LAYOUT})")
        for file in files:
            name = Path(file).parent.as_posix()
            if name in ("", ".") or ".." in Path(file).parts:
                raise SourceError(f"{path}: scene path {file!r} must be <scene folder>/scene_<sha1>.json ({LAYOUT})")
            if name in out:
                raise SourceError(f"{path}: scene {name} is listed in both {out[name][1]} and {split}; "
                                  f"each scene must have one split ({LAYOUT})")
            out[name] = (root / file, split)
    if not out:
        raise SourceError(f"{path}: lists no scene of splits {sorted(DGP_SPLITS)} ({LAYOUT})")
    return out


def _read_scene(path: Path, split: str | None) -> _Scene:
    """A scene JSON: its samples and its datums by key, with their shapes checked."""
    data = read_json(path, LAYOUT)
    samples = data.get("samples") if isinstance(data, dict) else None
    datums = data.get("data") if isinstance(data, dict) else None
    if not isinstance(samples, list) or not isinstance(datums, list):
        raise SourceError(f"{path}: a DGP scene needs 'samples' and 'data' lists ({LAYOUT})")
    by_key = {}
    for i, datum in enumerate(datums):
        if not isinstance(datum, dict) or not isinstance(datum.get("key"), str) or not isinstance(datum.get("datum"), dict):
            raise SourceError(f"{path}: data[{i}] needs 'key' and 'datum' ({LAYOUT})")
        by_key[datum["key"]] = datum
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict) or not isinstance(sample.get("datum_keys"), list):
            raise SourceError(f"{path}: samples[{i}] needs a 'datum_keys' list ({LAYOUT})")
    return _Scene(folder=path.parent, file=path, split=split, samples=samples, datums=by_key)


def _datum_names(scene: _Scene, sample: dict) -> dict[str, str]:
    """sensor name -> datum kind ("image", "point_cloud", ...) of the datums a sample lists."""
    out = {}
    for key in sample["datum_keys"]:
        datum = scene.datums.get(key)
        if datum is not None:
            out[str(datum.get("id", {}).get("name", ""))] = next(iter(datum["datum"]), "")
    return out


def _ordered_cameras(names) -> list[str]:
    names = set(names)
    return [c for c in CAMERAS if c in names] + sorted(names - set(CAMERAS))


def _datum_of(scene: _Scene, sample: dict, name: str) -> dict:
    for key in sample["datum_keys"]:
        datum = scene.datums.get(key)
        if datum is not None and datum.get("id", {}).get("name") == name:
            return datum
    raise SourceError(f"{scene.file}: sample has no datum {name!r} ({LAYOUT})")


def _payload(scene: _Scene, datum: dict, kind: str) -> dict:
    value = datum["datum"].get(kind)
    if not isinstance(value, dict) or not isinstance(value.get("filename"), str):
        raise SourceError(f"{scene.file}: datum {datum['key']} is not a {kind} with a filename ({LAYOUT})")
    return value


# ---------------------------------------------------------------------- geometry


def _pose(scene: _Scene, datum: dict, payload: dict) -> np.ndarray:
    """(4, 4) sensor -> world pose of a datum (dgp.proto.Pose)."""
    return _rigid(payload.get("pose"), f"{scene.file}: datum {datum['key']} pose")


def _rigid(pose: object, where: str) -> np.ndarray:
    """A DGP Pose {rotation: {qw, qx, qy, qz}, translation: {x, y, z}} as a (4, 4) transform.

    Protobuf JSON leaves out fields equal to zero, so a missing component reads as 0.
    """
    if not isinstance(pose, dict) or not isinstance(pose.get("rotation"), dict):
        raise SourceError(f"{where}: missing (a DGP Pose with 'rotation' and 'translation') ({LAYOUT})")
    rotation, translation = pose["rotation"], pose.get("translation", {})
    try:
        q = [float(rotation.get(k, 0.0)) for k in ("qw", "qx", "qy", "qz")]
        t = [float(translation.get(k, 0.0)) for k in ("x", "y", "z")]
    except (TypeError, ValueError, AttributeError):
        raise SourceError(f"{where}: rotation and translation must be numbers ({LAYOUT})") from None
    norm = float(np.linalg.norm(q))
    if not np.all(np.isfinite(q + t)) or abs(norm - 1.0) > 1e-3:
        raise SourceError(f"{where}: quaternion (qw, qx, qy, qz) = {q} is not a unit quaternion ({LAYOUT})")
    return pose_from_quaternion(q, t, order=QUATERNION_ORDER)


def _read_calibration(path: Path) -> dict:
    """name -> {"intrinsics": dict, "extrinsics": (4, 4)} of a dgp.proto.SampleCalibration file."""
    data = read_json(path, LAYOUT)
    names = data.get("names") if isinstance(data, dict) else None
    intrinsics = data.get("intrinsics") if isinstance(data, dict) else None
    extrinsics = data.get("extrinsics") if isinstance(data, dict) else None
    if not (isinstance(names, list) and isinstance(intrinsics, list) and isinstance(extrinsics, list)
            and len(names) == len(intrinsics) == len(extrinsics)):
        raise SourceError(f"{path}: needs 'names', 'intrinsics' and 'extrinsics' lists of one length ({LAYOUT})")
    return {str(n): {"intrinsics": i if isinstance(i, dict) else {},
                     "extrinsics": _rigid(e, f"{path}: extrinsics of {n}")}
            for n, i, e in zip(names, intrinsics, extrinsics)}


def _read_mask(path: Path) -> np.ndarray:
    """(H, W) bool of a self-occlusion mask: True where the image shows the scene (non-zero)."""
    mask = read_image_array(path, "ddad masks: <masks>/[<scene>/]<camera>.png")
    return (mask if mask.ndim == 2 else mask[..., 0]) != 0


def _camera(calibration: dict, name: str, image_path: Path, image: dict) -> Camera:
    """The camera of a datum: K with skew, its lens model, the image's size (checked against the file)."""
    if name not in calibration:
        raise SourceError(f"{image_path}: no calibration for {name!r} in the sample's calibration file ({LAYOUT})")
    intrinsics = calibration[name]["intrinsics"]
    width, height = image_size(image_path, LAYOUT)
    if (int(image.get("width", width)), int(image.get("height", height))) != (width, height):
        raise SourceError(f"{image_path}: image is {width}x{height} px but the scene says "
                          f"{image.get('width')}x{image.get('height')} ({LAYOUT})")
    try:
        fx, fy, cx, cy, skew = (float(intrinsics.get(k, 0.0)) for k in ("fx", "fy", "cx", "cy", "skew"))
        model, dist = _lens(intrinsics, name)
        K = np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        return Camera(K=K, width=width, height=height, model=model, dist=dist)
    except (TypeError, ValueError) as exc:
        raise SourceError(f"calibration of {name} ({image_path.parent.parent.parent / 'calibration'}): {exc}") from None


def _lens(intrinsics: dict, name: str) -> tuple[str, list]:
    """("pinhole", []) or ("radtan", [k1, k2, p1, p2, k3]); other lens models are refused."""
    other = [k for k in OTHER_LENS_FIELDS if float(intrinsics.get(k, 0.0) or 0.0) != 0.0]
    if other:
        raise ValueError(f"camera {name} uses lens fields {other}, which datagen does not read "
                         f"(only OpenCV k1, k2, p1, p2, k3)")
    dist = [float(intrinsics.get(k, 0.0) or 0.0) for k in RADTAN_FIELDS]
    return ("radtan", dist) if any(dist) else ("pinhole", [])


def _read_points(path: Path, cloud: dict) -> np.ndarray:
    """(N, 3) float64 X, Y, Z of a DGP point cloud .npz (key "data"), sensor frame, metres."""
    require_file(path, LAYOUT)
    columns = _xyz_columns(cloud, path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = archive["data"]
    except (KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SourceError(f"{path}: not a DGP point cloud .npz with key 'data' ({exc}) ({LAYOUT})") from None
    if data.dtype.names:
        missing = [c for c in ("X", "Y", "Z") if c not in data.dtype.names]
        if missing:
            raise SourceError(f"{path}: structured point array lacks fields {missing} ({LAYOUT})")
        return np.column_stack([data[c].astype(np.float64) for c in ("X", "Y", "Z")])
    if data.ndim != 2 or data.shape[1] <= max(columns) or not np.issubdtype(data.dtype, np.number):
        raise SourceError(f"{path}: 'data' is {data.shape} {data.dtype}, expected (N, >= {max(columns) + 1}) "
                          f"numbers with columns {cloud.get('point_format')} ({LAYOUT})")
    return data[:, columns].astype(np.float64)


def _xyz_columns(cloud: dict, path: Path) -> list[int]:
    """Column index of X, Y and Z in the datum's point_format (names or enum numbers)."""
    point_format = cloud.get("point_format") or ["X", "Y", "Z"]
    labels = [str(c) if not isinstance(c, int) else next((k for k, v in POINT_CHANNELS.items() if v == c), str(c))
              for c in point_format]
    try:
        return [labels.index(axis) for axis in ("X", "Y", "Z")]
    except ValueError:
        raise SourceError(f"{path}: point_format {point_format} lacks X, Y or Z ({LAYOUT})") from None


def _timestamp_us(scene: _Scene, datum: dict) -> int:
    """A datum's id.timestamp (RFC 3339, UTC, up to nanoseconds) in microseconds since 1970."""
    text = str(datum.get("id", {}).get("timestamp", ""))
    match = _TIMESTAMP.match(text)
    if not match:
        raise SourceError(f"{scene.file}: datum {datum['key']} timestamp {text!r} is not RFC 3339 "
                          f"'YYYY-MM-DDThh:mm:ss[.fraction]Z' ({LAYOUT})")
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    fraction = (match.group(2) or "").ljust(6, "0")[:6]
    return seconds * 1_000_000 + int(fraction)
