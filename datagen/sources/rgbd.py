"""Any folder of images and depth maps: the source a user points at their own RGB-D data.

Files are found by two path patterns relative to ``root`` (docs/sources/rgbd.md has recipes):

* ``images`` (default ``rgb/{id}.*``) and ``depth`` (default ``depth/{id}.*``). ``{id}``
  stands for the part of the name that pairs an image with its depth map; ``{seq}`` (one or
  more folders) names the sequence, ``{split}`` a folder whose name is the split (train,
  training, val, valid, validation, test); ``*`` matches any characters within a name.
* Pairing rule: an image and a depth map pair when their ``{seq}``, ``{split}`` and ``{id}``
  are equal. An image with no depth map, or a key that two files claim, is a SourceError
  listing the first few (``missing_depth: skip`` leaves images without depth out instead).

Depth files: 16-bit or 8-bit PNG/TIFF (integer values / ``depth_scale``), NPY, 32-bit float
TIFF, PFM and EXR (needs ``pip install 'datagen[exr]'``); float files are metres unless
``depth_scale`` says otherwise. ``invalid_depth`` lists stored values that mean "no data"
(NaN and inf always do). ``depth_kind`` says whether the maps hold z or range.

Intrinsics (``intrinsics``): an inline ``[fx, fy, cx, cy]`` or 3x3, one file for all frames,
or a per-frame pattern with ``{id}``; a file is JSON (``fx fy cx cy``, or ``K``/``cam_in``/
``intrinsics``, optional ``width``/``height``) or text (4, 9 or 16 numbers: fx fy cx cy, a 3x3
K, or a 4x4 with K top-left). Pixel centres are integers (OpenCV). A depth map of another
camera (other size or viewpoint) needs ``depth_intrinsics`` (same forms, or "scaled": the
colour intrinsics scaled to the depth map's size) and optionally ``T_color_depth``; it is then
back-projected and reprojected into the image with a z-buffer, never resized.

Poses (``poses``, optional): a TUM-format file (``timestamp tx ty tz qx qy qz qw``; a frame,
whose ``{id}`` must then be a timestamp, takes the nearest pose within
``max_time_difference_s``) or a per-frame pattern of 4x4 (or 3x4) matrices; ``pose_type`` camera_to_world or world_to_camera; ``pose_axes`` opencv or opengl.

Frame ids: ``rgbd/<image path relative to root>``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen._optional import require
from datagen.errors import CameraError, ConfigError, SourceError, raise_if_machine_fault
from datagen.geometry.se3 import T_CV_FROM_GL, invert
from datagen.sources import register
from datagen.sources._io import image_size, read_image_array, read_json, read_text
from datagen.sources._registration import DepthRegistration, decode_depth, registered_points, rigid_transform
from datagen.sources._tables import check_choice, check_number, check_root, check_split
from datagen.sources._timestamps import MAX_DIFFERENCE_S, read_trajectory
from datagen.sources.base import FrameTable, Source
from datagen.types import DEPTH_KINDS, Camera, Frame

log = logging.getLogger(__name__)

NAME = "rgbd"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEPTH_SUFFIXES = (".png", ".npy", ".exr", ".pfm", ".tif", ".tiff")
#: ``{id}`` takes as much as it can, ``{seq}`` and ``*`` as little: ``{id}.*`` splits "1305.79.png" at
#: the last dot, ``{seq}_image_{id}.png`` splits "drive_sync_image_05_image_02.png" at the first "_image_".
PLACEHOLDERS = {"id": r"(?P<id>[^/]+)", "seq": r"(?P<seq>[^/]+?(?:/[^/]+?)*?)", "split": r"(?P<split>[^/]+)"}
SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test", "testing": "test"}
POSE_TYPES = ("camera_to_world", "world_to_camera")
POSE_AXES = ("opencv", "opengl")
LENS_MODELS = ("pinhole", "radtan", "fisheye")
MISSING_DEPTH = ("error", "skip")
TRAJECTORY_LAYOUT = "TUM trajectory: timestamp tx ty tz qx qy qz qw"
_TOKEN = re.compile(r"(\{id\}|\{seq\}|\{split\}|\*)")
_JSON_K_KEYS = ("K", "camera_matrix", "intrinsic_matrix")
_JSON_VECTOR_KEYS = ("intrinsics", "cam_in", "fxfycxcy")


@dataclass(frozen=True)
class PathPattern:
    """A path pattern relative to the root, with ``{id}``, ``{seq}``, ``{split}`` and ``*``."""

    text: str
    option: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text or self.text.startswith("/") or ".." in self.text:
            raise ConfigError(f"rgbd source: {self.option} must be a path pattern relative to root, got {self.text!r}")
        names = re.findall(r"\{(\w+)\}", self.text)
        unknown = sorted(set(names) - set(PLACEHOLDERS))
        if unknown or any(names.count(n) > 1 for n in names):
            raise ConfigError(f"rgbd source: {self.option} {self.text!r} may use {{id}}, {{seq}} and {{split}} "
                              f"once each; got {names}")

    @property
    def keys(self) -> set:
        return set(re.findall(r"\{(\w+)\}", self.text))

    def regex(self) -> re.Pattern:
        parts = [PLACEHOLDERS[t[1:-1]] if t.startswith("{") else "[^/]*?" if t == "*" else re.escape(t)
                 for t in _TOKEN.split(self.text) if t]
        return re.compile("".join(parts))

    def base(self) -> str:
        """The fixed folder the pattern starts in (before its first placeholder or wildcard)."""
        head = _TOKEN.split(self.text)[0]
        return head.rpartition("/")[0]

    def fill(self, key: dict) -> str:
        """The pattern with its placeholders replaced by ``key``'s values (``*`` kept)."""
        return re.sub(r"\{(\w+)\}", lambda m: key[m.group(1)], self.text)


@register(NAME)
class RGBDSource(Source):
    """Images paired with depth maps in a folder; see the module docstring and docs/sources/rgbd.md."""

    @dataclass(frozen=True)
    class Config:
        """Options of the rgbd source (see the module docstring for the forms each takes).

        Attributes:
            root: the dataset folder; every pattern and file name is relative to it.
            images, depth: path patterns of the images and the depth maps.
            intrinsics: inline [fx, fy, cx, cy] or 3x3, a file, or a per-frame file pattern.
            distortion: lens coefficients of the images (``lens`` model); empty: none.
            lens: "pinhole", "radtan" (k1, k2, p1, p2[, k3]) or "fisheye" (k1..k4).
            depth_scale: stored depth units per metre (1000 for millimetres, 5000 TUM, 256 KITTI);
                required for integer depth files; float files default to 1 (metres).
            depth_kind: "z" (along the optical axis) or "range" (from the camera centre).
            invalid_depth: stored values that mean no data (NaN and inf always do).
            exr_channel: the EXR channel to read; None: the only one, else Z, depth, Y, R.
            depth_intrinsics: intrinsics of the depth camera when the depth map is not a label
                map of the image (same forms as ``intrinsics``, or "scaled").
            T_color_depth: 4x4 (16 numbers, row-major) or a file: depth camera -> image camera.
            poses: a TUM-format trajectory file, or a per-frame 4x4 pattern; None: no poses.
            pose_type: "camera_to_world" or "world_to_camera".
            pose_axes: "opencv" (x right, y down, z forward) or "opengl" (y up, z backward).
            max_time_difference_s: largest gap between a frame's {id} timestamp and its pose.
            sequence: sequence name of every frame when the pattern has no {seq}.
            split: split of every frame when the pattern has no {split}; None: by sequence.
            missing_depth: "error" or "skip" for images without a depth map.
        """

        root: Path | None = None
        images: str = "rgb/{id}.*"
        depth: str = "depth/{id}.*"
        intrinsics: object = None
        distortion: tuple = ()
        lens: str = "pinhole"
        depth_scale: float | None = None
        depth_kind: str = "z"
        invalid_depth: tuple = (0,)
        exr_channel: str | None = None
        depth_intrinsics: object = None
        T_color_depth: object = None
        poses: str | None = None
        pose_type: str = "camera_to_world"
        pose_axes: str = "opencv"
        max_time_difference_s: float = MAX_DIFFERENCE_S
        sequence: str | None = None
        split: str | None = None
        missing_depth: str = "error"

        def __post_init__(self) -> None:
            check_root(self, NAME, "the dataset folder")
            object.__setattr__(self, "images", PathPattern(self.images, "images"))
            object.__setattr__(self, "depth", PathPattern(self.depth, "depth"))
            for pattern in (self.images, self.depth):
                if "id" not in pattern.keys:
                    raise ConfigError(f"rgbd source: {pattern.option} {pattern.text!r} must contain {{id}}")
            if self.images.keys != self.depth.keys:
                raise ConfigError(f"rgbd source: images and depth must use the same placeholders, got "
                                  f"{sorted(self.images.keys)} and {sorted(self.depth.keys)}")
            if self.intrinsics is None:
                raise ConfigError("rgbd source: intrinsics is required ([fx, fy, cx, cy], a 3x3, a file, or a "
                                  "per-frame pattern with {id})")
            self._check_choices()
            self._check_numbers()

        def _check_choices(self) -> None:
            for name, allowed in (("depth_kind", DEPTH_KINDS), ("pose_type", POSE_TYPES), ("pose_axes", POSE_AXES),
                                  ("lens", LENS_MODELS), ("missing_depth", MISSING_DEPTH)):
                check_choice(NAME, name, getattr(self, name), allowed)
            check_split(NAME, self.split)
            if self.poses is not None:
                PathPattern(self.poses, "poses")

        def _check_numbers(self) -> None:
            if self.depth_scale is not None:
                check_number(NAME, "depth_scale", self.depth_scale, 0.0)  # stored units per metre
            values = self.invalid_depth if isinstance(self.invalid_depth, (list, tuple)) else [self.invalid_depth]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ConfigError(f"rgbd source: invalid_depth must be a list of numbers, got {self.invalid_depth!r}")
            object.__setattr__(self, "invalid_depth", tuple(values))
            check_number(NAME, "max_time_difference_s", self.max_time_difference_s, 0.0, 10.0, unit="seconds")

    def __init__(self, config: "RGBDSource.Config | None" = None) -> None:
        super().__init__(config)
        self._image_regex = self.config.images.regex()
        self._shared: dict = {}  # intrinsics files that hold every frame's (at most two: colour and depth)
        self._trajectory = None

    # --- listing ---------------------------------------------------------------------------

    def frame_table(self) -> FrameTable:
        images = self._list(self.config.images, IMAGE_SUFFIXES)
        depth = self._list(self.config.depth, DEPTH_SUFFIXES)
        missing = [path for key, path in images.items() if key not in depth]
        if missing and self.config.missing_depth == "error":
            raise SourceError(f"{self.config.root}: {len(missing)} image(s) without a depth map matching "
                              f"{self.config.depth.text!r}, e.g. {', '.join(missing[:3])} (an image and a depth map "
                              f"pair when their {{id}}{self._key_words()} are equal; set missing_depth: skip to "
                              f"leave them out)")
        unused = len(set(depth) - set(images))
        if unused:
            log.info("%s: %d depth map(s) without an image are not used", self.config.root, unused)
        rows = sorted((path, key) for key, path in images.items() if key in depth)
        if not rows:
            raise SourceError(f"{self.config.root}: no image matches {self.config.images.text!r} with a depth map "
                              f"matching {self.config.depth.text!r}")
        keys = [key for _, key in rows]
        return FrameTable(np.array([f"{NAME}/{path}" for path, _ in rows], dtype=object),
                          sequence=np.array([self._sequence(dict(k)) for k in keys], dtype=object),
                          split=self._split_column(keys))

    def _key_words(self) -> str:
        extra = sorted(self.config.images.keys - {"id"})
        return "".join(f", {{{k}}}" for k in extra)

    def _list(self, pattern: PathPattern, suffixes: tuple) -> dict:
        """key (sorted (name, value) pairs) -> path relative to root, of the files matching ``pattern``."""
        regex, found = pattern.regex(), {}
        base = self.config.root / pattern.base()
        if not base.is_dir():
            raise SourceError(f"{base}: not a folder (the {pattern.option} pattern {pattern.text!r} starts there)")
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                relative = (Path(folder) / name).relative_to(self.config.root).as_posix()
                match = regex.fullmatch(relative)
                if match is None or Path(name).suffix.lower() not in suffixes:
                    continue
                key = tuple(sorted(match.groupdict().items()))
                if key in found:
                    raise SourceError(f"{self.config.root}: {found[key]} and {relative} both match "
                                      f"{pattern.text!r} with the same {dict(key)}")
                found[key] = relative
        return found

    def _split_column(self, keys: list) -> np.ndarray | None:
        if "split" in self.config.images.keys:
            return np.array([split_word(dict(k)["split"], self.config.root) for k in keys], dtype=object)
        if self.config.split is not None:
            return np.array([self.config.split] * len(keys), dtype=object)
        return None

    def _sequence(self, key: dict) -> str:
        if "seq" in key:
            return key["seq"]
        if self.config.sequence is not None:
            return str(self.config.sequence)
        return self.config.root.name if self.config.poses is not None else ""

    # --- one frame -------------------------------------------------------------------------

    def load_frame(self, frame_id: str) -> Frame:
        relative, key = self._parse(frame_id)
        image_path = self.config.root / relative
        depth_path = self._depth_path(key)
        size = image_size(image_path, "rgbd images")
        camera = self._camera(key, size, image_path)
        depth = read_depth_file(depth_path, self.config)
        meta = {"image": relative, "depth": depth_path.relative_to(self.config.root).as_posix(),
                "depth_from": "depth_map", "pose_known": self.config.poses is not None}
        split = split_word(key["split"], self.config.root) if "split" in key else self.config.split
        common = dict(frame_id=frame_id, source=NAME, camera=camera, image_path=image_path,
                      sequence=self._sequence(key), split=split)
        registration = self._registration(key, camera, depth.shape, depth_path)
        if registration is None:
            if depth.shape != (camera.height, camera.width):
                raise SourceError(f"{depth_path}: depth map is {depth.shape[1]}x{depth.shape[0]} px, the image "
                                  f"{camera.width}x{camera.height}; give depth_intrinsics (\"scaled\" if it is the "
                                  f"same view at another resolution) rather than resizing")
            return Frame(**common, depth_m=depth, depth_kind=self.config.depth_kind, meta=meta)
        fields = registered_points(depth, registration, str(depth_path))
        return Frame(**common, points=fields["points"], T_cam_points=fields["T_cam_points"],
                     meta={**meta, **fields["meta"]})

    def _parse(self, frame_id: str) -> tuple[str, dict]:
        prefix, _, relative = frame_id.partition("/")
        match = self._image_regex.fullmatch(relative) if prefix == NAME else None
        if match is None:
            raise SourceError(f"{self.config.root}: frame id {frame_id!r} is not {NAME}/<image path matching "
                              f"{self.config.images.text!r}>")
        return relative, match.groupdict()

    def _depth_path(self, key: dict) -> Path:
        filled = self.config.depth.fill(key)
        if "*" not in filled:
            return self.config.root / filled
        folder, _, name = filled.rpartition("/")
        matches = sorted(p for p in (self.config.root / folder).glob(name) if p.suffix.lower() in DEPTH_SUFFIXES) \
            if "*" not in folder else sorted(self.config.root.glob(filled))
        if len(matches) != 1:
            found = ", ".join(p.name for p in matches[:3]) or "none"
            raise SourceError(f"{self.config.root / filled}: expected one depth map, found {found}")
        return matches[0]

    def _camera(self, key: dict, size: tuple[int, int], image_path: Path) -> Camera:
        K, stated_size, where = self._intrinsics(self.config.intrinsics, key, "intrinsics")
        if stated_size is not None and tuple(stated_size) != tuple(size):
            raise SourceError(f"{where}: intrinsics are for {stated_size[0]}x{stated_size[1]} but {image_path} is "
                              f"{size[0]}x{size[1]}")
        T_world_cam = self._pose(key)
        model = self.config.lens if len(self.config.distortion) else "pinhole"
        try:
            return Camera(K=K, width=size[0], height=size[1], model=model, dist=list(self.config.distortion),
                          T_world_cam=T_world_cam)
        except CameraError as exc:
            raise SourceError(f"{where}: {exc}") from None

    def _registration(self, key: dict, camera: Camera, shape: tuple, depth_path: Path) -> DepthRegistration | None:
        config = self.config
        if config.depth_intrinsics is None and config.T_color_depth is None:
            return None
        depth_size = (shape[1], shape[0])
        if config.depth_intrinsics in (None, "scaled"):
            K = scaled_intrinsics(camera.K, (camera.width, camera.height), depth_size)
            where = f"{depth_path} (scaled intrinsics)"
        else:
            K, _, where = self._intrinsics(config.depth_intrinsics, key, "depth_intrinsics")
        T = np.eye(4) if config.T_color_depth is None else self._matrix_option(config.T_color_depth, key)
        try:
            depth_camera = Camera(K=K, width=depth_size[0], height=depth_size[1])
            return DepthRegistration(depth_camera, rigid_transform(T, where, "T_color_depth"), config.depth_kind)
        except (CameraError, ValueError) as exc:
            raise SourceError(f"{where}: {exc}") from None

    # --- calibration and pose files --------------------------------------------------------

    def _intrinsics(self, option: object, key: dict, name: str) -> tuple[np.ndarray, tuple | None, str]:
        """(3, 3) K, the (width, height) the file states or None, and where it came from."""
        if isinstance(option, (list, tuple)):
            return intrinsic_matrix(np.asarray(option, dtype=np.float64), f"source option {name}"), None, \
                f"source option {name}"
        if not isinstance(option, str):
            raise ConfigError(f"rgbd source: {name} must be a list of numbers or a file name, got {option!r}")
        pattern = PathPattern(option, name)
        path = self.config.root / pattern.fill(key)
        if pattern.keys:  # a file per frame: read for this frame only
            return (*read_intrinsics_file(path), str(path))
        if path not in self._shared:
            self._shared[path] = read_intrinsics_file(path)
        return (*self._shared[path], str(path))

    def _matrix_option(self, option: object, key: dict) -> np.ndarray:
        if isinstance(option, (list, tuple)):
            values = np.asarray(option, dtype=np.float64).reshape(-1)
            where = "source option T_color_depth"
        else:
            path = self.config.root / PathPattern(str(option), "T_color_depth").fill(key)
            values, where = read_numbers_file(path), str(path)
        if values.size != 16:
            raise SourceError(f"{where}: T_color_depth must be 16 numbers (a 4x4, row-major), got {values.size}")
        return values.reshape(4, 4)

    def _pose(self, key: dict) -> np.ndarray:
        config = self.config
        if config.poses is None:
            return np.eye(4)
        pattern = PathPattern(config.poses, "poses")
        if pattern.keys:
            path = config.root / pattern.fill(key)
            values = read_numbers_file(path)
            if values.size not in (12, 16):
                raise SourceError(f"{path}: a pose must be 12 or 16 numbers (3x4 or 4x4, row-major), got {values.size}")
            matrix = np.vstack([values[:12].reshape(3, 4), [0.0, 0.0, 0.0, 1.0]])
            T = rigid_transform(matrix, str(path), "pose")
        else:
            T = self._trajectory_pose(config.root / config.poses, key)
        T = T if config.pose_type == "camera_to_world" else invert(T)
        return T @ T_CV_FROM_GL if config.pose_axes == "opengl" else T

    def _trajectory_pose(self, path: Path, key: dict) -> np.ndarray:
        """The pose of a TUM-format trajectory nearest in time to the frame's {id} timestamp."""
        if self._trajectory is None:
            self._trajectory = read_trajectory(path, TRAJECTORY_LAYOUT)
        try:
            time_s = float(key["id"])
        except ValueError:
            raise SourceError(f"{path}: a trajectory file needs image names that are timestamps ({{id}} of "
                              f"{self.config.images.text!r}), got {key['id']!r}") from None
        times_s, poses = self._trajectory
        nearest = int(np.argmin(np.abs(times_s - time_s))) if len(times_s) else -1
        if nearest < 0 or abs(times_s[nearest] - time_s) > self.config.max_time_difference_s:
            raise SourceError(f"{path}: no pose within {self.config.max_time_difference_s} s of {key['id']}")
        return poses[nearest]


# --- module helpers ----------------------------------------------------------------------------


def split_word(word: str, root: Path) -> str:
    if word.lower() not in SPLIT_WORDS:
        raise SourceError(f"{root}: folder {word!r} in the {{split}} place is not a split name "
                          f"({', '.join(SPLIT_WORDS)})")
    return SPLIT_WORDS[word.lower()]


def scaled_intrinsics(K: np.ndarray, size: tuple[int, int], new_size: tuple[int, int]) -> np.ndarray:
    """K of the same view resampled to ``new_size``: u' = (u + 0.5) * s - 0.5 per axis."""
    sx, sy = new_size[0] / size[0], new_size[1] / size[1]
    out = np.array(K, dtype=np.float64)
    out[0, 0], out[0, 1], out[0, 2] = K[0, 0] * sx, K[0, 1] * sx, (K[0, 2] + 0.5) * sx - 0.5
    out[1, 1], out[1, 2] = K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5
    return out


def intrinsic_matrix(values: np.ndarray, where: str) -> np.ndarray:
    """K from 4 numbers (fx fy cx cy), 9 (3x3 row-major) or 16 (4x4 with K top-left)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 4:
        fx, fy, cx, cy = values
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if values.size in (9, 16):
        side = int(round(values.size ** 0.5))
        return values.reshape(side, side)[:3, :3].copy()
    raise SourceError(f"{where}: intrinsics must be 4 numbers (fx fy cx cy), a 3x3 or a 4x4 matrix, "
                      f"got {values.size} numbers")


def read_numbers_file(path: Path) -> np.ndarray:
    """The numbers of a text file (whitespace or commas) or a JSON list, flattened."""
    if path.suffix.lower() == ".json":
        data = read_json(path, "rgbd calibration file")
        try:
            return np.asarray(data, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise SourceError(f"{path}: expected a JSON list of numbers") from None
    text = read_text(path, "rgbd calibration file").replace(",", " ").replace("[", " ").replace("]", " ")
    try:
        values = np.array([float(w) for w in text.split()], dtype=np.float64)
    except ValueError:
        raise SourceError(f"{path}: expected numbers, got {text.strip()[:80]!r}") from None
    if not np.all(np.isfinite(values)):
        raise SourceError(f"{path}: non-finite numbers in {text.strip()[:80]!r}")
    return values


def read_intrinsics_file(path: Path) -> tuple[np.ndarray, tuple | None]:
    """K and the (width, height) a file states (None if it does not): JSON or plain numbers."""
    if path.suffix.lower() != ".json":
        return intrinsic_matrix(read_numbers_file(path), str(path)), None
    data = read_json(path, "rgbd intrinsics file")
    if isinstance(data, list):
        return intrinsic_matrix(np.asarray(data, dtype=np.float64), str(path)), None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: expected a JSON object or list of intrinsics")
    try:
        if all(k in data for k in ("fx", "fy", "cx", "cy")):
            K = intrinsic_matrix(np.array([data[k] for k in ("fx", "fy", "cx", "cy")], dtype=np.float64), str(path))
        else:
            name = next((k for k in _JSON_K_KEYS + _JSON_VECTOR_KEYS if k in data), None)
            if name is None:
                raise SourceError(f"{path}: no intrinsics (expected fx, fy, cx, cy or one of "
                                  f"{list(_JSON_K_KEYS + _JSON_VECTOR_KEYS)})")
            K = intrinsic_matrix(np.asarray(data[name], dtype=np.float64), str(path))
        size = (int(data["width"]), int(data["height"])) if "width" in data and "height" in data else None
    except (TypeError, ValueError):
        raise SourceError(f"{path}: intrinsics must be numbers") from None
    return K, size


def read_depth_file(path: Path, config: "RGBDSource.Config") -> np.ndarray:
    """(H, W) float32 metres of a depth file of any supported format; 0 = no data."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        raw = _read_npy(path)
    elif suffix == ".exr":
        raw = _read_exr(path, config.exr_channel)
    elif suffix == ".pfm":
        raw = read_pfm(path)
    else:
        raw = read_image_array(path, "rgbd depth maps")
    integer = np.issubdtype(np.asarray(raw).dtype, np.integer)
    if integer and config.depth_scale is None:
        raise SourceError(f"{path}: integer depth ({np.asarray(raw).dtype}) needs the source option depth_scale "
                          f"(stored units per metre, e.g. 1000 for millimetres)")
    return decode_depth(raw, config.depth_scale or 1.0, config.invalid_depth, str(path))


def _read_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise SourceError(f"{path}: missing (rgbd depth maps)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise_if_machine_fault(exc)
        raise SourceError(f"{path}: not a readable .npy array ({exc})") from None


def _read_exr(path: Path, channel: str | None) -> np.ndarray:
    openexr = require("OpenEXR", "exr", package="openexr")
    if not path.is_file():
        raise SourceError(f"{path}: missing (rgbd depth maps)")
    try:
        with openexr.File(str(path)) as exr:
            channels = {name: c.pixels for name, c in exr.channels().items()}
    except Exception as exc:  # OpenEXR raises plain Exceptions for corrupt files
        raise_if_machine_fault(exc)
        raise SourceError(f"{path}: not a readable EXR file ({exc})") from None
    if channel is None:
        channel = next(iter(channels)) if len(channels) == 1 else \
            next((c for c in ("Z", "depth", "Y", "R") if c in channels), None)
    if channel not in channels:
        raise SourceError(f"{path}: EXR channel {channel!r} not found (has {sorted(channels)}); set exr_channel")
    return np.asarray(channels[channel])


def read_pfm(path: Path) -> np.ndarray:
    """A single-channel PFM image (``Pf``), rows top to bottom, as float32."""
    if not path.is_file():
        raise SourceError(f"{path}: missing (rgbd depth maps)")
    with path.open("rb") as handle:
        header = [handle.readline().strip() for _ in range(3)]
        payload = handle.read()
    try:
        width, height = (int(v) for v in header[1].split())
        scale = float(header[2])
    except (ValueError, IndexError):
        raise SourceError(f"{path}: not a PFM file (header {header})") from None
    if header[0] != b"Pf":
        raise SourceError(f"{path}: PFM type {header[0]!r}; a depth map must be single-channel 'Pf'")
    dtype = "<f4" if scale < 0 else ">f4"
    if len(payload) != width * height * 4:
        raise SourceError(f"{path}: PFM data of {len(payload)} bytes, expected {width}x{height} float32 (truncated?)")
    return np.flipud(np.frombuffer(payload, dtype=dtype).reshape(height, width)).astype(np.float32)
