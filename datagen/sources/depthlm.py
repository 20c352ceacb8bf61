"""DepthLM curated data (one JSONL line per image, plus its image folder) as a source.

The DepthLM release (facebookresearch/DepthLM_Official, ``examples/ibims1``) curates
every dataset into a folder of images and a JSONL file, one object per image::

    {"image": "rgb/corridor_01.png",                 # relative to the image folder
     "intrinsics": [fx, fy, cx, cy, width, height],  # pixels, of that image
     "pixel_coords": [[u, v], ...],                   # integer (column, row), origin top-left
     "depth": [d, ...]}                                # metres, one per pixel

Its loader opens ``os.path.join(image_folder, image.lstrip("/"))``, treats a pixel of
``[-1, -1]`` as "no label" and a focal length of 0 as equal to the other one; so do we.

Each line is checked on its own: a line that breaks the format (bad JSON, a number too
large for a float, a focal length or principal point no camera has, an image that is
missing, unreadable or a decompression bomb) is a SourceError naming ``file:line``,
which a build skips and counts (``--strict`` stops). An image path must stay below the
image folder: ``..`` is refused without touching the file system, and a symbolic link
that leads outside the folder is refused unless ``follow_symlinks`` is set (for datasets
kept as symlink farms).

Depth kind. The format does not say whether ``depth`` is z (along the optical axis) or
range (Euclidean), and the release mixes them. The iBims-1 example holds z: read as z,
the labels of 97 of its 100 images put more points on planes (within 1 cm, RANSAC) than
read as range, where its off-axis labels would come up to 20 % too near; its SOURCE.md
says z as well. So ``depth_kind`` defaults to "z"; set "range" for a file curated as
Euclidean distance.

Each labelled pixel becomes ground truth twice, in the frame's own image: a sparse depth
map (``depth_m``, NaN where unlabelled, float64 so the label keeps every digit), which
the default ``ground_truth: auto`` uses, so each label stays on its pixel with no
see-through filter (these labels come from depth maps and are visible by construction);
and ``points`` (N, 3) in the camera frame with ``T_cam_points`` = identity, back-projected
at each pixel centre, for ``ground_truth: lidar``. Both project back onto the input pixel.

Ids, sequences and splits:

* frame id ``depthlm/<jsonl stem>/<line index:06d>`` (0-based physical line; blank lines
  are skipped, errors name the 1-based line as editors show it);
* sequence (``sequence_from``): "name" (default) takes the scene from the image file name
  when its stem is a name followed by a frame number (``rgb/corridor_01.png`` ->
  ``rgb/corridor``), else one sequence per image; "folder" uses the image's folder;
  "image" makes one sequence per image. Splits and frame pairs never cross a sequence;
* split: ``split`` if set, else the JSONL name when a word of it names one
  (``ibims1_val.jsonl`` -> val; train/training, val/valid/validation, test), else None
  (the build's split ratios decide).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from datagen.errors import CameraError, SourceError, is_machine_fault
from datagen.sources import register
from datagen.sources._tables import check_choice, check_count, check_flag, check_root, check_split, optional_paths
from datagen.sources.base import Source
from datagen.types import DEPTH_KINDS, Camera, Frame

log = logging.getLogger(__name__)

NAME = "depthlm"
REQUIRED_KEYS = ("image", "intrinsics", "pixel_coords", "depth")
SEQUENCE_FROM = ("name", "folder", "image")
NO_LABEL_PIXEL = (-1, -1)  # the release's marker of a pixel without a label
SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test"}
_SCENE_AND_NUMBER = re.compile(r"^(?P<scene>.*?[A-Za-z].*?)[_\-. ]*\d+$")
#: Widest horizontal or vertical field of view of a pinhole camera we accept, degrees.
MAX_FOV_DEG = 170.0
#: Farthest label, metres (no depth sensor or curated label reaches 10 km).
MAX_DEPTH_M = 10_000.0


@register(NAME)
class DepthLMSource(Source):
    """A DepthLM curated JSONL and its image folder; one frame per line."""


    @dataclass(frozen=True)
    class Config:
        """Options of the depthlm source.

        Attributes:
            root: folder holding the JSONL file.
            annotation: the JSONL file name in ``root``; None finds the single ``*.jsonl`` there.
            images: folder the lines' image paths are relative to; None: ``root``.
            depth_kind: what ``depth`` holds: "z" (optical axis; the iBims-1 example) or "range".
            sequence_from: "name", "folder" or "image" (see the module docstring).
            split: the split of every frame; None: from the JSONL name, if it says.
            limit: use only the first N lines that hold a record.
            follow_symlinks: accept an image reached through a symbolic link that leads outside
                ``images`` (``..`` in a path is refused always).
        """

        root: Path | None = None
        annotation: str | None = None
        images: Path | None = None
        depth_kind: str = "z"
        sequence_from: str = "name"
        split: str | None = None
        limit: int | None = None
        follow_symlinks: bool = False

        def __post_init__(self) -> None:
            check_root(self, NAME, "the folder holding the JSONL file")
            optional_paths(self, "images")
            check_choice(NAME, "depth_kind", self.depth_kind, DEPTH_KINDS)
            check_choice(NAME, "sequence_from", self.sequence_from, SEQUENCE_FROM)
            check_split(NAME, self.split)
            if self.limit is not None:
                check_count(NAME, "limit", self.limit)
            check_flag(NAME, "follow_symlinks", self.follow_symlinks)

    def __init__(self, config: "DepthLMSource.Config | None" = None) -> None:
        super().__init__(config)
        self._path: Path | None = None
        self._offsets: dict[int, int] | None = None

    @property
    def annotation_path(self) -> Path:
        """The JSONL file: ``root / annotation``, or the single ``*.jsonl`` in ``root``."""
        if self._path is None:
            self._path = _find_annotation(self.config.root, self.config.annotation)
        return self._path

    @property
    def image_root(self) -> Path:
        return self.config.images if self.config.images is not None else self.config.root

    def frame_ids(self) -> list[str]:
        """One id per non-blank line. Raises SourceError if the file holds no line at all."""
        stem = self.annotation_path.stem
        ids = [f"{NAME}/{stem}/{index:06d}" for index in self._line_offsets()]
        if not ids:
            raise SourceError(f"{self.annotation_path}: no records (the file is empty; expected one JSON object "
                              "per line in the DepthLM curated format)")
        return ids

    def load_frame(self, frame_id: str) -> Frame:
        index = self._line_index(frame_id)
        where = f"{self.annotation_path}:{index + 1}"
        entry = self._read_entry(index, where)
        camera = _camera(entry["intrinsics"], where)
        relpath, image_path = self._image_path(entry["image"], where)
        _check_image(image_path, camera, where)
        uv, depth = _labels(entry, camera, where)
        points, depth_map = _ground_truth(camera, uv, depth, self.config.depth_kind)
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=image_path, points=points,
                     depth_m=depth_map, depth_kind=self.config.depth_kind,
                     sequence=_sequence(relpath, self.config.sequence_from),
                     split=self.config.split or split_from_name(self.annotation_path.name),
                     meta={"annotation": str(self.annotation_path), "line": index + 1, "image": relpath,
                           "depth_from": "depth_map", "labels": len(depth)})

    def _image_path(self, image: object, where: str) -> tuple[str, Path]:
        """The line's image path relative to the image folder, and the file, kept below that folder.

        Raises:
            SourceError: not a path, ``..`` in it, or (unless ``follow_symlinks``) a symbolic link
                that leads outside the image folder.
        """
        if not isinstance(image, str) or not image.strip("/") or "\0" in image:
            raise SourceError(f"{where}: image must be a path relative to the image folder, got {str(image)[:80]!r}")
        relpath = image.lstrip("/")
        if ".." in PurePosixPath(relpath).parts:
            raise SourceError(f"{where}: image path {image!r} leaves the image folder ('..' is refused)")
        root = self.image_root
        path = root / relpath
        if not self.config.follow_symlinks:
            real_root = Path(os.path.realpath(root))
            real = Path(os.path.realpath(path))
            if real != real_root and real_root not in real.parents:
                raise SourceError(f"{where}: image {relpath!r} is a symbolic link to {real}, outside the image folder "
                                  f"{root} (pass follow_symlinks / --follow-symlinks to allow links)")
        return relpath, path

    def _line_offsets(self) -> dict[int, int]:
        """0-based line index -> byte offset of every non-blank line (the first ``limit``)."""
        if self._offsets is None:
            offsets: dict[int, int] = {}
            position = 0
            with self.annotation_path.open("rb") as handle:
                for index, line in enumerate(handle):
                    if line.strip():
                        offsets[index] = position
                        if self.config.limit is not None and len(offsets) >= self.config.limit:
                            break
                    position += len(line)
            self._offsets = offsets
        return self._offsets

    def _line_index(self, frame_id: str) -> int:
        prefix, _, number = frame_id.rpartition("/")
        if prefix != f"{NAME}/{self.annotation_path.stem}" or not number.isdigit() \
                or int(number) not in self._line_offsets():
            raise SourceError(f"{self.annotation_path}: no record for frame id {frame_id!r} "
                              f"(expected {NAME}/{self.annotation_path.stem}/<line index>)")
        return int(number)

    def _read_entry(self, index: int, where: str) -> dict:
        with self.annotation_path.open("rb") as handle:
            handle.seek(self._line_offsets()[index])
            line = handle.readline()
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, an integer past Python's digit limit
            raise SourceError(f"{where}: not a JSON object ({str(exc)[:200]})") from None
        if not isinstance(entry, dict):
            raise SourceError(f"{where}: expected a JSON object, got {type(entry).__name__}")
        missing = [key for key in REQUIRED_KEYS if key not in entry]
        if missing:
            raise SourceError(f"{where}: missing {missing} (DepthLM curated format: {list(REQUIRED_KEYS)})")
        return entry


def _find_annotation(root: Path, annotation: str | None) -> Path:
    """``root / annotation`` if given, else the only ``*.jsonl`` in ``root``."""
    if annotation is not None:
        path = root / annotation
        if not path.is_file():
            raise SourceError(f"{path}: DepthLM annotation file not found")
        return path
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder (expected the folder holding a DepthLM *.jsonl)")
    found = sorted(root.glob("*.jsonl"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise SourceError(f"{root}: expected exactly one *.jsonl (found {names}); name one with annotation")
    return found[0]


def split_from_name(file_name: str) -> str | None:
    """The split a file name states in one of its words (``ibims1_val.jsonl`` -> "val"), else None."""
    words = re.split(r"[^a-z]+", Path(file_name).stem.lower())
    found = {SPLIT_WORDS[word] for word in words if word in SPLIT_WORDS}
    return found.pop() if len(found) == 1 else None


def _sequence(relpath: str, sequence_from: str) -> str:
    """The sequence of an image, from its path relative to the image folder."""
    path = Path(relpath)
    folder = path.parent.as_posix()
    if sequence_from == "folder":
        return folder
    match = _SCENE_AND_NUMBER.match(path.stem) if sequence_from == "name" else None
    name = match.group("scene") if match else path.stem
    return name if folder == "." else f"{folder}/{name}"


def _number_list(value: object, length: int | None, what: str, where: str) -> np.ndarray:
    """A list of finite numbers (of ``length`` if given) as float64, else SourceError."""
    ok = isinstance(value, list) and (length is None or len(value) == length) \
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    try:
        array = np.asarray(value, dtype=np.float64) if ok else None
    except OverflowError:  # an integer beyond float range
        array = None
    if array is None or not np.all(np.isfinite(array)):
        size = f"{length} " if length is not None else ""
        raise SourceError(f"{where}: {what} must be a list of {size}finite numbers, got {str(value)[:80]}")
    return array


def _camera(intrinsics: object, where: str) -> Camera:
    """Pinhole camera from ``[fx, fy, cx, cy, width, height]``; a zero focal length takes the other's."""
    fx, fy, cx, cy, width, height = _number_list(intrinsics, 6, "intrinsics [fx, fy, cx, cy, w, h]", where)
    if fx == 0.0 or fy == 0.0:  # the release's loader does the same
        fx, fy = fx or fy, fy or fx
    if width != int(width) or height != int(height) or width < 1 or height < 1 \
            or width * height > Image.MAX_IMAGE_PIXELS:
        raise SourceError(f"{where}: intrinsics width and height must be whole pixels, at most "
                          f"{Image.MAX_IMAGE_PIXELS} in all, got {width:g}, {height:g}")
    _check_lens(fx, fy, cx, cy, width, height, where)
    try:
        return Camera.from_intrinsics(fx, fy, cx, cy, int(width), int(height))
    except CameraError as exc:
        raise SourceError(f"{where}: bad intrinsics {intrinsics} ({exc})") from None


def _check_lens(fx: float, fy: float, cx: float, cy: float, width: float, height: float, where: str) -> None:
    """A focal length no wider than MAX_FOV_DEG and a principal point within one image size of the image."""
    least_focal = max(width, height) / 2 / math.tan(math.radians(MAX_FOV_DEG / 2))
    if min(fx, fy) < least_focal:
        raise SourceError(f"{where}: focal length {min(fx, fy):g} px gives a field of view over {MAX_FOV_DEG:g} "
                          f"degrees on a {width:g}x{height:g} image (at least {least_focal:.3g} px expected)")
    if not (-width <= cx <= 2 * width and -height <= cy <= 2 * height):
        raise SourceError(f"{where}: principal point ({cx:g}, {cy:g}) lies far outside the {width:g}x{height:g} "
                          "image (expected within one image size of it)")


def _check_image(path: Path, camera: Camera, where: str) -> None:
    """The image exists and has the size the intrinsics state (reads the header only)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                size = image.size
    except FileNotFoundError:
        raise SourceError(f"{where}: image file {path} not found") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceError(f"{where}: image {path} refused as a decompression bomb ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        if is_machine_fault(exc):
            raise
        raise SourceError(f"{where}: image {path} is not readable ({exc})") from None
    if size != (camera.width, camera.height):
        raise SourceError(f"{where}: image {path} is {size[0]}x{size[1]} px but intrinsics say "
                          f"{camera.width}x{camera.height}")


def _labels(entry: dict, camera: Camera, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) float64 pixels (u, v) and (N,) float64 depths, metres; [-1, -1] pixels left out."""
    pixels, depth = entry["pixel_coords"], entry["depth"]
    if not isinstance(pixels, list) or not all(isinstance(p, list) and len(p) == 2 for p in pixels):
        raise SourceError(f"{where}: pixel_coords must be a list of [u, v] pairs")
    depth = _number_list(depth, len(pixels), f"depth (one per pixel_coords, {len(pixels)})", where)
    uv = _number_list([c for p in pixels for c in p], 2 * len(pixels), "pixel_coords", where).reshape(-1, 2)
    keep = ~np.all(uv == NO_LABEL_PIXEL, axis=1)
    uv, depth = uv[keep], depth[keep]
    if np.any(uv != np.round(uv)) or not np.all(camera.contains(uv)):
        bad = int(np.flatnonzero((uv != np.round(uv)).any(axis=1) | ~camera.contains(uv))[0])
        raise SourceError(f"{where}: pixel_coords must be whole pixels inside the {camera.width}x"
                          f"{camera.height} image, got {uv[bad].tolist()}")
    if np.any(depth <= 0) or np.any(depth > MAX_DEPTH_M):
        bad = float(depth[(depth <= 0) | (depth > MAX_DEPTH_M)][0])
        raise SourceError(f"{where}: depth must be metres > 0 and at most {MAX_DEPTH_M:g}, got {bad:g}")
    if (~keep).any():
        log.debug("%s: %d pixels marked [-1, -1] (no label) left out", where, int((~keep).sum()))
    return uv, depth


def _ground_truth(camera: Camera, uv: np.ndarray, depth: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels as (N, 3) camera-frame points and as an (H, W) float64 sparse depth map (NaN: no label).

    Several labels on one pixel keep the nearest in the map, as a z-buffer would.
    """
    # 1. back-project each pixel centre at its depth (z or range) into the camera frame
    points = camera.unproject(uv, **{"z_m" if kind == "z" else "range_m": depth})
    # 2. the same labels as a depth map of the frame's own image
    depth_map = np.full((camera.height, camera.width), np.inf)
    cols, rows = uv.astype(np.int64).T
    np.minimum.at(depth_map, (rows, cols), depth)
    depth_map[np.isinf(depth_map)] = np.nan
    return points, depth_map

