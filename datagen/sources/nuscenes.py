"""nuScenes (v1.0 tables with ``samples/`` and optional ``sweeps/``) as a source.

The root holds a version folder of JSON tables (``v1.0-mini``, ``v1.0-trainval``,
``v1.0-test``) beside the blobs they name::

    <root>/v1.0-trainval/{sample_data,calibrated_sensor,ego_pose,sensor,sample,scene,log}.json
    <root>/samples/CAM_FRONT/<log>__CAM_FRONT__<timestamp_us>.jpg, samples/LIDAR_TOP/...pcd.bin
    <root>/sweeps/...                                       (optional: non-keyframe data)

One frame per camera image: the keyframes of the six cameras by default, every camera
sample_data with ``sweeps=True``. Ground truth is LIDAR_TOP, moved as the devkit's
``map_pointcloud_to_image`` moves it: lidar -> ego at the sweep's time -> global -> ego at
the image's time -> camera, each step from ``calibrated_sensor`` and ``ego_pose``. A keyframe
image takes its sample's LIDAR_TOP keyframe; a camera sweep the LIDAR_TOP sample_data of its
scene nearest in time. ``lidar_sweeps=N`` adds the N - 1 sweeps before that one, each moved
with its own ego pose (the devkit's ``from_file_multisweep``). Points within
``min_distance_m`` of the LiDAR in x and y (the ego vehicle's roof) are dropped, as the
devkit's ``remove_close`` does.

Listing is lazy: the big tables (``sample_data`` and ``ego_pose`` hold about 2.6 million rows
each in v1.0-trainval) are read once per source instance into Arrow and numpy columns
(``_json_tables``), never into Python dicts; ``ego_pose`` only when the first frame loads. A
process keeps the last tables it read (``load_tables``), so listing and loading read them once.

Ids: ``nuscenes/<scene name>/<camera sample_data token>/<channel>``; sequence: the scene
name; split: the devkit's scene split (``data/nuscenes_splits.json``, copied from
``nuscenes/utils/splits.py``): train/val for v1.0-trainval, mini_train/mini_val as train/val
for v1.0-mini, test for v1.0-test.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import CameraError, GeometryError, SourceError
from datagen.geometry.se3 import invert, pose_from_quaternion
from datagen.sources import register
from datagen.sources._io import read_binary, require_dir
from datagen.sources._json_tables import read_json_table
from datagen.sources._tables import check_count, check_flag, check_name, check_number, check_root
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "nuscenes"
#: The six cameras, in the devkit's order (front, then clockwise).
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")
LIDAR_CHANNEL = "LIDAR_TOP"
#: LiDAR blobs: float32 little-endian (x, y, z, intensity, ring index), LiDAR frame (x right, y forward, z up), m.
LIDAR_COLUMNS = 5
#: Table timestamps are microseconds since the Unix epoch.
TIMESTAMP_UNIT_S = 1e-6
#: Quaternions in calibrated_sensor and ego_pose are scalar first (w, x, y, z).
QUATERNION_ORDER = "wxyz"
SPLITS_FILE = Path(__file__).resolve().parent / "data" / "nuscenes_splits.json"
TABLES = ("sample_data", "calibrated_sensor", "ego_pose", "sensor", "sample", "scene")


@register(NAME)
class NuScenesSource(Source):
    """nuScenes camera images with LIDAR_TOP ground truth, from the official v1.0 tables."""

    #: HDL-32E: rings about 29 px apart in CAM_FRONT; docs/occlusion_filter.md measures this window.
    occlusion_defaults = {"window_px": 31}

    @dataclass(frozen=True)
    class Config:
        """Options of the nuscenes source.

        Attributes:
            root: the dataset folder (holding ``v1.0-*/``, ``samples/`` and maybe ``sweeps/``).
            version: the table folder, e.g. "v1.0-mini"; None finds the only ``v1.0-*`` there.
            sweeps: also use camera images that are not keyframes (about 12 Hz instead of 2 Hz).
            lidar_sweeps: LiDAR sweeps accumulated per image: the nearest and the ones before it.
            min_distance_m: drop points within this distance of the LiDAR in x and y (0: keep all).
        """

        root: Path | None = None
        version: str | None = None
        sweeps: bool = False
        lidar_sweeps: int = 1
        min_distance_m: float = 1.0

        def __post_init__(self) -> None:
            check_root(self, NAME, "the folder holding v1.0-*/ and samples/")
            if self.version is not None:
                check_name(NAME, "version", self.version, "a folder name such as v1.0-mini", slash=False)
            check_flag(NAME, "sweeps", self.sweeps)
            check_count(NAME, "lidar_sweeps", self.lidar_sweeps, 1, 20)
            check_number(NAME, "min_distance_m", self.min_distance_m, 0.0, 10.0, low_included=True, high_included=False)

    def __init__(self, config: "NuScenesSource.Config | None" = None) -> None:
        super().__init__(config)
        self._tables: _Tables | None = None

    @property
    def tables(self) -> "_Tables":
        if self._tables is None:
            self._tables = load_tables(self.config.root, find_version(self.config.root, self.config.version))
        return self._tables

    def frame_table(self) -> FrameTable:
        """Camera images (keyframes, or all with ``sweeps``) ordered by scene, time and camera."""
        t = self.tables
        rows = t.camera_rows(self.config.sweeps)
        scenes = t.scene_names[t.sd_scene[rows]]
        channels = t.cs_channel[t.sd_cs[rows]]
        ids = [f"{NAME}/{s}/{k}/{c}" for s, k, c in zip(scenes.tolist(), t.tokens(rows), channels.tolist())]
        splits = np.array([t.split_of(s) or "" for s in scenes.tolist()], dtype=object)
        return FrameTable(np.array(ids, dtype=object), scenes.astype(object), channels.astype(object), splits)

    def load_frame(self, frame_id: str) -> Frame:
        t = self.tables
        row, scene, channel = self._parse_id(frame_id)
        camera = t.camera(row)
        lidar_rows = t.lidar_rows_for(row, self.config.lidar_sweeps)
        points, T_cam_points = self._points(row, lidar_rows, camera.T_world_cam)
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=t.path(row), points=points,
                     T_cam_points=T_cam_points, sequence=scene, timestamp_s=float(t.sd_time[row]) * TIMESTAMP_UNIT_S,
                     split=t.split_of(scene),
                     meta={"version": t.version, "channel": channel, "sample_data_token": t.tokens([row])[0],
                           "lidar": [t.filename(r) for r in lidar_rows], "depth_from": "lidar",
                           "lidar_dt_s": float(t.sd_time[lidar_rows[0]] - t.sd_time[row]) * TIMESTAMP_UNIT_S})

    def _parse_id(self, frame_id: str) -> tuple[int, str, str]:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        if len(parts) != 4 or parts[0] != NAME:
            raise SourceError(f"nuscenes: frame id {frame_id!r} is not 'nuscenes/<scene>/<sample_data token>/<camera>'")
        row = self.tables.row_of(parts[2])
        if row is None or self.tables.cs_channel[self.tables.sd_cs[row]] != parts[3]:
            raise SourceError(f"{self.tables.table_path('sample_data')}: no {parts[3]} image with token "
                              f"{parts[2]!r} (frame id {frame_id!r})")
        return row, parts[1], parts[3]

    def _points(self, camera_row: int, lidar_rows: list[int], T_world_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) points in the first sweep's LiDAR frame, and that frame's transform into the camera."""
        t = self.tables
        T_world_ref = t.T_world_sensor(lidar_rows[0])
        clouds = []
        for k, row in enumerate(lidar_rows):
            points = self._read_lidar(row)
            if k:  # 1. an earlier sweep: its LiDAR at its own time -> global -> the first sweep's LiDAR
                T = invert(T_world_ref) @ t.T_world_sensor(row)
                points = points.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
            clouds.append(points)
        # 2. the first sweep's LiDAR -> ego(t_lidar) -> global -> ego(t_camera) -> camera
        return np.concatenate(clouds), invert(T_world_cam) @ T_world_ref

    def _read_lidar(self, row: int) -> np.ndarray:
        """(N, 3) points of one sweep, LiDAR frame, without those within ``min_distance_m`` in x and y."""
        t = self.tables
        path = t.path(row)
        if not path.is_file():
            raise SourceError(t.missing_message(t.filename(row)))
        points = read_binary(path, "float32", LIDAR_COLUMNS, f"nuScenes LiDAR blob, {LIDAR_COLUMNS} float32 per point")
        radius = self.config.min_distance_m
        close = (np.abs(points[:, 0]) < radius) & (np.abs(points[:, 1]) < radius)
        return points[~close, :3]


#: The tables last read in this process: a one-worker build lists frames and then loads them with a
#: second source instance, and reading v1.0-trainval's tables takes tens of seconds.
_LAST_TABLES: dict = {}


def load_tables(root: Path, version: str) -> "_Tables":
    """The tables of ``root/version``, read once per process while their files are unchanged."""
    files = [root / version / f"{name}.json" for name in TABLES]
    key = (str(root.resolve()), version, tuple((p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
                                              for p in files))
    if key not in _LAST_TABLES:
        _LAST_TABLES.clear()
        _LAST_TABLES[key] = _Tables(root, version)
    return _LAST_TABLES[key]


def find_version(root: Path, version: str | None) -> str:
    """The table folder to read: ``version`` if given, else the only ``v1.0-*`` folder with tables."""
    require_dir(root, "nuScenes root: v1.0-*/ tables beside samples/")
    if version is not None:
        if not (root / version / "sample_data.json").is_file():
            raise SourceError(f"{root / version}/sample_data.json: missing (nuScenes tables of version {version})")
        return version
    found = sorted(p.parent.name for p in root.glob("v1.0-*/sample_data.json"))
    if len(found) != 1:
        what = ", ".join(found) if found else "none"
        raise SourceError(f"{root}: expected one v1.0-*/sample_data.json (found {what}); "
                          f"choose one with -O version=NAME")
    return found[0]


def _schema(fields: dict):
    import pyarrow as pa

    types = {"str": pa.string(), "int": pa.int64(), "bool": pa.bool_(), "vec": pa.list_(pa.float64()),
             "mat": pa.list_(pa.list_(pa.float64()))}
    return pa.schema([(name, types[kind]) for name, kind in fields.items()])


SCHEMAS = {
    "sample_data": {"token": "str", "sample_token": "str", "ego_pose_token": "str", "calibrated_sensor_token": "str",
                    "timestamp": "int", "is_key_frame": "bool", "filename": "str", "width": "int", "height": "int"},
    "calibrated_sensor": {"token": "str", "sensor_token": "str", "translation": "vec", "rotation": "vec",
                          "camera_intrinsic": "mat"},
    "ego_pose": {"token": "str", "timestamp": "int", "translation": "vec", "rotation": "vec"},
    "sensor": {"token": "str", "channel": "str", "modality": "str"},
    "sample": {"token": "str", "timestamp": "int", "scene_token": "str"},
    "scene": {"token": "str", "name": "str", "log_token": "str"},
}


class _Tables:
    """The tables of one version as compact columns, joined once.

    Attributes (one row per sample_data, ``sd_*``): ``sd_cs`` calibrated_sensor index,
    ``sd_scene`` scene index, ``sd_sample`` sample index, ``sd_time`` timestamp (us),
    ``sd_key`` keyframe flag; per calibrated_sensor: ``cs_channel``, ``cs_modality``.
    """

    def __init__(self, root: Path, version: str) -> None:
        self.root, self.version = root, version
        self._read_small_tables()
        self._read_sample_data()
        self._ego = None
        self._lidar_index()

    def table_path(self, name: str) -> Path:
        return self.root / self.version / f"{name}.json"

    def _read(self, name: str):
        layout = f"nuScenes {self.version} table {name}.json (a JSON array of records)"
        table = read_json_table(self.table_path(name), _schema(SCHEMAS[name]), layout)
        for column in ("token",) + tuple(k for k in SCHEMAS[name] if k.endswith("_token")):
            if table.column(column).null_count:
                raise SourceError(f"{self.table_path(name)}: {table.column(column).null_count} records lack "
                                  f"'{column}' ({layout})")
        return table

    def _read_small_tables(self) -> None:
        sensor, cs = self._read("sensor"), self._read("calibrated_sensor")
        scene, sample = self._read("scene"), self._read("sample")
        sensor_of_cs = _lookup(cs.column("sensor_token"), sensor.column("token"), self.table_path("calibrated_sensor"),
                               "sensor_token")
        self.cs_channel = np.array(sensor.column("channel").to_pylist(), dtype=object)[sensor_of_cs]
        self.cs_modality = np.array(sensor.column("modality").to_pylist(), dtype=object)[sensor_of_cs]
        self.cs_rows = cs.to_pylist()
        self.scene_names = np.array(scene.column("name").to_pylist(), dtype=object)
        self.sample_scene = _lookup(sample.column("scene_token"), scene.column("token"), self.table_path("sample"),
                                    "scene_token")
        self.sample_tokens = sample.column("token")
        self.splits = _scene_splits(self.version)

    def _read_sample_data(self) -> None:
        sd = self._read("sample_data")
        path = self.table_path("sample_data")
        self.sd_cs = _lookup(sd.column("calibrated_sensor_token"), _column(self.cs_rows, "token"), path,
                             "calibrated_sensor_token")
        self.sd_sample = _lookup(sd.column("sample_token"), self.sample_tokens, path, "sample_token")
        self.sd_scene = self.sample_scene[self.sd_sample]
        self.sd_time = sd.column("timestamp").to_numpy(zero_copy_only=False)
        self.sd_key = sd.column("is_key_frame").fill_null(False).to_numpy(zero_copy_only=False)
        self.sd_size = np.stack([sd.column(c).fill_null(0).to_numpy(zero_copy_only=False) for c in ("width", "height")], 1)
        self.sd_filename = sd.column("filename").combine_chunks()
        self.sd_ego_token = _fixed_width(sd.column("ego_pose_token"))
        tokens = _fixed_width(sd.column("token"))
        self.sd_order = np.argsort(tokens, kind="stable")
        self.sd_sorted_tokens = tokens[self.sd_order]
        self._sd_tokens = tokens

    def _lidar_index(self) -> None:
        """LIDAR_TOP rows by (scene, time), and each sample's LIDAR_TOP keyframe."""
        lidar = np.flatnonzero(self.cs_channel[self.sd_cs] == LIDAR_CHANNEL)
        order = np.lexsort((self.sd_time[lidar], self.sd_scene[lidar]))
        self.lidar = lidar[order]
        self.lidar_scene = self.sd_scene[self.lidar]
        key = lidar[self.sd_key[lidar]]
        self.sample_lidar = np.full(len(self.sample_scene), -1, dtype=np.int64)
        self.sample_lidar[self.sd_sample[key]] = key

    def camera_rows(self, sweeps: bool) -> np.ndarray:
        """sample_data rows of camera images, ordered by scene name, timestamp and camera."""
        camera = np.flatnonzero(self.cs_modality[self.sd_cs] == "camera")
        if not sweeps:
            camera = camera[self.sd_key[camera]]
        rank = {name: i for i, name in enumerate(CAMERAS)}
        channel_rank = np.array([rank.get(c, len(CAMERAS)) for c in self.cs_channel], dtype=np.int64)
        scene_rank = np.argsort(np.argsort(self.scene_names.astype(str), kind="stable"), kind="stable")
        order = np.lexsort((channel_rank[self.sd_cs[camera]], self.sd_time[camera], scene_rank[self.sd_scene[camera]]))
        return camera[order]

    def tokens(self, rows) -> list[str]:
        return [t.decode() for t in self._sd_tokens[np.asarray(rows, dtype=np.int64)].tolist()]

    def row_of(self, token: str) -> int | None:
        key = np.array(token.encode(), dtype=self.sd_sorted_tokens.dtype)
        i = int(np.searchsorted(self.sd_sorted_tokens, key))
        if i < len(self.sd_sorted_tokens) and self.sd_sorted_tokens[i] == key and len(token) <= key.itemsize:
            return int(self.sd_order[i])
        return None

    def split_of(self, scene: str) -> str | None:
        return self.splits.get(scene)

    def filename(self, row: int) -> str:
        return str(self.sd_filename[int(row)])

    def path(self, row: int) -> Path:
        return self.root / self.filename(row)

    def missing_message(self, filename: str) -> str:
        if filename.startswith("sweeps/") and not (self.root / "sweeps").is_dir():
            return (f"{filename}: missing; this root looks like a {self.version} download without sweeps "
                    f"(no {self.root / 'sweeps'})")
        return f"{filename}: missing (nuScenes {self.version}: expected {self.root / filename})"

    def camera(self, row: int) -> Camera:
        """The image's pinhole camera (nuScenes images are undistorted) with ``T_world_cam`` at its time."""
        record = self.cs_rows[int(self.sd_cs[row])]
        where = f"{self.table_path('calibrated_sensor')}: record {record['token']}"
        K = np.asarray(record["camera_intrinsic"] or np.zeros((0,)), dtype=np.float64)
        if K.shape != (3, 3):
            raise SourceError(f"{where}: camera_intrinsic must be 3x3, got shape {K.shape}")
        width, height = (int(v) for v in self.sd_size[row])
        T_world_cam = self.T_world_sensor(row)
        try:
            return Camera(K=K, width=width, height=height, T_world_cam=T_world_cam)
        except (CameraError, GeometryError, ValueError) as exc:
            raise SourceError(f"{where} (image {self.filename(row)}, {width}x{height} in sample_data): {exc}") from None

    def T_world_sensor(self, row: int) -> np.ndarray:
        """(4, 4) sensor -> global at the sample_data's time: T_global_ego(t) @ T_ego_sensor."""
        return self._T_world_ego(row) @ self._T_ego_sensor(int(self.sd_cs[row]))

    def _T_ego_sensor(self, cs: int) -> np.ndarray:
        record = self.cs_rows[cs]
        return _pose(record.get("rotation"), record.get("translation"),
                     f"{self.table_path('calibrated_sensor')}: record {record['token']}")

    def _T_world_ego(self, row: int) -> np.ndarray:
        ego = self._ego_table()
        key = self.sd_ego_token[row]
        i = int(np.searchsorted(ego["tokens"], key))
        if i >= len(ego["tokens"]) or ego["tokens"][i] != key:
            raise SourceError(f"{self.table_path('ego_pose')}: no record {key.decode()!r} "
                              f"(named by sample_data {self.tokens([row])[0]})")
        j = int(ego["order"][i])
        return _pose(ego["rotation"][j], ego["translation"][j], f"{self.table_path('ego_pose')}: record {key.decode()}")

    def _ego_table(self) -> dict:
        if self._ego is None:
            table = self._read("ego_pose")
            tokens = _fixed_width(table.column("token"))
            order = np.argsort(tokens, kind="stable")
            self._ego = {"tokens": tokens[order], "order": order,
                         "rotation": _vectors(table.column("rotation"), 4, self.table_path("ego_pose"), "rotation"),
                         "translation": _vectors(table.column("translation"), 3, self.table_path("ego_pose"),
                                                 "translation")}
        return self._ego

    def lidar_rows_for(self, camera_row: int, count: int) -> list[int]:
        """LIDAR_TOP rows for an image: the sample's keyframe (or the nearest in time), then earlier ones."""
        scene = self.sd_scene[camera_row]
        lo, hi = np.searchsorted(self.lidar_scene, [scene, scene + 1])
        if hi == lo:
            raise SourceError(f"{self.table_path('sample_data')}: no {LIDAR_CHANNEL} data in scene "
                              f"{self.scene_names[scene]}")
        times = self.sd_time[self.lidar[lo:hi]]
        keyframe = self.sample_lidar[self.sd_sample[camera_row]] if self.sd_key[camera_row] else -1
        if keyframe >= 0:
            i = lo + int(np.flatnonzero(self.lidar[lo:hi] == keyframe)[0])
        else:
            j = int(np.searchsorted(times, self.sd_time[camera_row]))
            near = [k for k in (j - 1, j) if 0 <= k < hi - lo]
            i = lo + min(near, key=lambda k: abs(int(times[k]) - int(self.sd_time[camera_row])))
        return [int(r) for r in self.lidar[max(lo, i - count + 1): i + 1][::-1]]


def _pose(rotation, translation, where: str) -> np.ndarray:
    q = np.asarray(rotation if rotation is not None else [], dtype=np.float64)
    t = np.asarray(translation if translation is not None else [], dtype=np.float64)
    if q.shape != (4,) or t.shape != (3,) or not (np.all(np.isfinite(q)) and np.all(np.isfinite(t))):
        raise SourceError(f"{where}: rotation must be 4 numbers (w, x, y, z) and translation 3, got {q.tolist()} "
                          f"and {t.tolist()}")
    if not 0.9 < np.linalg.norm(q) < 1.1:
        raise SourceError(f"{where}: rotation {q.tolist()} is not a unit quaternion")
    return pose_from_quaternion(q, t, order=QUATERNION_ORDER)


def _vectors(column, size: int, path: Path, name: str) -> np.ndarray:
    """A list<double> column of equal-length lists as (N, size) float64; NaN rows where malformed."""
    import pyarrow.compute as pc

    column = column.combine_chunks()
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    out = np.full((len(column), size), np.nan)
    good = lengths == size
    if good.all():
        out[:] = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, size)
    elif good.any():
        out[good] = column.filter(good).flatten().to_numpy(zero_copy_only=False).reshape(-1, size)
    return out


def _column(rows: list[dict], key: str):
    import pyarrow as pa

    return pa.array([row[key] for row in rows], type=pa.string())


def _lookup(values, keys, path: Path, field: str) -> np.ndarray:
    """(N,) int64 index into ``keys`` of each of ``values`` (both Arrow string columns)."""
    import pyarrow.compute as pc

    index = pc.index_in(values, value_set=keys.combine_chunks() if hasattr(keys, "combine_chunks") else keys)
    missing = index.null_count
    if missing:
        first = values.filter(pc.is_null(index))[0]
        raise SourceError(f"{path}: {missing} records name a {field} that does not exist (first: {first})")
    return index.to_numpy(zero_copy_only=False).astype(np.int64)


def _fixed_width(column) -> np.ndarray:
    """An Arrow string column of equal-length ASCII tokens as a numpy bytes array, without Python strings."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    array = array.cast(pa.string())
    _, offsets, data = array.buffers()[:3]
    offsets = np.frombuffer(offsets, dtype=np.int32)[array.offset: array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    width = int(lengths.max()) if len(lengths) else 1
    if len(lengths) and np.all(lengths == width) and array.null_count == 0:
        raw = np.frombuffer(data, dtype=np.uint8)[offsets[0]: offsets[-1]]
        return raw.view(f"S{width}").copy()
    return np.array([s.encode() for s in array.fill_null("").to_pylist()], dtype=f"S{max(width, 1)}")


def _scene_splits(version: str) -> dict[str, str]:
    """Scene name -> official split for this version (empty for a version the devkit does not split)."""
    data = json.loads(SPLITS_FILE.read_text(encoding="utf-8"))
    if version.endswith("mini"):
        names = {"train": "mini_train", "val": "mini_val"}
    elif version.endswith("test"):
        names = {"test": "test"}
    else:
        names = {"train": "train", "val": "val", "test": "test"}
    return {scene: split for split, key in names.items() for scene in data[key]}
