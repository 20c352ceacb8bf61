"""Tests of datagen.normalize: undistort, resize to the unified focal length, crop."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from datagen.errors import ConfigError, DatagenError
from datagen.normalize import (
    Crop,
    NormalizationChain,
    NormalizeConfig,
    Resize,
    Undistort,
    normalize,
    normalize_view,
    plan_normalization,
)
from datagen.types import Camera, DepthView
from tests.conftest import make_camera, pixel_grid

HYPOTHESIS = settings(max_examples=60, derandomize=True, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


def _points_in_view(camera: Camera, n: int, rng, margin: float = 0.0) -> np.ndarray:
    """(M <= n, 3) camera-frame points seen by ``camera`` (pixels up to ``margin`` x size outside)."""
    lo = -margin * np.array([camera.width, camera.height])
    hi = (1 + margin) * np.array([camera.width, camera.height])
    uv = rng.uniform(lo, hi, size=(n, 2))
    rays = camera.rays(uv)
    keep = np.all(np.isfinite(rays), axis=1) & (rays[:, 2] > 0.3)
    return rays[keep] * rng.uniform(0.5, 100.0, size=(keep.sum(), 1))


def _anisotropic_skewed_camera(model: str = "pinhole") -> Camera:
    camera = make_camera(model, fx=640.0, fy=580.0, width=800, height=600, cx=410.3, cy=287.9)
    K = camera.K.copy()
    K[0, 1] = 1.7  # skew
    return camera.replace(K=K)


# --------------------------------------------------------------------------- steps by hand


def test_resize_by_hand():
    camera = make_camera(fx=500.0, fy=250.0, cx=319.5, cy=239.5, width=640, height=480)
    chain = plan_normalization(camera, NormalizeConfig(processor="none"))
    assert [type(s) for s in chain.steps] == [Resize]
    assert chain.camera.intrinsics() == [1000.0, 1000.0, 639.5, 959.5, 1280, 1920]
    # the left edge of pixel 0 stays at -0.5; the centre of pixel 0 moves to 0.5 (x2) and 1.5 (x4)
    np.testing.assert_allclose(chain.apply_pixels(np.array([[-0.5, -0.5], [0.0, 0.0]])),
                               [[-0.5, -0.5], [0.5, 1.5]])
    assert chain.to_record() == [["resize", [2.0, 4.0]]]


def test_crop_by_hand():
    camera = make_camera(fx=1000.0, cx=600.0, cy=200.0, width=1200, height=400)
    chain = plan_normalization(camera, NormalizeConfig(processor="none", crop="center", crop_max_size=(1000, 300)))
    assert chain.to_record() == [["crop", [100, 50, 1000, 300]]]
    assert chain.camera.intrinsics() == [1000.0, 1000.0, 500.0, 150.0, 1000, 300]
    np.testing.assert_array_equal(chain.apply_pixels(np.array([[100.0, 50.0], [7.25, 3.5]])),
                                  [[0.0, 0.0], [-92.75, -46.5]])
    image = np.arange(400 * 1200 * 3, dtype=np.int64).reshape(400, 1200, 3).astype(np.uint8)
    np.testing.assert_array_equal(chain.apply_image(image), image[50:350, 100:1100])


@pytest.mark.parametrize("model", ["pinhole", "radtan", "fisheye"])
@pytest.mark.parametrize("step", [Resize(1.4409, 1.4409), Resize(0.37, 2.9), Crop(13, 7, 500, 311)])
def test_step_then_project_equals_project_then_step(model, step):
    camera = _anisotropic_skewed_camera(model)
    points = _points_in_view(camera, 500, np.random.default_rng(0), margin=0.2)
    moved = step.camera(camera)
    uv_source, valid = camera.project(points)
    uv_moved, valid_moved = moved.project(points)
    assert valid.all() and valid_moved.all()
    np.testing.assert_allclose(step.pixels(uv_source), uv_moved, atol=1e-9, rtol=0)
    np.testing.assert_array_equal(moved.T_world_cam, camera.T_world_cam)


def test_resize_scales_skew_and_keeps_pose():
    T = np.eye(4)
    T[:3, 3] = [1.0, -2.0, 3.0]
    camera = _anisotropic_skewed_camera().replace(T_world_cam=T)
    moved = Resize(2.0, 3.0).camera(camera)
    assert moved.K[0, 1] == pytest.approx(3.4)
    assert (moved.width, moved.height) == (1600, 1800)
    np.testing.assert_array_equal(moved.T_world_cam, T)


def test_planned_focal_is_exactly_the_target_and_isotropic():
    rng = np.random.default_rng(0)
    for fx, fy, target in zip(rng.uniform(200, 3000, 200), rng.uniform(200, 3000, 200),
                              rng.choice([1000.0, 500.0, 777.7], 200)):
        camera = make_camera(fx=fx, fy=fy, width=320, height=240)
        chain = plan_normalization(camera, NormalizeConfig(processor="none", target_focal_px=target))
        assert chain.camera.fx == target and chain.camera.fy == target
        assert chain.camera.width == int(np.floor(320 * target / fx))
        assert chain.camera.height == int(np.floor(240 * target / fy))


def test_camera_at_the_target_focal_is_left_alone():
    camera = make_camera(fx=1000.0)
    chain = plan_normalization(camera, NormalizeConfig(processor="none"))
    assert chain.steps == () and chain.to_record() == []
    assert chain.camera.intrinsics() == camera.intrinsics()


@pytest.mark.parametrize("scales", [(2.5, 1.7), (0.6, 0.45), (1.4409, 1.4409), (3.0, 0.8)])
def test_resized_image_content_lands_where_the_pixel_mapping_says(scales):
    """PIL's box semantics: a blob's intensity centroid moves as u' = (u + 0.5) s - 0.5."""
    u0, v0 = 47.3, 38.6
    u, v = np.meshgrid(np.arange(120), np.arange(90))
    image = np.rint(250 * np.exp(-((u - u0) ** 2 + (v - v0) ** 2) / (2 * 3.0 ** 2))).astype(np.uint8)
    step = Resize(*scales)
    out = step.image(image).astype(np.float64)
    assert out.shape == (int(90 * scales[1]), int(120 * scales[0]))
    uu, vv = np.meshgrid(np.arange(out.shape[1]), np.arange(out.shape[0]))
    centroid = [(out * uu).sum() / out.sum(), (out * vv).sum() / out.sum()]
    expected = [(u0 + 0.5) * scales[0] - 0.5, (v0 + 0.5) * scales[1] - 0.5]
    # a corner-anchored u * s would be off by 0.5 (s - 1): at least 0.2 px for these scales
    np.testing.assert_allclose(centroid, expected, atol=0.03)


def test_resize_handles_gray_and_rgba_images_band_by_band():
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(40, 50, 4), dtype=np.uint8)
    step = Resize(1.5, 0.75)
    out = step.image(rgba)
    assert out.shape == (30, 75, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 3], step.image(rgba[..., 3]))  # alpha not premultiplied
    np.testing.assert_array_equal(out[..., :3], step.image(np.ascontiguousarray(rgba[..., :3])))


# --------------------------------------------------------------------------- undistortion


@pytest.mark.parametrize("model", ["radtan", "fisheye"])
def test_undistorted_pixels_equal_the_pinhole_projection(model):
    camera = _anisotropic_skewed_camera(model)
    points = _points_in_view(camera, 2000, np.random.default_rng(0), margin=0.1)
    step = Undistort(camera)
    target = step.camera(camera)
    assert target.model == "pinhole" and target.dist.size == 0
    np.testing.assert_array_equal(target.K, camera.K)
    assert (target.width, target.height) == (camera.width, camera.height)
    np.testing.assert_allclose(step.pixels(camera.project(points)[0]), target.project(points)[0],
                               atol=1e-6, rtol=0)
    assert step.to_record() == ["undistort", {"model": model, "dist": list(camera.dist)}]


def _render_checkerboard(camera: Camera, z_m: float = 4.0, square_m: float = 0.3):
    """Analytic image of a fronto-parallel checkerboard at z_m, and each pixel's distance to an edge (m)."""
    uv = pixel_grid(camera, step=1)
    rays = camera.rays(uv)
    xy = rays[:, :2] / rays[:, 2:3] * z_m / square_m
    values = (np.floor(xy).sum(axis=1) % 2) * 255
    edge_m = np.abs(xy - np.round(xy)).min(axis=1) * square_m
    shape = (camera.height, camera.width)
    return values.reshape(shape).astype(np.uint8), edge_m.reshape(shape)


@pytest.mark.parametrize("model", ["radtan", "fisheye"])
def test_undistorted_checkerboard_matches_the_pinhole_rendering(model):
    camera = make_camera(model, fx=500.0, fy=480.0)
    distorted, _ = _render_checkerboard(camera)
    undistort = Undistort(camera)
    warped = undistort.image(np.repeat(distorted[..., None], 3, axis=2))
    expected, edge_m = _render_checkerboard(undistort.camera(camera))
    away = edge_m > 2 * 4.0 / 480.0  # 2 target pixels from any edge: bilinear sees one colour
    assert away.mean() > 0.75
    for c in range(3):
        np.testing.assert_array_equal(warped[..., c][away], expected[away])
    assert np.abs(warped[..., 0].astype(float) - expected).mean() < 6.0
    # the distorted image itself differs from the pinhole one (the test can fail)
    assert np.abs(distorted.astype(float) - expected).mean() > 20.0


def test_undistortion_blackens_pixels_that_map_outside_the_source():
    camera = make_camera("radtan", fx=400.0, width=320, height=240, dist=[0.3, 0.0, 0.0, 0.0])
    image = np.full((240, 320, 3), 200, dtype=np.uint8)
    warped = Undistort(camera).image(image)
    # pincushion: the target corner (0, 0), normalised (-0.39875, -0.29875), r^2 = 0.24826, is pushed
    # out by 1 + 0.3 r^2 = 1.0745 to source pixel (-11.88, -8.90): outside the image
    assert (warped[0, 0] == 0).all() and (warped[120, 160] == 200).all()
    assert set(np.unique(warped)) == {0, 200}
    assert 0.0 < (warped[..., 0] == 0).mean() < 0.2


# --------------------------------------------------------------------------- validity masks


def test_undistortion_mask_is_false_exactly_on_the_black_fill():
    camera = make_camera("radtan", fx=400.0, width=320, height=240, dist=[0.3, 0.0, 0.0, 0.0])
    step = Undistort(camera)
    warped = step.image(np.full((240, 320, 3), 200, dtype=np.uint8))
    valid = step.valid(np.ones((240, 320), dtype=bool))
    np.testing.assert_array_equal(valid, warped[..., 0] == 200)
    assert not valid[0, 0] and valid[120, 160] and 0.0 < (~valid).mean() < 0.2
    # a source pixel that shows no content spoils the target pixels that blend it
    source = np.ones((240, 320), dtype=bool)
    source[100:110, 150:160] = False
    partial = step.valid(source)
    assert (valid & ~partial).sum() >= 100 and not (partial & ~valid).any()


@pytest.mark.parametrize("scales", [(0.981, 0.981), (0.37, 2.9), (2.5, 2.5), (1.4409, 1.4409), (1.0, 0.5)])
def test_resized_mask_marks_the_pixels_the_fill_reaches(scales):
    """Valid output pixels owe nothing to invalid input pixels: filling those with black or white
    changes none of them (Lanczos lobes included), and the mask is no wider than the fill's reach."""
    rng = np.random.default_rng(0)
    mask = np.ones((97, 131), dtype=bool)
    mask[30:50, 40:47] = False
    mask[:, -3:] = False
    image = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    black, white = image.copy(), image.copy()
    black[~mask], white[~mask] = 0, 255
    step = Resize(*scales)
    valid = step.valid(mask)
    changed = np.any(step.image(black) != step.image(white), axis=2)
    assert valid.shape == changed.shape
    assert not (changed & valid).any()
    assert not (~valid & ~ndimage.binary_dilation(changed, iterations=3)).any()
    assert step.valid(np.ones((97, 131), dtype=bool)).all()


def test_crop_mask_keeps_the_cropped_pixels():
    mask = np.random.default_rng(0).random((40, 60)) > 0.5
    np.testing.assert_array_equal(Crop(5, 7, 30, 20).valid(mask), mask[7:27, 5:35])


def test_a_pincushion_lens_normalised_loses_its_corners_only():
    camera = make_camera("radtan", fx=700.0, width=640, height=480, dist=[0.25, 0.05, 0.0, 0.0])
    chain = plan_normalization(camera, NormalizeConfig(processor="none", crop="center", crop_max_size=(900, 680)))
    assert [type(s) for s in chain.steps] == [Undistort, Resize, Crop]
    out = chain.apply_image(np.full((480, 640, 3), 128, dtype=np.uint8))
    valid = chain.valid_mask()
    assert (out[valid] == 128).all() and (out[~valid] != 128).mean() > 0.9
    assert not valid[0, 0] and not valid[-1, -1] and valid[300, 400] and 0.01 < (~valid).mean() < 0.3
    assert plan_normalization(make_camera(fx=500.0), NormalizeConfig(processor="none")).valid_mask().all()


def test_zero_coefficient_lens_is_copied_and_becomes_pinhole():
    camera = make_camera("radtan", fx=1000.0, dist=[0.0, 0.0, 0.0, 0.0])
    chain = plan_normalization(camera, NormalizeConfig(processor="none"))
    image = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    np.testing.assert_array_equal(chain.apply_image(image), image)
    assert chain.camera.model == "pinhole"


# --------------------------------------------------------------------------- properties


@st.composite
def cameras(draw, min_side: int = 64, max_side: int = 2000) -> Camera:
    width = draw(st.integers(min_side, max_side))
    height = draw(st.integers(min_side, max_side))
    fx = draw(st.floats(200.0, 3000.0))
    fy = fx * draw(st.floats(0.8, 1.25))
    cx = width * draw(st.floats(0.3, 0.7))
    cy = height * draw(st.floats(0.3, 0.7))
    model = draw(st.sampled_from(["pinhole", "radtan", "fisheye"]))
    if model == "radtan":
        dist = [draw(st.floats(-0.3, 0.1)), draw(st.floats(-0.05, 0.1)),
                draw(st.floats(-1e-3, 1e-3)), draw(st.floats(-1e-3, 1e-3))]
    elif model == "fisheye":
        dist = [draw(st.floats(-0.05, 0.1)), draw(st.floats(-0.03, 0.03)), 0.0, 0.0]
    else:
        dist = []
    return Camera.from_intrinsics(fx, fy, cx, cy, width, height, model=model, dist=dist)


def _draw_chain(data, camera: Camera) -> NormalizationChain:
    """Undistort if needed, then up to four random resizes and crops."""
    steps = [Undistort(camera)] if camera.model != "pinhole" else []
    current = steps[0].camera(camera) if steps else camera
    for _ in range(data.draw(st.integers(0, 4))):
        if data.draw(st.booleans()):
            step = Resize(data.draw(st.floats(0.3, 3.0)), data.draw(st.floats(0.3, 3.0)))
        else:
            w = data.draw(st.integers(1, current.width))
            h = data.draw(st.integers(1, current.height))
            step = Crop(data.draw(st.integers(0, current.width - w)),
                        data.draw(st.integers(0, current.height - h)), w, h)
        steps.append(step)
        current = step.camera(current)
    return NormalizationChain.from_steps(camera, steps)


@HYPOTHESIS
@given(camera=cameras(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_chain_maps_projections_to_projections(camera, data, seed):
    chain = _draw_chain(data, camera)
    points = _points_in_view(camera, 200, np.random.default_rng(seed), margin=0.3)
    uv_source, valid = camera.project(points)
    uv_final, valid_final = chain.camera.project(points)
    assert valid.all() and valid_final.all()
    np.testing.assert_allclose(chain.apply_pixels(uv_source), uv_final, atol=1e-6, rtol=0)
    assert chain.camera.model == "pinhole"


@HYPOTHESIS
@given(camera=cameras(), seed=st.integers(0, 2**32 - 1), target=st.floats(200.0, 3000.0),
       crop=st.sampled_from(["none", "center", "random"]))
def test_planned_chain_maps_projections_to_projections(camera, seed, target, crop):
    sizes = {"none": {}, "center": {"crop_max_size": (700, 400)},
             "random": {"crop_min_size": (100, 80), "crop_max_size": (900, 700)}}[crop]
    config = NormalizeConfig(processor="none", target_focal_px=target, crop=crop, max_side_px=1500, **sizes)
    chain = plan_normalization(camera, config, np.random.default_rng(seed))
    assert chain.camera.fx == target == chain.camera.fy
    assert max(chain.camera.width, chain.camera.height) <= 1500
    points = _points_in_view(camera, 200, np.random.default_rng(seed), margin=0.3)
    np.testing.assert_allclose(chain.apply_pixels(camera.project(points)[0]),
                               chain.camera.project(points)[0], atol=1e-6, rtol=0)


@settings(max_examples=25, derandomize=True, deadline=None)
@given(camera=cameras(min_side=8, max_side=160), data=st.data())
def test_chain_image_has_the_final_camera_size(camera, data):
    chain = _draw_chain(data, camera)
    image = np.zeros((camera.height, camera.width, 3), dtype=np.uint8)
    out = chain.apply_image(image)
    assert out.shape == (chain.camera.height, chain.camera.width, 3) and out.dtype == np.uint8


@settings(max_examples=25, derandomize=True, deadline=None)
@given(camera=cameras(min_side=8, max_side=160), data=st.data())
def test_chain_mask_marks_the_pixels_that_show_the_source(camera, data):
    """A uniform grey source: every pixel the mask calls valid is exactly that grey after the chain."""
    chain = _draw_chain(data, camera)
    out = chain.apply_image(np.full((camera.height, camera.width, 3), 128, dtype=np.uint8))
    valid = chain.valid_mask()
    assert valid.shape == (chain.camera.height, chain.camera.width) and valid.dtype == bool
    assert (out[valid] == 128).all()
    assert not valid.flags.writeable


# --------------------------------------------------------------------------- planning of crops


def test_random_crop_is_deterministic_for_a_seed_and_within_bounds():
    camera = make_camera(fx=500.0, width=640, height=480)  # 1280 x 960 after resizing
    config = NormalizeConfig(processor="none", crop="random", crop_min_size=(300, 200), crop_max_size=(900, 2000))
    records = []
    for seed in range(30):
        chain = plan_normalization(camera, config, np.random.default_rng(seed))
        again = plan_normalization(camera, config, np.random.default_rng(seed))
        assert chain.to_record() == again.to_record()
        x0, y0, w, h = chain.to_record()[1][1]
        assert 300 <= w <= 900 and 200 <= h <= 960  # the height bound is clipped to the image
        assert 0 <= x0 <= 1280 - w and 0 <= y0 <= 960 - h
        records.append((x0, y0, w, h))
    assert len(set(records)) == 30


def test_random_crop_without_rng_is_refused():
    config = NormalizeConfig(processor="none", crop="random", crop_max_size=(100, 100))
    with pytest.raises(ConfigError, match="rng"):
        plan_normalization(make_camera(), config)


def test_center_crop_larger_than_the_image_is_clipped():
    camera = make_camera(fx=1000.0, width=640, height=480)
    chain = plan_normalization(camera, NormalizeConfig(processor="none", crop="center", crop_max_size=(5000, 300)))
    assert chain.to_record() == [["crop", [0, 90, 640, 300]]]


def test_max_side_crops_instead_of_rescaling():
    camera = make_camera(fx=500.0, width=640, height=480)  # 1280 x 960 after resizing
    chain = plan_normalization(camera, NormalizeConfig(processor="none", max_side_px=1000))
    assert chain.to_record() == [["resize", 2.0], ["crop", [140, 0, 1000, 960]]]
    assert chain.camera.fx == 1000.0
    chain = plan_normalization(camera, NormalizeConfig(processor="none", max_side_px=1000, crop="random",
                                                       crop_min_size=(1100, 900)),
                               np.random.default_rng(0))
    x0, y0, w, h = chain.to_record()[1][1]
    assert w == 1000 and 900 <= h <= 960 and 0 <= x0 <= 280


def test_records_are_json():
    camera = make_camera("radtan", fx=600.0, fy=650.0)
    chain = plan_normalization(camera, NormalizeConfig(processor="none", crop="center", crop_max_size=(800, 600)))
    record = json.loads(json.dumps(chain.to_record()))
    assert [r[0] for r in record] == ["undistort", "resize", "crop"]
    assert record[1][1] == [1000.0 / 600.0, 1000.0 / 650.0]
    assert record[2][1] == [(1066 - 800) // 2, (738 - 600) // 2, 800, 600]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("field, value", [
    ("target_focal_px", 0.0), ("target_focal_px", -5.0), ("target_focal_px", float("nan")),
    ("target_focal_px", "1000"), ("target_focal_px", True), ("crop", "middle"),
    ("crop_max_size", (0, 10)), ("crop_max_size", (10.5, 10)), ("crop_max_size", (10,)),
    ("crop_max_size", "10x10"), ("crop_min_size", (10, -1)), ("max_side_px", 0), ("max_side_px", 12.5),
])
def test_bad_config_values_name_the_field(field, value):
    base = {"crop": "random", "crop_max_size": (100, 100)} if field.startswith("crop_") else {}
    with pytest.raises(ConfigError, match=field):
        NormalizeConfig(processor="none", **{**base, field: value})


@pytest.mark.parametrize("kwargs, field", [
    ({"crop": "none", "crop_max_size": (10, 10)}, "crop_min_size/crop_max_size"),
    ({"crop": "center"}, "crop_max_size"),
    ({"crop": "center", "crop_max_size": (10, 10), "crop_min_size": (5, 5)}, "crop_max_size"),
    ({"crop": "random"}, "crop_min_size or crop_max_size"),
    ({"crop": "random", "crop_min_size": (50, 5), "crop_max_size": (10, 10)}, "crop_min_size"),
])
def test_inconsistent_crop_settings_are_refused(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        NormalizeConfig(processor="none", **kwargs)


def test_config_accepts_lists_from_yaml():
    config = NormalizeConfig(processor="none", crop="random", crop_min_size=[10, 20], crop_max_size=[30, 40],
                             target_focal_px=800)
    assert config.crop_min_size == (10, 20) and config.crop_max_size == (30, 40)
    assert config.target_focal_px == 800.0


def test_image_of_the_wrong_size_or_type_is_refused():
    chain = plan_normalization(make_camera("radtan", fx=500.0), NormalizeConfig(processor="none"))
    with pytest.raises(DatagenError, match="641x480.*camera is 640x480"):
        chain.apply_image(np.zeros((480, 641, 3), dtype=np.uint8))
    with pytest.raises(DatagenError, match="uint8"):
        chain.apply_image(np.zeros((480, 640, 3), dtype=np.float32))
    with pytest.raises(DatagenError, match="exceeds the 640x480 image"):
        Crop(600, 0, 100, 100).image(np.zeros((480, 640, 3), dtype=np.uint8))


def test_steps_and_chains_refuse_the_wrong_camera():
    camera = make_camera("radtan")
    with pytest.raises(DatagenError, match="Undistort.camera"):
        Undistort(camera).camera(make_camera("radtan", fx=501.0))
    with pytest.raises(DatagenError, match="NormalizationChain.camera"):
        NormalizationChain(camera, (Undistort(camera),), camera)
    with pytest.raises(DatagenError, match="Resize.sx"):
        Resize(0.0, 1.0)
    with pytest.raises(DatagenError, match="Crop.w"):
        Crop(0, 0, 0, 5)
    with pytest.raises(ConfigError, match="NormalizeConfig"):
        plan_normalization(camera, {"target_focal_px": 1000.0})


# --------------------------------------------------------------------------- labels


def _reference_zbuffer(camera: Camera, points: np.ndarray) -> np.ndarray:
    """Indices of the points kept by projecting into ``camera``: inside, nearest z per pixel."""
    uv, valid = camera.project(points)
    keep = {}
    for i in np.nonzero(valid & camera.contains(uv))[0]:
        key = tuple(np.floor(uv[i] + 0.5).astype(int))
        if key not in keep or points[i, 2] < points[keep[key], 2]:
            keep[key] = i
    return np.sort(np.array(list(keep.values()), dtype=int))


@pytest.mark.parametrize("model", ["pinhole", "radtan", "fisheye"])
def test_normalized_view_reprojects_and_agrees_with_the_pixel_mapping(model):
    rng = np.random.default_rng(0)
    camera = make_camera(model, fx=700.0, fy=650.0, width=320, height=240)
    points = _points_in_view(camera, 3000, rng)
    uv, _ = camera.project(points)
    inside = camera.contains(uv)
    view = DepthView.from_points(camera, points[inside], uv[inside], depth_from="mesh")
    config = NormalizeConfig(processor="none", crop="random", crop_min_size=(200, 150), crop_max_size=(300, 250))
    chain = plan_normalization(camera, config, rng)
    out = normalize_view(view, chain)
    assert out.camera is chain.camera and out.depth_from == "mesh"
    expected = _reference_zbuffer(chain.camera, view.points_cam)
    assert 0 < len(expected) < len(view)
    order = np.lexsort(out.points_cam.T)
    ref_order = np.lexsort(view.points_cam[expected].T)
    np.testing.assert_array_equal(out.points_cam[order], view.points_cam[expected][ref_order])
    np.testing.assert_allclose(out.pixels[order], chain.apply_pixels(view.pixels[expected])[ref_order],
                               atol=1e-6, rtol=0)
    np.testing.assert_allclose(out.range_m, np.linalg.norm(out.points_cam, axis=1))


def test_normalize_keeps_the_nearest_label_when_two_land_on_one_pixel():
    camera = make_camera(fx=2000.0, width=200, height=100)  # halved: 100 x 50
    points = np.array([[0.0, 0.0, 10.0], [0.0005, 0.0, 5.0], [0.0, 0.0, 20.0]])  # 0.2 px apart
    uv, _ = camera.project(points)
    view = DepthView.from_points(camera, points, uv)
    chain = plan_normalization(camera, NormalizeConfig(processor="none"))
    image, out, valid = normalize(np.zeros((100, 200, 3), dtype=np.uint8), view, chain)
    assert image.shape == (50, 100, 3) and valid.shape == (50, 100) and valid.all()
    np.testing.assert_array_equal(out.points_cam, points[[1]])


def test_normalize_view_refuses_a_view_of_another_camera():
    chain = plan_normalization(make_camera(fx=500.0), NormalizeConfig(processor="none"))
    view = DepthView.empty(make_camera(fx=600.0))
    with pytest.raises(DatagenError, match="normalize_view"):
        normalize_view(view, chain)


# --------------------------------------------------------------------------- real sample


def _kitti_camera(shared_data) -> tuple[Camera, np.ndarray]:
    root = shared_data / "kitti_object_kuixu" / "training"
    calib = {}
    for line in (root / "calib" / "000000.txt").read_text().splitlines():
        if ":" in line:
            key, values = line.split(":", 1)
            calib[key] = np.array(values.split(), dtype=np.float64)
    image = np.asarray(Image.open(root / "image_2" / "000000.png").convert("RGB"))
    K = calib["P2"].reshape(3, 4)[:, :3]
    return Camera(K=K, width=image.shape[1], height=image.shape[0]), image


def test_kitti_image_normalises_to_the_unified_focal_length(shared_data):
    camera, image = _kitti_camera(shared_data)
    assert (camera.width, camera.height) == (1224, 370) and camera.fx == pytest.approx(707.0493)
    chain = plan_normalization(camera, NormalizeConfig(processor="none"))
    out = chain.apply_image(image)
    assert out.shape == (523, 1731, 3)
    assert chain.camera.intrinsics()[:2] == [1000.0, 1000.0]
    s = 1000.0 / 707.0493
    assert chain.camera.cx == pytest.approx((604.0814 + 0.5) * s - 0.5, abs=1e-9)
    points = np.array([[1.2, 0.9, 8.4], [-5.0, 1.6, 20.0], [10.0, -2.0, 40.0], [0.0, 0.0, 3.0]])
    np.testing.assert_allclose(chain.apply_pixels(camera.project(points)[0]), chain.camera.project(points)[0],
                               atol=1e-9, rtol=0)
    by_hand = 1000.0 * points[:, :2] / points[:, 2:] + [chain.camera.cx, chain.camera.cy]
    np.testing.assert_allclose(chain.camera.project(points)[0], by_hand, atol=1e-9)
    # the content moved as the pixels did: sampling the result at the mapped pixel centres gives
    # back the original, better than a mapping off by half a source pixel
    uv = pixel_grid(camera, step=3)
    uv = uv[(uv[:, 0] > 8) & (uv[:, 0] < 1215) & (uv[:, 1] > 8) & (uv[:, 1] < 361)]
    original = image[uv[:, 1].astype(int), uv[:, 0].astype(int)].astype(float)

    def error(uv_out):
        sampled = [ndimage.map_coordinates(out[..., c].astype(float), uv_out[:, ::-1].T, order=1)
                   for c in range(3)]
        return np.abs(np.stack(sampled, axis=1) - original).mean()

    s_uv = uv * s  # corner-anchored mapping, off by 0.5 (s - 1) = 0.21 px
    assert error(chain.apply_pixels(uv)) < 0.7 * min(error(s_uv), error(chain.apply_pixels(uv + 0.5)))


def test_labels_closer_than_ten_centimetres_are_kept():
    camera = make_camera(fx=500.0)
    points = np.array([[0.001, 0.002, 0.05], [0.5, -0.2, 30.0]])
    view = DepthView.from_points(camera, points, camera.project(points)[0], depth_from="depth_map")
    out = normalize_view(view, plan_normalization(camera, NormalizeConfig(processor="none")))
    np.testing.assert_array_equal(out.points_cam, points)
    np.testing.assert_allclose(out.z_m, [0.05, 30.0])
