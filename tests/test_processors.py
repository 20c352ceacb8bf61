"""Pixel grids: images cropped to what a processor passes unchanged keep the unified focal length."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagen.errors import ConfigError, GeometryError
from datagen.normalize import NormalizeConfig, plan_normalization
from datagen.processors import PRESETS, PixelGrid, pixel_grid
from tests.conftest import make_camera


@settings(max_examples=300, deadline=None)
@given(width=st.integers(28, 4000), height=st.integers(28, 4000), multiple=st.sampled_from([1, 14, 28, 32, 448]),
       budget=st.integers(28 * 28, 4_000_000))
def test_crop_size_fits_the_grid_and_no_larger_size_would(width, height, multiple, budget):
    grid = PixelGrid("test", multiple, max(budget, multiple * multiple))
    if width < multiple or height < multiple:
        with pytest.raises(GeometryError):
            grid.crop_size(width, height)
        return
    w, h = grid.crop_size(width, height)
    assert grid.fits(w, h) and w <= width and h <= height
    cells = grid.max_pixels // multiple ** 2
    for bigger in ((w + multiple, h), (w, h + multiple)):  # one more column or row of cells is never allowed
        assert bigger[0] > width or bigger[1] > height or (bigger[0] // multiple) * (bigger[1] // multiple) > cells


def test_budget_crop_keeps_the_aspect_ratio_close():
    grid = PRESETS["qwen2.5-vl"]
    w, h = grid.crop_size(1284, 963)  # the demo rooms at 1000 px
    assert (w, h) == (1148, 868) and w * h <= 1_003_520
    assert abs(math.log((w / h) / (1284 / 963))) < 0.01
    assert grid.crop_size(1731, 523) == (1708, 504)  # KITTI at 1000 px: only the rounding to 28 is cropped


@pytest.mark.parametrize("preset", sorted(set(PRESETS) - {"none"}))
def test_normalised_cameras_fit_each_preset_with_the_focal_length_unchanged(preset):
    camera = make_camera("radtan", fx=1450.0, width=1936, height=1216)
    chain = plan_normalization(camera, NormalizeConfig(processor=preset))
    final = chain.camera
    assert final.fx == final.fy == 1000.0
    assert PRESETS[preset].fits(final.width, final.height)
    # the crop is centred: the principal point stays where the uncropped one was, less the offset
    uncropped = plan_normalization(camera, NormalizeConfig(processor="none")).camera
    assert abs((uncropped.cx - final.cx) - (uncropped.width - final.width) // 2) < 1e-9


def test_overrides_and_bad_settings():
    assert pixel_grid("qwen2.5-vl", max_pixels=451_584).max_pixels == 451_584
    assert pixel_grid("qwen2.5-vl", side_multiple=14).side_multiple == 14
    with pytest.raises(ConfigError, match="processor must be one of"):
        NormalizeConfig(processor="gpt-9")
    with pytest.raises(ConfigError, match="exactly 336x336"):
        NormalizeConfig(processor="llava-1.5", max_pixels=10_000)
    with pytest.raises(ConfigError, match="max_pixels"):
        NormalizeConfig(max_pixels=100)
    with pytest.raises(GeometryError, match="smaller than the 336x336"):
        plan_normalization(make_camera(fx=400.0, width=100, height=100), NormalizeConfig(processor="llava-1.5"))


def test_a_random_crop_moves_within_the_image_and_keeps_the_grid():
    camera = make_camera(fx=700.0, width=1600, height=1200)
    config = NormalizeConfig(crop="random", crop_max_size=(5000, 5000))
    boxes = {plan_normalization(camera, config, np.random.default_rng(seed)).to_record()[-1][1][0] for seed in range(8)}
    assert len(boxes) > 1
    final = plan_normalization(camera, config, np.random.default_rng(0)).camera
    assert final.width % 28 == 0 and final.height % 28 == 0 and final.width * final.height <= 1_003_520
