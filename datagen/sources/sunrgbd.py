"""SUN RGB-D: ``SUNRGBD/<sensor>/.../<scene>/`` folders and the toolbox's ``allsplit.mat``.

The facts this source relies on (docs/sources/sunrgbd.md cites each, from the
SUNRGBDtoolbox: ``readframeSUNRGBD.m``, ``read3dPoints.m``, ``read_3d_pts_general.m``):

* A scene folder holds ``image/<name>.jpg``, ``depth/<name>.png`` (raw) and, for some
  sensors, ``depth_bfx/<name>.png`` (the refined depth, holes filled from other frames),
  ``intrinsics.txt`` (the 3x3 K, row by row) and ``extrinsics/<timestamp>.txt`` (the
  gravity alignment; the toolbox takes the last file by name). Four sensors: ``kv1``
  (Kinect v1: NYUdata, b3dodata), ``kv2`` (Kinect v2), ``realsense``, ``xtion``; the depth
  is registered to the image, at its size.
* Depth PNG: 16 bits rotated right by 3, in millimetres:
  ``depth = bitor(bitshift(d, -3), bitshift(d, 16 - 3)) / 1000``; 0 = no depth; the
  toolbox clamps at 8 m, so larger values give no label (``max_depth_m``).
* Optical-axis depth at MATLAB's 1-based pixels: ``x3 = (x - cx) * z / fx`` with
  ``[x, y] = meshgrid(1:W, 1:H)``. So the 0-based principal point is the file's minus 1.
* Gravity: ``Rtilt = A * E * A'`` with ``A = [1 0 0; 0 0 1; 0 -1 0]`` and E the
  extrinsics file's 3x3; the toolbox's points are ``Rtilt * [x3, z3, -y3]`` = ``A E p_cv``
  (x right, y forward, z up). That rotation is each frame's ``T_world_cam`` (no
  translation: every image is its own world; there are no poses between frames).
* Official split: ``allsplit.mat``'s ``alltrain`` / ``alltest`` (and ``trainvalsplit``
  dividing alltrain into train and val): cells of scene folders as absolute paths on the
  authors' machine (``/n/fs/sun3d/data/SUNRGBD/kv1/NYUdata/NYU0001``), matched here by
  the part after ``SUNRGBD/``.

Ids: ``sunrgbd/<scene path below SUNRGBD>`` (``sunrgbd/kv1/NYUdata/NYU0001``); the
sequence is that scene folder, the camera the sensor (``--cameras kv2,realsense``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import CameraError, SourceError
from datagen.geometry.se3 import make_transform
from datagen.sources import register
from datagen.sources._io import image_size, parse_numbers, read_depth_png, read_text, require_dir
from datagen.sources._matlab import cell_strings, read_v5, struct_field
from datagen.sources._tables import check_choice, check_flag, check_number, check_root
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "sunrgbd"
DATA_FOLDER = "SUNRGBD"
SENSORS = ("kv1", "kv2", "realsense", "xtion")
LAYOUT = "SUN RGB-D layout: SUNRGBD/<sensor>/.../<scene>/{image/*.jpg, depth/*.png, intrinsics.txt, extrinsics/*.txt}"
#: Where the toolbox keeps the official split, relative to the folder holding SUNRGBD/.
SPLIT_FILE = Path("SUNRGBDtoolbox") / "traintestSUNRGBD" / "allsplit.mat"
SPLIT_VARIABLES = {"alltrain": "train", "alltest": "test"}
#: source option ``depth`` -> folder of the scene.
DEPTH_FOLDERS = {"raw": "depth", "refined": "depth_bfx"}
#: read3dPoints.m: the 16-bit value rotated right by 3 bits is depth in millimetres.
DEPTH_ROTATE_BITS = 3
MM_PER_M = 1000.0
#: read3dPoints.m clamps depth at 8 m.
MAX_DEPTH_M = 8.0
#: read_3d_pts_general.m indexes pixels from 1 (meshgrid(1:W, 1:H)): cx, cy of intrinsics.txt minus this.
MATLAB_FIRST_PIXEL = 1.0
#: readframeSUNRGBD.m's A: camera axes (x right, y down, z forward) -> the toolbox's (x right, y forward, z up).
R_TOOLBOX_FROM_CV = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@register(NAME)
class SUNRGBDSource(Source):
    """SUN RGB-D's 10,335 scene folders, one frame each, from all four sensors."""

    @dataclass(frozen=True)
    class Config:
        """Options of the sunrgbd source.

        Attributes:
            root: the folder holding ``SUNRGBD/`` (and ``SUNRGBDtoolbox/``), or ``SUNRGBD/`` itself.
            depth: "raw" (``depth/``, the sensor's; default) or "refined" (``depth_bfx/``).
            official_splits: label frames with ``allsplit.mat``'s split; False: the build splits by scene.
            split_file: ``allsplit.mat``'s path (relative to root, or absolute); None: found at
                ``SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat`` beside or above ``SUNRGBD/``.
            val_split: use ``trainvalsplit`` to cut the official train set into train and val.
            max_depth_m: depths above this give no label (the toolbox clamps at 8 m).
        """

        root: Path | None = None
        depth: str = "raw"
        official_splits: bool = True
        split_file: str | None = None
        val_split: bool = False
        max_depth_m: float = MAX_DEPTH_M

        def __post_init__(self) -> None:
            check_root(self, NAME, f"the folder holding {DATA_FOLDER}/")
            check_choice(NAME, "depth", self.depth, DEPTH_FOLDERS)
            check_flag(NAME, "official_splits", self.official_splits)
            check_flag(NAME, "val_split", self.val_split)
            check_number(NAME, "max_depth_m", self.max_depth_m, 0.0, unit="metres")

    def __init__(self, config: "SUNRGBDSource.Config | None" = None) -> None:
        super().__init__(config)
        self._data: Path | None = None
        self._scenes: list[str] | None = None
        self._split_of: dict[str, str] | None = None

    @property
    def data_root(self) -> Path:
        """The ``SUNRGBD/`` folder."""
        if self._data is None:
            self._data = _find_data_root(self.config.root)
        return self._data

    def frame_table(self) -> FrameTable:
        scenes = self._scene_paths()
        splits = None
        if self.config.official_splits:
            split_of = self._splits()
            splits = np.array([split_of.get(scene, "") for scene in scenes], dtype=object)
            if (splits == "").any():
                log.warning("%s: %d scene folders are in no official split", self.data_root, int((splits == "").sum()))
        return FrameTable(np.array([f"{NAME}/{scene}" for scene in scenes], dtype=object),
                          sequence=np.array(scenes, dtype=object),
                          camera=np.array([scene.split("/", 1)[0] for scene in scenes], dtype=object), split=splits)

    def load_frame(self, frame_id: str) -> Frame:
        scene = frame_id[len(NAME) + 1:] if frame_id.startswith(f"{NAME}/") else ""
        folder = self.data_root / scene
        if not scene or scene.split("/", 1)[0] not in SENSORS or ".." in scene.split("/"):
            raise SourceError(f"{self.data_root}: no frame {frame_id!r} (expected {NAME}/<sensor>/.../<scene>)")
        require_dir(folder, LAYOUT)
        image_path = _first(folder / "image", "*.jpg")
        width, height = image_size(image_path, LAYOUT)
        camera = _camera(folder / "intrinsics.txt", width, height).replace(T_world_cam=_gravity(folder))
        depth_path = _first(folder / DEPTH_FOLDERS[self.config.depth], "*.png")
        split = self._splits().get(scene, "") if self.config.official_splits else ""
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=image_path,
                     depth_m=self._depth(depth_path, width, height), depth_kind="z", sequence=scene,
                     split=split or None,
                     meta={"sensor": scene.split("/", 1)[0], "depth": str(depth_path), "depth_from": "depth_map"})

    def _scene_paths(self) -> list[str]:
        if self._scenes is None:
            self._scenes = find_scenes(self.data_root)
            if not self._scenes:
                raise SourceError(f"{self.data_root}: no scene folder with intrinsics.txt ({LAYOUT})")
        return self._scenes

    def _splits(self) -> dict[str, str]:
        if self._split_of is None:
            path = self._split_path()
            self._split_of = read_split_file(path, self.config.val_split)
        return self._split_of

    def _split_path(self) -> Path:
        if self.config.split_file is not None:
            path = Path(self.config.split_file)
            return path if path.is_absolute() else self.config.root / path
        candidates = [self.data_root.parent / SPLIT_FILE, self.data_root / SPLIT_FILE]
        found = [path for path in candidates if path.is_file()]
        if not found:
            raise SourceError(f"{candidates[0]}: missing (SUN RGB-D toolbox split; give its path with the "
                              f"split_file option, or set official_splits to false)")
        return found[0]

    def _depth(self, path: Path, width: int, height: int) -> np.ndarray:
        """(H, W) float64 metres; NaN where there is no depth or it is beyond ``max_depth_m``."""
        depth = decode_depth(read_depth_png(path, LAYOUT, (width, height)))  # registered to the image
        return np.where((depth > 0) & (depth <= self.config.max_depth_m), depth, np.nan)


def decode_depth(stored: np.ndarray) -> np.ndarray:
    """Depth in metres from a SUN RGB-D depth PNG's uint16 values (rotated right by 3 bits, mm)."""
    stored = stored.astype(np.uint16)
    millimetres = (stored >> DEPTH_ROTATE_BITS) | (stored << (16 - DEPTH_ROTATE_BITS))  # uint16: wraps
    return millimetres.astype(np.float64) / MM_PER_M


def _find_data_root(root: Path) -> Path:
    """``root/SUNRGBD`` if it exists, else ``root`` itself if it holds a sensor folder."""
    if (root / DATA_FOLDER).is_dir():
        return root / DATA_FOLDER
    if any((root / sensor).is_dir() for sensor in SENSORS):
        return root
    raise SourceError(f"{root}: neither {DATA_FOLDER}/ nor a sensor folder ({', '.join(SENSORS)}) ({LAYOUT})")


def find_scenes(data_root: Path) -> list[str]:
    """Scene folders (those holding ``intrinsics.txt``) below each sensor folder, as sorted posix paths."""
    scenes: list[str] = []
    for sensor in SENSORS:
        stack = [data_root / sensor] if (data_root / sensor).is_dir() else []
        while stack:
            folder = stack.pop()
            if (folder / "intrinsics.txt").is_file():
                scenes.append(folder.relative_to(data_root).as_posix())
                continue
            with os.scandir(folder) as entries:
                stack.extend(Path(entry.path) for entry in entries if entry.is_dir())
    return sorted(scenes)


def _files(folder: Path, pattern: str) -> list[Path]:
    """The files matching ``pattern`` in ``folder``, sorted by name as the toolbox lists them."""
    found = sorted(folder.glob(pattern)) if folder.is_dir() else []
    if not found:
        raise SourceError(f"{folder}: no {pattern} file ({LAYOUT})")
    return found


def _first(folder: Path, pattern: str) -> Path:
    return _files(folder, pattern)[0]


def _camera(path: Path, width: int, height: int) -> Camera:
    """Pinhole camera from ``intrinsics.txt`` (3x3 K, row by row, 1-based principal point)."""
    K = parse_numbers(read_text(path, LAYOUT), 9, str(path), "the 3x3 intrinsic matrix").reshape(3, 3)
    if not np.allclose(K[[1, 2, 2], [0, 0, 1]], 0.0) or K[2, 2] != 1.0:
        raise SourceError(f"{path}: expected K = [fx s cx; 0 fy cy; 0 0 1], got {K.tolist()}")
    K[:2, 2] -= MATLAB_FIRST_PIXEL
    try:
        return Camera(K=K, width=width, height=height)
    except CameraError as exc:
        raise SourceError(f"{path}: bad intrinsics ({exc})") from None


def _gravity(folder: Path) -> np.ndarray:
    """(4, 4) T_world_cam: the rotation into the toolbox's gravity-aligned frame (z up), no translation."""
    path = _files(folder / "extrinsics", "*.txt")[-1]  # the toolbox takes the last by name
    values = parse_numbers(read_text(path, LAYOUT), None, str(path), "the extrinsics (3x3 or 3x4)")
    if len(values) not in (9, 12):
        raise SourceError(f"{path}: expected 9 or 12 numbers (a 3x3 or 3x4 matrix), got {len(values)}")
    tilt = values.reshape(3, -1)[:, :3]
    u, s, vt = np.linalg.svd(tilt)
    if np.abs(s - 1.0).max() > 1e-3 or np.linalg.det(tilt) <= 0:
        raise SourceError(f"{path}: the 3x3 part is not a rotation (singular values {s.round(4).tolist()})")
    return make_transform(R_TOOLBOX_FROM_CV @ (u @ vt), np.zeros(3))  # u @ vt: the nearest exact rotation


def read_split_file(path: Path, val_split: bool) -> dict[str, str]:
    """{scene path below SUNRGBD/: split} from ``allsplit.mat``."""
    layout = "SUN RGB-D toolbox allsplit.mat: alltrain, alltest (cells of scene paths), trainvalsplit"
    variables = read_v5(path, layout, tuple(SPLIT_VARIABLES) + (("trainvalsplit",) if val_split else ()))
    split_of: dict[str, str] = {}
    for variable, split in SPLIT_VARIABLES.items():
        for entry in cell_strings(variables[variable], f"{path}: {variable}"):
            split_of[_scene_key(entry, path)] = split
    if val_split:
        for entry in cell_strings(struct_field(variables["trainvalsplit"], "val", f"{path}: trainvalsplit"),
                                  f"{path}: trainvalsplit.val"):
            split_of[_scene_key(entry, path)] = "val"
    return split_of


def _scene_key(entry: str, path: Path) -> str:
    """``/n/fs/sun3d/data/SUNRGBD/kv1/NYUdata/NYU0001/`` -> ``kv1/NYUdata/NYU0001``."""
    parts = [part for part in entry.replace("\\", "/").split("/") if part]
    if DATA_FOLDER not in parts:
        raise SourceError(f"{path}: split entry {entry!r} has no {DATA_FOLDER}/ in its path")
    last = len(parts) - 1 - parts[::-1].index(DATA_FOLDER)
    return "/".join(parts[last + 1:])
