"""Simulated LiDAR: points on the surfaces, range window, noise, dropout, frame and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.errors import GeometryError
from datagen.render.lidar import LidarConfig, lidar_directions, simulate_lidar
from datagen.render.scene import Scene, SceneObject
from tests.render.conftest import posed_box, quad, z_plane

BOX_EXTENTS = (2.0, 4.0, 1.5)


def _scene_and_box() -> tuple[Scene, np.ndarray]:
    box, T_world_box = posed_box(BOX_EXTENTS, 0.3, (6.0, 2.0, 0.75))
    objects = (SceneObject("ground", "plane", z_plane(0.0, 40.0)), SceneObject("car", "box", box))
    return Scene(objects=objects), T_world_box


def _sensor_pose(yaw_rad: float = 0.5, height_m: float = 1.7) -> np.ndarray:
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = [0.5, -1.0, height_m]
    return T


def _distance_to_surfaces(points_world: np.ndarray, T_world_box: np.ndarray) -> np.ndarray:
    """(N,) distance to the nearer of the ground (z = 0) and the box surface, computed analytically."""
    local = (points_world - T_world_box[:3, 3]) @ T_world_box[:3, :3]
    q = np.abs(local) - np.asarray(BOX_EXTENTS) / 2
    box = np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)  # signed distance
    return np.minimum(np.abs(points_world[:, 2]), np.abs(box))


def _to_world(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    return points.astype(np.float64) @ T[:3, :3].T + T[:3, 3]


CONFIG = LidarConfig(beams=32, azimuth_steps=512)


def test_noise_free_points_lie_exactly_on_the_surfaces():
    scene, T_world_box = _scene_and_box()
    T = _sensor_pose()
    points = simulate_lidar(scene, T, LidarConfig(beams=32, azimuth_steps=512, range_noise_m=0.0, dropout=0.0),
                            np.random.default_rng(0))
    assert points.dtype == np.float32 and points.shape[1] == 3
    world = _to_world(points, T)
    assert _distance_to_surfaces(world, T_world_box).max() < 1e-5  # float32 output at up to 40 m
    assert (world[:, 2] > 0.01).sum() > 100  # off the ground: the box is seen too


def test_noisy_points_stay_within_four_sigma_of_the_surfaces():
    scene, T_world_box = _scene_and_box()
    T = _sensor_pose()
    points = simulate_lidar(scene, T, CONFIG, np.random.default_rng(0))
    distance = _distance_to_surfaces(_to_world(points, T), T_world_box)
    assert distance.max() < 4 * CONFIG.range_noise_m
    assert distance.mean() > 0.2 * CONFIG.range_noise_m  # the noise is there


def test_range_noise_is_gaussian_along_the_ray_with_the_configured_sigma():
    scene, _ = _scene_and_box()
    T = _sensor_pose()
    exact = simulate_lidar(scene, T, LidarConfig(beams=32, azimuth_steps=512, range_noise_m=0.0, dropout=0.0),
                           np.random.default_rng(0))
    noisy = simulate_lidar(scene, T, LidarConfig(beams=32, azimuth_steps=512, range_noise_m=0.05, dropout=0.0),
                           np.random.default_rng(0))
    assert len(noisy) == len(exact) > 5000
    residual = np.linalg.norm(noisy, axis=1) - np.linalg.norm(exact, axis=1)
    assert abs(residual.mean()) < 0.003 and abs(residual.std() - 0.05) < 0.003
    # Noise moves points along their rays only: the directions are unchanged.
    cosine = np.einsum("ij,ij->i", noisy, exact) / np.linalg.norm(noisy, axis=1) / np.linalg.norm(exact, axis=1)
    assert cosine.min() > 1 - 1e-6


def test_dropout_removes_the_configured_share():
    scene, _ = _scene_and_box()
    kept_all = len(simulate_lidar(scene, _sensor_pose(), LidarConfig(beams=32, azimuth_steps=512, dropout=0.0),
                                  np.random.default_rng(0)))
    kept = len(simulate_lidar(scene, _sensor_pose(), LidarConfig(beams=32, azimuth_steps=512, dropout=0.3),
                              np.random.default_rng(0)))
    share = 1 - kept / kept_all
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / kept_all)


def test_only_hits_inside_the_range_window_are_kept():
    scene, _ = _scene_and_box()
    exact = dict(beams=32, azimuth_steps=512, range_noise_m=0.0, dropout=0.0)
    everything = simulate_lidar(scene, _sensor_pose(), LidarConfig(**exact), np.random.default_rng(0))
    window = simulate_lidar(scene, _sensor_pose(), LidarConfig(min_range_m=5.0, max_range_m=12.0, **exact),
                            np.random.default_rng(0))
    distance = np.linalg.norm(everything.astype(np.float64), axis=1)
    inside = (distance >= 5.0) & (distance <= 12.0)
    assert 1000 < inside.sum() < len(everything) - 1000
    np.testing.assert_array_equal(window, everything[inside])


def test_points_are_in_the_lidar_frame_x_forward_y_left_z_up():
    # One level beam per quarter turn; a wall 10 m ahead of a sensor turned 90 degrees left
    # (its x axis along world +y): only the first column (azimuth 0, along x) hits it.
    wall = quad([[-5.0, 10.0, -5.0], [5.0, 10.0, -5.0], [5.0, 10.0, 5.0], [-5.0, 10.0, 5.0]])
    left = np.array([[0.0, -1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    config = LidarConfig(beams=1, vertical_fov_deg=(0.0, 0.0), azimuth_steps=4, range_noise_m=0.0, dropout=0.0)
    points = simulate_lidar(Scene(objects=(SceneObject("wall", "plane", wall),)), left, config,
                            np.random.default_rng(0))
    np.testing.assert_allclose(points, [[10.0, 0.0, 0.0]], atol=1e-6)
    # Azimuth turns from +x toward +y (counter-clockwise from above); beams go bottom to top.
    directions = lidar_directions(LidarConfig(beams=3, vertical_fov_deg=(-30.0, 30.0), azimuth_steps=4))
    np.testing.assert_allclose(directions[3:6], [[0.0, np.cos(np.pi / 6), -0.5], [0.0, 1.0, 0.0],
                                                 [0.0, np.cos(np.pi / 6), 0.5]], atol=1e-12)


def test_same_seed_gives_identical_points_and_another_seed_differs():
    scene, _ = _scene_and_box()
    first = simulate_lidar(scene, _sensor_pose(), CONFIG, np.random.default_rng(0))
    second = simulate_lidar(scene, _sensor_pose(), CONFIG, np.random.default_rng(0))
    other = simulate_lidar(scene, _sensor_pose(), CONFIG, np.random.default_rng(1))
    assert first.tobytes() == second.tobytes()
    assert len(first) != len(other) or first.tobytes() != other.tobytes()


@pytest.mark.parametrize("changes, message", [
    ({"beams": 0}, "beams"), ({"azimuth_steps": 2.5}, "azimuth_steps"),
    ({"vertical_fov_deg": (5.0, -5.0)}, "vertical_fov_deg"), ({"min_range_m": 10.0, "max_range_m": 5.0}, "min_range_m"),
    ({"range_noise_m": -0.1}, "range_noise_m"), ({"dropout": 1.0}, "dropout"),
])
def test_config_refuses_impossible_values(changes, message):
    with pytest.raises(ValueError, match=message):
        LidarConfig(**changes)


def test_sensor_pose_must_be_rigid():
    scene, _ = _scene_and_box()
    with pytest.raises(GeometryError, match="T_world_lidar"):
        simulate_lidar(scene, np.diag([2.0, 1.0, 1.0, 1.0]), CONFIG, np.random.default_rng(0))
