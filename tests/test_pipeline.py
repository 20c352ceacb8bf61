"""End to end: frames in, records out, checked against independent geometry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datagen.config import load_config
from datagen.pipeline import BuildConflictError, build
from datagen.records import iter_records, read_manifest
from datagen.validate import validate_build

FAKE = "tests.fake_source:PlaneSource"


def fake_config(**overrides):
    options = {"source": FAKE, "seed": 3, "split_ratios": [1.0, 0.0, 0.0], "shard_size": 2}
    options.update(overrides)
    return load_config(None, options)


@pytest.fixture(scope="module")
def plane_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("plane_build")
    manifest = build(fake_config(), out)
    return out, manifest


def test_build_writes_all_six_tasks_and_validates(plane_build):
    out, manifest = plane_build
    assert set(manifest["counts"]["by_task"]) == {"distance", "axis_distance", "speed", "time", "two_point", "pose"}
    assert manifest["counts"]["total"] == sum(1 for _ in iter_records(out))
    report = validate_build(out)
    assert report.checked == manifest["counts"]["total"] and report.ok, report.failures[:5]


def _independent_point(camera: list, pixel: list, z: float) -> np.ndarray:
    """Back-project a pixel of a pinhole camera [fx, fy, cx, cy, w, h] at depth z, written out by hand."""
    fx, fy, cx, cy = camera[:4]
    return np.array([(pixel[0] - cx) / fx * z, (pixel[1] - cy) / fy * z, z])


def test_every_value_follows_from_camera_and_pixels_alone(plane_build):
    out, _ = plane_build
    checked = 0
    for record in iter_records(out):
        label, camera = record["label"], record["camera"]
        assert camera[0] == camera[1] == 1000.0  # unified focal length
        if record["task"] == "pose":
            continue
        points = [_independent_point(camera, p, z) for p, z in zip(label["pixels"], label["z_m"])]
        distance = np.linalg.norm(points[0])
        expected = {
            "distance": distance,
            "axis_distance": label["z_m"][0],
            "speed": distance / label.get("time_s", np.nan),
            "time": distance / label.get("speed_mps", np.nan),
            "two_point": np.linalg.norm(points[0] - points[-1]),
        }[record["task"]]
        assert record["value"] == pytest.approx(expected, rel=1e-9)
        checked += 1
    assert checked > 0


def test_labels_lie_on_the_plane_the_source_rendered(plane_build):
    out, _ = plane_build
    for record in iter_records(out):
        if record["task"] != "distance":
            continue
        index = int(record["provenance"]["frames"][0].rsplit("/", 1)[1])
        x, y, z = record["label"]["points_cam"][0]
        # The plane of frame i is z = (3 + i) + 0.5 * y in its camera frame. A depth-map label keeps the z
        # of its source pixel and moves to the nearest pixel centre of the normalised image: at most half
        # a source pixel, which on this plane (dz/dy = 0.5, f >= 240 px) is a 1e-3 relative change of z.
        assert z == pytest.approx(3.0 + index + 0.5 * y, rel=1e-3)


def test_pose_records_state_the_camera_motion(plane_build):
    out, _ = plane_build
    poses = [r for r in iter_records(out) if r["task"] == "pose"]
    assert poses
    for record in poses:
        first, second = (int(f.rsplit("/", 1)[1]) for f in record["provenance"]["frames"])
        assert record["value"] == pytest.approx(0.4 * abs(first - second), rel=1e-12)
        assert len(record["images"]) == 2


def test_images_are_written_once_and_none_is_orphaned(plane_build):
    out, manifest = plane_build
    used = {image for record in iter_records(out) for image in record["images"]}
    on_disk = {p.relative_to(out).as_posix() for p in (out / "images").rglob("*.*")}
    assert used == on_disk and manifest["images"] == len(on_disk)
    shared = sum(1 for r in iter_records(out) if r["task"] == "distance")
    assert len(used) < manifest["counts"]["total"] and shared > 0


def test_same_config_gives_byte_identical_records(plane_build, tmp_path):
    out, _ = plane_build
    build(fake_config(), tmp_path)
    assert _record_bytes(out) == _record_bytes(tmp_path)


def _record_bytes(out: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted((out / "records").glob("*.jsonl"))}


def test_bad_frames_are_skipped_and_counted(tmp_path):
    bad = [[0, "missing_image"], [1, "corrupt_image"], [2, "nan_depth"], [4, "no_valid_pixel"]]
    config = fake_config(source_options={"root": str(tmp_path), "bad": bad})
    manifest = build(config, tmp_path / "out")
    skipped = manifest["frames"]["skipped_ids"]
    assert skipped == {"image_unreadable": ["plane/seq0/0000", "plane/seq0/0001"],
                       "no_valid_pixel": ["plane/seq0/0002", "plane/seq1/0004"]}
    built = {r["provenance"]["frames"][0] for r in iter_records(tmp_path / "out")}
    assert built == {"plane/seq1/0003", "plane/seq1/0005"}


def test_strict_build_stops_at_the_first_bad_frame(tmp_path):
    from datagen.errors import DatagenError

    config = fake_config(source_options={"root": str(tmp_path), "bad": [[1, "corrupt_image"]]})
    with pytest.raises(DatagenError, match="0001.png"):
        build(config, tmp_path / "out", strict=True)


def test_a_folder_of_another_config_is_refused_unless_overwritten(tmp_path):
    build(fake_config(source_options={"frames": 2}), tmp_path)
    with pytest.raises(BuildConflictError, match="--overwrite"):
        build(fake_config(seed=4, source_options={"frames": 2}), tmp_path)
    manifest = build(fake_config(seed=4, source_options={"frames": 2}), tmp_path, overwrite=True)
    assert read_manifest(tmp_path)["seed"] == 4 == manifest["seed"]


def test_split_selection_and_sequence_splits(tmp_path):
    config = fake_config(split_ratios=[0.5, 0.0, 0.5], splits=["test"], source_options={"frames": 12})
    manifest = build(config, tmp_path)
    records = list(iter_records(tmp_path))
    assert records and {r["split"] for r in records} == {"test"}
    by_sequence: dict = {}
    for record in records:
        for frame in record["provenance"]["frames"]:
            by_sequence.setdefault(frame.rsplit("/", 1)[0], set()).add(record["split"])
    assert all(len(splits) == 1 for splits in by_sequence.values())
    assert manifest["frames"]["outside_selected_splits"] > 0


def test_manifest_checksums_match_the_record_files(plane_build):
    import hashlib

    out, manifest = plane_build
    for name, digest in manifest["checksums"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert json.loads((out / "manifest.json").read_text())["config_fingerprint"] == fake_config().fingerprint()


def test_frame_index_points_at_unmarked_normalised_images(plane_build):
    from PIL import Image

    from datagen.records import iter_frames_index

    out, manifest = plane_build
    frames = list(iter_frames_index(out))
    assert len(frames) == manifest["frames"]["planned"]
    for frame in frames:
        with Image.open(out / frame["image"]) as image:
            assert image.size == tuple(frame["camera"][4:6])
        assert frame["camera"][:2] == [1000.0, 1000.0]


def test_cli_build_exports_formats_and_refuses_unknown_ones(tmp_path):
    from click.testing import CliRunner

    from datagen.cli import main

    out = tmp_path / "out"
    args = ["-q", "build", "--source", FAKE, "--out", str(out), "--seed", "3", "--format", "llava"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(next((out / "exports" / "llava").glob("*.json")).read_text())
    assert rows and all(row["conversations"][1]["from"] == "gpt" for row in rows)
    result = CliRunner().invoke(main, ["build", "--source", FAKE, "--out", str(tmp_path / "x"), "--format", "nope"])
    assert result.exit_code == 2 and "unknown writer 'nope'" in result.output
    assert not (tmp_path / "x").exists()


def test_validate_finds_tampered_values_answers_markers_and_missing_images(plane_build, tmp_path):
    import shutil

    from click.testing import CliRunner

    from datagen.cli import main

    out = tmp_path / "copy"
    shutil.copytree(plane_build[0], out)
    shard = sorted((out / "records").glob("shard-*.jsonl"))[0]
    records = [json.loads(line) for line in shard.read_text().splitlines()]
    records[0]["value"] *= 1.01                      # value no longer follows from the label
    records[1]["answer"] = "about 900 meters"        # answer disagrees with the value
    records[2]["label"]["pixels"][0][0] += 40        # marker is not at the labelled pixel
    (out / records[5]["images"][0]).unlink()         # image missing
    shard.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = validate_build(out)
    failed = {record_id for record_id, _ in report.failures}
    assert {records[i]["id"] for i in (0, 1, 2, 5)} <= failed
    assert any("does not follow from the label" in p for _, p in report.failures)
    assert any("missing" in p for _, p in report.failures)
    result = CliRunner().invoke(main, ["validate", str(out)])
    assert result.exit_code == 1 and "FAIL" in result.output


def test_no_sampled_pixel_lies_where_the_undistortion_left_no_image(tmp_path, monkeypatch):
    """A pincushion lens leaves black corners once undistorted; labels and pairs are drawn elsewhere."""
    import tests.fake_source as fake
    from datagen.normalize import plan_normalization
    from datagen.sampling import frame_rng
    from datagen.types import Camera

    def pincushion(index: int) -> Camera:
        T = np.eye(4)
        T[0, 3] = 0.4 * index
        return Camera.from_intrinsics(500.0, 500.0, 159.5, 119.5, 320, 240, model="radtan",
                                      dist=[1.5, 1.0, 0.0, 0.0, 0.0], T_world_cam=T)

    monkeypatch.setattr(fake, "_camera", pincushion)
    sampling = {"strategy": "uniform", "points_per_frame": 20, "pairs_per_frame": 10, "margin_px": 0,
                "avoid_edges": False}
    config = fake_config(tasks=["distance", "two_point"], sampling=sampling, source_options={"frames": 3})
    build(config, tmp_path)
    checked = 0
    for record in iter_records(tmp_path):
        frame_id = record["provenance"]["frames"][0]
        index = int(frame_id.rsplit("/", 1)[1])
        chain = plan_normalization(pincushion(index), config.normalize, frame_rng(config.seed, frame_id, "normalize"))
        valid = chain.valid_mask()
        assert 0.05 < (~valid).mean() < 0.5  # the fill is there to avoid
        for u, v in record["label"]["pixels"]:
            assert valid[v, u], (record["id"], u, v)
            checked += 1
    assert checked == 3 * (20 + 2 * 10)
