"""Fixtures of the trainer tests: a small synthetic build, an image-processor folder, offline Hugging Face."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from datagen.config import load_config
from datagen.pipeline import build
from datagen.records import MANIFEST, RECORDS_DIR, SCHEMA

#: The build of the trainer tests: 16 records (4 frames x 2 points x 2 tasks), all train, 140x140 images
#: (five 28-px patches a side: a Qwen2-VL processor takes them unresized), labels at 1000 px focal length.
TRAIN_BUILD = {"source": "synthetic", "frames": 4, "seed": 3, "tasks": ["distance", "axis_distance"],
               "split_ratios": [1.0, 0.0, 0.0], "source_options": {"image_scale": 0.25, "lidar": False},
               "sampling": {"points_per_frame": 2}, "normalize": {"max_side_px": 140}}


#: The pixel budget of the published Qwen2.5-VL processors: 4 to 16,384 tokens of 28 x 28 px.
QWEN2_5_VL_PIXELS = (3136, 12_845_056)


@pytest.fixture(scope="session", autouse=True)
def offline():
    """Hugging Face libraries may read local files only (session-wide: the shared training run too)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def train_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train_build")
    build(load_config(None, TRAIN_BUILD), out)
    return out


def qwen_image_processor(folder: Path, **pixels) -> Path:
    """Save a Qwen2-VL image processor (PIL backend, the published checkpoints' pixel budget unless given)."""
    import transformers

    cls = getattr(transformers, "Qwen2VLImageProcessorPil", transformers.Qwen2VLImageProcessor)
    limits = {"min_pixels": QWEN2_5_VL_PIXELS[0], "max_pixels": QWEN2_5_VL_PIXELS[1], **pixels}
    cls(**limits).save_pretrained(folder)
    return folder


def write_image_build(folder: Path, sizes: list[tuple[int, int]], focal_px: float = 1000.0) -> Path:
    """A build folder with one distance record per image size (plain grey images), all of split test."""
    (folder / RECORDS_DIR).mkdir(parents=True)
    (folder / "images").mkdir()
    lines = []
    for k, (width, height) in enumerate(sizes):
        image = f"images/{k:04d}.png"
        Image.new("RGB", (width, height), (120, 120, 120)).save(folder / image)
        record = {"id": f"fake/seq/{k:04d}/distance/0", "task": "distance", "split": "test", "images": [image],
                  "question": "How far is the point marked by the red arrow from the camera, in meters?",
                  "answer": "3.00", "value": 3.0, "unit": "m", "template_id": "distance/q0", "label": {},
                  "camera": [focal_px, focal_px, (width - 1) / 2, (height - 1) / 2, width, height],
                  "provenance": {"source": "fake"}}
        lines.append(json.dumps(record) + "\n")
    (folder / RECORDS_DIR / "part-00000.jsonl").write_text("".join(lines), encoding="utf-8")
    (folder / MANIFEST).write_text(json.dumps({"schema": SCHEMA}), encoding="utf-8")
    return folder


#: The training run the tests share: LoRA on the tiny model, 24 steps of 2 examples, seed 0.
TRAIN_ARGS = ["--max-steps", "24", "--batch-size", "2", "--lr", "1e-2", "--warmup-ratio", "0.1",
              "--save-every", "8", "--seed", "0"]


@pytest.fixture(scope="session")
def trained_run(train_build, tmp_path_factory) -> Path:
    """`datagen train --model tiny-random` on the train build: the run folder."""
    from click.testing import CliRunner

    from datagen.cli import main

    out = tmp_path_factory.mktemp("trained") / "run"
    result = CliRunner().invoke(main, ["-q", "train", "--model", "tiny-random", "--data", str(train_build),
                                       "--out", str(out), *TRAIN_ARGS])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def tiny_model(trained_run) -> Path:
    """The tiny random Qwen2.5-VL model folder that run built (and trained from)."""
    return trained_run / "base-model"
