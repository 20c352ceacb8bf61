"""Lay the shared indoor samples out in their datasets' official layouts (for benchmarks and docs images).

``python bench/indoor_samples.py OUT`` writes, from ``../shared/data``:

* ``OUT/tum/rgbd_dataset_freiburg1_desk``: the TUM frame with rgb.txt, depth.txt, groundtruth.txt;
* ``OUT/7scenes/redkitchen/seq-01``: the three 7-Scenes frames (colour as PNG) and TrainSplit.txt;
* ``OUT/scannet/scans/scene0000_00/scene0000_00.sens``: a .sens file (SensorData.h format) made
  of the same three 7-Scenes frames, colour stretched to ScanNet's 1296x968 with the intrinsics
  scaled to match, depth at 640x480 with 7-Scenes' depth intrinsics and its nominal baseline as
  the depth extrinsic; a faithful fake of ScanNet's layout and geometry, with real content.

The NYUv2 and KITTI samples are read in place by the rgbd source (docs/sources/rgbd.md).
"""

from __future__ import annotations

import io
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SEVEN_FRAMES = ("000000", "000030", "000060")
TUM_SEQUENCE = "rgbd_dataset_freiburg1_desk"
SCANNET_SCENE = "scene0000_00"
SCANNET_COLOR_SIZE = (1296, 968)


def lay_out_tum(out: Path, shared: Path = SHARED) -> Path:
    folder = out / "tum" / TUM_SEQUENCE
    (folder / "rgb").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(exist_ok=True)
    sample = shared / "tum_sun3d_open3d" / "other_formats"
    shutil.copy(sample / "TUM_color.png", folder / "rgb" / "1305031452.791720.png")
    shutil.copy(sample / "TUM_depth.png", folder / "depth" / "1305031452.776914.png")
    (folder / "rgb.txt").write_text("# timestamp filename\n1305031452.791720 rgb/1305031452.791720.png\n")
    (folder / "depth.txt").write_text("# timestamp filename\n1305031452.776914 depth/1305031452.776914.png\n")
    return out / "tum"


def lay_out_sevenscenes(out: Path, shared: Path = SHARED) -> Path:
    sample = shared / "7scenes_tsdffusion" / "data"
    sequence = out / "7scenes" / "redkitchen" / "seq-01"
    sequence.mkdir(parents=True, exist_ok=True)
    for number in SEVEN_FRAMES:
        Image.open(sample / f"frame-{number}.color.jpg").save(sequence / f"frame-{number}.color.png")
        shutil.copy(sample / f"frame-{number}.depth.png", sequence / f"frame-{number}.depth.png")
        shutil.copy(sample / f"frame-{number}.pose.txt", sequence / f"frame-{number}.pose.txt")
    (sequence.parent / "TrainSplit.txt").write_text("sequence1\n")
    return out / "7scenes"


def lay_out_scannet(out: Path, shared: Path = SHARED) -> Path:
    """A .sens file of the 7-Scenes frames with ScanNet's image sizes (see the module docstring)."""
    from datagen.sources.sevenscenes import COLOR_INTRINSICS, DEPTH_INTRINSICS, T_COLOR_DEPTH

    sample = shared / "7scenes_tsdffusion" / "data"
    scene = out / "scannet" / "scans" / SCANNET_SCENE
    scene.mkdir(parents=True, exist_ok=True)
    sx, sy = SCANNET_COLOR_SIZE[0] / 640, SCANNET_COLOR_SIZE[1] / 480
    fx, fy, cx, cy = COLOR_INTRINSICS
    color_K = np.array([[fx * sx, 0, (cx + 0.5) * sx - 0.5, 0], [0, fy * sy, (cy + 0.5) * sy - 0.5, 0],
                        [0, 0, 1, 0], [0, 0, 0, 1]])
    dfx, dfy, dcx, dcy = DEPTH_INTRINSICS
    depth_K = np.array([[dfx, 0, dcx, 0], [0, dfy, dcy, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    name = b"fake from 7-Scenes"
    with (scene / f"{SCANNET_SCENE}.sens").open("wb") as sens:
        sens.write(struct.pack("<IQ", 4, len(name)) + name)
        for matrix in (color_K, np.eye(4), depth_K, T_COLOR_DEPTH):
            sens.write(np.asarray(matrix, dtype="<f4").tobytes())
        sens.write(struct.pack("<ii4If", 2, 1, *SCANNET_COLOR_SIZE, 640, 480, 1000.0))
        sens.write(struct.pack("<Q", len(SEVEN_FRAMES)))
        for k, number in enumerate(SEVEN_FRAMES):
            jpeg = io.BytesIO()
            Image.open(sample / f"frame-{number}.color.jpg").convert("RGB").resize(SCANNET_COLOR_SIZE).save(
                jpeg, format="JPEG", quality=90)
            depth = zlib.compress(np.asarray(Image.open(sample / f"frame-{number}.depth.png")).astype("<u2").tobytes())
            T_world_depth = np.loadtxt(sample / f"frame-{number}.pose.txt")
            sens.write((T_world_depth @ np.linalg.inv(T_COLOR_DEPTH)).astype("<f4").tobytes())
            sens.write(struct.pack("<4Q", 33_333 * k, 33_333 * k, len(jpeg.getvalue()), len(depth)))
            sens.write(jpeg.getvalue() + depth)
        sens.write(struct.pack("<Q", 0))
    return out / "scannet"


#: (source, root, options) of each sample, once laid out under ``out``.
def samples(out: Path, shared: Path = SHARED) -> dict:
    nyu = shared / "nyuv2_metric3d" / "nyu_demo"
    kitti = shared / "kitti_depth_metric3d" / "kitti_demo"
    return {
        "tum": ("tum", lay_out_tum(out, shared), {}),
        "sevenscenes": ("sevenscenes", lay_out_sevenscenes(out, shared), {}),
        "scannet": ("scannet", lay_out_scannet(out, shared), {}),
        "rgbd (NYUv2)": ("rgbd", nyu, {"images": "rgb/rgb_{id}.jpg", "depth": "depth/sync_depth_{id}.png",
                                        "depth_scale": 1000,
                                        "intrinsics": [518.8579, 519.46961, 325.58245, 253.73617]}),
        "rgbd (KITTI)": ("rgbd", kitti, {"images": "rgb/{id}.png", "depth": "depth/{id}.png", "depth_scale": 256,
                                          "intrinsics": [707.0493, 707.0493, 604.0814, 180.5066]}),
    }


def blend(overlay: Path, image: Path, out: Path, crop: tuple | None = None, alpha: float = 0.55) -> None:
    """``overlay`` (from ``datagen overlay``) over ``image`` at ``alpha``, optionally cropped, as JPEG."""
    top = Image.open(overlay).convert("RGB")
    base = Image.open(image).convert("RGB").resize(top.size)
    mixed = Image.blend(base, top, alpha)
    (mixed.crop(crop) if crop else mixed).save(out, quality=85)


if __name__ == "__main__":
    if sys.argv[1] == "--blend":  # --blend OVERLAY IMAGE OUT [left top right bottom]
        crop = tuple(int(v) for v in sys.argv[5:9]) if len(sys.argv) > 5 else None
        blend(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), crop)
        sys.exit(0)
    target = Path(sys.argv[1])
    for label, (source, root, options) in samples(target).items():
        print(f"{label}: --source {source} --root {root} " + " ".join(f"-O '{k}={v}'" for k, v in options.items()))
