"""Frames per second of the kitti and nuscenes sources on the real samples, next to the synthetic source.

Run by hand: ``python bench/bench_sources_kitti_nuscenes.py [--repeat 20]``. One core (numba, BLAS and
Arrow held to one thread). Per frame: ``load_frame`` (read the scan, calibration, poses; motion
compensation where the layout has it), read the image, project the points (z-buffer and the
source's see-through filter) and normalise image and labels, as a build does before sampling.
Inputs: the KITTI object sample as it is; a KITTI raw drive written from that sample's scan and
image with an OXTS track at 20 m/s (tests/sources/kitti_files.py), so the per-point compensation
runs; the nuScenes demo keyframe written into v1.0 tables (tests/sources/nuscenes_files.py); and
the bundled synthetic scenes (rendered on load). Each source is warmed up once (numba compiles),
then its frames are loaded ``--repeat`` times in turn. Compare the ratios within one run.
"""

from __future__ import annotations

import os

for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "bench"))
from source_steps import labelled_frame  # noqa: E402


def steps(source, frame_ids: list[str], config) -> int:
    """Load, project and normalise each frame; returns the labels made (so nothing is optimised away)."""
    return sum(len(labelled_frame(source, config, frame_id)[1]) for frame_id in frame_ids)


def sources(tmp: Path) -> dict:
    """name -> (source, frame ids) for each input of the benchmark."""
    sys.path.insert(0, str(ROOT))
    from datagen.sources.kitti import KittiSource
    from datagen.sources.nuscenes import NuScenesSource
    from datagen.sources.synthetic import SyntheticSource
    from tests.sources.kitti_files import write_raw_drive
    from tests.sources.nuscenes_files import write_demo

    times = np.arange(4) * 0.1035
    write_raw_drive(tmp / "raw", SHARED, times, np.column_stack([20 * times, 0 * times, 0 * times]))
    write_demo(tmp / "nuscenes", SHARED).write(tmp / "nuscenes")
    out = {"synthetic": SyntheticSource(SyntheticSource.Config(sequences=1, frames_per_sequence=2)),
           "kitti object": KittiSource(KittiSource.Config(root=SHARED / "kitti_object_kuixu")),
           "kitti raw (compensated)": KittiSource(KittiSource.Config(root=tmp / "raw")),
           "kitti raw (as recorded)": KittiSource(KittiSource.Config(root=tmp / "raw", motion_compensation=False)),
           "nuscenes": NuScenesSource(NuScenesSource.Config(root=tmp / "nuscenes"))}
    return {name: (source, source.frame_ids()[:6]) for name, source in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from datagen.config import load_config

    config = load_config(None, {})
    with tempfile.TemporaryDirectory() as tmp:
        rates = {}
        print(f"{'source':>24} {'frames':>7} {'seconds':>8} {'frames/s':>9} {'labels/frame':>13}")
        for name, (source, frame_ids) in sources(Path(tmp)).items():
            steps(source, frame_ids, config)  # warm-up: numba compiles, calibration and tables cached
            started = time.perf_counter()
            labels = sum(steps(source, frame_ids, config) for _ in range(args.repeat))
            seconds = time.perf_counter() - started
            frames = args.repeat * len(frame_ids)
            rates[name] = frames / seconds
            print(f"{name:>24} {frames:>7} {seconds:>8.2f} {rates[name]:>9.2f} {labels / frames:>13.0f}")
        for name, rate in rates.items():
            if name != "synthetic":
                print(f"{name} / synthetic: {rate / rates['synthetic']:.2f}x")


if __name__ == "__main__":
    main()
