"""Depth of one camera registered into another: labels land where the colour camera sees them.

A scene of a wall and two boxes is rendered from a depth camera that sits 5 cm beside the
colour camera, turned by 3 degrees, with its own intrinsics and a lower resolution. Every
label the pipeline makes from the registered depth is checked against an independent
ray/box and ray/plane intersection along the label's own colour-camera ray; the same depth
map resized to the colour size ("pretend it is registered") is checked the same way.
"""

from __future__ import annotations

import numpy as np
import pytest

from datagen.config import BuildConfig, OcclusionOptions
from datagen.errors import SourceError
from datagen.geometry.se3 import make_transform
from datagen.pipeline import ground_truth_view
from datagen.render.base import get_renderer
from datagen.render.scene import Material, Scene, SceneObject
from datagen.sources._registration import (DepthRegistration, decode_depth, depth_points, registered_points,
                                           rigid_transform)
from datagen.types import Camera, Frame
from tests.render.conftest import plane_range, posed_box, slab_range, z_plane

WALL_Z_M = 4.0
BOXES = (((0.6, 0.6, 0.6), 0.3, (-0.35, 0.1, 1.6)), ((0.5, 0.8, 0.4), 0.0, (0.55, -0.2, 2.6)))
COLOR = Camera.from_intrinsics(280.0, 280.0, 161.3, 118.6, 320, 240)
DEPTH = Camera.from_intrinsics(180.0, 182.0, 97.2, 76.4, 200, 150)
ANGLE = np.radians(3.0)
T_COLOR_DEPTH = make_transform([[np.cos(ANGLE), 0, np.sin(ANGLE)], [0, 1, 0], [-np.sin(ANGLE), 0, np.cos(ANGLE)]],
                               [-0.05, 0.012, 0.004])


def _scene() -> Scene:
    objects = [SceneObject("wall", "plane", z_plane(WALL_Z_M), Material())]
    for k, (extents, yaw, centre) in enumerate(BOXES):
        objects.append(SceneObject(f"box{k}", "box", posed_box(extents, yaw, centre)[0], Material()))
    return Scene(objects=tuple(objects))


def true_range(pixels: np.ndarray) -> np.ndarray:
    """(N,) distance from the colour camera (world origin) to the scene along each pixel's ray."""
    x = (pixels[:, 0] - COLOR.cx) / COLOR.fx
    y = (pixels[:, 1] - COLOR.cy) / COLOR.fy
    rays = np.column_stack([x, y, np.ones_like(x)])
    rays /= np.linalg.norm(rays, axis=1)[:, None]
    origin = np.zeros(3)
    ranges = [plane_range(origin, rays, WALL_Z_M)]
    for extents, yaw, centre in BOXES:
        ranges.append(slab_range(origin, rays, posed_box(extents, yaw, centre)[1], extents)[0])
    return np.min(ranges, axis=0), rays


@pytest.fixture(scope="module")
def depth_map() -> np.ndarray:
    """z of the scene seen by the depth camera (the world frame is the colour camera's)."""
    camera = DEPTH.replace(T_world_cam=T_COLOR_DEPTH)  # world = colour camera frame
    z = get_renderer("raycast").render(_scene(), camera, color=False).z_m
    return np.nan_to_num(z, nan=0.0)


def _registered_view(depth_map: np.ndarray, occlusion: bool = True):
    fields = registered_points(depth_map, DepthRegistration(DEPTH, T_COLOR_DEPTH))
    image = np.zeros((COLOR.height, COLOR.width, 3), dtype=np.uint8)
    frame = Frame(frame_id="test/seq/0", source="test", camera=COLOR, image=image, points=fields["points"],
                  T_cam_points=fields["T_cam_points"], meta=fields["meta"])
    config = BuildConfig(occlusion=OcclusionOptions(enabled=occlusion))
    return ground_truth_view(frame, config)


def test_registered_labels_lie_on_the_surface_the_colour_camera_sees(depth_map):
    view = _registered_view(depth_map)
    assert view.depth_from == "depth_map" and len(view) > 0.8 * DEPTH.width * DEPTH.height
    truth, _ = true_range(view.pixels)
    error = np.abs(view.range_m - truth)
    wrong = np.mean(error > 0.01)
    print(f"registered: {len(view)} labels, {100 * wrong:.2f}% off by > 1 cm, median error {np.median(error):.2e} m")
    assert np.median(error) < 1e-5
    assert wrong < 0.005


def test_the_see_through_filter_removes_background_seen_past_edges(depth_map):
    without = _registered_view(depth_map, occlusion=False)
    truth, _ = true_range(without.pixels)
    wrong_without = np.mean(np.abs(without.range_m - truth) > 0.01)
    with_filter = _registered_view(depth_map)
    truth, _ = true_range(with_filter.pixels)
    wrong_with = np.mean(np.abs(with_filter.range_m - truth) > 0.01)
    print(f"off by > 1 cm: {100 * wrong_without:.2f}% without the filter, {100 * wrong_with:.2f}% with it")
    assert wrong_with < wrong_without


def test_resizing_the_depth_map_instead_puts_labels_on_the_wrong_surface(depth_map):
    # "Pretend it is registered": stretch the depth map to the colour size (nearest neighbour).
    rows = np.minimum((np.arange(COLOR.height) + 0.5) * DEPTH.height / COLOR.height, DEPTH.height - 1).astype(int)
    cols = np.minimum((np.arange(COLOR.width) + 0.5) * DEPTH.width / COLOR.width, DEPTH.width - 1).astype(int)
    resized = depth_map[rows][:, cols]
    v, u = np.nonzero(resized > 0)
    pixels = np.column_stack([u, v]).astype(float)
    truth, rays = true_range(pixels)
    true_z = truth * rays[:, 2]
    error = np.abs(resized[v, u] - true_z)
    wrong = np.mean(error > 0.01)
    registered = _registered_view(depth_map)
    truth_r, _ = true_range(registered.pixels)
    wrong_registered = np.mean(np.abs(registered.range_m - truth_r) > 0.01)
    print(f"resized: {100 * wrong:.1f}% of labels off by > 1 cm (median {100 * np.median(error):.2f} cm), "
          f"registered: {100 * wrong_registered:.2f}%")
    assert wrong > 0.2 and wrong > 20 * wrong_registered


def test_decode_depth_units_and_no_data_markers():
    raw = np.array([[0, 1000, 65535], [2500, 1, 65534]], dtype=np.uint16)
    depth = decode_depth(raw, 1000.0, (0, 65535), "x.png")
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, np.array([[0, 1.0, 0], [2.5, 0.001, 65.534]], dtype=np.float32))
    floats = np.array([[np.inf, np.nan, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(decode_depth(floats, 1.0, (), "x.npy"), [[0.0, 0.0, 2.0]])
    with pytest.raises(SourceError, match="x.npy: negative depth"):
        decode_depth(np.array([[1.0, -2.0]]), 1.0, (), "x.npy")
    with pytest.raises(SourceError, match="one numeric channel"):
        decode_depth(np.zeros((2, 2, 3)), 1.0, (), "x.png")


def test_depth_points_z_and_range_back_project_along_pixel_rays():
    camera = Camera.from_intrinsics(100.0, 120.0, 3.5, 2.5, 8, 6)
    depth = np.zeros((6, 8))
    depth[1, 2], depth[4, 7] = 2.0, 3.0
    z_points = depth_points(depth, camera, "z")
    np.testing.assert_allclose(z_points, [[(2 - 3.5) / 100 * 2, (1 - 2.5) / 120 * 2, 2.0],
                                          [(7 - 3.5) / 100 * 3, (4 - 2.5) / 120 * 3, 3.0]])
    range_points = depth_points(depth, camera, "range")
    np.testing.assert_allclose(np.linalg.norm(range_points, axis=1), [2.0, 3.0])
    np.testing.assert_allclose(range_points / np.linalg.norm(range_points, axis=1)[:, None],
                               z_points / np.linalg.norm(z_points, axis=1)[:, None])


def test_registered_points_refuses_a_depth_map_of_another_size():
    with pytest.raises(SourceError, match="d.png: depth map is 4x3 px but its intrinsics describe 200x150"):
        registered_points(np.ones((3, 4)), DepthRegistration(DEPTH), "d.png")


def test_rigid_transform_mends_drift_and_refuses_wrong_matrices():
    rng = np.random.default_rng(0)
    drifted = np.eye(4)
    drifted[:3, :3] += rng.normal(scale=1e-4, size=(3, 3))
    mended = rigid_transform(drifted, "pose.txt", "pose")
    np.testing.assert_allclose(mended[:3, :3] @ mended[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.abs(mended - drifted).max() < 5e-4
    with pytest.raises(SourceError, match="pose.txt: pose rotation is not orthonormal"):
        rigid_transform(np.diag([1.0, 1.0, 1.1, 1.0]), "pose.txt", "pose")
    with pytest.raises(SourceError, match="pose.txt: pose has non-finite values"):
        rigid_transform(np.full((4, 4), -np.inf), "pose.txt", "pose")
