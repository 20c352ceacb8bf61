"""Posed cameras of images, read from the three files a mesh usually comes with.

* a COLMAP sparse model (``cameras``/``images``, text or binary): read by ``_colmap``, which
  converts COLMAP's pixel-corner principal point and world-to-camera poses;
* a nerfstudio ``transforms.json`` (docs.nerf.studio, "Data conventions"): intrinsics at the top
  or per frame (``fl_x fl_y cx cy w h``, ``camera_model`` PINHOLE / OPENCV / OPENCV_FISHEYE with
  ``k1 k2 k3 k4 p1 p2``), per frame ``file_path`` and ``transform_matrix``, a camera-to-world
  pose in OpenGL camera axes (x right, y up, z backward). Two conventions are converted here:
  nerfstudio casts the ray of pixel (i, j) through image point (j + 0.5, i + 0.5)
  (``Cameras.get_image_coords(pixel_offset=0.5)``), so its principal point is measured from
  the image corner as COLMAP's is (``ns-process-data`` copies COLMAP's ``cx`` unchanged):
  ``NERFSTUDIO_PIXEL_OFFSET`` is subtracted; and the camera axes are turned to OpenCV's with
  ``T_GL_FROM_CV``. Where ``ns-process-data`` also re-oriented the world, it records the
  matrix it applied as ``applied_transform`` (saved world from original world); its inverse
  takes the poses back to the original world, the one the mesh is in;
* a plain JSON list, one object per image, in datagen's own conventions (``PLAIN_LIST_LAYOUT``).

Each reader returns :class:`PosedImage` entries sorted by image name, so the same cameras
written in any of the three files give the same frames in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import CameraError, DatagenError, SourceError
from datagen.geometry.se3 import T_CV_FROM_GL, as_transform, invert
from datagen.sources._colmap import read_model
from datagen.sources._io import read_image_array, read_json
from datagen.types import Camera

#: nerfstudio's principal point is measured from the image's top-left corner (pixel centres at
#: +0.5, like COLMAP); subtract this to get datagen's (pixel centres at integers).
NERFSTUDIO_PIXEL_OFFSET = 0.5
#: OpenCV camera axes to OpenGL's (its own inverse): ``T_world_cam_cv = T_world_cam_gl @ T_GL_FROM_CV``.
T_GL_FROM_CV = T_CV_FROM_GL
#: nerfstudio ``camera_model`` -> (datagen lens model, coefficient names in datagen's order).
NERFSTUDIO_MODELS = {"PINHOLE": ("pinhole", ()), "SIMPLE_PINHOLE": ("pinhole", ()),
                     "OPENCV": ("radtan", ("k1", "k2", "p1", "p2", "k3")),
                     "OPENCV_FISHEYE": ("fisheye", ("k1", "k2", "k3", "k4"))}
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
NERFSTUDIO_LAYOUT = ("nerfstudio transforms.json: fl_x fl_y cx cy w h [camera_model, k1..k4, p1 p2] at the top or "
                     "per frame; frames[].file_path and frames[].transform_matrix (camera-to-world, OpenGL axes)")
PLAIN_LIST_LAYOUT = ("a JSON list of {\"image\": path, \"K\": 3x3 (pixel centres at integers), \"size\": [width, "
                     "height], \"model\": pinhole|radtan|fisheye, \"distortion\": [...], \"T_world_cam\": 4x4 "
                     "camera-to-world (OpenCV axes)}")
#: A mask pixel above this keeps its labels (white); black ones are ignored, as nerfstudio's masks say.
MASK_THRESHOLD = 127


@dataclass(frozen=True, eq=False)
class PosedImage:
    """One image with its posed camera.

    Attributes:
        name: the image's name in its camera file (sort key; unique).
        image_path: the image file.
        camera: intrinsics, lens, size and ``T_world_cam`` (OpenCV axes, metres after scaling).
        camera_name: which physical camera took it ("default" where the file does not say).
        mask_path: a mask image (white = pixels to label), or None.
    """

    name: str
    image_path: Path
    camera: Camera
    camera_name: str = "default"
    mask_path: Path | None = None


def read_colmap_images(model_dir: Path, image_dir: Path) -> list[PosedImage]:
    """A COLMAP model's registered images; the camera name is ``colmap<CAMERA_ID>``."""
    model = read_model(model_dir)
    out = []
    for image in model.images:
        if image.camera_id not in model.cameras:
            raise SourceError(f"{model_dir}: image {image.name!r} uses camera {image.camera_id}, "
                              f"which the model's cameras file does not define")
        out.append(PosedImage(image.name, Path(image_dir) / image.name, model.camera_of(image),
                              f"colmap{image.camera_id}"))
    return out


def read_nerfstudio(path: Path) -> list[PosedImage]:
    """The frames of a nerfstudio ``transforms.json`` (``frames``, then any ``test_frames``)."""
    meta = read_json(path, NERFSTUDIO_LAYOUT)
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list):
        raise SourceError(f"{path}: no 'frames' list ({NERFSTUDIO_LAYOUT})")
    T_saved_original = _applied_transform(meta, path)
    folder = Path(path).parent
    out = []
    for index, frame in enumerate(meta["frames"] + list(meta.get("test_frames") or [])):
        where = f"{path}: frame {index}"
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise SourceError(f"{where}: expected an object with 'file_path' ({NERFSTUDIO_LAYOUT})")
        camera = _nerfstudio_camera(meta, frame, where)
        T_world_gl = _matrix(frame.get("transform_matrix"), where, "transform_matrix")
        T_world_cam = _rigid(invert(T_saved_original) @ T_world_gl @ T_GL_FROM_CV, where, "transform_matrix")
        mask = frame.get("mask_path")
        out.append(PosedImage(frame["file_path"], folder / frame["file_path"], camera.replace(T_world_cam=T_world_cam),
                              mask_path=folder / mask if isinstance(mask, str) else None))
    return _sorted_unique(out, path)


def _applied_transform(meta: dict, path: Path) -> np.ndarray:
    """(4, 4) saved-from-original world transform that ``ns-process-data`` recorded, or identity."""
    if meta.get("applied_scale", 1.0) != 1.0:
        raise SourceError(f"{path}: 'applied_scale' {meta['applied_scale']!r} is not supported: the poses were "
                          f"rescaled away from the mesh's units; use the file written before rescaling")
    if "applied_transform" not in meta:
        return np.eye(4)
    return _rigid(_matrix(meta["applied_transform"], str(path), "applied_transform"), str(path), "applied_transform")


def _nerfstudio_camera(meta: dict, frame: dict, where: str) -> Camera:
    """The frame's camera (identity pose): top-level fields win over per-frame ones, as in nerfstudio."""
    values = {}
    for key in INTRINSIC_KEYS:
        value = meta.get(key, frame.get(key))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SourceError(f"{where}: '{key}' must be a number at the top or in the frame, got {value!r} "
                              f"({NERFSTUDIO_LAYOUT})")
        values[key] = float(value)
    source = meta if any(k in meta for k in DISTORTION_KEYS) else frame
    coeffs = {key: source.get(key, 0.0) for key in DISTORTION_KEYS}
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in coeffs.values()):
        raise SourceError(f"{where}: distortion coefficients must be numbers, got {coeffs}")
    model, dist = _nerfstudio_lens(str(meta.get("camera_model", frame.get("camera_model", "OPENCV"))), coeffs, where)
    if values["w"] != int(values["w"]) or values["h"] != int(values["h"]):
        raise SourceError(f"{where}: w and h must be whole pixel counts, got {values['w']} x {values['h']}")
    try:
        return Camera.from_intrinsics(values["fl_x"], values["fl_y"], values["cx"] - NERFSTUDIO_PIXEL_OFFSET,
                                      values["cy"] - NERFSTUDIO_PIXEL_OFFSET, int(values["w"]), int(values["h"]),
                                      model=model, dist=dist)
    except CameraError as exc:
        raise SourceError(f"{where}: bad camera ({exc})") from None


def _nerfstudio_lens(camera_model: str, coeffs: dict, where: str) -> tuple[str, list]:
    if camera_model not in NERFSTUDIO_MODELS:
        raise SourceError(f"{where}: camera_model {camera_model!r} is not supported; "
                          f"known: {', '.join(NERFSTUDIO_MODELS)}")
    model, names = NERFSTUDIO_MODELS[camera_model]
    unused = [k for k in DISTORTION_KEYS if k not in names and coeffs[k] != 0]
    if unused:
        raise SourceError(f"{where}: {camera_model} has no coefficient(s) {unused}, but they are non-zero")
    return lens(model, [float(coeffs[k]) for k in names])


def lens(model: str, dist: list) -> tuple[str, list]:
    """(model, coefficients), with a lens whose coefficients are all zero called a pinhole."""
    return ("pinhole", []) if not any(dist) else (model, list(dist))


def read_camera_list(path: Path) -> list[PosedImage]:
    """A plain JSON list of posed images in datagen's conventions (``PLAIN_LIST_LAYOUT``)."""
    entries = read_json(path, PLAIN_LIST_LAYOUT)
    if not isinstance(entries, list) or not entries:
        raise SourceError(f"{path}: expected a non-empty JSON list ({PLAIN_LIST_LAYOUT})")
    folder = Path(path).parent
    out = []
    for index, entry in enumerate(entries):
        where = f"{path}: entry {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise SourceError(f"{where}: expected an object with 'image' ({PLAIN_LIST_LAYOUT})")
        camera = _plain_camera(entry, where)
        mask = entry.get("mask")
        out.append(PosedImage(entry["image"], folder / entry["image"], camera, str(entry.get("camera", "default")),
                              folder / mask if isinstance(mask, str) else None))
    return _sorted_unique(out, path)


def _plain_camera(entry: dict, where: str) -> Camera:
    K = _array(entry.get("K"), (3, 3), where, "K")
    size = entry.get("size")
    if not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                               for v in size):
        raise SourceError(f"{where}: 'size' must be [width, height] in whole pixels, got {size!r}")
    model, dist = lens(str(entry.get("model", "pinhole")), list(_array(entry.get("distortion", []), None, where,
                                                                      "distortion")))
    T_world_cam = _rigid(_matrix(entry.get("T_world_cam"), where, "T_world_cam"), where, "T_world_cam")
    try:
        return Camera(K=K, width=size[0], height=size[1], model=model, dist=dist, T_world_cam=T_world_cam)
    except CameraError as exc:
        raise SourceError(f"{where}: bad camera ({exc})") from None


def _array(value, shape, where: str, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SourceError(f"{where}: '{name}' must be numbers, got {str(value)[:80]}") from None
    if (shape is not None and array.shape != shape) or (shape is None and array.ndim != 1) \
            or not np.all(np.isfinite(array)):
        want = "x".join(map(str, shape)) if shape else "a list of"
        raise SourceError(f"{where}: '{name}' must be {want} finite numbers, got {str(value)[:80]}")
    return array


def _matrix(value, where: str, name: str) -> np.ndarray:
    """A 4x4 matrix, or a 3x4 one completed with [0, 0, 0, 1]."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SourceError(f"{where}: '{name}' must be a 4x4 (or 3x4) matrix, got {str(value)[:80]}") from None
    if array.shape == (3, 4):
        array = np.vstack([array, [0.0, 0.0, 0.0, 1.0]])
    if array.shape != (4, 4):
        raise SourceError(f"{where}: '{name}' must be a 4x4 (or 3x4) matrix, got shape {array.shape}")
    return array


def _rigid(T: np.ndarray, where: str, name: str) -> np.ndarray:
    try:
        return as_transform(T, name)
    except DatagenError as exc:
        raise SourceError(f"{where}: {exc}") from None


def _sorted_unique(images: list[PosedImage], path: Path) -> list[PosedImage]:
    images = sorted(images, key=lambda image: image.name)
    names = [image.name for image in images]
    duplicates = sorted({n for a, n in zip(names, names[1:]) if a == n})
    if duplicates:
        raise SourceError(f"{path}: image(s) listed twice: {duplicates[:3]}")
    return images


def scaled(image: PosedImage, metres_per_unit: float) -> PosedImage:
    """The image with its camera's translation converted from the reconstruction's units to metres."""
    if metres_per_unit == 1.0:
        return image
    T = image.camera.T_world_cam.copy()
    T[:3, 3] *= metres_per_unit
    return PosedImage(image.name, image.image_path, image.camera.replace(T_world_cam=T), image.camera_name,
                      image.mask_path)


def read_mask(path: Path, layout: str, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool of a mask image: True (white) where labels are kept; SourceError on a size mismatch."""
    mask = read_image_array(path, layout)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.shape != (size[1], size[0]):
        raise SourceError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} px, its image {size[0]}x{size[1]}")
    return mask > (MASK_THRESHOLD if mask.dtype == np.uint8 else 0)
