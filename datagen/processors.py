"""What a vision-language model's image processor accepts without resizing.

A build's whole point is one focal length (1000 px) on every image; a processor that
rescales an image behind the trainer's back changes it. Qwen2-VL-style processors round
each side to a multiple of their patch grid (28 px: 14 px patches merged 2 x 2) and
rescale anything outside ``[min_pixels, max_pixels]``; InternVL cuts 448 px tiles after
resizing to the nearest tile grid; LLaVA-1.5 resizes the short side to 336 px and crops a
square. A :class:`PixelGrid` states what passes unchanged, and the normalisation crops
(never rescales) each image to fit it, so ``fx = fy = target_focal_px`` survives.

Presets (``NormalizeConfig.processor``), from each processor's code and defaults:

* ``qwen2-vl``, ``qwen2.5-vl``: sides multiples of 28 (``patch_size`` 14 x ``merge_size`` 2),
  ``smart_resize`` leaves such an image alone when 3,136 <= pixels <= ``max_pixels``. The
  budget here is 1,003,520 pixels (1,280 visual tokens): about a megapixel, the field of
  view of a 1280 x 784 image at 1000 px, and memory a typical 24-80 GB GPU trains with.
* ``qwen3-vl``: sides multiples of 32 (16 px patches merged 2 x 2), 1,048,576 pixels (1,024 tokens).
* ``internvl``: sides multiples of 448 (one tile each), at most 6 tiles; the tile grid then
  matches the image's aspect ratio exactly, so ``dynamic_preprocess`` resizes nothing. Its
  448 x 448 thumbnail (``use_thumbnail``) of a multi-tile image is a downscaled second view:
  turn it off, or use ``internvl-single`` (one 448 x 448 tile, no thumbnail).
* ``llava-1.5``: exactly 336 x 336 (CLIP ViT-L/14-336 resizes the short side to 336, then
  centre-crops a square): a 19-degree view at 1000 px.
* ``none``: no budget; the exports then say which settings keep the images as built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from datagen.errors import ConfigError, GeometryError


@dataclass(frozen=True)
class PixelGrid:
    """Image sizes a processor passes unchanged.

    Attributes:
        name: the preset's name.
        side_multiple: each side must be a multiple of this many pixels.
        max_pixels: at most this many pixels (None: no limit).
        min_pixels: at least this many pixels.
        fixed_size: (width, height) the image must have exactly, or None.
    """

    name: str
    side_multiple: int = 1
    max_pixels: int | None = None
    min_pixels: int = 0
    fixed_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.side_multiple, int) or isinstance(self.side_multiple, bool) or self.side_multiple < 1:
            raise ConfigError(f"side_multiple must be a positive integer, got {self.side_multiple!r}")
        if self.max_pixels is not None and (not isinstance(self.max_pixels, int) or isinstance(self.max_pixels, bool)
                                            or self.max_pixels < self.side_multiple ** 2):
            raise ConfigError(f"max_pixels must be an integer of at least side_multiple² = {self.side_multiple ** 2}, "
                              f"got {self.max_pixels!r}")

    @property
    def limits_anything(self) -> bool:
        return self.side_multiple > 1 or self.max_pixels is not None or self.fixed_size is not None

    def fits(self, width: int, height: int) -> bool:
        """Whether an image of this size passes unchanged."""
        if self.fixed_size is not None:
            return (width, height) == tuple(self.fixed_size)
        return (width % self.side_multiple == 0 and height % self.side_multiple == 0
                and width * height >= self.min_pixels
                and (self.max_pixels is None or width * height <= self.max_pixels))

    def crop_size(self, width: int, height: int) -> tuple[int, int]:
        """The largest (w, h) within ``width x height`` that fits, keeping the aspect ratio closest.

        Raises:
            GeometryError: the image is smaller than the grid allows.
        """
        if self.fixed_size is not None:
            w, h = self.fixed_size
            if w > width or h > height:
                raise GeometryError(f"the normalised image is {width}x{height} px, smaller than the {w}x{h} "
                                    f"the {self.name} processor takes unchanged")
            return int(w), int(h)
        m = self.side_multiple
        cols, rows = width // m, height // m  # whole grid cells
        if cols == 0 or rows == 0 or cols * rows * m * m < self.min_pixels:
            raise GeometryError(f"the normalised image is {width}x{height} px, too small for the {self.name} "
                                f"grid (sides multiples of {m}, at least {self.min_pixels} pixels)")
        if self.max_pixels is not None and cols * rows * m * m > self.max_pixels:
            cols, rows = _within_budget(cols, rows, self.max_pixels // (m * m))
        return cols * m, rows * m


def _within_budget(cols: int, rows: int, cells: int) -> tuple[int, int]:
    """The largest cols' <= cols, rows' <= rows with cols' * rows' <= cells, aspect closest to cols / rows."""
    aspect = cols / rows
    scale = math.sqrt(cells / (cols * rows))
    best = (max(1, min(cols, math.floor(cols * scale))), max(1, min(rows, math.floor(rows * scale))))
    while best[0] * best[1] > cells:  # a side clamped at one cell can leave the other too long
        best = (best[0] - 1, best[1]) if best[0] > best[1] else (best[0], best[1] - 1)
    while True:  # grow one side at a time while the budget allows, the side that keeps the aspect closer
        c, r = best
        options = [(c + 1, r)] if c + 1 <= cols and (c + 1) * r <= cells else []
        options += [(c, r + 1)] if r + 1 <= rows and c * (r + 1) <= cells else []
        if not options:
            return best
        best = min(options, key=lambda cr: abs(math.log(cr[0] / cr[1] / aspect)))


PRESETS = {
    "none": PixelGrid("none"),
    "qwen2-vl": PixelGrid("qwen2-vl", 28, 1_003_520, 3_136),
    "qwen2.5-vl": PixelGrid("qwen2.5-vl", 28, 1_003_520, 3_136),
    "qwen3-vl": PixelGrid("qwen3-vl", 32, 1_048_576, 4_096),
    "internvl": PixelGrid("internvl", 448, 6 * 448 * 448),
    "internvl-single": PixelGrid("internvl-single", fixed_size=(448, 448)),
    "llava-1.5": PixelGrid("llava-1.5", fixed_size=(336, 336)),
}
DEFAULT_PRESET = "qwen2.5-vl"


def pixel_grid(processor: str, max_pixels: int | None = None, side_multiple: int | None = None) -> PixelGrid:
    """The preset ``processor``, with ``max_pixels`` and ``side_multiple`` overriding its own where given."""
    if processor not in PRESETS:
        raise ConfigError(f"processor must be one of {', '.join(PRESETS)}, got {processor!r}")
    preset = PRESETS[processor]
    if max_pixels is None and side_multiple is None:
        return preset
    if preset.fixed_size is not None:
        raise ConfigError(f"processor {processor!r} takes exactly {preset.fixed_size[0]}x{preset.fixed_size[1]} "
                          "images; max_pixels and side_multiple do not apply")
    return PixelGrid(processor, side_multiple if side_multiple is not None else preset.side_multiple,
                     max_pixels if max_pixels is not None else preset.max_pixels, preset.min_pixels)
