"""Camera rigs: look-at poses known by hand, the LiDAR mount, intrinsics draws, invertible distortion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from datagen.geometry.cameras import radtan_max_radius
from datagen.geometry.se3 import invert, transform_points
from datagen.synthetic.rigs import (
    RIG_PRESETS,
    distortion_invertible,
    draw_intrinsics,
    heading_pose,
    lidar_mount,
    look_at,
    orbit_path,
    scaled,
    straight_path,
)
from tests.conftest import make_camera


def test_look_at_along_world_x_has_opencv_axes():
    T = look_at([0.0, 0.0, 1.5], [10.0, 0.0, 1.5])
    # Camera x (right) = world -y, y (down) = world -z, z (forward) = world +x.
    np.testing.assert_allclose(T[:3, :3], [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], [0, 0, 1.5])


def test_look_at_target_projects_to_the_principal_point_and_up_is_up():
    camera = make_camera().replace(T_world_cam=look_at([1.0, 2.0, 1.6], [4.0, -1.0, 0.7], roll_rad=0.0))
    world = np.array([[4.0, -1.0, 0.7], [4.0, -1.0, 1.7]])  # the target, and 1 m above it
    uv, ok = camera.project(transform_points(invert(camera.T_world_cam), world))
    assert ok.all()
    np.testing.assert_allclose(uv[0], [camera.cx, camera.cy], atol=1e-9)
    assert uv[1, 1] < uv[0, 1] and abs(uv[1, 0] - uv[0, 0]) < 1e-6  # straight above in the image


def test_heading_pose_pitch_down_sees_the_ground_point_at_the_centre():
    # Camera 1.5 m up, pitched 30 degrees down: the optical axis meets the ground 1.5 / tan(30) ahead.
    T = heading_pose(np.array([0.0, 0.0, 1.5]), yaw_rad=math.pi / 2, pitch_rad=-math.radians(30))
    ground = np.array([[0.0, 1.5 / math.tan(math.radians(30)), 0.0]])
    point_cam = transform_points(invert(T), ground)[0]
    np.testing.assert_allclose(point_cam[:2], 0.0, atol=1e-12)
    assert point_cam[2] == pytest.approx(3.0)  # 1.5 / sin(30)


def test_lidar_mount_axes_and_offset():
    T_cam_lidar = lidar_mount([0.0, -0.3, -0.1])  # 0.3 m above, 0.1 m behind the camera
    forward, left, up = np.eye(3)  # LiDAR axes
    np.testing.assert_allclose(T_cam_lidar[:3, :3] @ forward, [0, 0, 1])
    np.testing.assert_allclose(T_cam_lidar[:3, :3] @ left, [-1, 0, 0])
    np.testing.assert_allclose(T_cam_lidar[:3, :3] @ up, [0, -1, 0])
    # A point 5 m ahead of the LiDAR (which sits 0.1 m behind the camera) is 4.9 m ahead of the
    # camera, 0.3 m above its axis (y down).
    np.testing.assert_allclose(transform_points(T_cam_lidar, [[5.0, 0.0, 0.0]])[0], [0.0, -0.3, 4.9])


def test_wide_rig_draws_cover_the_ranges_and_stay_invertible():
    rng = np.random.default_rng(0)
    rig = RIG_PRESETS["wide"]
    cameras = [draw_intrinsics(rig, rng) for _ in range(300)]
    focals = np.array([c.fx for c in cameras])
    assert focals.min() >= 300 and focals.max() <= 2500
    assert focals.min() < 500 and focals.max() > 2000  # the draws reach both ends
    assert {(c.width, c.height) for c in cameras} == {tuple(s) for s in rig.resolutions}
    hfov = np.degrees([2 * math.atan(c.width / 2 / c.fx) for c in cameras])
    assert hfov.min() >= 35 - 1e-6 and hfov.max() <= 110 + 1e-6
    distorted = [c for c in cameras if not c.is_pinhole]
    assert 0.15 < len(distorted) / len(cameras) < 0.45
    for camera in distorted:  # independent check: the farthest corner, undistorted, is before the fold
        corner = np.array([[0.0, 0.0], [camera.width - 1, 0], [0, camera.height - 1],
                           [camera.width - 1, camera.height - 1]])
        rays = camera.rays(corner)
        assert np.isfinite(rays).all()
        radius = np.hypot(rays[:, 0] / rays[:, 2], rays[:, 1] / rays[:, 2])
        assert radius.max() < radtan_max_radius(camera.dist)


def test_distortion_invertible_rejects_a_lens_that_folds_inside_the_image():
    # k1 = -0.5: radial distortion r (1 - 0.5 r^2) peaks at r = 0.816 with r_d = 0.544; a corner at
    # distorted radius 400 / 300 = 1.33 cannot be reached.
    strong = make_camera("radtan", fx=300.0, dist=[-0.5, 0.0, 0.0, 0.0, 0.0])
    mild = make_camera("radtan", fx=600.0, dist=[-0.1, 0.01, 0.0, 0.0, 0.0])
    assert not distortion_invertible(strong)
    assert distortion_invertible(mild)
    assert distortion_invertible(make_camera())


def test_scaled_camera_projects_to_the_resized_pixel():
    camera = make_camera("radtan", fx=520.0, cx=331.0, cy=229.0)
    small = scaled(camera, 0.25)
    assert (small.width, small.height) == (160, 120)
    point = np.array([[0.4, -0.2, 3.0]])
    uv, _ = camera.project(point)
    uv_small, _ = small.project(point)
    np.testing.assert_allclose(uv_small, (uv + 0.5) * 0.25 - 0.5, atol=1e-9)


def test_straight_and_orbit_paths_move_by_their_step():
    n = 5
    zeros = np.zeros(n)
    walk = straight_path(np.array([1.0, 2.0, 1.5]), math.radians(30), 0.6, n, 0.5, zeros - 0.1, zeros + 0.2, zeros)
    np.testing.assert_allclose(np.linalg.norm(np.diff(walk.centres, axis=0), axis=1), 0.6)
    np.testing.assert_allclose(walk.timestamps_s, [0, 0.5, 1.0, 1.5, 2.0])
    centre = np.array([0.0, 0.0, 0.75])
    orbit = orbit_path(centre, 1.2, 0.5, 0.3, math.radians(12), n, 0.5, np.tile(centre, (n, 1)), zeros)
    chord = 2 * 1.2 * math.sin(math.radians(6))
    np.testing.assert_allclose(np.linalg.norm(np.diff(orbit.centres, axis=0), axis=1), chord)
    assert orbit.step_m == pytest.approx(chord)
    np.testing.assert_allclose(np.linalg.norm(orbit.centres[:, :2], axis=1), 1.2)
    np.testing.assert_allclose(orbit.centres[:, 2], 1.25)
