"""Point projection with z-buffer and see-through filter: hand answers, an independent
numpy reference, and the real KITTI and nuScenes samples."""

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

from datagen.errors import ConfigError, GeometryError
from datagen.geometry import make_transform
from datagen.geometry.projection import (
    OcclusionFilter,
    ProjectionStats,
    project_points,
    project_points_with_stats,
    view_from_depth_map,
)
from datagen.types import Camera
from tests.conftest import make_camera, pixel_grid

MODELS = ["pinhole", "radtan", "fisheye"]


def random_pose(rng) -> np.ndarray:
    """A rigid transform with a random rotation (QR of a Gaussian matrix) and translation."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return make_transform(q, rng.uniform(-3, 3, 3))


def reference(points, camera, T, occlusion, min_z_m=0.1):
    """Indices of the points kept, written independently: numpy projection, lexsort z-buffer
    and scipy's minimum_filter for the window."""
    cam = points[:, :3] @ T[:3, :3].T + T[:3, 3]
    ok = np.isfinite(cam).all(axis=1) & (cam[:, 2] >= min_z_m)
    index = np.flatnonzero(ok)
    uv, valid = camera.project(cam[index])
    index, uv = index[valid], uv[valid]
    inside = camera.contains(uv)
    index, uv = index[inside], uv[inside]
    cols, rows = np.floor(uv + 0.5).astype(np.int64).T
    pixel = rows * camera.width + cols
    order = np.lexsort((index, cam[index, 2], pixel))  # by pixel, then z, then input index
    first = order[np.r_[True, np.diff(pixel[order]) != 0]]
    index, pixel = index[first], pixel[first]
    if occlusion is None:
        return np.sort(index)
    zbuf = np.full(camera.width * camera.height, np.inf)
    zbuf[pixel] = cam[index, 2]
    zmin = ndimage.minimum_filter(zbuf.reshape(camera.height, camera.width), size=occlusion.window_px,
                                  mode="constant", cval=np.inf).ravel()
    keep = ~(cam[index, 2] > occlusion.max_depth_ratio * zmin[pixel])
    return np.sort(index[keep])


# ----------------------------------------------------------------------------- hand answers


@pytest.mark.parametrize("model", MODELS)
def test_plane_at_five_metres_has_z_five_and_range_growing_to_the_corners(model):
    camera = make_camera(model)
    uv = pixel_grid(camera, step=8)
    view, stats = project_points_with_stats(camera.unproject(uv, z_m=5.0), camera)
    assert len(view) == len(uv) and stats.kept == len(uv) and stats.occluded == 0
    np.testing.assert_allclose(view.z_m, 5.0, rtol=1e-12)
    np.testing.assert_allclose(view.pixels, uv, atol=1e-6)
    np.testing.assert_allclose(view.range_m, np.linalg.norm(view.points_cam, axis=1), rtol=1e-12)
    # Along the diagonal from the principal point to the corner, range grows from 5 m.
    t = np.linspace(0.0, 1.0, 50)
    diagonal = np.stack([camera.cx + t * (camera.width - 1 - camera.cx),
                         camera.cy + t * (camera.height - 1 - camera.cy)], axis=1)
    ranges = project_points(camera.unproject(diagonal, z_m=5.0), camera, occlusion=None).range_m
    assert ranges[0] == pytest.approx(5.0, rel=1e-12)
    assert np.all(np.diff(ranges) > 0)


def test_pinhole_range_on_the_plane_matches_the_formula_by_hand():
    camera = make_camera("pinhole", fx=500.0, fy=400.0, cx=320.0, cy=240.0)
    points = np.array([[1.0, -0.5, 5.0], [0.0, 0.0, 5.0], [-2.0, 1.5, 5.0]])
    view = project_points(points, camera, occlusion=None)
    np.testing.assert_allclose(view.pixels, [[420.0, 200.0], [320.0, 240.0], [120.0, 360.0]])
    np.testing.assert_allclose(view.range_m, [np.sqrt(26.25), 5.0, np.sqrt(31.25)], rtol=1e-14)
    np.testing.assert_array_equal(view.z_m, [5.0, 5.0, 5.0])


@pytest.mark.parametrize("model", MODELS)
def test_project_then_back_project_round_trip_through_a_pose(model, rng):
    camera = make_camera(model, fx=450.0, fy=430.0, width=800, height=600)
    uv = pixel_grid(camera, step=9) + rng.uniform(-0.4, 0.4, (len(pixel_grid(camera, step=9)), 2))
    z = rng.uniform(0.5, 80.0, len(uv))
    points_cam = camera.unproject(uv, z_m=z)
    T_world_cam = random_pose(rng)
    points_world = points_cam @ T_world_cam[:3, :3].T + T_world_cam[:3, 3]
    T_cam_world = np.linalg.inv(T_world_cam)
    view = project_points(points_world, camera, T_cam_world, occlusion=None)
    assert len(view) == len(uv)  # one point per pixel: the z-buffer hides none
    np.testing.assert_allclose(view.pixels, uv, atol=1e-6)
    np.testing.assert_allclose(view.z_m, z, rtol=1e-9)
    np.testing.assert_allclose(view.points_cam, points_cam, atol=1e-8)
    np.testing.assert_allclose(camera.unproject(view.pixels, range_m=view.range_m), view.points_cam, atol=1e-8)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("near_first", [True, False])
def test_zbuffer_keeps_the_nearest_of_two_points_on_one_pixel(model, near_first):
    camera = make_camera(model)
    near = camera.unproject(np.array([[100.2, 50.1]]), z_m=3.0)
    far = camera.unproject(np.array([[99.6, 49.7]]), z_m=7.0)  # same pixel (100, 50)
    points = np.vstack([near, far] if near_first else [far, near])
    view, stats = project_points_with_stats(points, camera, occlusion=None)
    assert stats.zbuffer_hidden == 1 and stats.kept == 1
    np.testing.assert_allclose(view.z_m, [3.0])
    np.testing.assert_allclose(view.pixels, [[100.2, 50.1]], atol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_zbuffer_tie_goes_to_the_lowest_input_index(model):
    camera = make_camera(model)
    a, b = np.array([[-1.01, -0.51, 4.0]]), np.array([[-1.0101, -0.5102, 4.0]])  # same z, same pixel
    assert np.array_equal(*np.floor(camera.project(np.vstack([a, b]))[0] + 0.5))
    elsewhere = np.array([[1.0, 0.5, 4.0]])
    for first, second in ((a, b), (b, a)):
        # Consecutive, and apart (so that the pinhole kernel's run of equal pixels is broken).
        for points in (np.vstack([first, second]), np.vstack([first, elsewhere, second])):
            view = project_points(points, camera, occlusion=None)
            np.testing.assert_array_equal(view.points_cam[view.points_cam[:, 0] < 0], first)


def test_pixel_index_is_floor_of_u_plus_half_and_image_edges_follow_contains():
    camera = make_camera("pinhole", fx=512.0, width=64, height=48, cx=30.0, cy=20.0)
    uv = np.array([[10.5, 5.0], [10.4999, 6.5], [-0.5, 0.0], [63.4999999, 47.4999999],
                   [63.5, 10.0], [10.0, 47.5], [-0.5000001, 3.0]])
    # With fx a power of two and z = 2, x = (u - cx) z / fx projects back to u exactly.
    points = np.column_stack([(uv - [30.0, 20.0]) * 2.0 / 512.0, np.full(len(uv), 2.0)])
    np.testing.assert_array_equal(camera.project(points)[0][[0, 2, 4, 5]], uv[[0, 2, 4, 5]])
    view, stats = project_points_with_stats(points, camera, occlusion=None)
    assert stats.outside_image == 3 and stats.kept == 4
    np.testing.assert_array_equal(view.pixel_indices(), [[11, 5], [10, 7], [0, 0], [63, 47]])


def test_stats_count_every_reason_a_point_is_dropped():
    camera = make_camera("pinhole", width=64, height=48)
    wall_uv = np.stack(np.meshgrid(np.arange(20, 30, 2.0), np.arange(20, 30, 2.0)), -1).reshape(-1, 2)
    points = np.vstack([
        camera.unproject(wall_uv, z_m=5.0),                  # 25 kept
        camera.unproject([[25.0, 25.0]], z_m=20.0),          # see-through: among the wall, 4x farther
        camera.unproject([[22.0, 22.0]], z_m=6.0),           # behind a wall point on one pixel
        [[np.nan, 0.0, 3.0], [0.0, np.inf, 3.0], [1.0, 2.0, -np.inf]],
        [[0.0, 0.0, -2.0], [0.0, 0.0, 0.05], [0.0, 0.0, 0.0]],  # behind, too near, on the camera plane
        [[100.0, 0.0, 1.0], [0.0, -100.0, 1.0]],             # outside the image
        camera.unproject([[5.0, 5.0]], z_m=30.0),            # far, but alone: kept
    ])
    view, stats = project_points_with_stats(points, camera)
    assert stats == ProjectionStats(total=len(points), non_finite=3, behind_or_invalid=3, outside_image=2,
                                    zbuffer_hidden=1, occluded=1, kept=26)
    assert len(view) == 26 and view.z_m.max() == pytest.approx(30.0)


@pytest.mark.parametrize("model", MODELS)
def test_points_nearer_than_min_z_are_culled_and_min_z_itself_is_kept(model):
    points = np.array([[0.0, 0.0, 0.5], [0.01, 0.01, np.nextafter(0.5, 0.0)], [-0.01, 0.01, 0.5]])
    view, stats = project_points_with_stats(points, make_camera(model), min_z_m=0.5, occlusion=None)
    assert stats.behind_or_invalid == 1 and stats.kept == 2
    np.testing.assert_array_equal(view.points_cam, points[[0, 2]])


@pytest.mark.parametrize("points", [np.zeros((0, 3)), np.zeros((0, 4), dtype=np.float32), [], np.zeros(0)])
@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_empty_input_gives_an_empty_view(points, model):
    view, stats = project_points_with_stats(points, make_camera(model))
    assert len(view) == 0 and view.pixels.shape == (0, 2) and view.points_cam.shape == (0, 3)
    assert stats == ProjectionStats(0, 0, 0, 0, 0, 0, 0)


def test_points_all_culled_give_an_empty_view():
    view, stats = project_points_with_stats(np.array([[0.0, 0.0, -1.0], [np.nan, 0, 1]]), make_camera())
    assert len(view) == 0 and stats.behind_or_invalid == 1 and stats.non_finite == 1


def test_a_3x4_transform_is_refused_with_a_clear_error():
    with pytest.raises(GeometryError, match=r"T_cam_points must be a \(4, 4\).*\(3, 4\)"):
        project_points(np.ones((5, 3)), make_camera(), np.eye(4)[:3])


@pytest.mark.parametrize("points", [np.ones((5, 2)), np.ones(6), np.ones((2, 3, 3)), np.array([["a", "b", "c"]])])
def test_points_of_the_wrong_shape_are_refused(points):
    with pytest.raises(GeometryError, match="points must be"):
        project_points(points, make_camera())


@pytest.mark.parametrize("kwargs, field", [
    ({"window_px": 4}, "window_px"), ({"window_px": 1}, "window_px"), ({"window_px": True}, "window_px"),
    ({"window_px": 5.0}, "window_px"), ({"max_depth_ratio": 1.0}, "max_depth_ratio"),
    ({"max_depth_ratio": float("nan")}, "max_depth_ratio"), ({"max_depth_ratio": 0.5}, "max_depth_ratio"),
])
def test_occlusion_filter_settings_are_checked(kwargs, field):
    with pytest.raises(ConfigError, match=f"OcclusionFilter.{field}"):
        OcclusionFilter(**kwargs)


@pytest.mark.parametrize("kwargs, word", [({"min_z_m": 0.0}, "min_z_m"), ({"min_z_m": float("nan")}, "min_z_m"),
                                          ({"depth_from": "radar"}, "depth_from"), ({"occlusion": 9}, "occlusion")])
def test_projection_options_are_checked(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        project_points(np.ones((3, 3)), make_camera(), **kwargs)


def test_projection_stats_must_add_up():
    with pytest.raises(ValueError, match="add up"):
        ProjectionStats(total=5, non_finite=1, behind_or_invalid=0, outside_image=0, zbuffer_hidden=0,
                        occluded=0, kept=3)


def test_extra_columns_are_ignored_and_float32_gives_the_same_answer(rng):
    camera = make_camera()
    xyz = rng.uniform([-4, -3, 1], [4, 3, 30], (3000, 3)).astype(np.float32)
    with_intensity = np.column_stack([xyz, rng.uniform(0, 1, len(xyz)).astype(np.float32)])
    a = project_points(xyz.astype(np.float64), camera)
    b = project_points(with_intensity, camera)
    c = project_points(xyz.tolist(), camera)
    for other in (b, c):
        np.testing.assert_array_equal(a.points_cam, other.points_cam)
        np.testing.assert_array_equal(a.pixels, other.pixels)


# ----------------------------------------------------------------------------- see-through filter


def test_see_through_rule_by_hand_window_and_ratio_boundaries():
    camera = make_camera("pinhole", width=100, height=80)
    flt = OcclusionFilter(window_px=9, max_depth_ratio=1.15)
    wall = camera.unproject(np.array([[40.0, 40.0]]), z_m=5.0)
    cases = [  # (pixel, z, kept?)
        ((44.0, 44.0), 5.0 * 1.15, True),                          # exactly at the ratio: kept
        ((44.0, 36.0), np.nextafter(5.0 * 1.15, np.inf), False),   # just beyond: removed
        ((45.0, 40.0), 50.0, True),                                # 5 columns away: outside the window
        ((40.0, 45.0), 50.0, True),                                # 5 rows away: outside the window
        ((36.0, 44.0), 50.0, False),                               # window corner
    ]
    for (u, v), z, kept in cases:
        points = np.vstack([wall, camera.unproject(np.array([[u, v]]), z_m=z)])
        view, stats = project_points_with_stats(points, camera, occlusion=flt)
        assert (stats.kept, stats.occluded) == ((2, 0) if kept else (1, 1)), (u, v, z)


def test_the_window_is_clipped_at_the_image_border():
    camera = make_camera("pinhole", width=100, height=80)
    near = camera.unproject(np.array([[0.0, 0.0], [99.0, 79.0]]), z_m=2.0)
    far = camera.unproject(np.array([[3.0, 4.0], [95.0, 75.0], [6.0, 0.0]]), z_m=10.0)
    view, stats = project_points_with_stats(np.vstack([near, far]), camera, occlusion=OcclusionFilter(9, 1.5))
    assert stats.occluded == 2
    np.testing.assert_array_equal(view.pixel_indices(), [[0, 0], [99, 79], [6, 0]])


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("flt", [None, OcclusionFilter(3, 1.05), OcclusionFilter(9, 1.15), OcclusionFilter(31, 2.0)])
def test_matches_an_independent_numpy_reference(model, flt):
    rng = np.random.default_rng(0)
    camera = make_camera(model, width=160, height=120, fx=120.0)
    # Boxes at random depths plus background, in a rotated sensor frame; 30% of points off-image.
    points_cam = np.vstack([rng.uniform([-x, -x, z], [x, x, z + 1.0], (1500, 3))
                            for x, z in [(3.0, 4.0), (1.0, 2.0), (8.0, 15.0), (0.5, 1.0)]])
    points_cam = np.vstack([points_cam, rng.uniform(-20, 20, (1000, 3))])
    T_cam_sensor = random_pose(rng)
    points = (points_cam - T_cam_sensor[:3, 3]) @ T_cam_sensor[:3, :3]
    view, stats = project_points_with_stats(points, camera, T_cam_sensor, occlusion=flt)
    kept = reference(points, camera, T_cam_sensor, flt)
    assert stats.kept == len(kept) and stats.total == len(points)
    expected = points[kept] @ T_cam_sensor[:3, :3].T + T_cam_sensor[:3, 3]
    np.testing.assert_allclose(view.points_cam, expected, rtol=0, atol=1e-9)
    assert stats.kept > 300 and (flt is None or stats.occluded > 300)  # the filter has work to do


def test_output_is_byte_identical_run_to_run(rng):
    camera = make_camera()
    points = rng.uniform([-5, -4, 0.5], [5, 4, 40], (20000, 3))
    points[::7] = points[::7].round(1)  # exact ties in z on shared pixels
    views = [project_points(points.copy(), camera) for _ in range(3)]
    for view in views[1:]:
        for name in ("pixels", "z_m", "range_m", "points_cam"):
            assert getattr(view, name).tobytes() == getattr(views[0], name).tobytes()


# ----------------------------------------------------------------------------- dense depth maps


@pytest.mark.parametrize("model", MODELS)
def test_depth_map_of_a_plane_gives_z_five_at_every_pixel_centre(model):
    camera = make_camera(model, width=96, height=64, fx=80.0)
    view = view_from_depth_map(np.full((64, 96), 5.0, dtype=np.float32), camera)
    assert len(view) == 64 * 96 and view.depth_from == "depth_map"
    np.testing.assert_array_equal(view.pixels[:3], [[0, 0], [1, 0], [2, 0]])  # row-major pixel centres
    np.testing.assert_array_equal(view.z_m, 5.0)
    np.testing.assert_allclose(view.points_cam[:, 2], 5.0, rtol=1e-12)
    uv, valid = camera.project(view.points_cam)
    assert valid.all()
    np.testing.assert_allclose(uv, view.pixels, atol=1e-6)
    assert view.range_m.min() == pytest.approx(5.0, rel=1e-3) and view.range_m.max() > 5.5


@pytest.mark.parametrize("model", MODELS)
def test_range_depth_map_keeps_the_range_and_derives_z(model):
    camera = make_camera(model, width=96, height=64, fx=80.0)
    view = view_from_depth_map(np.full((64, 96), 7.0), camera, kind="range")
    np.testing.assert_array_equal(view.range_m, 7.0)
    np.testing.assert_allclose(np.linalg.norm(view.points_cam, axis=1), 7.0, rtol=1e-12)
    assert np.all(view.z_m <= 7.0) and view.z_m.min() < 6.0


def test_zero_and_nan_mean_no_label_and_the_rest_round_trips_through_z_image():
    camera = make_camera("pinhole", width=40, height=30, fx=50.0)
    depth = np.full((30, 40), 3.0)
    depth[5, 7] = 0.0
    depth[6, :] = np.nan
    view = view_from_depth_map(depth, camera)
    assert len(view) == 40 * 30 - 1 - 40
    back = view_from_depth_map(view.z_image(), camera)
    np.testing.assert_array_equal(back.pixels, view.pixels)
    np.testing.assert_allclose(back.z_m, view.z_m)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, -0.5])
def test_infinite_or_negative_depths_are_errors(bad):
    depth = np.full((30, 40), 3.0)
    depth[4, 9] = bad
    with pytest.raises(GeometryError, match=r"depth_m has 1 infinite or negative.*row 4, column 9"):
        view_from_depth_map(depth, make_camera("pinhole", width=40, height=30))


def test_depth_map_shape_and_kind_are_checked():
    camera = make_camera("pinhole", width=40, height=30)
    with pytest.raises(GeometryError, match=r"\(30, 40\)"):
        view_from_depth_map(np.ones((40, 30)), camera)
    with pytest.raises(ConfigError, match="kind"):
        view_from_depth_map(np.ones((30, 40)), camera, kind="disparity")


def test_fisheye_pixels_looking_backwards_are_left_out():
    camera = make_camera("fisheye", fx=150.0, width=400, height=400, dist=[0.02, -0.01, 0.003, -0.0005])
    assert camera.rays(np.array([[0.0, 0.0]]))[0, 2] < 0  # the corners look beyond 90 degrees
    view = view_from_depth_map(np.full((400, 400), 4.0), camera, kind="range")
    assert 0.5 * 400 * 400 < len(view) < 400 * 400 and np.all(view.z_m > 0)


# ----------------------------------------------------------------------------- real data


def load_kitti(root):
    """KITTI object 000000: velodyne points (N, 4), calibration dict of arrays, image size."""
    calib = {}
    for line in (root / "calib" / "000000.txt").read_text().splitlines():
        if ":" in line:
            key, values = line.split(":", 1)
            calib[key] = np.array(values.split(), dtype=np.float64)
    points = np.fromfile(root / "velodyne" / "000000.bin", dtype=np.float32).reshape(-1, 4)
    with Image.open(root / "image_2" / "000000.png") as image:
        size = image.size
    return points, calib, size


def kitti_camera_and_transform(calib, size):
    P2 = calib["P2"].reshape(3, 4)
    R0 = np.eye(4)
    R0[:3, :3] = calib["R0_rect"].reshape(3, 3)
    T_cam0_velo = np.eye(4)
    T_cam0_velo[:3] = calib["Tr_velo_to_cam"].reshape(3, 4)
    K = P2[:, :3]
    # P2 = K [I | t]: its 4th column is K t, t the offset of camera 2 from rectified camera 0.
    T_cam2_rect = make_transform(np.eye(3), np.linalg.solve(K, P2[:, 3]))
    return Camera(K=K, width=size[0], height=size[1]), T_cam2_rect @ R0 @ T_cam0_velo, P2, R0, T_cam0_velo


def removal_is_justified(view_before, view_after, flt):
    """Check the defining property with a KD-tree on pixel indices (Chebyshev radius = half window):
    each removed label has a label in its window with z * ratio < its z; each kept one has none.
    Returns the share of labels removed."""
    pix_before, pix_after = view_before.pixel_indices(), view_after.pixel_indices()
    kept = np.isin(pix_before[:, 0] * 100000 + pix_before[:, 1], pix_after[:, 0] * 100000 + pix_after[:, 1])
    tree = cKDTree(pix_before)
    neighbours = tree.query_ball_point(pix_before, r=flt.window_px // 2, p=np.inf)
    zmin = np.array([view_before.z_m[n].min() for n in neighbours])
    beyond = view_before.z_m > flt.max_depth_ratio * zmin
    assert kept.sum() == len(view_after)
    np.testing.assert_array_equal(~kept, beyond)
    return 1.0 - kept.mean()


def test_kitti_projection_matches_the_kitti_formula(shared_data):
    points, calib, size = load_kitti(shared_data / "kitti_object_kuixu" / "training")
    camera, T_cam2_velo, P2, R0, T_cam0_velo = kitti_camera_and_transform(calib, size)
    assert (camera.width, camera.height) == (1224, 370)
    # The KITTI formula [u z, v z, z] = P2 R0 Tr [x y z 1]. Its third entry is not the depth in
    # rectified cam0 (R0 Tr x)_z: P2's third row is [0 0 1 t_z], so it is that depth plus
    # t_z = P2[2, 3] = 4.98 mm, which is exactly z in the camera-2 frame: the z we return.
    X_rect = (np.column_stack([points[:, :3].astype(np.float64), np.ones(len(points))]) @ (R0 @ T_cam0_velo).T)
    uvz = X_rect @ P2.T
    assert P2[2, 3] == pytest.approx(4.981016e-3)
    np.testing.assert_allclose(uvz[:, 2] - X_rect[:, 2], P2[2, 3], rtol=0, atol=1e-12)
    uv = uvz[:, :2] / uvz[:, 2:3]
    front = (uvz[:, 2] >= 0.1) & camera.contains(uv)
    tree = cKDTree(uv[front])
    for flt in (None, OcclusionFilter()):
        view = project_points(points, camera, T_cam2_velo, occlusion=flt)
        index = reference(points.astype(np.float64), camera, T_cam2_velo, flt)
        assert len(view) == len(index) > 15000
        assert np.abs(view.pixels - uv[index]).max() < 1e-3
        assert np.abs(view.z_m - uvz[index, 2]).max() < 1e-4
        # Without the reference: each label sits on a formula projection, with its z.
        dist, nearest = tree.query(view.pixels)
        assert dist.max() < 1e-3
        assert np.abs(uvz[front][nearest, 2] - view.z_m).max() < 1e-4


def test_kitti_filter_removes_the_see_through_points(shared_data):
    points, calib, size = load_kitti(shared_data / "kitti_object_kuixu" / "training")
    camera, T, *_ = kitti_camera_and_transform(calib, size)
    before = project_points(points, camera, T, occlusion=None)
    flt = OcclusionFilter()
    after, stats = project_points_with_stats(points, camera, T, occlusion=flt)
    share = removal_is_justified(before, after, flt)
    assert stats.occluded == len(before) - len(after)
    assert 0.04 < share < 0.14  # 8.2% measured (docs/occlusion_filter.md)


def load_nuscenes(root, name="CAM_FRONT"):
    sample = json.loads((root / "calib_derived_from_pkl.json").read_text())["sample"]
    info = sample["images"][name]
    with Image.open(root / info["img_path"]) as image:
        camera = Camera(K=np.array(info["cam2img"])[:3, :3], width=image.width, height=image.height)
    points = np.fromfile(root / sample["lidar_points"]["lidar_path"], dtype=np.float32).reshape(-1, 5)
    return points, camera, np.array(info["lidar2cam"])


@pytest.mark.parametrize("flt, band", [(OcclusionFilter(), (0.003, 0.03)), (OcclusionFilter(31, 1.15), (0.02, 0.10))])
def test_nuscenes_filter_removes_the_see_through_points(shared_data, flt, band):
    points, camera, lidar2cam = load_nuscenes(shared_data / "nuscenes_mmdet3d_demo" / "nuscenes")
    assert (camera.width, camera.height) == (1600, 900)
    before = project_points(points, camera, lidar2cam, occlusion=None)
    after = project_points(points, camera, lidar2cam, occlusion=flt)
    assert 2900 < len(before) < 3200  # SOURCE.md: 3,067 points with z > 1 m in CAM_FRONT
    # The projection is the documented formula [u z, v z, z] = cam2img (lidar2cam x)[:3].
    p_cam = points[:, :3].astype(np.float64) @ lidar2cam[:3, :3].T + lidar2cam[:3, 3]
    uvz = p_cam @ camera.K.T
    index = reference(points.astype(np.float64), camera, lidar2cam, None)
    assert np.abs(before.pixels - uvz[index, :2] / uvz[index, 2:3]).max() < 1e-6
    assert band[0] < removal_is_justified(before, after, flt) < band[1]
