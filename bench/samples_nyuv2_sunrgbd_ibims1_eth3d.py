"""Lay out the shared NYUv2, SUN RGB-D and iBims-1 samples (and an ETH3D fake) in their official layouts.

The samples in ``../shared/data`` are not in the datasets' own layouts; the tests write them
into those layouts (``tests/sources/test_<name>.py``), and this script reuses those writers so
that ``datagen overlay`` and the benchmark read exactly what a user's download holds. ETH3D has
no sample here: its scene is the tests' fake (a slanted, checkered wall seen by two posed DSLR
images through a THIN_PRISM_FISHEYE lens), scaled up.

Run by hand: ``python bench/samples_nyuv2_sunrgbd_ibims1_eth3d.py OUT [--overlays docs/sources/img]``
writes the layouts under OUT and, with --overlays, the docs pages' overlay images.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import SHARED_DATA  # noqa: E402
from tests.sources import test_eth3d, test_ibims1, test_nyuv2, test_sunrgbd  # noqa: E402

#: source -> (frame to draw, overlay options, image file): what docs/sources/<name>.md shows.
OVERLAYS = {"nyuv2": ("nyuv2/sample_room_0001/0002", [], "nyuv2.png"),
            "sunrgbd": ("sunrgbd/kv2/kinect2data/000017_sample", ["-O", "official_splits=false"], "sunrgbd.jpg"),
            "ibims1": ("ibims1/corridor/corridor_01", ["--radius", "3"], "ibims1.jpg"),
            "eth3d": ("eth3d/courtyard/DSC_0002", ["-O", "stride=7"], "eth3d.png")}


def nyuv2(out: Path) -> Path:
    """The three Metric3D NYUv2 frames as a labelled .mat (v7.3) and splits.mat."""
    images, raw = test_nyuv2._sample_arrays(SHARED_DATA / test_nyuv2.SAMPLE)
    return test_nyuv2.write_labeled(out / "nyuv2", images, raw, test_nyuv2._filled(raw), test_nyuv2.SCENES)


def sunrgbd(out: Path) -> Path:
    """The mmdet3d demo frame as a SUN RGB-D kv2 scene folder (depth PNG rebuilt from its point cloud)."""
    sample = SHARED_DATA / test_sunrgbd.SAMPLE
    depth2img, K, tilt = test_sunrgbd._sample_calibration(sample)
    _, pixels, z = test_sunrgbd._sample_points(sample, depth2img)
    depth = np.zeros((530, 730))
    depth[pixels[:, 1], pixels[:, 0]] = z
    root = out / "sunrgbd"
    test_sunrgbd._write_scene(root / "SUNRGBD" / test_sunrgbd.SAMPLE_SCENE, sample / "000017.jpg", depth, K, tilt)
    return root


def ibims1(out: Path) -> Path:
    """Three DepthLM iBims-1 images as native ibims1_core_mat/*.mat files."""
    sample = SHARED_DATA / test_ibims1.SAMPLE
    folder = out / "ibims1" / "ibims1_core_mat"
    folder.mkdir(parents=True, exist_ok=True)
    names = [test_ibims1.write_native(folder, sample, line) for line in test_ibims1._lines(sample).values()]
    (folder / "imagelist.txt").write_text("\n".join(names) + "\n")
    return out / "ibims1"


def eth3d(out: Path, scale: int = 10) -> Path:
    """The tests' ETH3D fake, ``scale`` times larger (126 gives ETH3D's 6048 x 4032), with a checkered wall."""
    from datagen.sources._thin_prism import ThinPrismFisheye

    width, height, params = test_eth3d.LENS
    lens = (width * scale, height * scale, [p * scale for p in params[:4]] + list(params[4:]))
    width, height, params = test_eth3d.PINHOLE
    pinhole = (width * scale, height * scale, [p * scale for p in params])
    test_eth3d.LENS, test_eth3d.PINHOLE = lens, pinhole  # write_scene reads the module's cameras
    rows, cols = np.mgrid[0:lens[1], 0:lens[0]]
    rays, _ = ThinPrismFisheye(*lens).unproject(np.column_stack([cols.ravel(), rows.ravel()]) + 0.5)
    folder = test_eth3d.write_scene(out / "eth3d", rays.reshape(lens[1], lens[0], 2))
    for stem in test_eth3d.POSES:
        Image.fromarray(_checkered_wall(stem, pinhole)).save(
            folder / "images" / "dslr_images_undistorted" / f"{stem}.JPG", quality=95)
    return out / "eth3d"


def _checkered_wall(stem: str, pinhole: tuple) -> np.ndarray:
    """The image ``stem`` sees through the pinhole camera: the wall with 25 cm squares (world x, y)."""
    fx, fy, cx, cy = pinhole[2]
    normal, offset = test_eth3d.wall_in_camera(stem)
    rotation, t = test_eth3d.POSES[stem]
    image = np.empty((pinhole[1], pinhole[0], 3), dtype=np.uint8)
    for top in range(0, pinhole[1], 256):  # a band of rows at a time: full-size images are 34 Mpx
        v, u = np.mgrid[top:min(top + 256, pinhole[1]), 0:pinhole[0]] + 0.5  # COLMAP pixel centres
        rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1)
        world = (rays * (offset / (rays @ normal))[..., None] - t) @ rotation.as_matrix()
        dark = ((np.floor(world[..., 0] / 0.25) + np.floor(world[..., 1] / 0.25)) % 2).astype(np.uint8)
        image[top:top + 256] = np.stack([60 + 140 * dark, 60 + 120 * dark, 70 + 100 * dark], axis=-1)
    return image


LAYOUTS = {"nyuv2": nyuv2, "sunrgbd": sunrgbd, "ibims1": ibims1, "eth3d": eth3d}


def write_overlays(roots: dict, folder: Path) -> None:
    """``datagen overlay`` of each source's chosen frame, saved as its docs page shows it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (frame, options, file_name) in OVERLAYS.items():
        png = folder / f"{Path(file_name).stem}.png"
        subprocess.run([sys.executable, "-m", "datagen.cli", "overlay", "--source", name, "--root", str(roots[name]),
                        "--frame", frame, *options, "--out", str(png)], check=True)
        if file_name.endswith(".jpg"):  # keeps the page light
            Image.open(png).convert("RGB").save(folder / file_name, quality=85)
            png.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the layouts into")
    parser.add_argument("--overlays", type=Path, help="also draw the docs overlays into this folder")
    args = parser.parse_args()
    roots = {name: layout(args.out) for name, layout in LAYOUTS.items()}
    for name, root in roots.items():
        print(f"{name}: {root}")
    if args.overlays:
        write_overlays(roots, args.overlays)


if __name__ == "__main__":
    main()
