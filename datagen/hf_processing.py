"""What a Hugging Face image processor does to an image's size, and so to its focal length.

Every image of a build has one focal length (``fx = fy = 1000`` px by default). A
vision-language model's image processor may resize an image before the model sees it:
a Qwen2-VL-family processor rounds each side to a multiple of ``patch_size * merge_size``
(28 px) and scales an image whose pixel count lies outside ``[min_pixels, max_pixels]``
into that range. An image resized by ``(sx, sy)`` is seen with focal lengths
``fx * sx`` and ``fy * sy`` (``sx = out_width / width``), which breaks the unified focal
length the labels rest on. This module measures that resize by running the processor
itself, and says why it happened and which setting avoids it.

``datagen check-focal`` and the bundled trainer's resolution report both use it.
Importing it is cheap: transformers loads inside the functions that need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

from datagen._optional import require
from datagen.errors import DatagenError

log = logging.getLogger(__name__)


class ProcessorError(DatagenError):
    """A processor cannot be loaded, or its resizing cannot be read."""


@dataclass(frozen=True)
class ProcessorResize:
    """The size an image has as the model sees it.

    Attributes:
        width_px, height_px: the image as given to the processor.
        out_width_px, out_height_px: the image after the processor's resize.
        image_tokens: tokens the image takes in the model's input (None when the
            processor does not report a patch grid).
    """

    width_px: int
    height_px: int
    out_width_px: int
    out_height_px: int
    image_tokens: int | None = None

    def __post_init__(self) -> None:
        sides = (self.width_px, self.height_px, self.out_width_px, self.out_height_px)
        if min(sides) <= 0:
            raise ValueError(f"ProcessorResize sides must be positive, got {sides}")

    @property
    def scale_x(self) -> float:
        return self.out_width_px / self.width_px

    @property
    def scale_y(self) -> float:
        return self.out_height_px / self.height_px

    @property
    def resized(self) -> bool:
        return (self.out_width_px, self.out_height_px) != (self.width_px, self.height_px)

    def focal_px(self, fx: float, fy: float) -> tuple[float, float]:
        """(fx, fy) in pixels of the processed image, given those of the input image."""
        return fx * self.scale_x, fy * self.scale_y


@dataclass(frozen=True)
class PixelLimits:
    """The pixel budget of a Qwen2-VL-family processor.

    Attributes:
        min_pixels, max_pixels: the range the processor scales an image's pixel count into.
        factor_px: each side is rounded to a multiple of this (patch size x merge size).
    """

    min_pixels: int
    max_pixels: int
    factor_px: int

    def keeps(self, width_px: int, height_px: int) -> bool:
        """True if an image of this size passes through without any resize."""
        return (width_px % self.factor_px == 0 and height_px % self.factor_px == 0
                and self.min_pixels <= width_px * height_px <= self.max_pixels)


def load_image_processor(path: str | Path, *, min_pixels: int | None = None,
                         max_pixels: int | None = None) -> Any:
    """The image processor saved in a local folder (a model, processor or checkpoint folder).

    Args:
        path: the folder; nothing is downloaded.
        min_pixels, max_pixels: override the processor's pixel budget (Qwen2-VL family).

    Raises:
        ProcessorError: the folder is missing or holds no image processor.
    """
    transformers = require("transformers", "train")
    path = Path(path)
    if not path.is_dir():
        raise ProcessorError(f"{path}: not a folder (expected a local Hugging Face model or processor folder)")
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProcessorError(f"{path}: no image processor could be loaded from it ({_first_line(exc)})") from None
    set_pixel_limits(processor, min_pixels=min_pixels, max_pixels=max_pixels)
    return processor


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _size_entry(size: Any, key: str) -> Any:
    if size is None:
        return None
    return size.get(key) if isinstance(size, Mapping) else getattr(size, key, None)


def pixel_limits(image_processor: Any) -> PixelLimits | None:
    """The pixel budget of a Qwen2-VL-family processor, or None for a processor without one."""
    patch = getattr(image_processor, "patch_size", None)
    merge = getattr(image_processor, "merge_size", None)
    size = getattr(image_processor, "size", None)
    low = _size_entry(size, "shortest_edge") or getattr(image_processor, "min_pixels", None)
    high = _size_entry(size, "longest_edge") or getattr(image_processor, "max_pixels", None)
    if not all(isinstance(v, int) for v in (patch, merge, low, high)):
        return None
    return PixelLimits(min_pixels=low, max_pixels=high, factor_px=patch * merge)


def set_pixel_limits(image_processor: Any, *, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Set the pixel budget of a Qwen2-VL-family processor (None keeps a value).

    Raises:
        ProcessorError: the processor has no pixel budget, or the range is empty.
    """
    if min_pixels is None and max_pixels is None:
        return
    limits = pixel_limits(image_processor)
    if limits is None:
        raise ProcessorError(f"{type(image_processor).__name__} has no pixel budget (min_pixels/max_pixels "
                             f"apply to Qwen2-VL-family processors); its size setting is "
                             f"{getattr(image_processor, 'size', None)}")
    low = limits.min_pixels if min_pixels is None else min_pixels
    high = limits.max_pixels if max_pixels is None else max_pixels
    if not 0 < low <= high:
        raise ProcessorError(f"pixel limits must satisfy 0 < min_pixels <= max_pixels, got {low} and {high}")
    image_processor.size = {"shortest_edge": int(low), "longest_edge": int(high)}
    for name, value in (("min_pixels", low), ("max_pixels", high)):
        if getattr(image_processor, name, None) is not None:  # older transformers read these attributes
            setattr(image_processor, name, int(value))


def effective_resize(image_processor: Any, image: Image.Image) -> ProcessorResize:
    """Run the processor on one image and read the size it hands the model.

    A processor that reports a patch grid (``image_grid_thw``, Qwen2-VL family) gives the
    processed size as grid x patch size, and the image's token count; otherwise the
    processor must return one image (``pixel_values`` of shape (1, C, H, W)) made by a
    resize alone.

    Raises:
        ProcessorError: the processor tiles or crops, so a single scale does not describe it.
    """
    width, height = image.size
    try:
        output = image_processor(images=[image.convert("RGB")], return_tensors="np")
    except (ValueError, TypeError, OSError) as exc:
        raise ProcessorError(f"{type(image_processor).__name__} failed on a {width}x{height} image "
                             f"({_first_line(exc)})") from None
    grid = output.get("image_grid_thw")
    if grid is not None:
        _, rows, cols = (int(v) for v in np.asarray(grid)[0])
        patch = int(image_processor.patch_size)
        merge = int(getattr(image_processor, "merge_size", 1) or 1)
        return ProcessorResize(width, height, cols * patch, rows * patch, image_tokens=rows * cols // merge ** 2)
    shape = np.shape(output.get("pixel_values"))
    if len(shape) == 4 and shape[0] == 1 and not getattr(image_processor, "do_center_crop", False):
        return ProcessorResize(width, height, int(shape[3]), int(shape[2]))
    raise ProcessorError(f"{type(image_processor).__name__}: cannot read its resize (pixel_values of shape "
                         f"{shape}, center crop {getattr(image_processor, 'do_center_crop', None)}); the focal "
                         f"check reads processors that report a patch grid or return one resized image")


def resizes_by_size(image_processor: Any,
                    images: Mapping[tuple[int, int], Path]) -> dict[tuple[int, int], ProcessorResize]:
    """The processor's resize for each image size, measured on one real image of that size.

    Args:
        images: (width, height) -> an image file of that size.

    Raises:
        ProcessorError: an image cannot be read, or the processor's resize cannot be read.
    """
    resizes = {}
    for size, path in images.items():
        with open_image(path) as image:
            try:
                image.load()  # a truncated file fails here, where its name is known
            except OSError as exc:
                raise ProcessorError(f"{path}: not a readable image ({exc})") from None
            resizes[size] = effective_resize(image_processor, image)
    return resizes


def open_image(path: Path) -> Image.Image:
    """Open an image file (lazily: its header only), as a ProcessorError naming the file when it cannot be read."""
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise ProcessorError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ProcessorError(f"{path}: not a readable image ({exc})") from None


def resize_reason(limits: PixelLimits | None, resize: ProcessorResize) -> str:
    """Why the processor resized an image: its pixel budget, or the rounding of its sides."""
    if limits is None:
        return "the processor's fixed input size"
    pixels = resize.width_px * resize.height_px
    if pixels > limits.max_pixels:
        return f"{pixels} pixels exceed the processor's max_pixels {limits.max_pixels}"
    if pixels < limits.min_pixels:
        return f"{pixels} pixels are under the processor's min_pixels {limits.min_pixels}"
    return f"the sides are not multiples of {limits.factor_px} px"


def describe_resize(resize: ProcessorResize, fx: float, fy: float, limits: PixelLimits | None) -> str:
    """One line: how an image size is resized and what focal length the model then sees."""
    new_fx, new_fy = resize.focal_px(fx, fy)
    return (f"{resize.width_px}x{resize.height_px} images become {resize.out_width_px}x{resize.out_height_px} "
            f"({resize_reason(limits, resize)}): the model sees fx {new_fx:.1f}, fy {new_fy:.1f} px "
            f"instead of {fx:g}, {fy:g}")


def limits_advice(limits: PixelLimits | None, sizes: Iterable[tuple[int, int]]) -> str | None:
    """How to set the processor so that images of these sizes pass unresized, or None if they already do."""
    sizes = list(sizes)
    if limits is None or all(limits.keeps(w, h) for w, h in sizes):
        return None
    factor = limits.factor_px
    advice = []
    odd = sorted({(w, h) for w, h in sizes if w % factor or h % factor})
    if odd:
        shown = ", ".join(f"{w}x{h}" for w, h in odd[:4])
        advice.append(f"sides of {shown} are not multiples of {factor} px: crop the build's images to "
                      f"multiples of {factor} (no processor setting avoids the rounding)")
    pixels = [w * h for w, h in sizes]
    if max(pixels) > limits.max_pixels or min(pixels) < limits.min_pixels:
        low, high = min(limits.min_pixels, min(pixels)), max(limits.max_pixels, max(pixels))
        advice.append(f"set the processor's pixel budget to min_pixels <= {low} and max_pixels >= {high} "
                      f"(--min-pixels/--max-pixels, or \"size\": {{\"shortest_edge\": {low}, "
                      f"\"longest_edge\": {high}}} in preprocessor_config.json)")
    return "; ".join(advice)


@dataclass(frozen=True)
class ImageFocal:
    """One build image as the processor hands it to the model.

    Attributes:
        image: the image path, relative to the build folder.
        fx_px, fy_px: its focal lengths as built (the record's camera).
        resize: what the processor does to its size.
    """

    image: str
    fx_px: float
    fy_px: float
    resize: ProcessorResize

    @property
    def effective_fx_px(self) -> float:
        return self.resize.focal_px(self.fx_px, self.fy_px)[0]

    @property
    def effective_fy_px(self) -> float:
        return self.resize.focal_px(self.fx_px, self.fy_px)[1]


def build_focal_report(build_dir: str | Path, image_processor: Any, *, split: str = "all",
                       limit: int | None = None) -> list[ImageFocal]:
    """The effective focal lengths of a build's images after the processor, one entry per image.

    The processor runs once per distinct image size (its resize depends on the size alone),
    on a real image of that size. Every image of a record is taken to have the record's
    ``camera`` focal lengths: a build's images share the unified focal length.

    Args:
        split: the split whose records' images are checked ("train", "val", "test" or "all").
        limit: check at most this many images (in record order).

    Raises:
        NotABuildError: ``build_dir`` is not a build.
        TrainDataError: a record is malformed, or the split has none.
        ProcessorError: an image is missing or unreadable, or the processor's resize cannot be read.
    """
    from datagen.train.data import image_focal_lengths, load_examples  # torch-free, as is this module

    build = Path(build_dir)
    focal = image_focal_lengths(load_examples(build, split=split, limit=limit))
    images = list(focal)[:limit]
    sizes = {}
    for image in images:
        with open_image(image) as opened:
            sizes[image] = opened.size
    examples: dict[tuple[int, int], Path] = {}
    for image, size in sizes.items():
        examples.setdefault(size, image)
    resizes = resizes_by_size(image_processor, examples)
    return [ImageFocal(image.relative_to(build).as_posix(), *focal[image], resizes[sizes[image]])
            for image in images]


@dataclass(frozen=True)
class SizeGroup:
    """The images of one size: how the processor resizes them, and how many there are."""

    resize: ProcessorResize
    count: int
    fx_px: float
    fy_px: float


@dataclass(frozen=True)
class ResolutionReport:
    """What the processor makes of a set of images, one group per image size (most frequent first)."""

    processor: str
    limits: PixelLimits | None
    groups: tuple[SizeGroup, ...]

    @property
    def resized(self) -> tuple[SizeGroup, ...]:
        return tuple(group for group in self.groups if group.resize.resized)

    def lines(self) -> list[str]:
        """One line per image size: its size as the model sees it, image tokens, count."""
        out = []
        for group in self.groups:
            r = group.resize
            tokens = "" if r.image_tokens is None else f", {r.image_tokens} image tokens"
            state = "resized" if r.resized else "unchanged"
            out.append(f"{group.count} images {r.width_px}x{r.height_px} -> {r.out_width_px}x{r.out_height_px} "
                       f"({state}{tokens})")
        return out

    def warnings(self) -> list[str]:
        """One line per resized size, and the setting that would avoid the resizes."""
        out = [f"{group.count} {describe_resize(group.resize, group.fx_px, group.fy_px, self.limits)}"
               for group in self.resized]
        advice = limits_advice(self.limits, [(g.resize.width_px, g.resize.height_px) for g in self.groups])
        if advice:
            out.append(f"to keep the unified focal length: {advice}")
        return out


def resolution_report(image_processor: Any, sizes: Mapping[Path, tuple[int, int]],
                      focal: Mapping[Path, tuple[float, float]]) -> ResolutionReport:
    """Group images by size and measure the processor's resize of each size on one of them.

    Args:
        sizes: image file -> (width, height).
        focal: image file -> (fx, fy) as built.
    """
    counts: dict[tuple[int, int], int] = {}
    first: dict[tuple[int, int], Path] = {}
    for path, size in sizes.items():
        counts[size] = counts.get(size, 0) + 1
        first.setdefault(size, path)
    resizes = resizes_by_size(image_processor, first)
    order = sorted(counts, key=lambda size: (-counts[size], size))
    groups = tuple(SizeGroup(resizes[size], counts[size], *focal[first[size]]) for size in order)
    return ResolutionReport(type(image_processor).__name__, pixel_limits(image_processor), groups)
