"""Ray-cast renderer against answers known by hand and independent numpy intersections."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from datagen.errors import RegistryError
from datagen.render import raycast
from datagen.render.base import RenderResult, background, get_renderer, pixel_rays
from datagen.render.raycast import RaycastRenderer, cast_rays, scene_geometry
from datagen.render.scene import Light, Material, Scene, SceneObject
from datagen.types import Camera
from tests.conftest import DISTORTIONS, make_camera
from tests.render.conftest import (
    level_camera,
    plane_range,
    posed_box,
    slab_range,
    street_scene,
    z_plane,
)


def _normalised_rays(camera: Camera) -> np.ndarray:
    """(H*W, 3) rays (x, y, 1) through pixel centres of a pinhole camera, computed from K by hand."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=float), np.arange(camera.height, dtype=float))
    x = (u.ravel() - camera.cx) / camera.fx
    y = (v.ravel() - camera.cy) / camera.fy
    return np.column_stack([x, y, np.ones_like(x)])


def test_plane_at_five_metres_renders_z_five_and_range_along_the_ray(plane_scene):
    camera = make_camera(fx=520.0, fy=470.0, cx=301.7, cy=255.2)
    result = RaycastRenderer().render(plane_scene, camera)
    assert isinstance(result, RenderResult)
    assert result.z_m.shape == (480, 640) and result.z_m.dtype == np.float32
    assert np.abs(result.z_m - 5.0).max() < 1e-4
    rays = _normalised_rays(camera)
    expected_range = 5.0 * np.linalg.norm(rays, axis=1) / rays[:, 2]
    np.testing.assert_allclose(result.range_m.ravel(), expected_range, rtol=1e-6)
    assert (result.object_index == 0).all()


def test_plane_far_from_the_scene_centre_keeps_float64_precision():
    # A 4 km wide plane 5.00006 m in front of a camera 2.7 km from the scene's centre (a box
    # 3 km up widens the scene): Embree's float32 rounds both to a 1.2e-4 m grid there and is
    # off by 6e-5 m; the float64 re-intersection is exact.
    T = np.eye(4)
    T[:3, 3] = [1900.31, -1900.77, 100.37]
    box, _ = posed_box((1.0, 1.0, 1.0), 0.0, (0.0, 0.0, 3000.11))
    scene = Scene(objects=(SceneObject("wall", "plane", z_plane(100.37 + 5.00006, half_size_m=2000.0)),
                           SceneObject("balloon", "box", box)))
    result = RaycastRenderer().render(scene, make_camera(T_world_cam=T))
    assert np.abs(result.z_m.astype(np.float64) - 5.00006).max() < 1e-6


def test_flat_plane_colour_is_albedo_times_ambient_plus_lambert(plane_scene):
    # Light travels along +z, the camera sees the plane's -z side: n . -light = 1, so the
    # shade is ambient 0.3 + 0.5 = 0.8 everywhere: (0.8, 0.6, 0.4) * 0.8 * 255, rounded.
    result = RaycastRenderer().render(plane_scene, make_camera(width=64, height=48))
    assert (result.color == np.array([163, 122, 82], dtype=np.uint8)).all()


def test_sky_is_the_background_gradient_where_nothing_is_hit():
    ground = Scene(objects=(SceneObject("ground", "plane", z_plane(0.0, 50.0)),), background_rgb=(0.5, 0.6, 1.0))
    up = level_camera(width=32, height=24, cx=16.0, cy=12.0, position=(0.0, 0.0, 1.0), pitch_rad=-np.pi / 2)
    result = RaycastRenderer().render(ground, up)
    assert (result.object_index == -1).all() and np.isnan(result.z_m).all() and np.isnan(result.range_m).all()
    # The principal point's ray goes straight up: 30 % darker than the horizon colour.
    np.testing.assert_allclose(result.color[12, 16].astype(float), np.array([0.5, 0.6, 1.0]) * 0.7 * 255, atol=0.5)
    np.testing.assert_array_equal(background(ground, np.array([[0.0, 1.0, 0.0]])), [[0.5, 0.6, 1.0]])


def test_box_renders_the_depths_slab_intersection_predicts():
    box, T_world_box = posed_box((1.0, 1.5, 2.0), 0.4, (0.8, 4.0, 1.0))
    scene = Scene(objects=(SceneObject("ground", "plane", z_plane(0.0, 60.0)), SceneObject("box", "box", box)))
    camera = level_camera(pitch_rad=np.deg2rad(25.0), position=(0.1, -1.0, 2.4))
    result = RaycastRenderer().render(scene, camera)
    origin = camera.T_world_cam[:3, 3]
    rays = pixel_rays(camera)
    directions = rays @ camera.T_world_cam[:3, :3].T
    box_t, chord = slab_range(origin, directions, T_world_box, (1.0, 1.5, 2.0))
    expected = np.minimum(box_t, plane_range(origin, directions, 0.0))
    assert np.isfinite(expected).all()  # every ray hits the ground inside the 60 m square
    robust = np.abs(chord) > 1e-6  # away from the box's silhouette
    np.testing.assert_allclose(result.range_m.ravel()[robust], expected[robust], rtol=1e-6)
    np.testing.assert_allclose(result.z_m.ravel()[robust], (expected * rays[:, 2])[robust], rtol=1e-6)
    on_box = np.isfinite(box_t) & robust
    assert on_box.sum() > 5000
    assert (result.object_index.ravel()[on_box] == 1).all()
    assert (result.object_index.ravel()[~np.isfinite(box_t) & robust] == 0).all()


@pytest.mark.parametrize("model", ["radtan", "fisheye"])
def test_distorted_camera_renders_the_geometry_along_its_own_rays(model):
    box, T_world_box = posed_box((1.0, 1.5, 2.0), 0.4, (0.8, 4.0, 1.0))
    scene = Scene(objects=(SceneObject("ground", "plane", z_plane(0.0, 60.0)), SceneObject("box", "box", box)))
    K = dict(fx=260.0, fy=250.0, cx=165.0, cy=118.0, pitch_rad=np.deg2rad(30.0), position=(0.1, -1.0, 2.4))
    distorted = level_camera(model=model, dist=DISTORTIONS[model], **K)
    result = RaycastRenderer().render(scene, distorted)
    # Independent geometry along the distorted camera's rays (undistorted by camera.rays).
    rays = distorted.rays(np.argwhere(np.ones((240, 320)))[:, ::-1].astype(float))
    origin = distorted.T_world_cam[:3, 3]
    directions = rays @ distorted.T_world_cam[:3, :3].T
    box_t, chord = slab_range(origin, directions, T_world_box, (1.0, 1.5, 2.0))
    expected = np.minimum(box_t, plane_range(origin, directions, 0.0, half_size_m=60.0))
    expected[np.isinf(expected)] = np.nan  # past the ground's edge
    robust = np.abs(chord) > 1e-6
    assert np.isfinite(expected).sum() > 10000
    np.testing.assert_allclose(result.range_m.ravel()[robust], expected[robust], rtol=1e-6)
    # The lens bends the image: the pinhole camera with the same K renders other depths.
    pinhole = RaycastRenderer().render(scene, level_camera(**K))
    assert np.nanmax(np.abs(pinhole.range_m - result.range_m)) > 0.5


def test_same_scene_and_camera_give_byte_identical_renders():
    scene, camera = street_scene(), level_camera()
    first = RaycastRenderer().render(scene, camera)
    second = RaycastRenderer(nthreads=1).render(street_scene(), camera)
    for name in ("color", "z_m", "range_m", "object_index"):
        assert getattr(first, name).tobytes() == getattr(second, name).tobytes(), name


def test_patterns_show_in_the_rendered_image():
    result = RaycastRenderer().render(street_scene(), level_camera())
    colours = [len(np.unique(result.color[result.object_index == index], axis=0)) for index in range(3)]
    # A flat checkered ground under one light: two colours; the brick box: at least brick and
    # mortar; the grey noise sphere: many grey levels.
    assert colours[0] == 2 and colours[1] >= 2 and colours[2] > 20


def test_depth_only_render_leaves_colour_black_and_depth_unchanged():
    scene, camera = street_scene(), level_camera()
    with_colour = RaycastRenderer().render(scene, camera)
    depth_only = RaycastRenderer().render(scene, camera, color=False)
    assert not depth_only.color.any()
    assert depth_only.z_m.tobytes() == with_colour.z_m.tobytes()


def test_embree_scene_is_built_once_per_scene_and_dropped_with_it():
    scene = street_scene(sphere_subdivisions=1)
    geometry = scene_geometry(scene)
    renderer = RaycastRenderer()
    renderer.render(scene, level_camera(width=16, height=12))
    renderer.render(scene, level_camera(width=16, height=12, position=(0.0, -2.0, 1.0)))
    assert scene_geometry(scene) is geometry
    gc.collect()
    count = len(raycast._GEOMETRY_CACHE)
    del scene, geometry
    gc.collect()
    assert len(raycast._GEOMETRY_CACHE) == count - 1


def test_cast_rays_from_several_origins():
    scene = Scene(objects=(SceneObject("ground", "plane", z_plane(0.0, 10.0)),))
    origins = np.array([[0.0, 0.0, 1.0], [2.0, 3.0, 2.5], [0.0, 0.0, 1.0]])
    down = np.array([[0.0, 0.0, -1.0], [0.0, 0.6, -0.8], [0.0, 0.0, 1.0]])
    hits = cast_rays(scene, origins, down)
    np.testing.assert_allclose(hits.t_m, [1.0, 2.5 / 0.8, np.inf])
    np.testing.assert_array_equal(hits.object_index, [0, 0, -1])
    np.testing.assert_allclose(hits.normals, [[0, 0, 1], [0, 0, 1], [0, 0, 0]])


def test_get_renderer_builds_registered_renderers_and_lists_known_names():
    assert isinstance(get_renderer(), RaycastRenderer)
    assert get_renderer("raycast", nthreads=1).nthreads == 1
    with pytest.raises(RegistryError, match="pyrender, raycast"):
        get_renderer("mitsuba")
    with pytest.raises(ValueError, match="nthreads"):
        RaycastRenderer(nthreads=-1)


def test_lights_add_up_and_ignore_the_far_side():
    wall = Scene(objects=(SceneObject("wall", "plane", z_plane(5.0), Material(color_rgb=(1.0, 1.0, 1.0))),),
                 lights=(Light((0.0, 0.0, 1.0), 0.25), Light((0.0, 0.0, -1.0), 0.9), Light((0.0, 0.6, 0.8), 0.5)),
                 ambient=0.1)
    # Lambert per light: 0.25 * 1 + 0.9 * 0 (lit from behind) + 0.5 * 0.8; plus ambient 0.1.
    result = RaycastRenderer().render(wall, make_camera(width=8, height=6))
    assert (result.color == round(0.75 * 255)).all()


def test_re_intersection_keeps_the_casters_distance_where_the_plane_cannot_be_trusted():
    scene = Scene(objects=(SceneObject("ground", "plane", z_plane(0.0, 10.0)),))
    planes = raycast.face_planes(scene)
    origin = (np.array([0.0, 0.0, 1.0]) - planes.origin)[None]
    directions = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    hits = raycast.hits_on_faces(planes, origin, directions, np.eye(3), np.array([0, 0, 0]),
                                 np.array([1.0004, 5.0, 2.0]))
    # Within 0.1 %: corrected to the plane; 5 m off: kept; parallel to the plane: kept.
    np.testing.assert_array_equal(hits.t_m, [1.0, 5.0, 2.0])
