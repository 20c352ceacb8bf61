"""Draw a contact sheet of the bundled synthetic scenes: colour and depth, a few frames per family.

Run from the repository root:

    python bench/contact_sheet.py                     # docs/img/scenes_contact_sheet.png
    python bench/contact_sheet.py --preset wide       # the wide camera rig instead of the recipes'

One row per recipe; each frame is shown as its colour image and its rendered z depth
(log scale, red near to blue far, black = no surface). Frames are rendered at the recipe's
own resolution and shrunk to a tile, which also smooths their edges. The label gives the
frame id, the focal length, the lens model and the 5th-95th percentile of depth.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen.sources.synthetic import SyntheticSource  # noqa: E402

OUT = ROOT / "docs" / "img" / "scenes_contact_sheet.png"
#: Colour ramp over log depth: red, orange, yellow, green, cyan, blue.
RAMP = np.array([[230, 30, 30], [255, 140, 0], [240, 230, 40], [60, 200, 60], [40, 200, 230], [40, 70, 255]])
LABEL_H = 16


def depth_colours(depth_m: np.ndarray, near_m: float, far_m: float) -> np.ndarray:
    """(H, W, 3) uint8 colours of a depth map on a log ramp from ``near_m`` (red) to ``far_m`` (blue)."""
    valid = np.isfinite(depth_m) & (depth_m > 0)
    t = np.zeros(depth_m.shape)
    t[valid] = np.clip(np.log(depth_m[valid] / near_m) / np.log(far_m / near_m), 0.0, 1.0) * (len(RAMP) - 1)
    out = np.stack([np.interp(t, np.arange(len(RAMP)), RAMP[:, c]) for c in range(3)], axis=-1)
    out[~valid] = 0
    return out.astype(np.uint8)


def tile(frame, width: int) -> Image.Image:
    """Colour beside depth, shrunk to ``width`` pixels each, with a label strip above."""
    depth = frame.depth_m
    valid = depth[np.isfinite(depth)]
    near, far = np.percentile(valid, [1, 99]) if len(valid) else (1.0, 2.0)
    height = round(width * frame.camera.height / frame.camera.width)
    colour = Image.fromarray(frame.image).resize((width, height), Image.LANCZOS)
    depth_img = Image.fromarray(depth_colours(depth, near, max(far, near * 1.5))).resize((width, height), Image.NEAREST)
    out = Image.new("RGB", (2 * width, height + LABEL_H), (255, 255, 255))
    out.paste(colour, (0, LABEL_H))
    out.paste(depth_img, (width, LABEL_H))
    p5, p95 = np.percentile(valid, [5, 95]) if len(valid) else (0.0, 0.0)
    label = (f"{frame.frame_id.removeprefix('synthetic/')}  f={frame.camera.fx:.0f}px {frame.camera.width}x"
             f"{frame.camera.height} {frame.camera.model}  z 5-95%: {p5:.1f}-{p95:.1f} m")
    ImageDraw.Draw(out).text((4, 2), label, fill=(0, 0, 0))
    return out


def sheet(tiles: list[list[Image.Image]], gap: int = 6) -> Image.Image:
    """Rows of tiles on a white page."""
    width = max(sum(t.width for t in row) + gap * (len(row) + 1) for row in tiles)
    heights = [max(t.height for t in row) for row in tiles]
    out = Image.new("RGB", (width, sum(heights) + gap * (len(tiles) + 1)), (255, 255, 255))
    y = gap
    for row, h in zip(tiles, heights):
        x = gap
        for t in row:
            out.paste(t, (x, y))
            x += t.width + gap
        y += h + gap
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--per-family", type=int, default=3, help="frames per recipe (from different scenes)")
    parser.add_argument("--tile-width", type=int, default=200, help="width of one image in the sheet, pixels")
    parser.add_argument("--preset", default=None, help="camera preset instead of the recipes' rigs (e.g. wide)")
    args = parser.parse_args()
    source = SyntheticSource(SyntheticSource.Config(camera_preset=args.preset, lidar=False))
    start, rows = time.perf_counter(), []
    for name in sorted(source.recipes):
        recipe = source.recipes[name]
        picks = [(k % recipe.sequences, (2 * k + 1) % recipe.frames_per_sequence) for k in range(args.per_family)]
        rows.append([tile(source.load_frame(f"synthetic/{name}/{s}/{f:06d}"), args.tile_width) for s, f in picks])
    image = sheet(rows).quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, optimize=True)
    print(f"{args.out}: {image.width}x{image.height}, {args.out.stat().st_size / 1e3:.0f} kB, "
          f"{len(rows)} recipes x {args.per_family} frames in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
