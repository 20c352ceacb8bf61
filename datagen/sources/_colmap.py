"""COLMAP sparse models (``cameras``/``images`` as ``.txt`` or ``.bin``), read into datagen cameras.

Used by every source whose cameras come as a COLMAP model (ETH3D, ScanNet++, the generic
mesh source). The format is COLMAP's documented output (colmap.github.io/format.html):

* ``cameras.txt``: ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS...``
* ``images.txt``: two lines per image, ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` and
  its 2D points (ignored here). The quaternion and translation map world to camera
  (``x_cam = R(q) x_world + t``), in COLMAP's camera axes, which are OpenCV's (x right,
  y down, z forward).
* ``cameras.bin`` / ``images.bin``: the same fields, little-endian, as COLMAP writes them.

Two conventions are converted here, once:

* Pixel centres: COLMAP puts the image's top-left *corner* at (0, 0), so the centre of the
  top-left pixel is (0.5, 0.5); datagen (OpenCV) puts that centre at (0, 0). A COLMAP
  principal point ``c`` is ``c - 0.5`` here (``COLMAP_PIXEL_OFFSET``).
* Poses: COLMAP stores ``T_cam_world``; a datagen camera carries ``T_world_cam``.

Lens models map onto datagen's: SIMPLE_PINHOLE, PINHOLE -> pinhole; SIMPLE_RADIAL, RADIAL,
OPENCV, and FULL_OPENCV without its rational terms -> radtan; OPENCV_FISHEYE,
SIMPLE_RADIAL_FISHEYE, RADIAL_FISHEYE -> fisheye (the same theta polynomial). FOV,
THIN_PRISM_FISHEYE and a rational FULL_OPENCV are refused with a SourceError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import CameraError, GeometryError, SourceError
from datagen.geometry.se3 import invert, pose_from_quaternion
from datagen.sources._io import parse_numbers, read_text, require_file
from datagen.types import Camera

#: Subtract from a COLMAP principal point to get datagen's (pixel centres at integers).
COLMAP_PIXEL_OFFSET = 0.5

#: COLMAP model id -> (name, number of parameters).
MODELS = {0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5),
          4: ("OPENCV", 8), 5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5),
          8: ("SIMPLE_RADIAL_FISHEYE", 4), 9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12)}
MODEL_IDS = {name: (model_id, count) for model_id, (name, count) in MODELS.items()}
LAYOUT = "COLMAP sparse model: cameras.txt and images.txt, or cameras.bin and images.bin"


@dataclass(frozen=True, eq=False)
class ColmapImage:
    """One registered image of a model.

    Attributes:
        image_id: COLMAP's id.
        camera_id: the id of its camera in ``cameras``.
        name: the image path relative to the model's image folder.
        T_world_cam: (4, 4) float64 camera-to-world pose, OpenCV axes, metres (model units).
    """

    image_id: int
    camera_id: int
    name: str
    T_world_cam: np.ndarray


@dataclass(frozen=True, eq=False)
class ColmapModel:
    """Cameras (intrinsics, identity pose) by id, and images by name order."""

    cameras: dict
    images: list

    def camera_of(self, image: ColmapImage) -> Camera:
        """The image's camera with its pose."""
        return self.cameras[image.camera_id].replace(T_world_cam=image.T_world_cam)


def camera_from_colmap(model: str, width: int, height: int, params, where: str) -> Camera:
    """A datagen camera (identity pose) from a COLMAP camera model and its parameters.

    Raises:
        SourceError: an unknown or unsupported model, a wrong parameter count, or a bad camera.
    """
    if model not in MODEL_IDS:
        raise SourceError(f"{where}: unknown COLMAP camera model {model!r}; known: {', '.join(MODEL_IDS)}")
    p = [float(v) for v in params]
    if len(p) != MODEL_IDS[model][1]:
        raise SourceError(f"{where}: COLMAP model {model} takes {MODEL_IDS[model][1]} parameters, got {len(p)}")
    intrinsics, lens, dist = _lens(model, p, where)
    fx, fy, cx, cy = intrinsics
    try:
        return Camera.from_intrinsics(fx, fy, cx - COLMAP_PIXEL_OFFSET, cy - COLMAP_PIXEL_OFFSET, width, height,
                                      model=lens, dist=dist)
    except CameraError as exc:
        raise SourceError(f"{where}: bad camera ({exc})") from None


def _lens(model: str, p: list, where: str) -> tuple[tuple, str, list]:
    """((fx, fy, cx, cy) in COLMAP's pixel convention, datagen lens model, its coefficients)."""
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE"):
        intrinsics, extra = (p[0], p[0], p[1], p[2]), p[3:]
    else:
        intrinsics, extra = tuple(p[:4]), p[4:]
    if model in ("SIMPLE_PINHOLE", "PINHOLE"):
        return intrinsics, "pinhole", []
    if model in ("SIMPLE_RADIAL", "RADIAL", "OPENCV"):
        radial = extra if model != "OPENCV" else extra[:2]
        tangential = extra[2:4] if model == "OPENCV" else [0.0, 0.0]
        return intrinsics, "radtan", [*(list(radial) + [0.0])[:2], *tangential, 0.0]
    if model in ("OPENCV_FISHEYE", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE"):
        return intrinsics, "fisheye", (list(extra) + [0.0, 0.0, 0.0])[:4]
    if model == "FULL_OPENCV" and not any(extra[5:]):
        return intrinsics, "radtan", extra[:5]
    raise SourceError(f"{where}: COLMAP camera model {model} is not supported (use PINHOLE, OPENCV or "
                      f"OPENCV_FISHEYE, or undistort the images with COLMAP first)")


def read_model(folder: Path) -> ColmapModel:
    """Read a model from ``folder``: text files if present, else binary ones.

    Raises:
        SourceError: the folder holds neither, or a file is malformed.
    """
    folder = Path(folder)
    if (folder / "cameras.txt").is_file() and (folder / "images.txt").is_file():
        return ColmapModel(read_cameras_text(folder / "cameras.txt"), read_images_text(folder / "images.txt"))
    if (folder / "cameras.bin").is_file() and (folder / "images.bin").is_file():
        return ColmapModel(read_cameras_binary(folder / "cameras.bin"), read_images_binary(folder / "images.bin"))
    raise SourceError(f"{folder}: no COLMAP model ({LAYOUT})")


def content_lines(path: Path, layout: str = LAYOUT) -> list[tuple[int, str]]:
    """(1-based line number, text) of the lines of a text model file that are not blank or comments."""
    return [(n, line) for n, line in enumerate(read_text(path, layout).splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]


def read_cameras_text(path: Path) -> dict:
    """``cameras.txt`` -> {camera_id: Camera}."""
    cameras = {}
    for number, line in content_lines(path):
        where = f"{path}:{number}"
        fields = line.split()
        if len(fields) < 4 or not fields[0].isdigit() or not fields[2].isdigit() or not fields[3].isdigit():
            raise SourceError(f"{where}: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...', got {line.strip()[:80]!r}")
        params = parse_numbers(" ".join(fields[4:]), None, where, "camera parameters")
        cameras[int(fields[0])] = camera_from_colmap(fields[1], int(fields[2]), int(fields[3]), params, where)
    return cameras


def read_images_text(path: Path) -> list:
    """``images.txt`` -> [ColmapImage] sorted by name."""
    images = []
    for where, fields in _image_lines(path):
        pose = parse_numbers(" ".join(fields[1:8]), 7, where, "QW QX QY QZ TX TY TZ")
        images.append(_image(int(fields[0]), int(fields[8]), fields[9], pose, where))
    return sorted(images, key=lambda image: image.name)


def image_names_text(path: Path) -> list[str]:
    """The NAME of each image in ``images.txt``, in file order, without reading the poses (fast listing)."""
    return [fields[9] for _, fields in _image_lines(path)]


def _image_lines(path: Path) -> list[tuple[str, list[str]]]:
    """("file:line", its 10 fields) of each image's first line; its second line (2D points, possibly
    empty) is skipped, comment lines are not counted.

    Raises:
        SourceError: a first line that is not ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME``.
    """
    lines = read_text(path, LAYOUT).splitlines()
    out, number = [], 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(maxsplit=9)
        if len(fields) < 10 or not fields[0].isdigit() or not fields[8].isdigit():
            raise SourceError(f"{path}:{number}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME', "
                              f"got {line.strip()[:80]!r}")
        out.append((f"{path}:{number}", fields[:9] + [fields[9].strip()]))
        number += 1  # the 2D points line
    return out


def _image(image_id: int, camera_id: int, name: str, pose: np.ndarray, where: str) -> ColmapImage:
    try:
        T_cam_world = pose_from_quaternion(pose[:4], pose[4:7], order="wxyz")
    except GeometryError as exc:  # a zero quaternion
        raise SourceError(f"{where}: bad pose of image {name!r} ({exc})") from None
    return ColmapImage(image_id, camera_id, name, invert(T_cam_world))


class _Reader:
    """Little-endian fields from a binary file, with errors naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = require_file(path, LAYOUT)
        self.data = self.path.read_bytes()
        self.offset = 0

    def read(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.offset + size > len(self.data):
            raise SourceError(f"{self.path}: ends early at byte {self.offset} (truncated, or not a COLMAP model)")
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += size
        return values

    def skip(self, size: int) -> None:
        if self.offset + size > len(self.data):
            raise SourceError(f"{self.path}: ends early at byte {self.offset} (truncated, or not a COLMAP model)")
        self.offset += size

    def string(self) -> str:
        end = self.data.find(b"\0", self.offset)
        if end < 0:
            raise SourceError(f"{self.path}: unterminated image name at byte {self.offset}")
        text = self.data[self.offset:end].decode("utf-8", errors="replace")
        self.offset = end + 1
        return text


def read_cameras_binary(path: Path) -> dict:
    """``cameras.bin`` -> {camera_id: Camera}."""
    reader = _Reader(path)
    (count,) = reader.read("Q")
    cameras = {}
    for _ in range(count):
        camera_id, model_id, width, height = reader.read("iiQQ")
        if model_id not in MODELS:
            raise SourceError(f"{path}: unknown COLMAP camera model id {model_id}")
        name, n_params = MODELS[model_id]
        params = reader.read("d" * n_params)
        cameras[camera_id] = camera_from_colmap(name, width, height, params, f"{path} (camera {camera_id})")
    return cameras


def read_images_binary(path: Path) -> list:
    """``images.bin`` -> [ColmapImage] sorted by name."""
    reader = _Reader(path)
    (count,) = reader.read("Q")
    images = []
    for _ in range(count):
        image_id, qw, qx, qy, qz, tx, ty, tz, camera_id = reader.read("I7dI")
        name = reader.string()
        (n_points,) = reader.read("Q")
        reader.skip(24 * n_points)  # the 2D points: x, y (double) and a point id (int64) each
        images.append(_image(image_id, camera_id, name, np.array([qw, qx, qy, qz, tx, ty, tz]),
                             f"{path} (image {image_id})"))
    return sorted(images, key=lambda image: image.name)
