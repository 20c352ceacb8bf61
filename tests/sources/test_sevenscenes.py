"""The sevenscenes source on the real 7-Scenes frames, written into the official layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datagen.config import BuildConfig
from datagen.errors import ConfigError, SourceError
from datagen.pipeline import ground_truth_view
from datagen.sources import REGISTRY
from datagen.sources.sevenscenes import SevenScenesSource
from tests.sources.depth_checks import check_depth_map_labels, check_reprojected_labels
from tests.sources.label_checks import build_records

SAMPLE = "7scenes_tsdffusion"
FRAMES = ("000000", "000030", "000060")
# The dataset's depth intrinsics, the nominal Kinect v1 colour intrinsics and IR-to-RGB baseline
# (docs/sources/sevenscenes.md), written out here rather than read from the source.
DEPTH_K = np.array([[585.0, 0, 320.0], [0, 585.0, 240.0], [0, 0, 1]])
COLOR_K = np.array([[525.0, 0, 320.0], [0, 525.0, 240.0], [0, 0, 1]])
BASELINE_M = np.array([-0.025, 0.0, 0.0])


@pytest.fixture
def seven_root(shared_data, tmp_path) -> Path:
    """The three sample frames as redkitchen/seq-01, with the split files; frame 60 marks holes 65535."""
    sample = shared_data / SAMPLE / "data"
    sequence = tmp_path / "7scenes" / "redkitchen" / "seq-01"
    sequence.mkdir(parents=True)
    for number in FRAMES:
        Image.open(sample / f"frame-{number}.color.jpg").save(sequence / f"frame-{number}.color.png")
        shutil.copy(sample / f"frame-{number}.pose.txt", sequence / f"frame-{number}.pose.txt")
        depth = np.asarray(Image.open(sample / f"frame-{number}.depth.png"))
        if number == "000060":  # the official invalid marker
            depth = np.where(depth == 0, 65535, depth).astype(np.uint16)
        Image.fromarray(depth).save(sequence / f"frame-{number}.depth.png")
    (sequence.parent / "TrainSplit.txt").write_text("sequence1\n")
    (sequence.parent / "TestSplit.txt").write_text("sequence2\n")
    return tmp_path / "7scenes"


def _depth_m(root: Path, number: str) -> np.ndarray:
    raw = np.asarray(Image.open(root / "redkitchen" / "seq-01" / f"frame-{number}.depth.png")).astype(np.float64)
    return np.where((raw == 0) | (raw == 65535), 0.0, raw / 1000.0)


def _colour_points(root: Path, number: str) -> np.ndarray:
    """Depth pixels back-projected with the depth intrinsics and moved by the baseline, colour frame."""
    depth = _depth_m(root, number)
    v, u = np.nonzero(depth > 0)
    z = depth[v, u]
    points = np.column_stack([(u - DEPTH_K[0, 2]) / DEPTH_K[0, 0] * z, (v - DEPTH_K[1, 2]) / DEPTH_K[1, 1] * z, z])
    return points + BASELINE_M


def _pose(root: Path, number: str) -> np.ndarray:
    """Colour camera-to-world: the file's depth-camera pose, then the baseline back."""
    T_world_depth = np.loadtxt(root / "redkitchen" / "seq-01" / f"frame-{number}.pose.txt")
    T_depth_color = np.eye(4)
    T_depth_color[:3, 3] = -BASELINE_M
    return T_world_depth @ T_depth_color


def _source(root: Path, **options) -> SevenScenesSource:
    return SevenScenesSource(SevenScenesSource.Config(root=root, **options))


def test_registered_with_ids_sequences_and_official_splits(seven_root):
    assert REGISTRY.load_builtins().get("sevenscenes") is SevenScenesSource
    second = seven_root / "redkitchen" / "seq-02"
    shutil.copytree(seven_root / "redkitchen" / "seq-01", second)
    (second / "frame-000030.color.png").unlink()
    other = seven_root / "chess" / "seq-03"
    shutil.copytree(seven_root / "redkitchen" / "seq-01", other)
    table = _source(seven_root).frame_table()
    assert table.frame_ids.tolist() == [f"sevenscenes/chess/seq-03/{n}" for n in FRAMES] + \
        [f"sevenscenes/redkitchen/seq-01/{n}" for n in FRAMES] + \
        [f"sevenscenes/redkitchen/seq-02/{n}" for n in ("000000", "000060")]
    assert table.split.tolist() == [""] * 3 + ["train"] * 3 + ["test"] * 2
    assert table.sequence.tolist()[3] == "redkitchen/seq-01" and table.camera is None
    assert _source(seven_root / "redkitchen").frame_ids() == table.frame_ids.tolist()[3:]
    assert _source(seven_root).load_frame("sevenscenes/redkitchen/seq-02/000000").split == "test"


def test_every_label_is_a_depth_point_moved_into_the_colour_camera(seven_root, tmp_path):
    records, manifest = build_records(tmp_path / "out", "sevenscenes", seven_root)
    assert manifest["frames"]["skipped"] == {} and records
    points = {f"sevenscenes/redkitchen/seq-01/{n}": _colour_points(seven_root, n) for n in FRAMES}
    n = check_reprojected_labels(records, points, COLOR_K)
    assert n == sum(len(r["label"]["z_m"]) for r in records) and n > 10
    assert all(r["provenance"]["depth_from"] == "depth_map" and r["split"] == "train" for r in records)


def test_without_registration_labels_are_the_depth_map_in_the_depth_intrinsics(seven_root, tmp_path):
    records, _ = build_records(tmp_path / "out", "sevenscenes", seven_root, {"registration": "none"})
    depth = {f"sevenscenes/redkitchen/seq-01/{n}": _depth_m(seven_root, n) for n in FRAMES}
    assert check_depth_map_labels(records, DEPTH_K, depth) > 10


def test_pose_task_translation_is_the_pose_files_one(seven_root, tmp_path):
    records, _ = build_records(tmp_path / "out", "sevenscenes", seven_root, tasks=("pose",),
                               sampling={"pose_min_translation_m": 0.2})
    assert records
    for record in records:
        first, second = (_pose(seven_root, f.rsplit("/", 1)[1]) for f in record["provenance"]["frames"])
        expected = (np.linalg.inv(first) @ second)[:3, 3]
        np.testing.assert_allclose(record["label"]["translation_m"], expected, atol=2e-4)


def test_depth_warped_with_the_poses_agrees_with_the_other_frame(seven_root):
    source = _source(seven_root)
    config = BuildConfig()
    frames = {n: source.load_frame(f"sevenscenes/redkitchen/seq-01/{n}") for n in FRAMES}
    views = {n: ground_truth_view(frames[n], config) for n in FRAMES}
    for first, second in (("000000", "000030"), ("000000", "000060")):
        a, b = frames[first].camera, frames[second].camera
        T = np.linalg.inv(b.T_world_cam) @ a.T_world_cam
        points = views[first].points_cam @ T[:3, :3].T + T[:3, 3]
        uv, valid = b.project(points)
        inside = valid & b.contains(uv)
        cols, rows = np.floor(uv[inside] + 0.5).astype(int).T
        z_second = views[second].z_image()
        error = np.abs(points[inside, 2] - z_second[rows, cols])
        error = error[np.isfinite(error)]
        print(f"7-Scenes warp {first} -> {second}: {len(error)} pixels, median |dz| {100 * np.median(error):.2f} cm, "
              f"{100 * np.mean(error < 0.05):.0f}% within 5 cm")
        assert len(error) > 50_000 and np.median(error) < 0.02


def test_bad_files_name_the_file(seven_root, tmp_path):
    sequence = seven_root / "redkitchen" / "seq-01"
    frame_id = "sevenscenes/redkitchen/seq-01/000030"
    (sequence / "frame-000030.pose.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n")
    with pytest.raises(SourceError, match=r"frame-000030.pose.txt: expected 4x4 = 16 numbers"):
        _source(seven_root).load_frame(frame_id)
    (sequence / "frame-000030.pose.txt").unlink()
    with pytest.raises(SourceError, match=r"frame-000030.pose.txt: missing"):
        _source(seven_root).load_frame(frame_id)
    _, manifest = build_records(tmp_path / "out", "sevenscenes", seven_root)
    assert manifest["frames"]["skipped"] == {"source_error": 1}
    Image.fromarray(np.zeros((480, 640), dtype=np.uint8)).save(sequence / "frame-000000.depth.png")
    with pytest.raises(SourceError, match=r"frame-000000.depth.png: expected a 640x480 16-bit depth PNG"):
        _source(seven_root).load_frame("sevenscenes/redkitchen/seq-01/000000")
    (seven_root / "redkitchen" / "TestSplit.txt").write_text("sequence2\nseq-04\n")
    with pytest.raises(SourceError, match=r"TestSplit.txt:2: expected a line 'sequenceN'"):
        _source(seven_root).frame_table()
    with pytest.raises(ConfigError, match="registration must be one of"):
        SevenScenesSource.Config(root=seven_root, registration="calibrated")


def test_a_download_still_zipped_says_so(tmp_path):
    (tmp_path / "chess").mkdir()
    (tmp_path / "chess" / "seq-01.zip").write_bytes(b"PK")
    with pytest.raises(SourceError, match="unzip the sequence archives first"):
        _source(tmp_path).frame_table()
