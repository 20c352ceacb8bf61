"""Camera normalisation: undistort, resize to the unified focal length, optional crop.

Every image is mapped to a pinhole camera with ``fx = fy = target_focal_px``
(1000 px by default), which removes the camera ambiguity between datasets
(the DepthLM recipe). A :class:`NormalizationChain` lists the steps; each step
maps the image, the camera and sub-pixel coordinates together, exactly, in
the pixel-centre convention (integer ``(u, v)`` is a pixel centre):

* :class:`Undistort` (only for a camera with a lens model other than pinhole):
  the target pinhole camera keeps ``K`` (fx, fy, cx, cy, skew) and the image
  size of the source; only the lens model and its coefficients are dropped.
* :class:`Resize` by ``(sx, sy)``: ``u' = (u + 0.5) * sx - 0.5``, the same for
  ``v`` and the principal point; ``fx' = fx * sx``, ``fy' = fy * sy``, skew
  scales by ``sx``; the image becomes ``floor(W * sx) x floor(H * sy)``.
* :class:`Crop` ``[x0, y0, w, h]``: ``u' = u - x0``, ``cx' = cx - x0``.

None of the steps moves the camera centre or turns its axes, so 3D labels in
the camera frame are unchanged and ``T_world_cam`` is kept.

Each step also maps a *validity mask*: which pixels of its output image show content of
the source image. A label, a pair or a marker target is sampled only on a valid pixel.
What "came from the source image" means at the border of the source's content:

* Undistort samples the source bilinearly at each target pixel centre. A target pixel is
  valid when that point lies on a source pixel (``Camera.contains``: within the image's
  outer edge, the outermost half pixel taking its edge pixel's value) and each of the up
  to four source pixels it blends is valid. Target pixels whose ray misses the source
  image are painted black and are invalid.
* Resize resamples with PIL's filter (Lanczos). PIL computes each output pixel from the
  input pixels in a window of the filter's support around its centre, the window clipped
  to the image (so the image's own border is content, renormalised). An output pixel is
  valid only when *every* input pixel of its window is valid: its value owes nothing to
  the black fill, not even through a Lanczos lobe. This is exact about which pixels PIL
  reads and conservative about weights (a window's end pixel may weigh next to nothing).
* Crop keeps the mask of the pixels it keeps.
"""

from __future__ import annotations

import functools
import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from datagen.errors import ConfigError, GeometryError
from datagen.processors import DEFAULT_PRESET, PixelGrid, pixel_grid
from datagen.geometry.cameras import MIN_Z_M
from datagen.geometry.projection import project_points
from datagen.types import Camera, DepthView

logger = logging.getLogger(__name__)

CROP_MODES = ("none", "center", "random")
#: PIL filter used by Resize.image (Lanczos: sharp, and low-pass when shrinking).
RESAMPLE = Image.Resampling.LANCZOS
#: Half-width, in input pixels at scale 1, of the window each PIL filter reads (Resample.c).
FILTER_SUPPORT = {Image.Resampling.BOX: 0.5, Image.Resampling.BILINEAR: 1.0, Image.Resampling.HAMMING: 1.0,
                  Image.Resampling.BICUBIC: 2.0, Image.Resampling.LANCZOS: 3.0}


# --------------------------------------------------------------------------- config


def _positive_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value > 0


def _check_size_pair(name: str, value: object) -> tuple[int, int] | None:
    """None or a (width, height) pair of positive ints, as a tuple; else ConfigError."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2 \
            or not all(_positive_int(v) for v in value):
        raise ConfigError(f"NormalizeConfig.{name} must be None or (width, height) positive integers, "
                          f"got {value!r}")
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class NormalizeConfig:
    """How to normalise a camera.

    Attributes:
        target_focal_px: the unified focal length, pixels; fx = fy = this after resizing.
        crop: "none", "center" (a crop of ``crop_max_size`` at the image centre) or
            "random" (a size drawn between the bounds, at a random position).
        crop_min_size: (width, height) lower bound of a random crop; defaults to
            ``crop_max_size`` (a fixed size at a random position).
        crop_max_size: (width, height) of a centre crop, or the upper bound of a random
            one (defaults to the image size). A crop larger than the image is clipped to it.
        max_side_px: a larger image is cropped (centre, or random when ``crop == "random"``)
            so that no side exceeds it; cropping keeps the unified focal length, which a
            rescale would break.
        processor: the image processor the data is for (``datagen.processors.PRESETS``): the
            image is then cropped, last, to a size that processor passes without resizing
            (sides on its patch grid, within its pixel budget); "none" crops nothing.
        max_pixels: the pixel budget instead of the preset's.
        side_multiple: the patch grid instead of the preset's.
    """

    target_focal_px: float = 1000.0
    crop: str = "none"
    crop_min_size: tuple[int, int] | None = None
    crop_max_size: tuple[int, int] | None = None
    max_side_px: int | None = None
    processor: str = DEFAULT_PRESET
    max_pixels: int | None = None
    side_multiple: int | None = None

    def __post_init__(self) -> None:
        focal = self.target_focal_px
        if isinstance(focal, (bool, np.bool_)) or not isinstance(focal, (int, float, np.number)) \
                or not math.isfinite(focal) or focal <= 0:
            raise ConfigError(f"NormalizeConfig.target_focal_px must be a finite number > 0, got {focal!r}")
        object.__setattr__(self, "target_focal_px", float(focal))
        if self.crop not in CROP_MODES:
            raise ConfigError(f"NormalizeConfig.crop must be one of {CROP_MODES}, got {self.crop!r}")
        lo = _check_size_pair("crop_min_size", self.crop_min_size)
        hi = _check_size_pair("crop_max_size", self.crop_max_size)
        object.__setattr__(self, "crop_min_size", lo)
        object.__setattr__(self, "crop_max_size", hi)
        self._check_crop_bounds(lo, hi)
        if self.max_side_px is not None and not _positive_int(self.max_side_px):
            raise ConfigError(f"NormalizeConfig.max_side_px must be None or a positive integer, "
                              f"got {self.max_side_px!r}")
        try:
            self.grid
        except ConfigError as exc:
            raise ConfigError(f"NormalizeConfig: {exc}") from None

    @property
    def grid(self) -> PixelGrid:
        """The sizes the target processor passes unchanged (preset, with the overrides)."""
        return pixel_grid(self.processor, self.max_pixels, self.side_multiple)

    def _check_crop_bounds(self, lo: tuple[int, int] | None, hi: tuple[int, int] | None) -> None:
        if self.crop == "none" and (lo or hi):
            raise ConfigError("NormalizeConfig.crop_min_size/crop_max_size are set but crop is 'none'; "
                              "use crop='center' or 'random'")
        if self.crop == "center" and (hi is None or lo is not None):
            raise ConfigError("NormalizeConfig.crop_max_size must give the crop size for crop='center' "
                              "(and crop_min_size must be None)")
        if self.crop == "random" and lo is None and hi is None:
            raise ConfigError("NormalizeConfig.crop_min_size or crop_max_size is needed for crop='random'")
        if lo and hi and (lo[0] > hi[0] or lo[1] > hi[1]):
            raise ConfigError(f"NormalizeConfig.crop_min_size {lo} must not exceed crop_max_size {hi}")


# --------------------------------------------------------------------------- helpers


def _same_camera(a: Camera, b: Camera) -> bool:
    """True if two cameras have the same image size, lens and intrinsics (to rounding)."""
    return (a.width == b.width and a.height == b.height and a.model == b.model
            and a.dist.shape == b.dist.shape and np.allclose(a.dist, b.dist, rtol=1e-12, atol=1e-15)
            and np.allclose(a.K, b.K, rtol=1e-12, atol=1e-9))


def _check_camera(cam: Camera, expected: Camera, who: str) -> None:
    if not _same_camera(cam, expected):
        raise GeometryError(f"{who}: planned for camera {expected.intrinsics()} ({expected.model}), "
                            f"got {cam.intrinsics()} ({cam.model})")


def _as_uv(uv: np.ndarray, who: str) -> np.ndarray:
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise GeometryError(f"{who}: pixels must be (N, 2) (u, v), got shape {uv.shape}")
    return uv


def _check_image(img: np.ndarray, who: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """Check an (H, W) or (H, W, C) uint8 image, of ``size`` = (width, height) if given."""
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or img.size == 0:
        raise GeometryError(f"{who}: image must be (H, W) or (H, W, C) uint8, got {img.shape} {img.dtype}")
    if size is not None and (img.shape[1], img.shape[0]) != size:
        raise GeometryError(f"{who}: image is {img.shape[1]}x{img.shape[0]} (width x height) but the "
                            f"camera is {size[0]}x{size[1]}")
    return img


def _scaled_size(n: int, s: float) -> int:
    """Side length after scaling an ``n``-pixel side by ``s``: floor(n * s), at least 1."""
    return max(1, math.floor(n * s))


def _check_mask(mask: np.ndarray, who: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """Check an (H, W) bool validity mask, of ``size`` = (width, height) if given."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.ndim != 2 or mask.size == 0:
        raise GeometryError(f"{who}: validity mask must be (H, W) bool, got {mask.shape} {mask.dtype}")
    if size is not None and (mask.shape[1], mask.shape[0]) != size:
        raise GeometryError(f"{who}: mask is {mask.shape[1]}x{mask.shape[0]} (width x height) but the "
                            f"camera is {size[0]}x{size[1]}")
    return mask


def _filter_windows(in_size: int, in0: float, in1: float, out_size: int,
                    support: float) -> tuple[np.ndarray, np.ndarray]:
    """(out_size,) first and (exclusive) last input index PIL reads for each output pixel.

    Mirrors Pillow's ``precompute_coeffs`` (the box corners are single-precision floats,
    the rest double); an axis PIL does not resample (same size, whole box) reads itself.
    """
    if out_size == in_size and in0 == 0 and in1 == in_size:
        index = np.arange(out_size)
        return index, index + 1
    lo32, hi32 = np.float32(in0), np.float32(in1)
    scale = float(hi32 - lo32) / out_size
    reach = support * max(scale, 1.0)
    centre = float(lo32) + (np.arange(out_size) + 0.5) * scale
    first = np.maximum(np.trunc(centre - reach + 0.5), 0).astype(np.int64)
    last = np.minimum(np.trunc(centre + reach + 0.5), in_size).astype(np.int64)
    return first, np.maximum(last, first)


def _all_in_windows(mask: np.ndarray, rows: tuple, cols: tuple) -> np.ndarray:
    """(len(rows[0]), len(cols[0])) bool: ``mask`` is True over each window rows x cols."""
    bad = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    bad[1:, 1:] = np.cumsum(np.cumsum(~mask, axis=0, dtype=np.int64), axis=1)
    r0, r1 = rows[0][:, None], rows[1][:, None]
    c0, c1 = cols[0][None, :], cols[1][None, :]
    return (bad[r1, c1] - bad[r0, c1] - bad[r1, c0] + bad[r0, c0]) == 0


# --------------------------------------------------------------------------- steps


class Step(ABC):
    """One normalisation step: maps a camera, its image and pixel coordinates together."""

    @abstractmethod
    def camera(self, cam: Camera) -> Camera:
        """The camera of the image after this step (same pose ``T_world_cam``)."""

    @abstractmethod
    def pixels(self, uv: np.ndarray) -> np.ndarray:
        """Map (N, 2) float sub-pixel (u, v) of the input image to (N, 2) float64 in the output."""

    @abstractmethod
    def image(self, img: np.ndarray) -> np.ndarray:
        """Map an (H, W) or (H, W, C) uint8 image to the output image, uint8."""

    @abstractmethod
    def valid(self, mask: np.ndarray) -> np.ndarray:
        """Map an (H, W) bool mask of the input pixels that show source content to the output's."""

    @abstractmethod
    def to_record(self) -> list:
        """JSON-ready ``[name, parameters]`` for a record's provenance ``transforms``."""


@dataclass(frozen=True, eq=False)
class Undistort(Step):
    """Remove lens distortion: the target is a pinhole camera with the source's K and size.

    Attributes:
        source: the distorted camera this step was planned for.
    """

    source: Camera

    def __post_init__(self) -> None:
        if not isinstance(self.source, Camera):
            raise GeometryError(f"Undistort.source must be a Camera, got {type(self.source).__name__}")

    @property
    def target(self) -> Camera:
        """The pinhole camera: same K, size and pose as ``source``, no distortion."""
        return self.source.replace(model="pinhole", dist=np.zeros(0))

    def camera(self, cam: Camera) -> Camera:
        _check_camera(cam, self.source, "Undistort.camera")
        return self.target

    def pixels(self, uv: np.ndarray) -> np.ndarray:
        """Unproject through the source lens, project through the pinhole target.

        Pixels whose ray has no pinhole image (no lens preimage, or 90 degrees or more
        off axis for a fisheye) become NaN.
        """
        uv = _as_uv(uv, "Undistort.pixels")
        rays = self.source.rays(uv)
        return self.target.project(rays)[0]

    def image(self, img: np.ndarray) -> np.ndarray:
        """Warp by bilinear sampling of the source at each target pixel centre.

        Target pixels that map outside the source image (or outside the lens model's
        domain) are black; within the source's outer half pixel the edge value is used.
        """
        img = _check_image(img, "Undistort.image", (self.source.width, self.source.height))
        if not np.any(self.source.dist):
            return img.copy()
        coords, inside = self._coordinates
        channels = img.reshape(img.shape[0], img.shape[1], -1)
        out = np.zeros(channels.shape, dtype=np.uint8)
        for c in range(channels.shape[2]):
            sampled = ndimage.map_coordinates(channels[..., c], coords, order=1, mode="nearest",
                                              output=np.float64)
            out[..., c] = np.where(inside, np.clip(np.rint(sampled), 0, 255), 0)
        return out.reshape(img.shape)

    def valid(self, mask: np.ndarray) -> np.ndarray:
        """Target pixels that sample a source pixel, each of whose bilinear neighbours is valid."""
        size = (self.source.width, self.source.height)
        mask = _check_mask(mask, "Undistort.valid", size)
        if not np.any(self.source.dist):
            return mask.copy()
        (rows, cols), inside = self._coordinates
        out = inside.copy()
        if not mask.all():
            r0 = np.clip(np.floor(rows), 0, size[1] - 1).astype(np.int64)
            c0 = np.clip(np.floor(cols), 0, size[0] - 1).astype(np.int64)
            r1, c1 = np.minimum(r0 + 1, size[1] - 1), np.minimum(c0 + 1, size[0] - 1)
            out &= mask[r0, c0] & mask[r0, c1] & mask[r1, c0] & mask[r1, c1]
        return out

    @functools.cached_property
    def _coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """(2, H, W) source (row, column) of each target pixel centre, and (H, W) bool inside;
        computed once per step (image and mask share them)."""
        h, w = self.source.height, self.source.width
        K = self.source.K
        # 1. ray (x, y, 1) of each pinhole target pixel centre: the inverse of K
        y = (np.arange(h, dtype=np.float64) - K[1, 2]) / K[1, 1]
        x = (np.arange(w, dtype=np.float64)[None, :] - K[0, 2] - K[0, 1] * y[:, None]) / K[0, 0]
        rays = np.column_stack([x.ravel(), np.repeat(y, w), np.ones(h * w)])
        # 2. through the distorted lens of the source
        uv_src, valid = self.source.project(rays)
        inside = valid & self.source.contains(uv_src)
        uv_src[~inside] = 0.0
        coords = np.stack([uv_src[:, 1].reshape(h, w), uv_src[:, 0].reshape(h, w)])
        return coords, inside.reshape(h, w)

    def to_record(self) -> list:
        return ["undistort", {"model": self.source.model, "dist": [float(c) for c in self.source.dist]}]


@dataclass(frozen=True)
class Resize(Step):
    """Scale the image by ``sx`` horizontally and ``sy`` vertically, about pixel corners.

    Attributes:
        sx: horizontal scale (> 0).
        sy: vertical scale (> 0).
        focal_px: optional (fx, fy) the step must produce, pixels. ``fx * sx`` equals it only
            up to the last bit of a float; when given, the output focal lengths are set to it
            exactly (after checking they agree to 1e-9 relative).
    """

    sx: float
    sy: float
    focal_px: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("sx", "sy"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or value <= 0:
                raise GeometryError(f"Resize.{name} must be a finite number > 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.focal_px is not None:
            object.__setattr__(self, "focal_px", (float(self.focal_px[0]), float(self.focal_px[1])))

    def camera(self, cam: Camera) -> Camera:
        K = cam.K.copy()
        K[0, :] *= self.sx  # fx, skew
        K[1, 1] *= self.sy
        K[0, 2] = (cam.cx + 0.5) * self.sx - 0.5
        K[1, 2] = (cam.cy + 0.5) * self.sy - 0.5
        if self.focal_px is not None:
            if not np.allclose([K[0, 0], K[1, 1]], self.focal_px, rtol=1e-9, atol=0.0):
                raise GeometryError(f"Resize.camera: scales ({self.sx}, {self.sy}) give focal lengths "
                                    f"({K[0, 0]}, {K[1, 1]}), planned {self.focal_px}")
            K[0, 0], K[1, 1] = self.focal_px
        return cam.replace(K=K, width=_scaled_size(cam.width, self.sx),
                           height=_scaled_size(cam.height, self.sy))

    def pixels(self, uv: np.ndarray) -> np.ndarray:
        uv = _as_uv(uv, "Resize.pixels")
        return (uv + 0.5) * np.array([self.sx, self.sy]) - 0.5

    def image(self, img: np.ndarray) -> np.ndarray:
        """Resample with PIL over a box of ``out / s`` source pixels, so the scale is exactly s."""
        img = _check_image(img, "Resize.image")
        h, w = img.shape[:2]
        (out_w, out_h), box = self._resampling(w, h)
        if img.ndim == 3 and img.shape[2] == 3:
            return np.asarray(Image.fromarray(img).resize((out_w, out_h), RESAMPLE, box=box))
        channels = img.reshape(h, w, -1)  # one band at a time (PIL premultiplies RGBA alpha)
        out = [np.asarray(Image.fromarray(np.ascontiguousarray(channels[..., c])).resize(
            (out_w, out_h), RESAMPLE, box=box)) for c in range(channels.shape[2])]
        return np.stack(out, axis=-1).reshape((out_h, out_w) + img.shape[2:])

    def valid(self, mask: np.ndarray) -> np.ndarray:
        """Output pixels whose whole ``RESAMPLE`` window (as PIL reads it, with ``image``'s box) is valid."""
        mask = _check_mask(mask, "Resize.valid")
        h, w = mask.shape
        (out_w, out_h), box = self._resampling(w, h)
        if mask.all():
            return np.ones((out_h, out_w), dtype=bool)
        support = FILTER_SUPPORT[RESAMPLE]
        cols = _filter_windows(w, box[0], box[2], out_w, support)
        rows = _filter_windows(h, box[1], box[3], out_h, support)
        return _all_in_windows(mask, rows, cols)

    def _resampling(self, width: int, height: int) -> tuple[tuple[int, int], tuple[float, float, float, float]]:
        """(out_w, out_h) of a ``width x height`` input, and the box of ``out / s`` input pixels PIL
        resamples into it, so that the scale is exactly s."""
        out_w, out_h = _scaled_size(width, self.sx), _scaled_size(height, self.sy)
        # out_w / sx <= width up to rounding; PIL refuses a box beyond the image.
        return (out_w, out_h), (0.0, 0.0, min(out_w / self.sx, float(width)), min(out_h / self.sy, float(height)))

    def to_record(self) -> list:
        return ["resize", self.sx if self.sx == self.sy else [self.sx, self.sy]]


@dataclass(frozen=True)
class Crop(Step):
    """Keep the ``w x h`` pixels whose top-left pixel is (x0, y0).

    Attributes:
        x0: first column kept.
        y0: first row kept.
        w: number of columns kept.
        h: number of rows kept.
    """

    x0: int
    y0: int
    w: int
    h: int

    def __post_init__(self) -> None:
        for name, low in (("x0", 0), ("y0", 0), ("w", 1), ("h", 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < low:
                raise GeometryError(f"Crop.{name} must be an integer >= {low}, got {value!r}")
            object.__setattr__(self, name, int(value))

    def _check_inside(self, width: int, height: int, who: str) -> None:
        if self.x0 + self.w > width or self.y0 + self.h > height:
            raise GeometryError(f"{who}: crop {self.to_record()[1]} exceeds the {width}x{height} image")

    def camera(self, cam: Camera) -> Camera:
        self._check_inside(cam.width, cam.height, "Crop.camera")
        K = cam.K.copy()
        K[0, 2] -= self.x0
        K[1, 2] -= self.y0
        return cam.replace(K=K, width=self.w, height=self.h)

    def pixels(self, uv: np.ndarray) -> np.ndarray:
        uv = _as_uv(uv, "Crop.pixels")
        return uv - np.array([self.x0, self.y0], dtype=np.float64)

    def image(self, img: np.ndarray) -> np.ndarray:
        img = _check_image(img, "Crop.image")
        self._check_inside(img.shape[1], img.shape[0], "Crop.image")
        return img[self.y0:self.y0 + self.h, self.x0:self.x0 + self.w].copy()

    def valid(self, mask: np.ndarray) -> np.ndarray:
        mask = _check_mask(mask, "Crop.valid")
        self._check_inside(mask.shape[1], mask.shape[0], "Crop.valid")
        return mask[self.y0:self.y0 + self.h, self.x0:self.x0 + self.w].copy()

    def to_record(self) -> list:
        return ["crop", [self.x0, self.y0, self.w, self.h]]


# --------------------------------------------------------------------------- chain


def _fold(camera: Camera, steps: tuple) -> Camera:
    """The camera after applying ``steps`` in order."""
    for step in steps:
        camera = step.camera(camera)
    return camera


@dataclass(frozen=True, eq=False)
class NormalizationChain:
    """The steps from a source camera to its normalised (pinhole) camera.

    Attributes:
        source_camera: the camera of the original image.
        steps: the steps, applied in order.
        camera: the final camera; must equal the steps applied to ``source_camera``.
    """

    source_camera: Camera
    steps: tuple[Step, ...]
    camera: Camera

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        bad = [type(s).__name__ for s in self.steps if not isinstance(s, Step)]
        if bad:
            raise GeometryError(f"NormalizationChain.steps must be Step objects, got {bad}")
        _check_camera(self.camera, _fold(self.source_camera, self.steps), "NormalizationChain.camera")

    @classmethod
    def from_steps(cls, source_camera: Camera, steps) -> "NormalizationChain":
        """The chain of ``steps`` from ``source_camera``, its final camera computed."""
        steps = tuple(steps)
        return cls(source_camera, steps, _fold(source_camera, steps))

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        """Map the source image to the normalised one.

        Args:
            img: (H, W) or (H, W, C) uint8, the size of ``source_camera``.

        Returns:
            (camera.height, camera.width[, C]) uint8.

        Raises:
            GeometryError: the image is not uint8 or not the source camera's size.
        """
        img = _check_image(img, "NormalizationChain.apply_image",
                           (self.source_camera.width, self.source_camera.height))
        for step in self.steps:
            img = step.image(img)
        return img

    def valid_mask(self) -> np.ndarray:
        """Which pixels of the normalised image show content of the source image.

        Returns:
            (camera.height, camera.width) bool, read-only: True where the pixel's value comes
            from source pixels only (see the module docstring for the border), False where
            undistortion painted it black or resampling blended black into it.
        """
        mask = np.ones((self.source_camera.height, self.source_camera.width), dtype=bool)
        for step in self.steps:
            mask = step.valid(mask)
        mask.setflags(write=False)
        return mask

    def apply_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Map (N, 2) float (u, v) of the source image to (N, 2) float64 in the normalised one."""
        uv = _as_uv(uv, "NormalizationChain.apply_pixels")
        for step in self.steps:
            uv = step.pixels(uv)
        return uv

    def to_record(self) -> list:
        """The list of step records, for a record's provenance ``transforms``."""
        return [step.to_record() for step in self.steps]


# --------------------------------------------------------------------------- planning


def plan_normalization(camera: Camera, config: NormalizeConfig,
                       rng: np.random.Generator | None = None) -> NormalizationChain:
    """Plan undistort -> resize to ``config.target_focal_px`` -> crop for one camera.

    A resize by exactly 1 and a crop of the whole image are left out of the chain.

    Args:
        camera: the camera of the original image.
        config: what to do.
        rng: generator for random crops (needed when ``config.crop == "random"``);
            the same generator state gives the same chain.

    Returns:
        The chain; its ``camera`` is pinhole with ``fx == fy == target_focal_px`` exactly.

    Raises:
        ConfigError: ``config`` is not a NormalizeConfig, or a random crop has no rng.
        GeometryError: ``camera`` is not a Camera.
    """
    if not isinstance(camera, Camera):
        raise GeometryError(f"plan_normalization: camera must be a Camera, got {type(camera).__name__}")
    if not isinstance(config, NormalizeConfig):
        raise ConfigError(f"plan_normalization: config must be a NormalizeConfig, got {type(config).__name__}")
    steps: list[Step] = []
    current = camera
    if camera.model != "pinhole":  # 1. undistort (a zero-coefficient lens warps to a copy)
        steps.append(Undistort(camera))
        current = steps[-1].camera(current)
    target = config.target_focal_px
    sx, sy = target / current.fx, target / current.fy  # 2. unified focal length
    if sx != 1.0 or sy != 1.0:
        steps.append(Resize(sx, sy, focal_px=(target, target)))
        current = steps[-1].camera(current)
    box = _plan_crop(current.width, current.height, config, rng)  # 3. crop
    if box != (0, 0, current.width, current.height):
        steps.append(Crop(*box))
    chain = NormalizationChain.from_steps(camera, steps)
    logger.debug("normalisation of %s: %s -> %s", camera.intrinsics(), chain.to_record(),
                 chain.camera.intrinsics())
    return chain


def _offset(free: int, random: bool, rng: np.random.Generator | None) -> int:
    """Offset of a crop with ``free`` spare pixels: centred (floor) or uniform at random."""
    return int(rng.integers(0, free + 1)) if random else free // 2


def _plan_crop(width: int, height: int, config: NormalizeConfig,
               rng: np.random.Generator | None) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) of the crop of a ``width x height`` image; a crop is clipped to the image."""
    random = config.crop == "random"
    if random and rng is None:
        raise ConfigError("NormalizeConfig.crop='random' needs an rng (plan_normalization(..., rng=...))")
    size = (width, height)
    if config.crop == "center":
        size = (min(config.crop_max_size[0], width), min(config.crop_max_size[1], height))
    elif random:
        size = _random_crop_size(width, height, config, rng)
    box = _inner_crop((0, 0, width, height), size, random, rng)
    if config.max_side_px is not None:  # a further crop inside the first keeps the focal length
        box = _inner_crop(box, (min(box[2], config.max_side_px), min(box[3], config.max_side_px)), random, rng)
    if config.grid.limits_anything:  # last, the size the processor passes without resizing
        box = _inner_crop(box, config.grid.crop_size(box[2], box[3]), random, rng)
    return box


def _inner_crop(box: tuple[int, int, int, int], size: tuple[int, int], random: bool,
                rng: np.random.Generator | None) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) of a crop of ``size`` (w, h) inside ``box`` (x0, y0, w, h): centred or at random."""
    x0, y0, w, h = box
    return x0 + _offset(w - size[0], random, rng), y0 + _offset(h - size[1], random, rng), size[0], size[1]


def _random_crop_size(width: int, height: int, config: NormalizeConfig,
                      rng: np.random.Generator) -> tuple[int, int]:
    """Width and height drawn uniformly (integers) between the bounds, clipped to the image."""
    hi = config.crop_max_size or (width, height)
    lo = config.crop_min_size or hi
    hi_w, hi_h = min(hi[0], width), min(hi[1], height)
    lo_w, lo_h = min(lo[0], hi_w), min(lo[1], hi_h)
    return int(rng.integers(lo_w, hi_w + 1)), int(rng.integers(lo_h, hi_h + 1))


# --------------------------------------------------------------------------- labels


def normalize_view(view: DepthView, chain: NormalizationChain) -> DepthView:
    """Move depth labels into the normalised image.

    The steps keep the camera centre and axes, so the labels' camera-frame points are
    unchanged; they are projected through ``chain.camera``, those landing outside the
    final image are dropped, and a z-buffer keeps the nearest label per pixel (ties to
    the first). The kept labels stay in input order.

    Args:
        view: labels of the source image; ``view.camera`` must be ``chain.source_camera``.
        chain: the normalisation of that image.

    Returns:
        A DepthView on ``chain.camera`` with the same ``depth_from``.

    Raises:
        GeometryError: the view's camera is not the chain's source camera.
    """
    _check_camera(view.camera, chain.source_camera, "normalize_view: view.camera")
    # no depth cut beyond the lens model's own: a label stays a label whatever its depth
    return project_points(view.points_cam, chain.camera, occlusion=None, min_z_m=MIN_Z_M,
                          depth_from=view.depth_from)


def normalize(image: np.ndarray, view: DepthView,
              chain: NormalizationChain) -> tuple[np.ndarray, DepthView, np.ndarray]:
    """Normalise an image and its labels together.

    Args:
        image: (H, W[, C]) uint8 image of ``chain.source_camera``.
        view: its labels.
        chain: from :func:`plan_normalization`.

    Returns:
        (normalised image (camera.height, camera.width[, C]) uint8, normalised DepthView,
        (camera.height, camera.width) bool validity mask: ``chain.valid_mask()``). Labels
        are kept on invalid pixels too (they are true); sampling leaves them out.
    """
    return chain.apply_image(image), normalize_view(view, chain), chain.valid_mask()
