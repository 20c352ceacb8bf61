"""Quaternions and ego-motion compensation against answers known by hand."""

import math

import numpy as np
import pytest

from datagen.errors import GeometryError
from datagen.geometry.motion import PoseTrack, points_to_camera
from datagen.geometry.se3 import invert, make_transform, pose_from_quaternion, quaternion_to_matrix


def rot_z(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_quaternion_of_a_quarter_turn_about_z_in_both_orders():
    half = math.sqrt(0.5)
    expected = rot_z(math.pi / 2)
    np.testing.assert_allclose(quaternion_to_matrix([half, 0, 0, half], "wxyz"), expected, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix([0, 0, half, half], "xyzw"), expected, atol=1e-12)
    # not normalised, and the negated quaternion: the same rotation
    np.testing.assert_allclose(quaternion_to_matrix([-2, 0, 0, -2], "wxyz"), expected, atol=1e-12)


def test_pose_from_quaternion_maps_points_as_documented():
    T = pose_from_quaternion([math.cos(0.25), 0, 0, math.sin(0.25)], [1.0, 2.0, 3.0])  # 0.5 rad about z
    np.testing.assert_allclose(T[:3, :3] @ [1.0, 0.0, 0.0] + T[:3, 3], [1 + math.cos(0.5), 2 + math.sin(0.5), 3])


@pytest.mark.parametrize("q", [[0, 0, 0, 0], [1, 0, 0], [[1, 0, 0, 0, 0]], [np.nan, 0, 0, 1]])
def test_bad_quaternions_are_refused(q):
    with pytest.raises(GeometryError):
        quaternion_to_matrix(q)


def test_track_interpolates_translation_linearly_and_rotation_along_the_arc():
    track = PoseTrack([10.0, 12.0], [make_transform(rot_z(0.2), [0, 0, 0]), make_transform(rot_z(1.0), [4, -2, 0])])
    pose = track.at(10.5)
    np.testing.assert_allclose(pose[:3, 3], [1.0, -0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, :3], rot_z(0.4), atol=1e-12)
    many = track.at(np.array([10.0, 11.0, 12.0]))
    np.testing.assert_allclose(many[:, 0, 3], [0.0, 2.0, 4.0], atol=1e-12)
    np.testing.assert_allclose(many[2], track.T_world_body[1], atol=1e-12)


def test_track_refuses_times_outside_unless_allowed_to_extrapolate():
    poses = [make_transform(np.eye(3), [0, 0, 0]), make_transform(np.eye(3), [1, 0, 0])]
    with pytest.raises(GeometryError, match="outside the track"):
        PoseTrack([0.0, 1.0], poses).at(1.2)
    np.testing.assert_allclose(PoseTrack([0.0, 1.0], poses, max_extrapolation_s=0.5).at(1.2)[0, 3], 1.2)
    with pytest.raises(GeometryError, match="strictly increasing"):
        PoseTrack([1.0, 1.0], poses)


def test_a_fixed_world_point_lands_where_the_camera_sees_it_at_its_own_time():
    # The body drives along +x at 20 m/s; the LiDAR sees a world point at t = 0, the camera fires at 50 ms.
    times = np.array([0.0, 0.1])
    track = PoseTrack(times, [make_transform(np.eye(3), [20.0 * t, 0, 0]) for t in times])
    T_body_lidar = make_transform(rot_z(0.3), [0.5, 0.0, 1.8])
    T_cv_body = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)  # x fwd -> z
    T_body_cam = make_transform(np.eye(3), [1.5, 0, 1.2]) @ invert(T_cv_body)
    world_point = np.array([30.0, 2.0, 1.0])
    point_lidar = (invert(T_body_lidar) @ invert(track.at(0.0)) @ np.r_[world_point, 1])[:3]
    got = points_to_camera(point_lidar[None], T_body_lidar, T_body_cam, track, 0.05, 0.0)[0]
    expected = (invert(T_body_cam) @ invert(track.at(0.05)) @ np.r_[world_point, 1])[:3]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert got[2] == pytest.approx(30.0 - 1.0 - 1.5)  # the camera has moved 1 m closer
    # per-point times give the same answer when every point shares the time
    per_point = points_to_camera(np.repeat(point_lidar[None], 3, 0), T_body_lidar, T_body_cam, track, 0.05,
                                 np.zeros(3))
    np.testing.assert_allclose(per_point, np.repeat(expected[None], 3, 0), atol=1e-12)
