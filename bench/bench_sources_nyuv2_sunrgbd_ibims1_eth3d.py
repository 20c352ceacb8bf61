"""Frames per second of the nyuv2, sunrgbd, ibims1 and eth3d sources next to synthetic, on one core.

Run by hand: ``python bench/bench_sources_nyuv2_sunrgbd_ibims1_eth3d.py [--repeat 3] [--eth3d-scale 126]``.
Each source's frames are the shared samples laid out as the dataset ships them
(``samples_nyuv2_sunrgbd_ibims1_eth3d.py``; ETH3D: the tests' fake at ``--eth3d-scale``, 126 =
ETH3D's 6048 x 4032 depth maps). A frame is what a build does before sampling: read it
(``load_frame`` and its image), turn its ground truth into labels in its own image (depth map,
or a z-buffer projection for ETH3D's points) and normalise image and labels to the unified
focal length. The first frame of each source is timed apart: it pays numba compilation and
caches (ETH3D solves its lens once per camera). The process is pinned to one core with one
thread; compare the ratios within one run (the machine is shared).

``--listing`` also times listing tables of the real datasets' sizes: NYUv2's 1449-frame
labelled .mat (image data left unallocated) and a SUN RGB-D tree of 10,335 scene folders.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import samples_nyuv2_sunrgbd_ibims1_eth3d as samples  # noqa: E402

from source_steps import labelled_frame  # noqa: E402

from datagen.config import load_config  # noqa: E402
from datagen.pipeline import make_source  # noqa: E402

OPTIONS = {"sunrgbd": {"official_splits": False}}


def frame_seconds(config, frame_ids: list[str], repeat: int) -> tuple[float, float, int]:
    """(first frame's seconds, mean seconds of the others over ``repeat`` passes, labels per frame)."""
    source = make_source(config)

    def one(frame_id: str) -> int:
        return len(labelled_frame(source, config, frame_id)[1])

    started = time.perf_counter()
    labels = one(frame_ids[0])
    first = time.perf_counter() - started
    started, count = time.perf_counter(), 0
    for _ in range(repeat):
        for frame_id in frame_ids:
            labels = one(frame_id)
            count += 1
    return first, (time.perf_counter() - started) / count, labels


def listing(out: Path) -> None:
    """Time and peak Python memory of frame_table() on tables of the real datasets' sizes."""
    import h5py

    from tests.sources.matlab_files import write_v5, write_v73

    nyu = out / "nyu_listing"
    nyu.mkdir()
    write_v73(nyu / "nyu_depth_v2_labeled.mat", {"scenes": [f"room_{i // 4:04d}" for i in range(1449)]})
    with h5py.File(nyu / "nyu_depth_v2_labeled.mat", "a") as mat:
        mat.create_dataset("images", shape=(1449, 3, 640, 480), dtype=np.uint8, chunks=(1, 3, 640, 480))
    write_v5(nyu / "splits.mat", {"trainNdxs": np.arange(1, 796.0)[:, None], "testNdxs": np.arange(796, 1450.0)[:, None]})
    sun = out / "sun_listing" / "SUNRGBD"
    for i in range(10335):
        scene = sun / ("kv1", "kv2", "realsense", "xtion")[i % 4] / "data" / f"{i:06d}"
        scene.mkdir(parents=True)
        (scene / "intrinsics.txt").write_text("529.5 0 365 0 529.5 265 0 0 1\n")
    for name, root, options in (("nyuv2", nyu, {}), ("sunrgbd", sun.parent, {"official_splits": False})):
        config = load_config(None, {"source": name, "root": str(root), "source_options": options})
        tracemalloc.start()
        started = time.perf_counter()
        table = make_source(config).frame_table()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"listing {name:8} {len(table):>6} frames {seconds:>7.2f} s  peak {peak / 2**20:>6.1f} MiB (Python)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--eth3d-scale", type=int, default=126)
    parser.add_argument("--synthetic-frames", type=int, default=4)
    parser.add_argument("--listing", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        roots = {name: layout(out) for name, layout in samples.LAYOUTS.items() if name != "eth3d"}
        roots["eth3d"] = samples.eth3d(out, args.eth3d_scale)
        rates = {}
        print(f"{'source':10} {'frames':>6} {'first s':>8} {'s/frame':>8} {'frames/s':>9} {'labels':>9}")
        for name in ("synthetic", *roots):
            overrides = {"source": name, "source_options": OPTIONS.get(name, {})}
            if name != "synthetic":
                overrides["root"] = str(roots[name])
            config = load_config(None, overrides)
            ids = make_source(config).frame_ids()
            ids = ids[:args.synthetic_frames] if name == "synthetic" else ids
            first, seconds, labels = frame_seconds(config, ids, args.repeat)
            rates[name] = 1.0 / seconds
            print(f"{name:10} {len(ids):>6} {first:>8.2f} {seconds:>8.3f} {rates[name]:>9.2f} {labels:>9}")
        print("frames/s relative to synthetic: " + ", ".join(f"{n} {rates[n] / rates['synthetic']:.2f}x"
                                                            for n in roots))
        if args.listing:
            listing(out)


if __name__ == "__main__":
    main()
