"""Exports carry the trainer settings that keep every image as built, and warn where defaults would not."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from PIL import Image

from datagen.processors import PRESETS
from datagen.records import iter_frames_index
from datagen.writers.consumers import ImageStats, consumer_settings


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 16384 * 28 * 28) -> tuple[int, int]:
    """Qwen2-VL's documented resize rule (rounded sides, then the pixel limits), written out here."""
    h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar, w_bar = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar, w_bar = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def llamafactory_size(width: int, height: int, max_pixels: int, min_pixels: int) -> tuple[int, int]:
    """LLaMA-Factory's regularisation of an image before the model's processor (mm_plugin)."""
    if width * height > max_pixels:
        factor = math.sqrt(max_pixels / (width * height))
        width, height = int(width * factor), int(height * factor)
    if width * height < min_pixels:
        factor = math.sqrt(min_pixels / (width * height))
        width, height = int(width * factor), int(height * factor)
    return width, height


def effective_focal(frame: dict, size: tuple[int, int]) -> tuple[float, float]:
    fx, fy, _, _, width, height = frame["camera"]
    return fx * size[0] / width, fy * size[1] / height


def test_default_build_images_fit_the_qwen_grid(build_dir):
    grid = PRESETS["qwen2.5-vl"]
    frames = list(iter_frames_index(build_dir))
    assert frames and all(grid.fits(*f["camera"][4:6]) for f in frames)
    assert all(f["camera"][:2] == [1000.0, 1000.0] for f in frames)


def test_llamafactory_settings_keep_every_image_and_its_defaults_would_not(build_dir, exported):
    report = exported("llamafactory")
    settings = yaml.safe_load((report.out_dir / "llamafactory_settings.yaml").read_text())
    frames = list(iter_frames_index(build_dir))
    shrunk = 0
    for frame in frames:
        width, height = frame["camera"][4:6]
        size = llamafactory_size(width, height, settings["image_max_pixels"], settings["image_min_pixels"])
        h, w = smart_resize(size[1], size[0])
        assert effective_focal(frame, (w, h)) == (1000.0, 1000.0)
        default = llamafactory_size(width, height, 768 * 768, 32 * 32)
        h, w = smart_resize(default[1], default[0])
        shrunk += abs(effective_focal(frame, (w, h))[0] - 1000.0) > 1.0
    assert shrunk > 0
    assert any(f"{shrunk} of {len(frames)} images exceed LLaMA-Factory's default image_max_pixels" in w
               for w in report.warnings)
    assert settings["cutoff_len"] >= 2 * max(w * h for w, h in (f["camera"][4:6] for f in frames)) / 784


def test_settings_written_for_each_consumer_with_a_resizing_default(exported):
    for name, file_name in (("swift", "swift_settings.sh"), ("trl", "trl_settings.py"),
                            ("qwen", "qwen_settings.txt"), ("internvl", "internvl_settings.txt")):
        report = exported(name)
        text = (report.out_dir / file_name).read_text()
        assert report.out_dir / file_name in report.files
        if name == "trl":
            assert "SFTConfig(max_length=None)" in text
            assert any("max_length 1024 truncates" in w for w in report.warnings)
        if name == "qwen":
            assert "--max_pixels" in text and any("qwen-vl-finetune's default max_pixels 451,584" in w
                                                  for w in report.warnings)


def test_no_warning_where_the_images_already_pass():
    small = ImageStats(((672, 504), (588, 448)), 1000.0, 1)
    assert consumer_settings("qwen", small).warnings == ()
    assert consumer_settings("llamafactory", small).warnings == ()
    off_grid = ImageStats(((1284, 963),), 1000.0, 1)
    assert any("not a multiple of 28" in w for w in consumer_settings("swift", off_grid).warnings)
    assert consumer_settings("llava", ImageStats(((336, 336),))).warnings == ()
    assert consumer_settings("parquet", small) is None


def test_a_real_qwen2_vl_processor_resizes_nothing(build_dir):
    transformers = pytest.importorskip("transformers")
    processor = transformers.Qwen2VLImageProcessor(patch_size=14, merge_size=2, temporal_patch_size=2)
    for frame in iter_frames_index(build_dir):
        with Image.open(build_dir / frame["image"]) as image:
            out = processor(images=[image.convert("RGB")], return_tensors="np")
        _, grid_h, grid_w = np.asarray(out["image_grid_thw"])[0]
        width, height = frame["camera"][4:6]
        assert (grid_w * 14, grid_h * 14) == (width, height)
