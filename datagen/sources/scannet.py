"""ScanNet v2 (Dai et al. 2017): RGB-D scans of indoor scenes, iPad colour + Structure depth.

Two layouts, per scene (``format``):

* exported, as ScanNet's SensReader (``reader.py --export_*``) writes it::

      scene0000_00/color/<i>.jpg          1296x968 colour
                   depth/<i>.png          640x480 uint16, millimetres (depth shift 1000), 0 = none
                   pose/<i>.txt           4x4 camera-to-world; rows of -inf = pose unknown
                   intrinsic/intrinsic_color.txt  intrinsic_depth.txt  (4x4, K top-left)
                   intrinsic/extrinsic_color.txt  extrinsic_depth.txt  (4x4; missing = identity)

* raw: ``scene0000_00/scene0000_00.sens`` read directly (SensReader's format, version 4: a
  header with both calibrations, then per frame a camera-to-world pose, colour and depth
  timestamps in microseconds, a JPEG colour image and a zlib-compressed uint16 depth map).

``root`` is a ScanNet download (``scans/``, ``scans_test/``), a folder of scene folders, or
one scene. The official split lists ``scannetv2_{train,val,test}.txt`` are read from
``split_dir`` (default: ``root``). The depth map is not registered to the colour image:
each depth pixel is back-projected with the depth intrinsics, moved by
``T_color_depth = extrinsic_color^-1 @ extrinsic_depth`` (SensorData.h: an extrinsic maps a
camera to the rig's base frame, "typically depth to color; the color extrinsic is the
identity") and projected into the colour image by the pipeline's z-buffer.

Frame ids: ``scannet/<scene>/<frame index, 6 digits>``.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import CameraError, SourceError
from datagen.geometry.se3 import invert
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._io import decode_image, image_size, read_depth_png, read_text
from datagen.sources._registration import (DepthRegistration, decode_depth, read_matrix, registered_points,
                                           rigid_transform)
from datagen.sources._tables import FrameTableBuilder, check_choice, check_root, optional_paths
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "scannet"
LAYOUT_EXPORTED = ("ScanNet exported layout: <scene>/color/<i>.jpg, depth/<i>.png, pose/<i>.txt, "
                   "intrinsic/intrinsic_{color,depth}.txt")
LAYOUT_SENS = "ScanNet .sens (SensReader format, version 4): <scene>/<scene>.sens"
FORMATS = ("auto", "exported", "sens")
SENS_VERSION = 4
COLOR_COMPRESSION = {-1: "unknown", 0: "raw", 1: "png", 2: "jpeg"}
DEPTH_COMPRESSION = {-1: "unknown", 0: "raw_ushort", 1: "zlib_ushort", 2: "occi_ushort"}
#: The exporter writes the stored ushort; SensorData.h: depth shift "typically 1000.0f" (mm).
EXPORTED_DEPTH_UNITS_PER_M = 1000.0
DEPTH_NO_DATA = (0,)
DEPTH_KIND = "z"
SPLIT_FILES = {"train": "scannetv2_train.txt", "val": "scannetv2_val.txt", "test": "scannetv2_test.txt"}
SCAN_DIRS = ("scans", "scans_test")
#: Scenes whose calibration and .sens frame offsets a source instance keeps.
CACHED_SCENES = 4
_SCENE = re.compile(r"^scene\d{4}_\d{2}$")
_FRAME_HEADER = struct.Struct("<16f4Q")  # camera_to_world, timestamp colour/depth, colour/depth byte sizes
_CALIBRATION = struct.Struct("<64f")     # colour intrinsic, extrinsic, depth intrinsic, extrinsic (row-major)
_FORMAT = struct.Struct("<ii4If")        # compressions, colour w h, depth w h, depth shift


@dataclass(frozen=True, eq=False)
class SensHeader:
    """What a .sens file states before its frames.

    Attributes:
        path: the file.
        matrices: (4, 4, 4) colour intrinsic, colour extrinsic, depth intrinsic, depth extrinsic.
        color_compression, depth_compression: names from COLOR_COMPRESSION / DEPTH_COMPRESSION.
        color_size, depth_size: (width, height) in pixels.
        depth_shift: stored depth units per metre.
        num_frames: frames in the file.
        first_frame: byte offset of the first frame.
        file_size: bytes in the file.
    """

    path: Path
    matrices: np.ndarray
    color_compression: str
    depth_compression: str
    color_size: tuple
    depth_size: tuple
    depth_shift: float
    num_frames: int
    first_frame: int
    file_size: int


@dataclass(frozen=True, eq=False)
class SensFrame:
    """One frame of a .sens file, still compressed."""

    camera_to_world: np.ndarray
    time_color_us: int
    time_depth_us: int
    color: bytes
    depth: bytes


@dataclass(frozen=True, eq=False)
class _Scene:
    """A scene's calibration, whichever layout it came from."""

    folder: Path
    format: str
    color_K: np.ndarray
    depth_camera: Camera
    T_color_depth: np.ndarray
    T_base_color: np.ndarray
    header: SensHeader | None = None


@register(NAME)
class ScanNetSource(Source):
    """ScanNet scenes, exported or as .sens files; one frame per colour image."""

    @dataclass(frozen=True)
    class Config:
        """Options of the scannet source.

        Attributes:
            root: a ScanNet download (scans/, scans_test/), a folder of scenes, or one scene.
            format: "auto" (exported where a color/ folder exists, else the .sens file),
                "exported" or "sens".
            split_dir: folder of scannetv2_{train,val,test}.txt; None: ``root``.
        """

        root: Path | None = None
        format: str = "auto"
        split_dir: Path | None = None

        def __post_init__(self) -> None:
            check_root(self, NAME, "a ScanNet download or a scene folder")
            optional_paths(self, "split_dir")
            check_choice(NAME, "format", self.format, FORMATS)

    def __init__(self, config: "ScanNetSource.Config | None" = None) -> None:
        super().__init__(config)
        self._scenes: LruCache[_Scene] = LruCache(CACHED_SCENES)
        self._offsets: LruCache[list[int]] = LruCache(CACHED_SCENES)
        self._split_of_scene: dict[str, str] | None = None

    def frame_table(self) -> FrameTable:
        table, split_of = FrameTableBuilder(), self._splits()
        for folder in scene_folders(self.config.root):
            table.add_ids([f"{NAME}/{folder.name}/{i:06d}" for i in self._frame_indices(folder)], folder.name,
                          split_of.get(folder.name))
        return table.build()

    def load_frame(self, frame_id: str) -> Frame:
        name, index = self._parse(frame_id)
        scene = self._scene(name)
        if scene.format == "sens":
            image, image_path, depth_raw, pose, time_s, where = self._sens_frame(scene, index)
            depth_m, pose_where = decode_depth(depth_raw, scene.header.depth_shift, DEPTH_NO_DATA, where), where
        else:
            image, time_s = None, 0.0
            image_path, depth_m, pose, where, pose_where = _exported_frame(scene.folder, index)
        pose_known = bool(np.all(np.isfinite(pose)))
        T_world_base = rigid_transform(pose, pose_where, "camera-to-world pose") if pose_known else np.eye(4)
        size = (image.shape[1], image.shape[0]) if image is not None else image_size(image_path, LAYOUT_EXPORTED)
        camera = _camera(scene.color_K, size, T_world_base @ scene.T_base_color, scene.folder)
        registration = DepthRegistration(scene.depth_camera, scene.T_color_depth, DEPTH_KIND)
        fields = registered_points(depth_m, registration, where)
        split = self._splits().get(name)
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=image_path, image=image,
                     points=fields["points"], T_cam_points=fields["T_cam_points"], sequence=name,
                     timestamp_s=time_s, split=split,
                     meta={**fields["meta"], "format": scene.format, "frame": index, "pose_known": pose_known,
                           "depth_from": "depth_map"})

    # --- index ---------------------------------------------------------------------------

    def _frame_indices(self, folder: Path) -> list[int]:
        if self._format_of(folder) == "sens":
            return list(range(read_sens_header(_sens_path(folder)).num_frames))
        color = folder / "color"
        numbers = sorted(int(p.stem) for p in color.iterdir() if p.suffix == ".jpg" and p.stem.isdigit())
        if not numbers:
            raise SourceError(f"{color}: no <i>.jpg colour images ({LAYOUT_EXPORTED})")
        return numbers

    def _format_of(self, folder: Path) -> str:
        if self.config.format != "auto":
            return self.config.format
        if (folder / "color").is_dir():
            return "exported"
        if _sens_path(folder).is_file():
            return "sens"
        raise SourceError(f"{folder}: neither a color/ folder ({LAYOUT_EXPORTED}) nor {folder.name}.sens "
                          f"({LAYOUT_SENS})")

    def _splits(self) -> dict[str, str]:
        if self._split_of_scene is None:
            self._split_of_scene = read_split_lists(self.config.split_dir or self.config.root)
        return self._split_of_scene

    def _parse(self, frame_id: str) -> tuple[str, int]:
        parts = frame_id.split("/")
        if len(parts) != 3 or parts[0] != NAME or not _SCENE.match(parts[1]) or not parts[2].isdigit():
            raise SourceError(f"{self.config.root}: frame id {frame_id!r} is not {NAME}/sceneXXXX_XX/<index>")
        return parts[1], int(parts[2])

    # --- per scene -----------------------------------------------------------------------

    def _scene(self, name: str) -> _Scene:
        return self._scenes.get(name, lambda: self._read_scene(name))

    def _read_scene(self, name: str) -> _Scene:
        folder = find_scene(self.config.root, name)
        return _sens_scene(folder) if self._format_of(folder) == "sens" else _exported_scene(folder)

    def _sens_frame(self, scene: _Scene, index: int):
        header = scene.header
        if index >= header.num_frames:
            raise SourceError(f"{header.path}: frame {index} asked, the file holds {header.num_frames}")
        offsets = self._offsets.get(scene.folder.name, lambda: [header.first_frame])
        frame = read_sens_frame(header, frame_offset(header, offsets, index))
        where = f"{header.path} frame {index}"
        image = decode_color(frame.color, header, where)
        depth = decode_sens_depth(frame.depth, header, where)
        return image, None, depth, frame.camera_to_world.astype(np.float64), frame.time_color_us * 1e-6, where


def _sens_path(folder: Path) -> Path:
    return folder / f"{folder.name}.sens"


def scene_folders(root: Path) -> list[Path]:
    """Scene folders (sceneXXXX_XX) of ``root``: itself, its children, or those of scans/ and scans_test/."""
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder ({LAYOUT_EXPORTED}, or {LAYOUT_SENS})")
    if _SCENE.match(root.name):
        return [root]
    parents = [root] + [root / d for d in SCAN_DIRS if (root / d).is_dir()]
    found = sorted((p for parent in parents for p in parent.iterdir() if p.is_dir() and _SCENE.match(p.name)),
                   key=lambda p: p.name)
    if not found:
        raise SourceError(f"{root}: no sceneXXXX_XX folder here, in scans/ or in scans_test/")
    return found


def find_scene(root: Path, name: str) -> Path:
    """The folder of scene ``name`` under ``root`` (see ``scene_folders``)."""
    for folder in (root, root / name, *(root / d / name for d in SCAN_DIRS)):
        if folder.name == name and folder.is_dir():
            return folder
    raise SourceError(f"{root}: no folder for scene {name} (looked in ., scans/, scans_test/)")


def read_split_lists(folder: Path) -> dict[str, str]:
    """Scene id -> official split, from the scannetv2_*.txt lists found in ``folder``."""
    out: dict[str, str] = {}
    for split, name in SPLIT_FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        for number, line in enumerate(read_text(path, "ScanNet split list").splitlines(), start=1):
            scene = line.strip()
            if scene and not _SCENE.match(scene):
                raise SourceError(f"{path}:{number}: expected a scene id sceneXXXX_XX, got {scene[:40]!r}")
            if scene:
                out[scene] = split
    if not out:
        log.info("%s: no ScanNet split lists (%s); splits follow the build's ratios", folder,
                 ", ".join(SPLIT_FILES.values()))
    return out


# --- exported layout -----------------------------------------------------------------------


def _exported_scene(folder: Path) -> _Scene:
    """Calibration of an exported scene from its intrinsic/ folder."""
    intrinsic = folder / "intrinsic"
    color_K = _intrinsic_matrix(read_matrix(intrinsic / "intrinsic_color.txt", (4, 4), LAYOUT_EXPORTED),
                                intrinsic / "intrinsic_color.txt")
    depth_K = _intrinsic_matrix(read_matrix(intrinsic / "intrinsic_depth.txt", (4, 4), LAYOUT_EXPORTED),
                                intrinsic / "intrinsic_depth.txt")
    extrinsics = []
    for name in ("extrinsic_color.txt", "extrinsic_depth.txt"):
        path = intrinsic / name
        matrix = read_matrix(path, (4, 4), LAYOUT_EXPORTED) if path.is_file() else np.eye(4)
        extrinsics.append(rigid_transform(matrix, str(path), "extrinsic"))
    depth_size = _depth_size(folder)
    depth_camera = _camera(depth_K, depth_size, np.eye(4), intrinsic / "intrinsic_depth.txt")
    return _Scene(folder, "exported", color_K, depth_camera, invert(extrinsics[0]) @ extrinsics[1], extrinsics[0])


def _depth_size(folder: Path) -> tuple[int, int]:
    """(width, height) of the scene's depth maps, from the first one's header."""
    first = next((p for p in sorted((folder / "depth").glob("*.png"))), None)
    if first is None:
        raise SourceError(f"{folder / 'depth'}: no <i>.png depth maps ({LAYOUT_EXPORTED})")
    return image_size(first, LAYOUT_EXPORTED)


def _exported_frame(folder: Path, index: int) -> tuple[Path, np.ndarray, np.ndarray, str, str]:
    """Colour path, depth (metres), 4x4 pose (may hold -inf), the depth file and the pose file of one frame."""
    color = folder / "color" / f"{index}.jpg"
    depth_path = folder / "depth" / f"{index}.png"
    raw = read_depth_png(depth_path, LAYOUT_EXPORTED)
    depth = decode_depth(raw, EXPORTED_DEPTH_UNITS_PER_M, DEPTH_NO_DATA, str(depth_path))
    pose_path = folder / "pose" / f"{index}.txt"
    pose = read_matrix(pose_path, (4, 4), LAYOUT_EXPORTED)
    if not color.is_file():
        raise SourceError(f"{color}: missing ({LAYOUT_EXPORTED})")
    return color, depth, pose, str(depth_path), str(pose_path)


def _intrinsic_matrix(matrix: np.ndarray, path: Path) -> np.ndarray:
    """The 3x3 K of a ScanNet 4x4 intrinsic matrix."""
    K = matrix[:3, :3]
    if not np.all(np.isfinite(K)):
        raise SourceError(f"{path}: intrinsic matrix has non-finite values")
    return K


def _camera(K: np.ndarray, size: tuple[int, int], T_world_cam: np.ndarray, where: Path) -> Camera:
    try:
        return Camera(K=K, width=size[0], height=size[1], T_world_cam=T_world_cam)
    except CameraError as exc:
        raise SourceError(f"{where}: {exc}") from None


# --- .sens files ---------------------------------------------------------------------------


def _unpack(handle, fmt: struct.Struct, path: Path, what: str) -> tuple:
    data = handle.read(fmt.size)
    if len(data) != fmt.size:
        raise SourceError(f"{path}: truncated in the {what} ({LAYOUT_SENS})")
    return fmt.unpack(data)


def read_sens_header(path: Path) -> SensHeader:
    """Read a .sens file's header (SensorData.h ``loadFromFile`` up to the frame count)."""
    if not path.is_file():
        raise SourceError(f"{path}: missing ({LAYOUT_SENS})")
    with path.open("rb") as handle:
        (version,) = _unpack(handle, struct.Struct("<I"), path, "header")
        if version != SENS_VERSION:
            raise SourceError(f"{path}: .sens version {version}, expected {SENS_VERSION} ({LAYOUT_SENS})")
        (name_length,) = _unpack(handle, struct.Struct("<Q"), path, "header")
        if name_length > 1024:
            raise SourceError(f"{path}: sensor name of {name_length} bytes; not a .sens file ({LAYOUT_SENS})")
        handle.seek(name_length, io.SEEK_CUR)
        matrices = np.array(_unpack(handle, _CALIBRATION, path, "calibration"), dtype=np.float64).reshape(4, 4, 4)
        color_c, depth_c, cw, ch, dw, dh, shift = _unpack(handle, _FORMAT, path, "header")
        (num_frames,) = _unpack(handle, struct.Struct("<Q"), path, "header")
        first = handle.tell()
    if color_c not in COLOR_COMPRESSION or depth_c not in DEPTH_COMPRESSION or not shift > 0:
        raise SourceError(f"{path}: bad header (colour compression {color_c}, depth compression {depth_c}, "
                          f"depth shift {shift}) ({LAYOUT_SENS})")
    return SensHeader(path, matrices, COLOR_COMPRESSION[color_c], DEPTH_COMPRESSION[depth_c], (cw, ch), (dw, dh),
                      float(shift), int(num_frames), first, path.stat().st_size)


def frame_offset(header: SensHeader, offsets: list[int], index: int) -> int:
    """Byte offset of frame ``index``, walking frame headers from the last known offset.

    ``offsets`` (offset of frame k at position k) is extended in place, so a source walks each
    file once however its frames are asked for.
    """
    with header.path.open("rb") as handle:
        while len(offsets) <= index:
            handle.seek(offsets[-1])
            values = _unpack(handle, _FRAME_HEADER, header.path, f"header of frame {len(offsets) - 1}")
            offsets.append(offsets[-1] + _FRAME_HEADER.size + values[18] + values[19])
    if offsets[index] + _FRAME_HEADER.size > header.file_size:
        raise SourceError(f"{header.path}: truncated before frame {index} ({LAYOUT_SENS})")
    return offsets[index]


def read_sens_frame(header: SensHeader, offset: int) -> SensFrame:
    """The frame starting at byte ``offset``: pose, timestamps, compressed colour and depth."""
    with header.path.open("rb") as handle:
        handle.seek(offset)
        values = _unpack(handle, _FRAME_HEADER, header.path, "frame header")
        color_bytes, depth_bytes = values[18], values[19]
        if offset + _FRAME_HEADER.size + color_bytes + depth_bytes > header.file_size:
            raise SourceError(f"{header.path}: frame at byte {offset} runs past the end of the file "
                              f"(truncated) ({LAYOUT_SENS})")
        color = handle.read(color_bytes)
        depth = handle.read(depth_bytes)
    pose = np.array(values[:16], dtype=np.float32).reshape(4, 4)
    return SensFrame(pose, int(values[16]), int(values[17]), color, depth)


def _sens_scene(folder: Path) -> _Scene:
    header = read_sens_header(_sens_path(folder))
    color_i, color_e, depth_i, depth_e = header.matrices
    where = str(header.path)
    T_base_color = rigid_transform(color_e, where, "colour extrinsic")
    T_base_depth = rigid_transform(depth_e, where, "depth extrinsic")
    depth_camera = _camera(_intrinsic_matrix(depth_i, header.path), header.depth_size, np.eye(4), header.path)
    _camera(_intrinsic_matrix(color_i, header.path), header.color_size, np.eye(4), header.path)
    return _Scene(folder, "sens", _intrinsic_matrix(color_i, header.path), depth_camera,
                  invert(T_base_color) @ T_base_depth, T_base_color, header)


def decode_color(data: bytes, header: SensHeader, where: str) -> np.ndarray:
    """(H, W, 3) uint8 colour of a frame (JPEG, PNG or raw RGB)."""
    width, height = header.color_size
    if header.color_compression == "raw":
        if len(data) != width * height * 3:
            raise SourceError(f"{where}: raw colour of {len(data)} bytes, expected {width * height * 3}")
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3).copy()
    if header.color_compression not in ("jpeg", "png"):
        raise SourceError(f"{where}: colour compression {header.color_compression!r} is not supported")
    array = decode_image(data, where, LAYOUT_SENS, f"{header.color_compression.upper()} colour image")
    if array.shape[:2] != (height, width):
        raise SourceError(f"{where}: colour image is {array.shape[1]}x{array.shape[0]}, header says {width}x{height}")
    return array


def decode_sens_depth(data: bytes, header: SensHeader, where: str) -> np.ndarray:
    """(H, W) uint16 stored depth of a frame (zlib-compressed or raw ushort, little-endian)."""
    width, height = header.depth_size
    if header.depth_compression == "zlib_ushort":
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise SourceError(f"{where}: depth does not decompress ({exc})") from None
    elif header.depth_compression != "raw_ushort":
        raise SourceError(f"{where}: depth compression {header.depth_compression!r} is not supported "
                          f"(zlib_ushort and raw_ushort are)")
    if len(data) != width * height * 2:
        raise SourceError(f"{where}: depth of {len(data)} bytes, expected {width}x{height} uint16")
    return np.frombuffer(data, dtype="<u2").reshape(height, width)
