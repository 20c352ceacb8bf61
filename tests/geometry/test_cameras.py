import numpy as np
import pytest

from datagen.errors import CameraError, GeometryError
from datagen.geometry import as_transform, compose, invert, make_transform, transform_points
from datagen.geometry.cameras import range_from_z, z_from_range
from datagen.types import Camera
from tests.conftest import make_camera, pixel_grid

MODELS = ["pinhole", "radtan", "fisheye"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("depth_kind", ["z_m", "range_m"])
def test_project_unproject_round_trip_over_whole_image(model, depth_kind):
    camera = make_camera(model, fx=450.0, fy=430.0, width=800, height=600)
    uv = pixel_grid(camera, step=5)
    depth = np.random.default_rng(0).uniform(0.3, 80.0, len(uv))
    points = camera.unproject(uv, **{depth_kind: depth})
    uv_back, valid = camera.project(points)
    assert valid.all()
    np.testing.assert_allclose(uv_back, uv, atol=1e-6, rtol=0)


@pytest.mark.parametrize("model", MODELS)
def test_unprojected_points_have_requested_depth(model):
    camera = make_camera(model)
    uv = pixel_grid(camera, step=17)
    points = camera.unproject(uv, z_m=5.0)
    np.testing.assert_allclose(points[:, 2], 5.0, rtol=1e-12)
    points = camera.unproject(uv, range_m=7.0)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 7.0, rtol=1e-12)


def test_strong_radtan_distortion_inverts_to_one_millionth_of_a_pixel():
    camera = make_camera("radtan", fx=500.0, width=1280, height=720, dist=[-0.35, 0.12, 0.002, 0.001, 0.0])
    uv = pixel_grid(camera, step=4)
    uv_back, valid = camera.project(camera.unproject(uv, z_m=3.0))
    assert valid.all()
    assert np.abs(uv_back - uv).max() < 1e-6


def test_strong_fisheye_distortion_beyond_ninety_degrees():
    camera = make_camera("fisheye", fx=450.0, width=1280, height=1024, dist=[0.02, -0.01, 0.003, -0.0005])
    uv = pixel_grid(camera, step=4)
    rays = camera.rays(uv)
    assert rays[:, 2].min() < 0.0  # corners look behind the image plane
    uv_back, valid = camera.project(rays * 4.0)
    assert valid.all()
    np.testing.assert_allclose(uv_back, uv, atol=1e-6, rtol=0)


def test_pinhole_projection_matches_the_formula_by_hand():
    camera = make_camera("pinhole", fx=500.0, fy=400.0, cx=320.0, cy=240.0)
    uv, valid = camera.project(np.array([[1.0, -0.5, 5.0], [0.0, 0.0, 2.0]]))
    np.testing.assert_allclose(uv, [[320 + 500 * 0.2, 240 - 400 * 0.1], [320.0, 240.0]])
    assert valid.all()


def test_plane_at_five_metres_has_z_five_and_range_growing_to_the_corners():
    camera = make_camera("radtan", fx=600.0)
    uv = pixel_grid(camera, step=10)
    points = camera.unproject(uv, z_m=5.0)
    np.testing.assert_allclose(points[:, 2], 5.0)
    ranges = range_from_z(camera, uv, np.full(len(uv), 5.0))
    centre = np.argmin(np.hypot(uv[:, 0] - camera.cx, uv[:, 1] - camera.cy))
    assert ranges.min() == pytest.approx(ranges[centre]) and ranges[centre] == pytest.approx(5.0, abs=1e-3)
    corner = np.all(uv == [0.0, 0.0], axis=1)
    assert ranges[corner][0] == ranges.max() or ranges[corner][0] > np.percentile(ranges, 99)
    # range grows monotonically with the distance from the principal point along the diagonal
    diagonal = np.array([[camera.cx * t, camera.cy * t] for t in np.linspace(1, 0, 20)])
    along = range_from_z(camera, diagonal, np.full(20, 5.0))
    assert np.all(np.diff(along) > 0)
    np.testing.assert_allclose(z_from_range(camera, uv, ranges), 5.0)


@pytest.mark.parametrize("model, dist", [("radtan", [-0.35, 0.12, 0.0, 0.0, -0.015]),
                                          ("fisheye", [0.02, -0.01, 0.003, -0.0005])])
def test_pixels_beyond_the_lens_image_circle_unproject_to_nan(model, dist):
    camera = make_camera(model, fx=150.0, width=1280, height=720, dist=dist)
    rays = camera.rays(np.array([[0.0, 0.0], [camera.cx, camera.cy]]))
    assert np.isnan(rays[0]).all() and np.allclose(rays[1], [0, 0, 1])


def test_points_behind_camera_or_folded_by_distortion_are_invalid():
    camera = make_camera("radtan", dist=[-0.5, 0.0, 0.0, 0.0, 0.0])
    _, valid = camera.project(np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [50.0, 0.0, 1.0], [np.nan, 0, 1]]))
    assert valid.tolist() == [False, True, False, False]


@pytest.mark.parametrize("K, message", [
    (np.array([[0.0, 0, 1], [0, 1, 1], [0, 0, 1]]), "focal"),
    (np.array([[1.0, 0, np.nan], [0, 1, 1], [0, 0, 1]]), "non-finite"),
    (np.eye(3)[:2], r"\(3, 3\)"),
])
def test_bad_camera_is_refused_with_a_clear_error(K, message):
    with pytest.raises(CameraError, match=message):
        Camera(K=K, width=10, height=10)


def test_camera_refuses_bad_size_model_and_distortion():
    with pytest.raises(CameraError, match="width"):
        make_camera(width=0)
    with pytest.raises(CameraError, match="model"):
        make_camera().replace(model="orthographic")
    with pytest.raises(CameraError, match="coefficients"):
        make_camera("fisheye", dist=[0.1, 0.2])


def test_three_by_four_transform_is_refused():
    with pytest.raises(GeometryError, match=r"\(4, 4\)"):
        as_transform(np.eye(4)[:3])
    with pytest.raises(CameraError, match=r"\(4, 4\)"):
        make_camera(T_world_cam=np.eye(4)[:3])


def test_se3_chain_and_inverse(rng):
    from scipy.spatial.transform import Rotation

    T_a_b = make_transform(Rotation.random(random_state=1).as_matrix(), rng.normal(size=3))
    T_b_c = make_transform(Rotation.random(random_state=2).as_matrix(), rng.normal(size=3))
    points_c = rng.normal(size=(10, 3))
    chained = transform_points(T_a_b, transform_points(T_b_c, points_c))
    np.testing.assert_allclose(transform_points(compose(T_a_b, T_b_c), points_c), chained)
    np.testing.assert_allclose(compose(T_a_b, invert(T_a_b)), np.eye(4), atol=1e-12)
    as_transform(compose(T_a_b, T_b_c))  # still rigid
    with pytest.raises(GeometryError, match="orthonormal"):
        as_transform(np.diag([2.0, 1.0, 1.0, 1.0]))
