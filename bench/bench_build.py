"""End-to-end build speed on the synthetic source: records per second with 1 and 2 workers.

Run by hand: ``python bench/bench_build.py [--frames 48] [--source synthetic]``. Each run is a fresh
Python process building into a fresh temporary folder, so both sides pay the same start-up (imports,
numba cache loading, scene building: about 2 s per process); image encoding and writing are included.
Ratios within one run are what to compare (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

RUN = """
import json, sys, tempfile, time
from datagen.config import load_config
from datagen.pipeline import build
frames, workers, source, seed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
config = load_config(None, {"source": source, "frames": frames, "seed": seed})
with tempfile.TemporaryDirectory() as out:
    started = time.perf_counter()
    manifest = build(config, out, workers=workers)
    print(json.dumps({"seconds": time.perf_counter() - started, "records": manifest["counts"]["total"]}))
"""


CONTROL = """
import time, numpy as np
started = time.perf_counter()
a = np.random.default_rng(0).random((1500, 1500))
for _ in range(30):
    np.sort(a, axis=1), np.exp(a)
print(time.perf_counter() - started)
"""


def machine_scaling() -> float:
    """How much faster two copies of a plain numpy job finish than two in a row, on this machine now."""
    alone = float(subprocess.run([sys.executable, "-c", CONTROL], check=True, capture_output=True,
                                 text=True).stdout)
    pair = [subprocess.Popen([sys.executable, "-c", CONTROL], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    together = max(float(p.communicate()[0]) for p in pair)
    return 2 * alone / together


def run(frames: int, workers: int, source: str, seed: int) -> tuple[float, int]:
    """Build in a fresh interpreter; returns (seconds, records)."""
    out = subprocess.run([sys.executable, "-c", RUN, str(frames), str(workers), source, str(seed)],
                         check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], result["records"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--source", default="synthetic")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run(2, 1, args.source, args.seed)  # warm-up: fills numba's on-disk cache
    rates = {}
    print(f"{'workers':>8} {'seconds':>8} {'records':>8} {'records/s':>10} {'frames/s':>9}")
    for workers in (1, 2):
        seconds, records = run(args.frames, workers, args.source, args.seed)
        rates[workers] = records / seconds
        print(f"{workers:>8} {seconds:>8.2f} {records:>8} {records / seconds:>10.1f} {args.frames / seconds:>9.2f}")
    print(f"speed-up 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")
    print(f"control: two plain numpy processes vs one after the other: {machine_scaling():.2f}x")


if __name__ == "__main__":
    main()
