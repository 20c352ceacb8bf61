"""Markers drawn on images at the queried pixel. Styles register in ``MARKERS``.

The question shows the point, it does not describe it: a marker is drawn beside the
pixel, pointing at it, and the question names the marker by the style's description
("the point marked by the red arrow"). Every style:

- scales with the image (``marker_scale_px``: about 3.5% of the image diagonal, clamped);
- never paints the target pixel nor its 8 neighbours (``KEEP_OUT_PX``), of any marked point;
- picks, among its placements (the arrow's direction, the label's side), the first that
  fits inside the image and stays off the other points and the markers already drawn;
- labels the points of a two-point task ("A", "B") with a bitmap font, laid out so that each
  label is unambiguously its own point's: its centre lies at most ``LABEL_NEARNESS_RATIO``
  times as far from its own target as from any other, and no pixel of a point's marker or
  label comes within ``pair_clearance_px`` of another target. Such a layout exists when the
  points are at least ``min_pair_separation_px`` apart, which the sampler reads;
- draws deterministically: the same input gives byte-identical output.

``check_marker(image, pixel, style)`` tells whether the style's marker points at a pixel,
after JPEG compression too; ``datagen validate`` uses it.
"""

from __future__ import annotations

import functools
import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from datagen.errors import DatagenError
from datagen.registry import Registry

log = logging.getLogger(__name__)

MARKERS: Registry = Registry("marker")

#: Share of the image diagonal a marker's length takes, and the clamp of that length in pixels.
SIZE_FRACTION = 0.035
MIN_SIZE_PX = 12.0
MAX_SIZE_PX = 80.0
#: No marker paints a pixel within this Chebyshev distance of a marked pixel (the target stays visible).
KEEP_OUT_PX = 1
#: Several marked points: a label's centre lies at most this share of its distance to any other
#: target from its own target...
LABEL_NEARNESS_RATIO = 0.75
#: ...and no pixel of a point's marker or label comes nearer another target than this share of
#: the marker length.
PAIR_CLEARANCE_FRACTION = 0.5
#: Least distance of two marked points, as a multiple of the farthest a label's centre lies from
#: its point (over the styles): a label set off at right angles to the pair then reads as its own.
PAIR_SEPARATION_FACTOR = 1.0
#: Directions (u right, v down) from the target towards the arrow's tail or the label, by preference.
DIRECTIONS = tuple(np.array(d, dtype=np.float64) / math.hypot(*d) for d in
                   ((1, 1), (-1, -1), (-1, 1), (1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)))
#: check_marker: largest RGB distance of a pixel that still counts as the marker's colour; the
#: share of a part's (eroded) pixels that must count; the share of the band SURROUND_PX around
#: it that must not (a marker on a background of its own colour is not visible); and the fewest
#: pixels a part must show inside the image.
COLOUR_TOLERANCE = 80.0
MATCH_FRACTION = 0.7
SURROUND_PX = 3
SURROUND_FRACTION = 0.5
MIN_CHECK_PIXELS = 6

RED = (255, 0, 0)
YELLOW = (255, 255, 0)
CYAN = (0, 255, 255)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


class MarkerError(DatagenError, ValueError):
    """Bad input to a marker: not an (H, W, 3) uint8 image, a pixel outside it, labels that do not match."""


@dataclass(frozen=True, eq=False)
class Part:
    """Pixels of one colour of a marker, before clipping to the image.

    Attributes:
        rows, cols: (N,) int64 pixel rows (v) and columns (u).
        colour: RGB.
        checked: whether ``check_marker`` looks for this part (tiny parts blur under JPEG).
    """

    rows: np.ndarray
    cols: np.ndarray
    colour: tuple
    checked: bool = True


@dataclass(frozen=True, eq=False)
class Placement:
    """One way to draw a marker for a pixel: its parts, and where a label would start and go."""

    parts: tuple
    label_from: np.ndarray  # (2,) float (u, v): the label lies beyond this point...
    label_dir: np.ndarray   # (2,) float unit vector: ...in this direction


def marker_scale_px(height: int, width: int) -> float:
    """Length of a marker in pixels: ``SIZE_FRACTION`` of the diagonal, clamped to [MIN, MAX]_SIZE_PX."""
    return float(np.clip(SIZE_FRACTION * math.hypot(height, width), MIN_SIZE_PX, MAX_SIZE_PX))


def pair_clearance_px(height: int, width: int) -> float:
    """Least distance (pixels) of any pixel of one point's marker or label from another marked point."""
    return PAIR_CLEARANCE_FRACTION * marker_scale_px(height, width)


@functools.lru_cache(maxsize=64)
def min_pair_separation_px(height: int, width: int) -> float:
    """Least image distance (pixels) of two points marked together, in an image of that size.

    ``PAIR_SEPARATION_FACTOR`` times the farthest any registered style sets a label's centre
    from its point; it scales with the image as the markers do.
    """
    centre = np.array([width // 2, height // 2], dtype=np.float64)
    text = _text_masks("A", _label_scale(marker_scale_px(height, width)))
    reach = 0.0
    for name in MARKERS.names():
        for placement in MARKERS.get(name)().placements(centre, height, width):
            glyphs = _label_parts(placement, text)[1]
            reach = max(reach, math.hypot(glyphs.cols.mean() - centre[0], glyphs.rows.mean() - centre[1]))
    return PAIR_SEPARATION_FACTOR * reach


class MarkerStyle(ABC):
    """A way of marking pixels. Subclasses give ``placements``; drawing and checking are shared.

    Attributes:
        name: the registered name.
        description: what one marker looks like, as a question names it ("red arrow").
        description_two: how a question names two labelled markers ("the red arrows labelled A and B").
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    description_two: ClassVar[str] = ""

    @abstractmethod
    def placements(self, pixel: np.ndarray, height: int, width: int) -> list[Placement]:
        """Ways to draw the marker for ``pixel`` (u, v) in an image of that size, by preference."""

    def draw(self, image: np.ndarray, pixels: np.ndarray, labels: Sequence[str] | None = None) -> np.ndarray:
        """Draw a marker at each pixel on a copy of ``image``.

        Args:
            image: (H, W, 3) uint8 RGB image; left unchanged.
            pixels: (K, 2) int pixel centres (u, v) inside the image.
            labels: K texts drawn beside the markers ("A", "B"), or None.

        Returns:
            (H, W, 3) uint8: a new array with the markers drawn.

        Raises:
            MarkerError: a malformed image, a pixel outside it, or labels that do not match the pixels.
        """
        _check_image(self.name, image)
        out = image.copy()
        for rows, cols, colour in self._paint_ops(image.shape[0], image.shape[1], pixels, labels):
            out[rows, cols] = colour
        return out

    def footprint(self, shape: tuple, pixels: np.ndarray, labels: Sequence[str] | None = None) -> np.ndarray:
        """(H, W) bool: the pixels ``draw`` paints for these pixels on an image of ``shape`` (H, W[, 3])."""
        height, width = int(shape[0]), int(shape[1])
        mask = np.zeros((height, width), dtype=bool)
        for rows, cols, _ in self._paint_ops(height, width, pixels, labels):
            mask[rows, cols] = True
        return mask

    def layout(self, shape: tuple, pixels: np.ndarray, labels: Sequence[str] | None = None) -> list[tuple]:
        """The parts chosen for each pixel (its marker, then its label's outline and glyphs), before
        clipping to the image and to the keep-out zones: what ``draw`` paints, in order."""
        height, width = int(shape[0]), int(shape[1])
        pixels, labels = _check_pixels(self.name, height, width, pixels, labels)
        keep_out = _keep_out(height, width, pixels)
        taken = np.zeros((height, width), dtype=bool)
        text_scale = _label_scale(marker_scale_px(height, width))
        out = []
        for k, pixel in enumerate(pixels):
            text = None if labels is None else _text_masks(labels[k], text_scale)
            others = np.delete(pixels, k, axis=0).astype(np.float64)
            parts = self._choose(pixel, height, width, keep_out, taken, text, others)
            for part in parts:
                taken[_visible(part, height, width, keep_out)] = True
            out.append(parts)
        return out

    def _paint_ops(self, height: int, width: int, pixels: np.ndarray, labels) -> list[tuple]:
        """(rows, cols, colour) to paint, in order, clipped to the image and off the keep-out zones."""
        pixels, labels = _check_pixels(self.name, height, width, pixels, labels)
        keep_out = _keep_out(height, width, pixels)
        ops = []
        for parts in self.layout((height, width), pixels, labels):
            for part in parts:
                rows, cols = _visible(part, height, width, keep_out)
                ops.append((rows, cols, np.array(part.colour, dtype=np.uint8)))
        return ops

    def _choose(self, pixel, height, width, keep_out, taken, text, others) -> tuple:
        """Parts (label included) of the placement that fits best: fewest conflicts with the other
        targets ``others`` (M, 2) (a part within the clearance, a label not clearly its own), then
        fewest pixels outside the image, on a marked pixel's keep-out zone, on markers drawn
        before; ties by preference (with other targets, the label pointing away from them first)."""
        placements = self.placements(np.asarray(pixel, dtype=np.float64), height, width)
        rank = _preference(placements, pixel, others)
        clearance = pair_clearance_px(height, width)
        best_key, best_parts = None, ()
        for index, placement in enumerate(placements):
            parts = placement.parts + (_label_parts(placement, text) if text is not None else ())
            conflicts = _conflicts(parts, pixel, others, clearance, text is not None)
            outside = on_keep_out = on_taken = 0
            for part in parts:
                inside = (part.rows >= 0) & (part.rows < height) & (part.cols >= 0) & (part.cols < width)
                outside += int((~inside).sum())
                rows, cols = part.rows[inside], part.cols[inside]
                on_keep_out += int(keep_out[rows, cols].sum())
                on_taken += int(taken[rows, cols].sum())
            key = (conflicts, outside, on_keep_out, on_taken, rank[index])
            if best_key is None or key < best_key:
                best_key, best_parts = key, parts
        if best_key[0]:
            log.debug("%s marker at %s: %d conflicts with the other targets", self.name, pixel.tolist(), best_key[0])
        if best_key[1]:
            log.debug("%s marker at %s: %d pixels fall outside the image", self.name, pixel.tolist(), best_key[1])
        return best_parts


def _preference(placements: list, pixel: np.ndarray, others: np.ndarray) -> list[int]:
    """Rank of each placement: the style's order alone, or with other targets, the label direction
    farthest from the nearest other target first (the style's order breaks ties)."""
    if len(others) == 0:
        return list(range(len(placements)))
    offsets = others - np.asarray(pixel, dtype=np.float64)
    nearest = offsets[np.argmin(np.hypot(offsets[:, 0], offsets[:, 1]))]
    away = -nearest / max(float(np.hypot(*nearest)), 1e-9)
    alignment = [round(-float(p.label_dir @ away), 9) for p in placements]
    order = sorted(range(len(placements)), key=lambda i: (alignment[i], i))
    return [order.index(i) for i in range(len(placements))]


def label_centre(parts: tuple) -> np.ndarray:
    """(2,) float (u, v): the centre of a label's glyphs, the last part ``layout`` gives a labelled point."""
    glyphs = parts[-1]
    return np.array([glyphs.cols.mean(), glyphs.rows.mean()])


def _conflicts(parts: tuple, pixel: np.ndarray, others: np.ndarray, clearance: float, labelled: bool) -> int:
    """How many of the other targets a placement crowds: a part within ``clearance`` of one, or a
    label whose centre is not clearly nearer its own target (``LABEL_NEARNESS_RATIO``)."""
    if len(others) == 0:
        return 0
    conflicts = 0
    for part in parts:
        if len(part.rows) == 0:
            continue
        box = (part.cols.min(), part.cols.max(), part.rows.min(), part.rows.max())
        for u, v in others:
            near_box = box[0] - clearance < u < box[1] + clearance and box[2] - clearance < v < box[3] + clearance
            if near_box and np.min(np.hypot(part.cols - u, part.rows - v)) < clearance:
                conflicts += 1
    if labelled:
        centre = label_centre(parts)
        own = math.hypot(*(centre - pixel))
        nearest_other = float(np.min(np.hypot(others[:, 0] - centre[0], others[:, 1] - centre[1])))
        conflicts += int(own > LABEL_NEARNESS_RATIO * nearest_other)
    return conflicts


def check_marker(image: np.ndarray, pixel: np.ndarray, style: "MarkerStyle | str") -> bool:
    """Whether ``style``'s marker is drawn pointing at ``pixel`` in ``image``.

    Tries every placement the style could have chosen; a placement matches when at least
    ``MATCH_FRACTION`` of each checked part's pixels (eroded by one pixel, so that JPEG's
    blurred edges do not count) lie within ``COLOUR_TOLERANCE`` of the part's colour, and
    less than ``SURROUND_FRACTION`` of the band around it does. Survives JPEG compression
    at quality 90. A marker drawn on a background of its own colour does not stand out and
    is not found.

    Args:
        image: (H, W, 3) uint8 RGB image (a decoded JPEG is fine).
        pixel: (2,) pixel centre (u, v).
        style: a MarkerStyle, or the name of a registered one.

    Returns:
        True if a marker of the style points at the pixel; False otherwise (also for a pixel
        outside the image).
    """
    style = MARKERS.get(style)() if isinstance(style, str) else style
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] < 3:
        raise MarkerError(f"check_marker: image must be (H, W, 3), got {image.shape}")
    u, v = (int(round(float(c))) for c in np.asarray(pixel).reshape(2))
    height, width = image.shape[:2]
    if not (0 <= u < width and 0 <= v < height):
        return False
    seen = set()
    for placement in style.placements(np.array([u, v], dtype=np.float64), height, width):
        checked = tuple(part for part in placement.parts if part.checked)
        key = tuple(id(part) for part in checked)
        if key not in seen:
            seen.add(key)
            if checked and all(_part_matches(image, part) for part in checked):
                return True
    return False


def _part_matches(image: np.ndarray, part: Part) -> bool:
    """The part's (eroded) pixels inside the image have its colour (at least MATCH_FRACTION of them),
    and the band 2-3 px around it does not (less than SURROUND_FRACTION): the marker stands out."""
    height, width = image.shape[:2]
    inside = (part.rows >= 0) & (part.rows < height) & (part.cols >= 0) & (part.cols < width)
    rows, cols = part.rows[inside], part.cols[inside]
    if len(rows) < MIN_CHECK_PIXELS:
        return False
    pad = SURROUND_PX
    r0, c0 = rows.min() - pad, cols.min() - pad
    mask = np.zeros((rows.max() - r0 + pad + 1, cols.max() - c0 + pad + 1), dtype=bool)
    mask[rows - r0, cols - c0] = True
    core = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(2, 1))
    if core.sum() < MIN_CHECK_PIXELS:
        core = mask
    around = ndimage.binary_dilation(mask, iterations=pad) & ~ndimage.binary_dilation(mask, iterations=1)
    if _colour_share(image, core, r0, c0, part.colour) < MATCH_FRACTION:
        return False
    return _colour_share(image, around, r0, c0, part.colour) < SURROUND_FRACTION


def _colour_share(image: np.ndarray, mask: np.ndarray, r0: int, c0: int, colour: tuple) -> float:
    """Share of the mask's pixels inside the image within COLOUR_TOLERANCE of ``colour`` (0 if none)."""
    rows, cols = np.nonzero(mask)
    rows, cols = rows + r0, cols + c0
    inside = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
    if not inside.any():
        return 0.0
    colours = image[rows[inside], cols[inside], :3].astype(np.float64)
    distance = np.linalg.norm(colours - np.asarray(colour, dtype=np.float64), axis=1)
    return float(np.mean(distance <= COLOUR_TOLERANCE))


# --- input checks and masks -------------------------------------------------------------------


def _check_image(name: str, image) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise MarkerError(f"marker {name!r}: image must be an (H, W, 3) uint8 array, got {got}")


def _check_pixels(name: str, height: int, width: int, pixels, labels) -> tuple:
    """((K, 2) int64 pixels inside the image, K label texts or None), checked."""
    array = np.asarray(pixels)
    if array.size % 2 or not (np.issubdtype(array.dtype, np.number) or array.size == 0):
        raise MarkerError(f"marker {name!r}: pixels must be (K, 2) numbers, got {array.shape} {array.dtype}")
    array = array.reshape(-1, 2)
    if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise MarkerError(f"marker {name!r}: pixels must be integer pixel centres, got {array.tolist()}")
    array = array.astype(np.int64)
    outside = (array[:, 0] < 0) | (array[:, 0] >= width) | (array[:, 1] < 0) | (array[:, 1] >= height)
    if outside.any():
        raise MarkerError(f"marker {name!r}: pixels {array[outside].tolist()} lie outside the "
                          f"{width}x{height} image")
    if labels is not None and (isinstance(labels, str) or len(labels) != len(array)):
        raise MarkerError(f"marker {name!r}: need one label per pixel ({len(array)}), got {labels!r}")
    return array, None if labels is None else [str(label) for label in labels]


def _keep_out(height: int, width: int, pixels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels within KEEP_OUT_PX (Chebyshev) of a marked pixel."""
    mask = np.zeros((height, width), dtype=bool)
    for u, v in pixels:
        mask[max(v - KEEP_OUT_PX, 0): v + KEEP_OUT_PX + 1, max(u - KEEP_OUT_PX, 0): u + KEEP_OUT_PX + 1] = True
    return mask


def _visible(part: Part, height: int, width: int, keep_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part's rows and columns inside the image and off every keep-out zone."""
    inside = (part.rows >= 0) & (part.rows < height) & (part.cols >= 0) & (part.cols < width)
    rows, cols = part.rows[inside], part.cols[inside]
    keep = ~keep_out[rows, cols]
    return rows[keep], cols[keep]


def _grid(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) int64 arrays of every pixel centre in the bounding box of (M, 2) points."""
    low = np.floor(points.min(axis=0)).astype(np.int64)
    high = np.ceil(points.max(axis=0)).astype(np.int64)
    uu, vv = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1))
    return uu.ravel(), vv.ravel()


def _arrow_part(pixel: np.ndarray, direction: np.ndarray, length: float, gap: float, colour: tuple) -> Part:
    """An arrow whose tip lies ``gap`` px from ``pixel`` and whose tail lies ``length`` further along ``direction``.

    The head is a triangle 0.4 ``length`` long; the shaft a bar about 0.18 ``length`` wide.
    """
    normal = np.array([-direction[1], direction[0]])
    tip = pixel + gap * direction
    head, half_head, half_shaft = 0.4 * length, max(2.5, 0.22 * length), max(1.5, 0.09 * length)
    corners = np.array([tip, tip + head * direction + half_head * normal, tip + head * direction - half_head * normal,
                        tip + length * direction + half_shaft * normal, tip + length * direction - half_shaft * normal])
    uu, vv = _grid(corners)
    s = (uu - tip[0]) * direction[0] + (vv - tip[1]) * direction[1]  # along the arrow, from the tip
    t = np.abs((uu - tip[0]) * normal[0] + (vv - tip[1]) * normal[1])  # across it
    inside = ((s >= 0) & (s <= head) & (t <= half_head * s / head)) | \
             ((s >= 0.8 * head) & (s <= length) & (t <= half_shaft))
    return Part(rows=vv[inside], cols=uu[inside], colour=colour)


def _ring_part(pixel: np.ndarray, inner: float, outer: float, colour: tuple, checked: bool = True) -> Part:
    """Pixels whose centre lies between ``inner`` (exclusive) and ``outer`` (inclusive) px of ``pixel``."""
    uu, vv = _grid(np.array([pixel - outer, pixel + outer]))
    radius = np.hypot(uu - pixel[0], vv - pixel[1])
    inside = (radius > inner) & (radius <= outer)
    return Part(rows=vv[inside], cols=uu[inside], colour=colour, checked=checked)


def _cross_part(pixel: np.ndarray, gap: float, arm: float, half_width: float, colour: tuple) -> Part:
    """Four bars (right, left, down, up) from ``gap`` to ``arm`` px off ``pixel``, ``2 half_width`` wide."""
    uu, vv = _grid(np.array([pixel - arm, pixel + arm]))
    du, dv = np.abs(uu - pixel[0]), np.abs(vv - pixel[1])
    inside = ((du >= gap) & (du <= arm) & (dv <= half_width)) | ((dv >= gap) & (dv <= arm) & (du <= half_width))
    return Part(rows=vv[inside], cols=uu[inside], colour=colour)


# --- labels ----------------------------------------------------------------------------------


def _label_scale(scale: float) -> int:
    """Integer magnification of the label font (glyphs 7 px tall at 1)."""
    return max(1, int(round(scale / 16.0)))


#: A 5x7 bitmap font for labels (rows top to bottom, "1" = ink); other characters fall back to
#: Pillow's built-in bitmap font. Both draw identically on every machine.
_GLYPHS = {
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
}


def _glyph_bitmap(text: str) -> np.ndarray:
    """(rows, cols) bool ink of ``text`` at one pixel per font dot."""
    if text and all(c in _GLYPHS for c in text):
        glyphs = [np.array([[c == "1" for c in row] for row in _GLYPHS[c].split()]) for c in text]
        spaced = [part for glyph in glyphs for part in (glyph, np.zeros((7, 1), bool))][:-1]
        return np.concatenate(spaced, axis=1)
    loader = getattr(ImageFont, "load_default_imagefont", None)
    font = loader() if loader is not None else ImageFont.load_default()
    _, _, right, bottom = font.getbbox(text or " ")
    canvas = Image.new("L", (max(right, 1), max(bottom, 1)), 0)
    ImageDraw.Draw(canvas).text((0, 0), text, fill=255, font=font)
    ink = np.asarray(canvas) > 127
    if not ink.any():
        return np.zeros((7, 5), bool)
    rows, cols = np.nonzero(ink)
    return ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]


@functools.lru_cache(maxsize=64)
def _text_masks(text: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(glyphs, outline) bool masks of one shape: the text magnified by ``scale``, and a black
    border around it, not overlapping the glyphs."""
    border = max(1, scale // 2)
    glyphs = np.pad(np.repeat(np.repeat(_glyph_bitmap(text), scale, axis=0), scale, axis=1), border)
    outline = ndimage.binary_dilation(glyphs, structure=np.ones((3, 3), bool), iterations=border) & ~glyphs
    glyphs.setflags(write=False)
    outline.setflags(write=False)
    return glyphs, outline


def _label_parts(placement: Placement, masks: tuple[np.ndarray, np.ndarray]) -> tuple[Part, Part]:
    """The outline (black) and glyphs (white) of a label set beyond ``placement.label_from``."""
    glyphs, outline = masks
    height, width = glyphs.shape
    direction = placement.label_dir
    reach = 2.0 + abs(direction[0]) * width / 2 + abs(direction[1]) * height / 2
    centre = placement.label_from + reach * direction
    u0, v0 = int(round(centre[0] - width / 2)), int(round(centre[1] - height / 2))
    parts = []
    for mask, colour in ((outline, BLACK), (glyphs, WHITE)):
        rows, cols = np.nonzero(mask)
        parts.append(Part(rows=rows + v0, cols=cols + u0, colour=colour, checked=False))
    return tuple(parts)


# --- the styles ------------------------------------------------------------------------------

#: Distance (pixels) from the target to an arrow's tip.
ARROW_GAP_PX = 2.0


def _around(pixel: np.ndarray, reach: float, parts_towards) -> list[Placement]:
    """One placement per direction ``d`` of ``DIRECTIONS``, by preference: the parts
    ``parts_towards(d)``, and the label set beyond ``pixel + reach * d``."""
    return [Placement(parts=parts_towards(d), label_from=pixel + reach * d, label_dir=d) for d in DIRECTIONS]


@MARKERS.register("arrow")
class Arrow(MarkerStyle):
    """The paper's training marker: a small red arrow whose tip stops just short of the pixel."""

    name = "arrow"
    description = "red arrow"
    description_two = "the red arrows labelled A and B"
    colour: ClassVar[tuple] = RED

    def placements(self, pixel: np.ndarray, height: int, width: int) -> list[Placement]:
        pixel = np.asarray(pixel, dtype=np.float64)
        length = marker_scale_px(height, width)
        return _around(pixel, ARROW_GAP_PX + length,
                       lambda d: (_arrow_part(pixel, d, length, ARROW_GAP_PX, self.colour),))


@MARKERS.register("arrow_dot")
class ArrowDot(MarkerStyle):
    """The paper's figure style: a yellow arrow pointing at a small cyan dot around the pixel
    (the dot leaves the pixel itself and its neighbours visible)."""

    name = "arrow_dot"
    description = "yellow arrow and cyan dot"
    description_two = "the yellow arrows and cyan dots labelled A and B"

    def placements(self, pixel: np.ndarray, height: int, width: int) -> list[Placement]:
        pixel = np.asarray(pixel, dtype=np.float64)
        length = marker_scale_px(height, width)
        radius = max(2.5, 0.1 * length)
        dot = _ring_part(pixel, KEEP_OUT_PX + 0.5, radius, CYAN, checked=False)
        gap = radius + 1.5
        return _around(pixel, gap + length, lambda d: (_arrow_part(pixel, d, length, gap, YELLOW), dot))


@MARKERS.register("circle")
class Circle(MarkerStyle):
    """A red ring centred on the pixel."""

    name = "circle"
    description = "red circle"
    description_two = "the red circles labelled A and B"

    def placements(self, pixel: np.ndarray, height: int, width: int) -> list[Placement]:
        pixel = np.asarray(pixel, dtype=np.float64)
        size = marker_scale_px(height, width)
        outer = max(5.0, 0.4 * size)
        ring = _ring_part(pixel, outer - max(3.0, 0.14 * size), outer, RED)
        return _around(pixel, outer, lambda d: (ring,))


@MARKERS.register("cross")
class Cross(MarkerStyle):
    """A red cross (+) centred on the pixel, its bars stopping short of it."""

    name = "cross"
    description = "red cross"
    description_two = "the red crosses labelled A and B"

    def placements(self, pixel: np.ndarray, height: int, width: int) -> list[Placement]:
        pixel = np.asarray(pixel, dtype=np.float64)
        size = marker_scale_px(height, width)
        arm = max(6.0, 0.45 * size)
        cross = _cross_part(pixel, KEEP_OUT_PX + 1.0, arm, max(1.5, 0.09 * size), RED)
        return _around(pixel, arm, lambda d: (cross,))
