"""The depthlm export read back the way the DepthLM release's loader reads it."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from datagen.records import FRAMES_INDEX
from datagen.writers.base import ExportError, export
from datagen.writers.depthlm import MissingFramesIndexError

from .conftest import rewrite

pd = pytest.importorskip("pandas")


def depthlm_lines(report, split):
    """DepthLM's utils/datasets.py: pandas.read_json(lines=True).to_dict(orient="records")."""
    return pd.read_json(report.out_dir / f"{split}.jsonl", lines=True).to_dict(orient="records")


@pytest.mark.parametrize("variant, depth_key", [(None, "range_m"), ("z", "z_m")])
def test_every_distance_label_is_on_its_unmarked_frame(exported, records, frames, build_dir, variant, depth_key):
    report = exported("depthlm", variant=variant)
    distance = {rid: r for rid, r in records.items() if r["task"] == "distance"}
    marked = {image for r in records.values() if r["task"] != "pose" for image in r["images"]}
    seen = []
    for split in ("train", "test"):
        for line in depthlm_lines(report, split):
            image = Image.open(os.path.join(build_dir, line["image"].lstrip("/")))  # image_folder = build
            frame = frames[line["frame_id"]]
            assert line["image"] == frame["image"] and line["image"] not in marked  # unmarked copy
            assert list(line["intrinsics"]) == frame["camera"] and image.size == tuple(line["intrinsics"][4:])
            assert 1000.0 / line["intrinsics"][0] == 1.0  # the loader's focal normalisation is a no-op
            pixels = [p for rid in line["ids"] for p in distance[rid]["label"]["pixels"]]
            depth = [d for rid in line["ids"] for d in distance[rid]["label"][depth_key]]
            assert line["pixel_coords"] == pixels
            assert line["depth"] == pytest.approx(depth, rel=1e-14)  # pandas' float parser rounds the last digit
            assert all(distance[rid]["provenance"]["frames"][0] == line["frame_id"] for rid in line["ids"])
            assert all(distance[rid]["split"] == split for rid in line["ids"])
            seen += line["ids"]
    assert sorted(seen) == sorted(distance)  # every distance record, once
    assert len(seen) > sum(report.rows.values())  # several labels per frame were grouped


def test_range_is_the_default_stated_and_written_exactly(exported, records):
    report = exported("depthlm")
    assert any("range_m" in note for note in report.notes)
    for line in (report.out_dir / "train.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert row["depth"] == [d for rid in row["ids"] for d in records[rid]["label"]["range_m"]]


def test_missing_frames_index_is_named(build_copy, tmp_path):
    (build_copy / FRAMES_INDEX).unlink()
    with pytest.raises(MissingFramesIndexError, match=r"frames\.jsonl: not found"):
        export(build_copy, "depthlm", tmp_path / "out")


def test_build_without_unmarked_images_is_refused(build_copy, tmp_path):
    path = build_copy / FRAMES_INDEX
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    rewrite(path, "".join(json.dumps({**e, "image": None}) + "\n" for e in entries))
    with pytest.raises(MissingFramesIndexError, match="keep_unmarked_images"):
        export(build_copy, "depthlm", tmp_path / "out")


def test_missing_unmarked_image_skips_the_frame_records(build_copy, frames, records, tmp_path):
    frame_id = sorted(frames)[0]
    (build_copy / frames[frame_id]["image"]).unlink()
    report = export(build_copy, "depthlm", tmp_path / "out")
    lost = {rid for rid, r in records.items() if r["task"] == "distance" and r["provenance"]["frames"][0] == frame_id}
    assert report.skipped == {"missing_image": len(lost)}
    assert set(report.skipped_ids["missing_image"]) == lost
    with pytest.raises(ExportError, match="unmarked image"):
        export(build_copy, "depthlm", tmp_path / "strict", strict=True)
