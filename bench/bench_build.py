"""End-to-end build speed on the synthetic source: records per second with 1 and 2 workers.

Run by hand: ``python bench/bench_build.py [--frames 24] [--source synthetic]``. Image encoding and
writing are included; each run builds into a fresh temporary folder. Ratios within one run are
what to compare (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from datagen.config import load_config
from datagen.pipeline import build


def run(frames: int, workers: int, source: str, seed: int) -> tuple[float, int]:
    config = load_config(None, {"source": source, "frames": frames, "seed": seed})
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        manifest = build(config, out, workers=workers)
        return time.perf_counter() - started, manifest["counts"]["total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--source", default="synthetic")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run(2, 1, args.source, args.seed)  # warm-up: numba caches, imports
    rates = {}
    print(f"{'workers':>8} {'seconds':>8} {'records':>8} {'records/s':>10} {'frames/s':>9}")
    for workers in (1, 2):
        seconds, records = run(args.frames, workers, args.source, args.seed)
        rates[workers] = records / seconds
        print(f"{workers:>8} {seconds:>8.2f} {records:>8} {records / seconds:>10.1f} {args.frames / seconds:>9.2f}")
    print(f"speed-up 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
