"""Factories for scoring tests: canonical records and small build folders in ``tmp_path``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen.records import MANIFEST, RECORDS_DIR, SCHEMA
from datagen.scoring import TASK_UNITS
from datagen.types import QARecord


def make_record(record_id: str, task: str, value: float, split: str = "test", source: str = "kitti",
                depth: float | None = None) -> QARecord:
    """A canonical record shaped like DESIGN.md section 4, with the given truth.

    ``depth`` is the range (and z) of the marked point in the label; the value by default.
    """
    frame = record_id.rsplit("/", 2)[0]
    depth = value if depth is None else depth
    return QARecord(
        id=record_id, task=task, split=split, images=("images/3f/3f9a0c1e2b7d.jpg",),
        question="How far is the point marked by the red arrow from the camera, in meters?",
        answer=f"<think> The point is around {value:.2f} meters away from the camera. </think>\n"
               f"<answer> {value:.2f} </answer>",
        value=value, unit=TASK_UNITS[task], template_id=f"{task}/q3+think",
        label={"pixels": [[812, 401]], "range_m": [depth], "z_m": [depth], "points_cam": [[0.0, 0.0, depth]]},
        camera=[1000.0, 1000.0, 640.5, 190.2, 1242, 375],
        provenance={"source": source, "frames": [frame], "depth_from": "lidar",
                    "transforms": [["resize", 1.4409]], "seed": 1234},
    )


def write_build(folder: Path, records: list[QARecord], shards: int = 2) -> Path:
    """A build folder: manifest.json and the records split over ``shards`` JSONL files."""
    (folder / RECORDS_DIR).mkdir(parents=True)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.task] = counts.get(record.task, 0) + 1
    manifest = {"schema": SCHEMA, "version": "0.1.0", "seed": 1234, "counts": {"task": counts}}
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    for shard in range(shards):
        lines = [r.to_json() + "\n" for r in records[shard::shards]]
        (folder / RECORDS_DIR / f"part-{shard:05d}.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


def write_predictions(path: Path, rows: list[dict | str]) -> Path:
    """A predictions JSONL file; a str row is written as is (to make broken lines)."""
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def small_build(tmp_path: Path) -> Path:
    """Six test records over three tasks and two sources, plus two train records.

    Depths of the test records: distance 7.2312, 1.5, 3.0 and 50 m; speed 7.24 m; time 6 m.
    """
    records = [
        make_record("kitti/2011_09_26_0005/000042/distance/0", "distance", 7.2312),
        make_record("kitti/2011_09_26_0005/000042/distance/1", "distance", 1.5),
        make_record("nyu/bedroom_0012/000007/distance/0", "distance", 3.0, source="nyu"),
        make_record("kitti/2011_09_26_0005/000043/speed/0", "speed", 1.81, depth=7.24),  # 7.24 m in 4 s
        make_record("kitti/2011_09_26_0005/000044/time/0", "time", 4.0, depth=6.0),  # 6 m at 1.5 m/s
        make_record("nyu/bedroom_0012/000008/distance/0", "distance", 50.0, source="nyu"),
        make_record("kitti/2011_09_26_0001/000001/distance/0", "distance", 9.0, split="train"),
        make_record("kitti/2011_09_26_0001/000002/speed/0", "speed", 2.0, split="train"),
    ]
    return write_build(tmp_path / "build", records)
