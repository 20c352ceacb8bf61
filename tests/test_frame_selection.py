"""A build chooses frames before loading them, and uses the source's own LiDAR settings."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from datagen.cli import main
from datagen.config import load_config
from datagen.pipeline import ground_truth_view, occlusion_filter, select_frames
from tests.conftest import make_frame
from tests.fake_source import RigSource

RIG = "tests.fake_source:RigSource"


def test_cameras_splits_every_and_limit_choose_frames_before_loading():
    config = load_config(None, {"source": RIG, "source_options": {"frames": 9}, "cameras": "right",
                                "splits": "train,test", "every": 2})
    assert select_frames(config) == ["rig/seq0/0000/right", "rig/seq0/0002/right",
                                      "rig/seq2/0006/right", "rig/seq2/0008/right"]
    limited = load_config(None, {"source": RIG, "source_options": {"frames": 9}, "frames": 3})
    assert select_frames(limited) == ["rig/seq0/0000/left", "rig/seq0/0000/right", "rig/seq0/0001/left"]


def test_cli_build_with_filters_and_source_options(tmp_path):
    out = tmp_path / "out"
    args = ["-q", "build", "--source", RIG, "--out", str(out), "--cameras", "left", "--every", "3",
            "--split", "val", "-O", "frames=6", "--tasks", "distance"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    frames = [json.loads(line)["frame_id"] for line in (out / "frames.jsonl").read_text().splitlines()]
    assert frames == ["rig/seq1/0003/left"]
    assert load_config(out / "build.yaml").source_options == {"frames": 6}


def test_source_see_through_window_applies_unless_the_build_sets_one():
    assert occlusion_filter(load_config(), RigSource.occlusion_defaults).window_px == 31
    assert occlusion_filter(load_config(None, {"occlusion": {"window_px": 5}}), {"window_px": 31}).window_px == 5
    assert occlusion_filter(load_config()).window_px == 9
    assert occlusion_filter(load_config(None, {"occlusion": {"enabled": False}}), {"window_px": 31}) is None


def test_points_carry_the_provenance_the_source_states():
    frame = make_frame(points=np.array([[0.0, 0.0, 4.0], [0.5, 0.2, 6.0]]))
    config = load_config(None, {"ground_truth": "lidar"})
    assert ground_truth_view(frame, config).depth_from == "lidar"
    registered = make_frame(points=frame.points)
    object.__setattr__(registered, "meta", {"points_from": "depth_map"})
    assert ground_truth_view(registered, config).depth_from == "depth_map"


def test_overlay_paints_each_label_on_its_pixel(tmp_path):
    out = tmp_path / "overlay.png"
    result = CliRunner().invoke(main, ["overlay", "--source", RIG, "-O", "frames=3", "--index", "1",
                                       "--radius", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "rig/seq0/0000/right" in result.output
    source = RigSource(RigSource.Config(frames=3))
    frame = source.load_frame("rig/seq0/0000/right")
    view = ground_truth_view(frame, load_config(), source.occlusion_defaults)
    painted = np.asarray(Image.open(out)).astype(int)
    cols, rows = view.pixel_indices().T
    changed = np.any(painted[rows, cols] != frame.image[rows, cols], axis=1)
    assert changed.mean() > 0.95  # every label is painted (a colour equal to the image's is rare)
    untouched = np.ones(frame.image.shape[:2], dtype=bool)
    untouched[rows, cols] = False
    assert np.array_equal(painted[untouched], frame.image[untouched])
