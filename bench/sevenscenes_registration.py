"""How well 7-Scenes depth lines up with its colour images under each registration choice.

Run by hand: ``python bench/sevenscenes_registration.py``. 7-Scenes publishes no depth-to-colour
calibration, so this measures alignment on the real sample (../shared/data/7scenes_tsdffusion):
the depth map is moved into the colour image under a hypothesis (focal lengths, baseline,
principal point), its depth edges (neighbours more than 10% apart, near side) are found, and
for each the distance to the nearest colour edge (top 12% of the smoothed gradient magnitude)
is taken. Reported: the median distance in pixels and the share within 1.5 px, averaged over
the three frames, for the source's two choices and for a small search around the default.
Colour edges without a depth edge (texture) do not count; depth edges on untextured surfaces do,
so even a perfect registration does not reach 0.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from datagen.sources.sevenscenes import COLOR_INTRINSICS, DEPTH_INTRINSICS, T_COLOR_DEPTH

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "7scenes_tsdffusion" / "data"
FRAMES = ("000000", "000030", "000060")


def reproject(depth_m: np.ndarray, colour: tuple, baseline_x_m: float) -> np.ndarray:
    """z of the depth pixels in a colour image of ``colour`` = (fx, cx, cy) after a shift along x."""
    fd, _, cxd, cyd = DEPTH_INTRINSICS
    fc, cxc, cyc = colour
    v, u = np.nonzero(depth_m > 0)
    z = depth_m[v, u]
    x, y = (u - cxd) / fd * z + baseline_x_m, (v - cyd) / fd * z
    cols, rows = np.floor(fc * x / z + cxc + 0.5).astype(int), np.floor(fc * y / z + cyc + 0.5).astype(int)
    inside = (cols >= 0) & (cols < 640) & (rows >= 0) & (rows < 480)
    out = np.full(depth_m.shape, np.inf)
    np.minimum.at(out, (rows[inside], cols[inside]), z[inside])
    out[np.isinf(out)] = 0
    return out


def depth_edges(z: np.ndarray) -> np.ndarray:
    """(H, W) bool: the nearer pixel of each neighbour pair whose depths differ by more than 10%."""
    edges = np.zeros(z.shape, dtype=bool)
    for dy, dx in ((0, 1), (1, 0)):
        a, b = z[: z.shape[0] - dy, : z.shape[1] - dx], z[dy:, dx:]
        jump = (a > 0) & (b > 0) & (np.abs(a - b) > 0.1 * np.minimum(a, b))
        edges[: z.shape[0] - dy, : z.shape[1] - dx] |= jump & (a < b)
        edges[dy:, dx:] |= jump & (b <= a)
    return edges


def colour_edge_distance(rgb: np.ndarray) -> np.ndarray:
    """(H, W) distance in pixels to the nearest colour edge."""
    grey = ndimage.gaussian_filter(np.asarray(Image.fromarray(rgb).convert("L"), dtype=float), 1.5)
    magnitude = np.hypot(ndimage.sobel(grey, 1), ndimage.sobel(grey, 0))
    return ndimage.distance_transform_edt(magnitude <= np.percentile(magnitude, 88))


def score(frames: list, colour: tuple, baseline_x_m: float) -> tuple[float, float]:
    medians, shares = [], []
    for depth_m, distance in frames:
        d = distance[depth_edges(reproject(depth_m, colour, baseline_x_m))]
        medians.append(np.median(d))
        shares.append(np.mean(d <= 1.5))
    return float(np.mean(medians)), float(np.mean(shares))


def main() -> None:
    frames = []
    for number in FRAMES:
        raw = np.asarray(Image.open(SAMPLE / f"frame-{number}.depth.png")).astype(float)
        depth = np.where((raw == 0) | (raw == 65535), 0.0, raw / 1000.0)
        frames.append((depth, colour_edge_distance(np.asarray(Image.open(SAMPLE / f"frame-{number}.color.jpg")))))
    fd, _, cxd, cyd = DEPTH_INTRINSICS
    fc, _, cxc, cyc = COLOR_INTRINSICS
    rows = {"none (depth map as the colour labels, focal 585)": ((fd, cxd, cyd), 0.0),
            "kinect (default: focal 525, 2.5 cm baseline)": ((fc, cxc, cyc), float(T_COLOR_DEPTH[0, 3])),
            "focal 525, no baseline": ((fc, cxc, cyc), 0.0)}
    print(f"{'registration':<66}{'median px':>10}{'<=1.5 px':>10}")
    for name, (colour, baseline) in rows.items():
        median, share = score(frames, colour, baseline)
        print(f"{name:<66}{median:>10.2f}{share:>10.2f}")
    search = [(score(frames, (f, cxc + dx, cyc + dy), b), f, b, dx, dy) for f, b, dx, dy in itertools.product(
        (520.0, 525.0, 530.0, 535.0, 540.0), (-0.035, -0.025, -0.015), (-2, 0, 2), (-2, 0, 2))]
    (median, share), f, b, dx, dy = min(search, key=lambda r: r[0][0])
    print(f"{f'best of the search: focal {f:.0f}, baseline {100 * b:.1f} cm, pp +({dx}, {dy}) px':<66}"
          f"{median:>10.2f}{share:>10.2f}")


if __name__ == "__main__":
    main()
