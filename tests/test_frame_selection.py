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


def test_label_mask_drops_labels_outside_it_for_points_depth_maps_and_meshes():
    from datagen.pipeline import masked_view, source_image_view
    from datagen.render.scene import Scene, SceneObject
    import trimesh

    frame = make_frame()  # a plane at 5 m seen by a 640x480 pinhole camera
    mask = np.zeros((480, 640), dtype=bool)
    mask[100:200, 300:400] = True
    object.__setattr__(frame, "label_mask", mask)
    view = source_image_view(frame, load_config())
    assert len(view) == 100 * 100
    cols, rows = view.pixel_indices().T
    assert mask[rows, cols].all()
    # a mesh frame: a wall at z = 5 m in front of the camera; labels come from rays, the mask still applies
    wall = trimesh.creation.box(extents=(40.0, 40.0, 0.1))
    wall.apply_translation([0.0, 0.0, 5.05])
    mesh_frame = make_frame()
    object.__setattr__(mesh_frame, "mesh", Scene((SceneObject("wall", "box", wall),)))
    object.__setattr__(mesh_frame, "label_mask", mask)
    mesh_labels = source_image_view(mesh_frame, load_config())
    assert len(mesh_labels) == 100 * 100 and np.allclose(mesh_labels.z_m, 5.0)
    unmasked = make_frame()
    assert masked_view(view, unmasked) is view


def test_back_faces_of_a_scan_give_no_label_when_the_scene_culls_them():
    import trimesh

    from datagen.pipeline import mesh_view
    from datagen.render.scene import Scene, SceneObject
    from tests.conftest import make_camera

    # A single triangle facing away from the camera (normal +z, camera looking along +z).
    triangle = trimesh.Trimesh(vertices=[[-50, -50, 5], [50, -50, 5], [0, 50, 5]], faces=[[0, 1, 2]], process=False)
    assert triangle.face_normals[0][2] > 0
    camera = make_camera()
    seen = mesh_view(Scene((SceneObject("t", "scan", triangle),)), camera)
    culled = mesh_view(Scene((SceneObject("t", "scan", triangle),), cull_back_faces=True), camera)
    assert len(seen) > 1000 and len(culled) == 0
    flipped = trimesh.Trimesh(vertices=triangle.vertices, faces=[[0, 2, 1]], process=False)
    assert len(mesh_view(Scene((SceneObject("t", "scan", flipped),), cull_back_faces=True), camera)) == len(seen)


def test_source_option_values_read_as_the_config_files_do():
    import click
    import pytest

    from datagen.commands.build import parse_options

    assert parse_options(("n=1e7", "cams=[a, b]", "flag=true", "empty=")) == \
        {"n": 1e7, "cams": ["a", "b"], "flag": True, "empty": None}
    with pytest.raises(click.BadParameter, match="expected KEY=VALUE"):
        parse_options(("novalue",))
    with pytest.raises(click.BadParameter, match="not a YAML value"):
        parse_options(("x={a: 1, a: 2}",))
