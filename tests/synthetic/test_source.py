"""The synthetic source: frame ids, determinism, depth bands, LiDAR against the rendered depth."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy.ndimage import maximum_filter, minimum_filter

from datagen.errors import ConfigError, SourceError
from datagen.geometry.se3 import transform_points
from datagen.render.scene import Scene
from datagen.resources import scenes_dir
from datagen.sources import REGISTRY
from datagen.sources.synthetic import SyntheticSource
from datagen.types import Frame

from .conftest import FAMILIES, bundled_recipe, write_recipe

#: Documented depth bands (z, metres) per family: the 5th-95th percentile of valid depth lies inside.
DEPTH_BANDS = {"room": (0.5, 12.0), "street": (2.0, 80.0), "tabletop": (0.3, 3.0)}


def test_registered_under_its_name():
    assert REGISTRY.load_builtins().get("synthetic") is SyntheticSource


def test_frame_ids_interleave_whole_sequences(small_source):
    ids = small_source.frame_ids()
    assert len(ids) == len(set(ids)) == 3 * 2 * 3
    assert ids[:9] == [f"synthetic/{family}/0/{f:06d}" for family in FAMILIES for f in range(3)]
    assert ids[9] == "synthetic/room/1/000000"
    assert ids == SyntheticSource(SyntheticSource.Config(sequences=2, frames_per_sequence=3)).frame_ids()


def test_default_listing_covers_every_family_in_24_frames():
    ids = SyntheticSource().frame_ids()
    assert {i.split("/")[1] for i in ids[:24]} == set(FAMILIES)


def test_frame_fields(small_source):
    frame = small_source.load_frame("synthetic/street/1/000002")
    assert isinstance(frame, Frame) and frame.source == "synthetic"
    assert frame.sequence == "street/1" and frame.timestamp_s == pytest.approx(2 * 0.2)
    assert frame.image.shape == (frame.camera.height, frame.camera.width, 3) and frame.image.dtype == np.uint8
    assert frame.depth_m.dtype == np.float32 and frame.depth_kind == "z"
    assert np.isnan(frame.depth_m).any() and np.nanmin(frame.depth_m) > 0  # sky: NaN = no label
    assert isinstance(frame.mesh, Scene) and frame.points.dtype == np.float32 and len(frame.points) > 1000
    built = small_source.scene("street", 1)
    np.testing.assert_array_equal(frame.T_cam_points, built.T_cam_lidar)
    np.testing.assert_array_equal(frame.camera.T_world_cam, built.path.poses[2])
    assert frame.meta["recipe"] == "street" and frame.meta["seed"] == [2, 0, 1] and frame.meta["depth_from"] == "mesh"
    assert (frame.camera.width, frame.camera.height) in {(160, 120), (192, 108)}  # 1/4 of the recipe's sizes


def _arrays(frame: Frame) -> tuple:
    return frame.image.tobytes(), frame.depth_m.tobytes(), frame.points.tobytes(), frame.camera.K.tobytes()


def test_same_id_same_bytes_in_any_order():
    config = SyntheticSource.Config(image_scale=0.25, sequences=2, frames_per_sequence=3)
    ids = SyntheticSource(config).frame_ids()
    first, second = ids[3], ids[10]  # street/0/000000 and room/1/000001: two different scenes
    a, b = SyntheticSource(config), SyntheticSource(config)
    a3, a1 = a.load_frame(first), a.load_frame(second)
    b1, b3 = b.load_frame(second), b.load_frame(first)
    assert _arrays(a3) == _arrays(b3) and _arrays(a1) == _arrays(b1)
    assert a3.image.std() > 10  # a textured picture, not a blank one


@pytest.mark.parametrize("family", FAMILIES)
def test_depth_lies_in_the_family_band(small_source, family):
    low, high = DEPTH_BANDS[family]
    depths = []
    for index in range(2):
        for frame in range(3):
            depth = small_source.load_frame(f"synthetic/{family}/{index}/{frame:06d}").depth_m
            depths.append(depth[np.isfinite(depth)])
    depths = np.concatenate(depths)
    p5, p95 = np.percentile(depths, [5, 95])
    assert low <= p5 and p95 <= high, (family, p5, p95)
    assert p95 / p5 > 2  # a spread of depths, not one wall


@pytest.mark.parametrize("family", FAMILIES)
def test_lidar_points_agree_with_the_rendered_depth(family):
    source = SyntheticSource(SyntheticSource.Config(recipes=(family,), image_scale=0.5, sequences=1,
                                                    frames_per_sequence=2))
    frame = source.load_frame(f"synthetic/{family}/0/000001")
    # 1. LiDAR points into the camera frame, then onto the image (lens model included).
    points_cam = transform_points(frame.T_cam_points, frame.points)
    uv, valid = frame.camera.project(points_cam)
    valid &= frame.camera.contains(uv)
    cols, rows = np.floor(uv[valid] + 0.5).astype(int).T
    z_lidar, z_map = points_cam[valid, 2], frame.depth_m[rows, cols].astype(np.float64)
    # 2. Compare away from depth edges (the LiDAR sees round corners the camera does not).
    filled = np.nan_to_num(frame.depth_m, nan=1e6)
    smooth = (maximum_filter(filled, 5) / minimum_filter(filled, 5) < 1.03)[rows, cols]
    relative = np.abs(z_lidar - z_map)[smooth] / z_map[smooth]
    assert smooth.sum() > 500
    assert np.median(relative) < 0.005, np.median(relative)
    # A point in front of the rendered surface would mean a wrong mount; behind it, occlusion.
    assert np.mean((z_lidar < 0.95 * z_map)[smooth]) < 0.01


def test_a_new_recipe_file_needs_no_code(tmp_path):
    data = bundled_recipe("tabletop")
    data.update(seed=99, sequences=1)
    data["path"]["frames"] = 2
    write_recipe(tmp_path, "desk", data)
    shutil.copy(scenes_dir() / "room.yaml", tmp_path / "room.yaml")
    source = SyntheticSource(SyntheticSource.Config(root=tmp_path, image_scale=0.25, lidar=False))
    assert sorted(source.recipes) == ["desk", "room"]
    assert source.frame_ids()[:2] == ["synthetic/desk/0/000000", "synthetic/desk/0/000001"]
    frame = source.load_frame("synthetic/desk/0/000001")
    assert frame.points is None and frame.meta["seed"] == [99, 0, 0]


def test_wide_preset_uses_the_wide_rig():
    source = SyntheticSource(SyntheticSource.Config(recipes=("street",), camera_preset="wide", lidar=False))
    sizes = {(c.width, c.height) for i in range(4) for c in source.scene("street", i).cameras}
    assert len(sizes) >= 3 and all(w >= 640 for w, _ in sizes)


@pytest.mark.parametrize("options, message", [
    ({"camera_preset": "fisheye"}, "camera_preset must be one of demo, wide"),
    ({"image_scale": 0}, "image_scale must be a number in"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"recipes": ("room", "garden")}, "unknown recipe 'garden'"),
    ({"sequences": 0}, "sequences must be an integer >= 1"),
])
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        SyntheticSource(SyntheticSource.Config(**options))


@pytest.mark.parametrize("frame_id", ["synthetic/room/0", "kitti/room/0/000000", "synthetic/garden/0/000000",
                                      "synthetic/room/9/000000", "synthetic/room/0/000099"])
def test_bad_frame_ids(small_source, frame_id):
    with pytest.raises(SourceError, match="synthetic: frame id"):
        small_source.load_frame(frame_id)


def test_recipes_option_accepts_a_comma_list():
    assert SyntheticSource.Config(recipes="room, street").recipes == ("room", "street")
