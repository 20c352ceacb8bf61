"""What a processor's resize does to the focal length, against sizes worked out by hand from Qwen2-VL's
documented rule: each side to the nearest multiple of 28 px; if the pixel count then exceeds max_pixels,
both sides scaled by beta = sqrt(H * W / max_pixels) and rounded down to multiples of 28 (up, by
sqrt(min_pixels / (H * W)), below min_pixels)."""

from __future__ import annotations

import pytest
from PIL import Image

from datagen.hf_processing import (PixelLimits, ProcessorError, ProcessorResize, effective_resize,
                                   limits_advice, load_image_processor, pixel_limits, resolution_report,
                                   set_pixel_limits)
from tests.train.conftest import qwen_image_processor

LLAMA_FACTORY_MAX_PIXELS = 589_824  # LLaMA-Factory's default image_max_pixels (768 x 768)


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    return load_image_processor(qwen_image_processor(tmp_path_factory.mktemp("qwen_processor")))


def _resize(processor, width, height) -> ProcessorResize:
    return effective_resize(processor, Image.new("RGB", (width, height), (90, 90, 90)))


@pytest.mark.parametrize("size, expected, tokens", [
    ((1284, 963), (1288, 952), 46 * 34),   # 1284/28 = 45.86 -> 46, 963/28 = 34.39 -> 34
    ((1288, 952), (1288, 952), 46 * 34),   # multiples of 28 pass unchanged
    ((140, 140), (140, 140), 25),          # 5 x 5 tokens of 28 x 28 px
    ((28, 28), (56, 56), 4),               # 784 px < min_pixels 3136: scaled by 2 to the minimum
])
def test_qwen_resize_matches_the_rule_worked_by_hand(qwen, size, expected, tokens):
    resize = _resize(qwen, *size)
    assert (resize.out_width_px, resize.out_height_px) == expected
    assert resize.image_tokens == tokens
    assert resize.resized == (size != expected)


def test_rounding_moves_fx_and_fy_apart_by_a_percent(qwen):
    fx, fy = _resize(qwen, 1284, 963).focal_px(1000.0, 1000.0)
    assert fx == pytest.approx(1000 * 1288 / 1284) and fx == pytest.approx(1003.115, abs=1e-3)
    assert fy == pytest.approx(1000 * 952 / 963) and fy == pytest.approx(988.577, abs=1e-3)


def test_an_image_the_processor_keeps_has_exactly_the_built_focal_length(qwen):
    assert _resize(qwen, 1288, 952).focal_px(1000.0, 1000.0) == (1000.0, 1000.0)


def test_a_pixel_limit_shrinks_the_image(tmp_path):
    processor = load_image_processor(qwen_image_processor(tmp_path), max_pixels=LLAMA_FACTORY_MAX_PIXELS)
    resize = _resize(processor, 1288, 952)
    # beta = sqrt(1288 * 952 / 589824) = 1.44184; 952 / beta = 660.3 -> 23 * 28; 1288 / beta = 893.3 -> 31 * 28
    assert (resize.out_width_px, resize.out_height_px) == (868, 644)
    assert resize.focal_px(1000.0, 1000.0) == pytest.approx((673.91, 676.47), abs=0.01)


def test_pixel_limits_are_read_and_set(tmp_path):
    processor = load_image_processor(qwen_image_processor(tmp_path))
    assert pixel_limits(processor) == PixelLimits(3136, 12_845_056, 28)
    set_pixel_limits(processor, max_pixels=40_000)
    assert pixel_limits(processor) == PixelLimits(3136, 40_000, 28)
    assert _resize(processor, 280, 280).out_width_px < 280  # 78,400 px > 40,000: shrunk
    with pytest.raises(ProcessorError, match="min_pixels <= max_pixels"):
        set_pixel_limits(processor, min_pixels=50_000)


def test_a_processor_without_a_pixel_budget():
    import transformers

    siglip = transformers.SiglipImageProcessorPil()  # resizes every image to 224 x 224, no crop
    assert pixel_limits(siglip) is None
    resize = _resize(siglip, 640, 480)
    assert (resize.out_width_px, resize.out_height_px, resize.image_tokens) == (224, 224, None)
    assert resize.focal_px(1000.0, 1000.0) == pytest.approx((350.0, 1000 * 224 / 480))
    with pytest.raises(ProcessorError, match="no pixel budget"):
        set_pixel_limits(siglip, max_pixels=10_000)


def test_a_cropping_processor_is_refused_rather_than_misread():
    import transformers

    with pytest.raises(ProcessorError, match="cannot read its resize"):
        _resize(transformers.CLIPImageProcessorPil(), 640, 480)


def test_limits_advice():
    limits = PixelLimits(3136, LLAMA_FACTORY_MAX_PIXELS, 28)
    assert limits_advice(limits, [(644, 448)]) is None
    too_big = limits_advice(limits, [(1288, 952), (644, 448)])
    assert "max_pixels >= 1226176" in too_big and "multiples" not in too_big
    odd = limits_advice(limits, [(1284, 963)])
    assert "1284x963 are not multiples of 28" in odd
    assert limits_advice(None, [(1284, 963)]) is None


def test_resolution_report_groups_sizes_and_warns_only_on_resizes(qwen, tmp_path):
    paths = {}
    for name, size in (("a", (140, 140)), ("b", (140, 140)), ("c", (1284, 963))):
        paths[tmp_path / f"{name}.png"] = size
        Image.new("RGB", size).save(tmp_path / f"{name}.png")
    report = resolution_report(qwen, paths, {path: (1000.0, 1000.0) for path in paths})
    assert [(g.count, g.resize.width_px, g.resize.resized) for g in report.groups] == [(2, 140, False), (1, 1284, True)]
    assert report.lines()[0] == "2 images 140x140 -> 140x140 (unchanged, 25 image tokens)"
    warnings = report.warnings()
    assert "1284x963 images become 1288x952 (the sides are not multiples of 28 px)" in warnings[0]
    assert "fx 1003.1, fy 988.6" in warnings[0]
    assert "not multiples of 28" in warnings[1]


def test_loading_errors(tmp_path):
    with pytest.raises(ProcessorError, match="not a folder"):
        load_image_processor(tmp_path / "nowhere")
    with pytest.raises(ProcessorError, match="no image processor could be loaded"):
        load_image_processor(tmp_path)
