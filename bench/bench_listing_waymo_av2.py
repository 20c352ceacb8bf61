"""Listing a full-size Waymo v2 (and an Argoverse 2 split) and loading the first frame: time and peak memory.

Run by hand: ``python bench/bench_listing_waymo_av2.py [--waymo-segments 1150] [--av2-logs 150]``.

* waymo: 1150 segments (798 training, 202 validation, 150 testing, the v2 release) of 199 frames
  x 5 cameras = 1,144,250 camera images. Each segment's ``camera_image`` file holds the real key
  columns and an empty image column (listing reads only the keys; Parquet reads columns
  apart), except the first segment, which is complete (tests/sources/waymo_files.py) so its
  first frame loads.
* argoverse2: ``--av2-logs`` logs (150 = the val split; 1000 = the whole sensor dataset, 2.1
  million files) of 7 ring cameras x 300 empty JPEG files, listed from the file names; the first
  log is the real sample with images, so its first frame loads.

Each measurement runs in a fresh Python process: seconds to ``frame_table()``, seconds to load
the first frame, and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
WAYMO_SPLITS = {"training": 798, "validation": 202, "testing": 150}
FRAMES_PER_SEGMENT, WAYMO_CAMERAS = 199, 5
AV2_IMAGES_PER_CAMERA = 300

RUN = """
import json, resource, sys, time
sys.path.insert(0, REPO)
from datagen.pipeline import source_class
name, root = sys.argv[1], sys.argv[2]
cls = source_class(name)
source = cls(cls.Config(root=root))
started = time.perf_counter()
table = source.frame_table()
listed = time.perf_counter() - started
started = time.perf_counter()
frame = source.load_frame(table.frame_ids[0])
loaded = time.perf_counter() - started
print(json.dumps({"frames": len(table), "list_s": listed, "first_frame_s": loaded, "points": len(frame.points),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_waymo(root: Path, segments: int) -> None:
    sys.path.insert(0, str(REPO))
    from tests.sources import waymo_files

    scale = segments / sum(WAYMO_SPLITS.values())
    counts = {split: max(1, round(n * scale)) for split, n in WAYMO_SPLITS.items()}
    waymo_files.write_segment(root, "0000000000000000000_000_000_000_000", split="training", frames=2)
    micros = 1_600_000_000_000_000 + np.repeat(np.arange(FRAMES_PER_SEGMENT) * 100_000, WAYMO_CAMERAS)
    cameras = np.tile(np.arange(1, WAYMO_CAMERAS + 1), FRAMES_PER_SEGMENT)
    index = 1
    for split, count in counts.items():
        folder = root / split / "camera_image"
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(count - (split == "training")):
            name = f"{index:019d}_{index % 9999:04d}_000_{index % 9999:04d}_020"
            table = pa.table({"key.segment_context_name": [name] * len(micros),
                              "key.frame_timestamp_micros": micros + index * 10**9,
                              "key.camera_name": pa.array(cameras, pa.int8()),
                              "[CameraImageComponent].image": pa.array([b""] * len(micros), pa.binary())})
            pq.write_table(table, folder / f"{name}.parquet")
            index += 1


def write_av2(root: Path, logs: int) -> None:
    sys.path.insert(0, str(REPO))
    from datagen.sources.argoverse2 import RING_CAMERAS
    from tests.conftest import SHARED_DATA
    from tests.sources import av2_files

    av2_files.write_log(SHARED_DATA, root)
    for index in range(1, logs):
        log = root / "sensor" / "val" / f"{0x80000000 + index:08x}-0000-0000-0000-000000000000"  # after the real log
        for camera in RING_CAMERAS:
            folder = log / "sensors" / "cameras" / camera
            folder.mkdir(parents=True)
            for k in range(AV2_IMAGES_PER_CAMERA):
                (folder / f"{315966265259836000 + k * 50_000_000}.jpg").touch()


def measure(name: str, root: Path) -> dict:
    script = RUN.replace("REPO", repr(str(REPO)))
    out = subprocess.run([sys.executable, "-c", script, name, str(root)], check=True, capture_output=True,
                         text=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waymo-segments", type=int, default=sum(WAYMO_SPLITS.values()))
    parser.add_argument("--av2-logs", type=int, default=150)
    args = parser.parse_args()
    print(f"{'source':>11} {'frames':>10} {'write s':>8} {'list s':>7} {'first frame s':>14} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, writer, size in (("waymo", write_waymo, args.waymo_segments),
                                   ("argoverse2", write_av2, args.av2_logs)):
            root = Path(tmp) / name
            started = time.perf_counter()
            writer(root, size)
            written = time.perf_counter() - started
            r = measure(name, root)
            print(f"{name:>11} {r['frames']:>10,} {written:>8.1f} {r['list_s']:>7.2f} {r['first_frame_s']:>14.2f} "
                  f"{r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
