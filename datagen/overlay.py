"""Ground truth drawn over a frame's image: how a user checks a source's calibration at a glance.

``frame_overlay`` loads one frame of a source, computes its labels in the frame's own image
exactly as a build does (LiDAR or registered depth projected with the z-buffer and the
see-through filter, depth maps back-projected, meshes ray-cast), and paints each label on
the image, coloured by depth on a log scale (red near, blue far). A label that lands on
the wrong object shows at once; the docs pages of the sources show one each.
"""

from __future__ import annotations

import colorsys
import logging
from dataclasses import dataclass

import numpy as np

from datagen.images import load_frame_image
from datagen.types import DepthView, Frame

log = logging.getLogger(__name__)

#: Share of labels drawn at most (dense depth maps would hide the image).
MAX_DRAWN = 60_000


@dataclass(frozen=True)
class OverlayStats:
    """How many labels a frame has and over which depths (metres)."""

    labels: int
    z_min_m: float
    z_max_m: float


def depth_colours(z_m: np.ndarray, z_range_m: tuple[float, float] | None = None) -> np.ndarray:
    """(N, 3) uint8 colours of depths on a log scale: red at the near end, through green, blue at the far end."""
    z = np.asarray(z_m, dtype=np.float64)
    if len(z) == 0:
        return np.zeros((0, 3), dtype=np.uint8)
    lo, hi = z_range_m or (float(np.percentile(z, 2)), float(np.percentile(z, 98)))
    lo, hi = max(lo, 1e-3), max(hi, lo * 1.01)
    t = np.clip((np.log(z) - np.log(lo)) / (np.log(hi) - np.log(lo)), 0.0, 1.0)
    rgb = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in np.linspace(0.0, 0.68, 256)])
    return (rgb[np.round(t * 255).astype(int)] * 255).astype(np.uint8)


def draw_labels(image: np.ndarray, view: DepthView, radius_px: int = 1, seed: int = 0) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with each label of ``view`` painted as a square dot.

    Dense views are thinned to ``MAX_DRAWN`` labels, drawn far to near so near labels stay on top.
    """
    out = np.array(image, dtype=np.uint8, copy=True)
    index = np.arange(len(view))
    if len(index) > MAX_DRAWN:
        index = np.sort(np.random.default_rng(seed).choice(index, MAX_DRAWN, replace=False))
    index = index[np.argsort(-view.z_m[index], kind="stable")]
    cols, rows = view.pixel_indices()[index].T
    colours = depth_colours(view.z_m[index])
    height, width = out.shape[:2]
    for dr in range(-radius_px, radius_px + 1):
        for dc in range(-radius_px, radius_px + 1):
            r, c = rows + dr, cols + dc
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            out[r[inside], c[inside]] = colours[inside]
    return out


def frame_overlay(frame: Frame, view: DepthView, radius_px: int = 1) -> tuple[np.ndarray, OverlayStats]:
    """The frame's image with ``view``'s labels drawn on it, and a summary of them."""
    image = load_frame_image(frame)
    stats = OverlayStats(len(view), float(view.z_m.min()) if len(view) else 0.0,
                         float(view.z_m.max()) if len(view) else 0.0)
    return draw_labels(image, view, radius_px), stats
