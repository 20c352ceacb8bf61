"""`datagen check-focal`: the fx and fy a model sees, per image, after its processor."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from datagen.cli import main
from datagen.records import iter_records
from tests.train.conftest import qwen_image_processor, write_image_build


@pytest.fixture(scope="module")
def processor_dir(tmp_path_factory):
    return qwen_image_processor(tmp_path_factory.mktemp("processor"))


def _check(build, processor, *extra, tmp_path):
    out = tmp_path / "focal.json"
    result = CliRunner().invoke(main, ["check-focal", str(build), "--processor", str(processor), "--json",
                                       str(out), *extra])
    return result, (json.loads(out.read_text()) if out.exists() else None)


def test_a_pipeline_build_passes_a_qwen_processor_at_exactly_1000_px(train_build, processor_dir, tmp_path):
    result, report = _check(train_build, processor_dir, tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    images = {image for record in iter_records(train_build) for image in record["images"]}
    assert {entry["image"] for entry in report["images"]} == images
    for entry in report["images"]:
        assert (entry["effective_fx"], entry["effective_fy"]) == (1000.0, 1000.0)
        assert (entry["out_width"], entry["out_height"], entry["image_tokens"]) == (140, 140, 25)
    assert f"all {len(images)} images pass unresized: the model sees fx 1000, fy 1000 px" in result.output


def test_sizes_off_the_patch_grid_are_reported_per_image(processor_dir, tmp_path):
    build = write_image_build(tmp_path / "build", [(1284, 963), (1288, 952)])
    result, report = _check(build, processor_dir, "--per-image", tmp_path=tmp_path)
    assert result.exit_code == 1, result.output
    first, second = report["images"]
    assert (first["effective_fx"], first["effective_fy"]) == pytest.approx((1000 * 1288 / 1284, 1000 * 952 / 963))
    assert (second["effective_fx"], second["effective_fy"]) == (1000.0, 1000.0)
    assert "images/0000.png  1284x963 -> 1288x952  fx 1003.115  fy 988.577" in result.output
    assert "1 of 2 images are resized" in result.output
    assert "not multiples of 28" in result.output


def test_a_pixel_limit_and_the_setting_that_lifts_it(processor_dir, tmp_path):
    build = write_image_build(tmp_path / "build", [(1288, 952)])
    result, report = _check(build, processor_dir, "--max-pixels", "589824", tmp_path=tmp_path)
    assert result.exit_code == 1
    assert report["images"][0]["effective_fx"] == pytest.approx(1000 * 868 / 1288)
    assert "1226176 pixels exceed the processor's max_pixels 589824" in result.output
    assert "max_pixels >= 1226176" in result.output
    result, _ = _check(build, processor_dir, "--max-pixels", "1226176", tmp_path=tmp_path)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("problem", ["no_folder", "no_processor", "crop", "not_a_build", "truncated_image",
                                     "malformed_record", "empty_split"])
def test_bad_input_is_one_error_line(processor_dir, tmp_path, problem):
    import transformers

    build = write_image_build(tmp_path / "build", [(140, 140)])
    if problem == "malformed_record":
        shard = build / "records" / "part-00000.jsonl"
        shard.write_text(json.dumps({**json.loads(shard.read_text()), "camera": []}) + "\n")
    if problem == "truncated_image":  # the header reads; the pixels do not
        image = build / "images" / "0000.png"
        noise = np.random.default_rng(0).integers(0, 256, (140, 140, 3), dtype=np.uint8)
        Image.fromarray(noise).save(image)
        image.write_bytes(image.read_bytes()[:2000])
    processor = {"no_folder": tmp_path / "nowhere", "no_processor": tmp_path / "build"}.get(problem, processor_dir)
    if problem == "crop":
        processor = tmp_path / "clip"
        transformers.CLIPImageProcessorPil().save_pretrained(processor)
    if problem == "not_a_build":
        build = tmp_path
    result, _ = _check(build, processor, *(["--split", "train"] if problem == "empty_split" else []),
                       tmp_path=tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    expected = {"no_folder": "not a folder", "no_processor": "no image processor", "crop": "cannot read its resize",
                "not_a_build": "not a datagen build",
                "truncated_image": "images/0000.png: not a readable image (image file is truncated",
                "malformed_record": "part-00000.jsonl:1: record 'fake/seq/0000/distance/0': 'camera' must be",
                "empty_split": "no records of split 'train' to use (the build has: test 1)"}[problem]
    assert expected in result.output


def test_limit_takes_the_first_images_in_record_order(processor_dir, tmp_path):
    build = write_image_build(tmp_path / "build", [(140, 140), (168, 140), (196, 140)])
    result, report = _check(build, processor_dir, "--split", "test", "--limit", "2", tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    assert [entry["image"] for entry in report["images"]] == ["images/0000.png", "images/0001.png"]
    result, _ = _check(build, processor_dir, "--limit", "0", tmp_path=tmp_path)
    assert result.exit_code == 2 and "--limit" in result.output
