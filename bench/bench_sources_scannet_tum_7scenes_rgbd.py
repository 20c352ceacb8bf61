"""Frames per second of the indoor RGB-D sources on their real samples, next to the synthetic source.

Run by hand: ``python bench/bench_sources_scannet_tum_7scenes_rgbd.py [--repeat 5]``. One process pinned to one core
(numba and BLAS limited to one thread). For each source, each sample frame is taken through
two stages, timed separately, best of ``--repeat`` passes:

* labels: read the files, decode the depth, register it (back-project, move, z-buffer into the
  colour image, see-through filter) or take it as a label map, and normalise image and labels
  to the unified focal length;
* frame: a whole build of the frame (the labels, then sampling, markers, JPEG encoding and
  writing of every record) by the build's own shard worker.

The synthetic source renders its labels from meshes instead. Ratios within one run are what to
compare; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os

for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from indoor_samples import samples  # noqa: E402
from source_steps import labelled_frame, shard_seconds  # noqa: E402

from datagen.config import BuildConfig  # noqa: E402
from datagen.pipeline import make_source, source_image_view  # noqa: E402


def label_seconds(config: BuildConfig, source, frame_id: str) -> float:
    started = time.perf_counter()
    labelled_frame(source, config, frame_id)
    return time.perf_counter() - started


def measure(config: BuildConfig, repeat: int) -> tuple[float, float, int, int]:
    """Best-of-``repeat`` seconds per frame for labels and whole frames, frames, and labels per frame."""
    source = make_source(config)
    ids = source.frame_ids()[: config.frames or None]
    label_seconds(config, source, ids[0])  # warm-up: numba caches, imports
    labels = min(sum(label_seconds(config, source, i) for i in ids) for _ in range(repeat)) / len(ids)
    frame = source.load_frame(ids[0])
    count = len(source_image_view(frame, config, source.occlusion_defaults))  # in the frame's own image
    return labels, shard_seconds(config, ids, repeat), len(ids), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--synthetic-frames", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    tasks = ("distance", "axis_distance", "two_point")
    with tempfile.TemporaryDirectory() as folder:
        configs = {"synthetic": BuildConfig(source="synthetic", frames=args.synthetic_frames, tasks=tasks)}
        for label, (source, root, options) in samples(Path(folder)).items():
            configs[label] = BuildConfig(source=source, root=str(root), source_options=options, tasks=tasks)
        results = {label: measure(config, args.repeat) for label, config in configs.items()}
    base_labels, base_frame = results["synthetic"][0], results["synthetic"][1]
    print(f"{'source':<16}{'frames':>7}{'labels/frame':>14}{'labels fps':>12}{'x synthetic':>13}"
          f"{'frame fps':>11}{'x synthetic':>13}")
    for label, (labels, frame, frames, count) in results.items():
        print(f"{label:<16}{frames:>7}{count:>14}{1 / labels:>12.1f}{base_labels / labels:>13.2f}"
              f"{1 / frame:>11.1f}{base_frame / frame:>13.2f}")


if __name__ == "__main__":
    main()
