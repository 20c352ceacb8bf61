"""Export speed (records per second) and peak memory of every writer, at 10k and 100k records.

Run by hand: ``python bench/bench_export.py [--records 100000] [--embedded 4000] [--formats llava,trl]``.

A small real build (the PlaneSource test fake, 6 frames) is made once; larger builds are
synthesised from it by copying its record lines with new ids (``<id>#<copy>``), sharing
its images, frames.jsonl and manifest. Each export runs in a fresh child process that
reports its wall time, its peak RSS (``resource.getrusage``) and, in a second child, the
peak of Python allocations (``tracemalloc``; Arrow's own buffers are not counted there,
RSS covers them). Memory that does not grow from the small to the large run is what
"streaming" means. openai and parquet embed every image (base64 / bytes), so they run on
``--embedded`` records (and a tenth of that) instead: their output is about 1.3 MB a record
with the fake's 1280x1000 noise images.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EMBEDDED = ("openai", "parquet")


def make_seed_build(folder: Path) -> Path:
    """The small real build every synthetic one copies."""
    from datagen.config import load_config
    from datagen.pipeline import build

    config = load_config(None, {"source": "tests.fake_source:PlaneSource", "split_ratios": [1.0, 0.0, 0.0],
                                "seed": 0, "sampling": {"points_per_frame": 4}})
    build(config, folder)
    return folder


def synthesise(seed: Path, folder: Path, n_records: int, shard_lines: int = 10_000) -> Path:
    """A build of ``n_records`` records: the seed's lines copied with new ids, the seed's images linked."""
    folder.mkdir(parents=True)
    for name in ("manifest.json", "frames.jsonl", "build.yaml"):
        shutil.copy(seed / name, folder / name)
    (folder / "images").symlink_to((seed / "images").resolve())
    records = [json.loads(line) for path in sorted((seed / "records").glob("*.jsonl"))
               for line in path.read_text().splitlines()]
    (folder / "records").mkdir()
    for start in range(0, n_records, shard_lines):
        with open(folder / "records" / f"shard-{start // shard_lines:05d}.jsonl", "w", encoding="utf-8") as handle:
            for i in range(start, min(start + shard_lines, n_records)):
                record = records[i % len(records)]
                handle.write(json.dumps({**record, "id": f"{record['id']}#{i // len(records)}"}) + "\n")
    return folder


def child(build: str, format_name: str, out: str, trace: bool) -> None:
    """Export once and print {"seconds", "rows", "maxrss_mb", "py_peak_mb"} as JSON."""
    from datagen.writers.base import export

    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    report = export(build, format_name, out)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rows": report.total_rows, "records": report.records,
                      "maxrss_mb": maxrss, "py_peak_mb": peak}))


def measure(build: Path, format_name: str, scratch: Path, trace: bool) -> dict:
    out = scratch / f"out_{format_name}"
    command = [sys.executable, __file__, "--child", str(build), format_name, str(out)] + (["--trace"] if trace else [])
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--embedded", type=int, default=4_000, help="records for openai and parquet")
    parser.add_argument("--formats", default=None, help="comma-separated writers (default: all)")
    parser.add_argument("--child", nargs=3, metavar=("BUILD", "FORMAT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, trace=args.trace)

    from datagen.writers.base import writer_names

    formats = args.formats.split(",") if args.formats else writer_names()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        seed = make_seed_build(scratch / "seed")
        sizes = set()
        if set(formats) - set(EMBEDDED):
            sizes |= {args.records // 10, args.records}
        if set(formats) & set(EMBEDDED):
            sizes |= {args.embedded // 10, args.embedded}
        builds = {n: synthesise(seed, scratch / f"build_{n}", n) for n in sorted(sizes)}
        print(f"{'format':>13} {'records':>8} {'rows':>8} {'seconds':>8} {'records/s':>10} "
              f"{'maxrss MB':>10} {'py peak MB':>11}")
        for name in formats:
            big = args.embedded if name in EMBEDDED else args.records
            for n in (big // 10, big):
                timed = measure(builds[n], name, scratch, trace=False)
                traced = measure(builds[n], name, scratch, trace=True)
                print(f"{name:>13} {timed['records']:>8} {timed['rows']:>8} {timed['seconds']:>8.2f} "
                      f"{timed['records'] / timed['seconds']:>10.0f} {timed['maxrss_mb']:>10.1f} "
                      f"{traced['py_peak_mb']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
