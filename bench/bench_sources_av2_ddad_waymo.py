"""Frames per second of the driving sources on one core: read, compensate, project, normalise.

Run by hand: ``python bench/bench_sources_av2_ddad_waymo.py [--frames 12] [--repeats 3]``. For each source a
fresh Python process pinned to one CPU (and one thread) loads frames, projects their labels with
the z-buffer and see-through filter, and normalises image and labels to the unified focal
length, as a build does before sampling (no sampling, drawing or writing). Inputs:

* argoverse2: the real sample log (sweep of 99k points, calibration, poses; ../shared/data) with
  JPEGs of the calibrated size (2048x1550) written in the official layout, as the tests do;
* ddad: the real DGP sample scene (1936x1216 images, 40k points), its three frames;
* waymo: a v2 segment written by tests/sources/waymo_files.py at the real sizes (1920x1280 FRONT
  camera, 64x2650 TOP range image); no Waymo data may be shared, so this one is synthetic;
* synthetic: datagen's own scenes (rendering included), the reference.

The first pass over the frames warms caches (numba, per-log tables) and is not timed. Ratios
within one run are what to compare (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RUN = """
import json, os, sys, time
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
sys.path[:0] = [REPO, os.path.join(REPO, "bench")]
from datagen.config import load_config
from datagen.pipeline import make_source
from source_steps import labelled_frame
name, root, frames, repeats = sys.argv[1], sys.argv[2] or None, int(sys.argv[3]), int(sys.argv[4])
options = {"recipes": ["street"], "lidar": True} if name == "synthetic" else {}
config = load_config(None, {"source": name, "root": root, "source_options": options,
                            "ground_truth": "lidar"})
source = make_source(config)
ids = source.frame_ids()[:frames]
def one(frame_id):
    return len(labelled_frame(source, config, frame_id)[1])
for frame_id in ids:
    one(frame_id)
labels, started = 0, time.perf_counter()
for _ in range(repeats):
    for frame_id in ids:
        labels += one(frame_id)
seconds = time.perf_counter() - started
print(json.dumps({"frames": len(ids) * repeats, "seconds": seconds, "labels": labels / (len(ids) * repeats),
                  "distinct": len(ids)}))
"""


def prepare(workdir: Path) -> dict:
    """Roots of the sources: the real samples (with AV2 images written) and a full-size Waymo segment."""
    sys.path.insert(0, str(REPO))
    from tests.conftest import SHARED_DATA
    from tests.sources import av2_files, waymo_files

    av2_files.write_log(SHARED_DATA, workdir / "av2")
    front = waymo_files.CameraSpec(number=1, translation=(1.5, -0.1, 2.0), yaw=0.0, pitch=0.05, width=1920,
                                   height=1280, focal=2055.0, c_u=960.0, c_v=640.0)
    side = waymo_files.CameraSpec(number=4, translation=(1.0, 0.9, 1.9), yaw=1.5708, pitch=0.03, width=1920,
                                  height=886, focal=2055.0, c_u=960.0, c_v=443.0, direction=4)
    waymo_files.write_segment(workdir / "waymo", frames=3, cameras=(front, side),
                              laser=waymo_files.LaserSpec(rows=64, columns=2650, inclinations=None))
    return {"argoverse2": str(workdir / "av2"), "ddad": str(SHARED_DATA / "ddad_dgp_testscene"),
            "waymo": str(workdir / "waymo"), "synthetic": ""}


def run(name: str, root: str, frames: int, repeats: int) -> dict:
    script = RUN.replace("REPO", repr(str(REPO)))
    env = {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    import os

    out = subprocess.run([sys.executable, "-c", script, name, root, str(frames), str(repeats)], check=True,
                         capture_output=True, text=True, env={**os.environ, **env}, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12, help="distinct frames per source (fewer if it has fewer)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over those frames")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        roots = prepare(Path(tmp))
        # the real DDAD sample has files for its first sample only: its three frames
        limits = {"ddad": 3}
        results = {name: run(name, root, min(args.frames, limits.get(name, args.frames)), args.repeats)
                   for name, root in roots.items()}
    reference = results["synthetic"]["frames"] / results["synthetic"]["seconds"]
    print(f"{'source':>11} {'frames':>7} {'distinct':>8} {'seconds':>8} {'frames/s':>9} {'labels/frame':>13} "
          f"{'vs synthetic':>12}")
    for name, r in results.items():
        rate = r["frames"] / r["seconds"]
        print(f"{name:>11} {r['frames']:>7} {r['distinct']:>8} {r['seconds']:>8.2f} {rate:>9.2f} "
              f"{r['labels']:>13.0f} {rate / reference:>11.2f}x")


if __name__ == "__main__":
    main()
