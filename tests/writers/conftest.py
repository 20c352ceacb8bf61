"""A small real build shared by the writer tests, and helpers to export it and copy it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from datagen.config import load_config
from datagen.pipeline import build
from datagen.records import iter_frames_index, iter_records
from datagen.writers.base import export

FAKE = "tests.fake_source:PlaneSource"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The datasets library reads local files only."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    """Six frames in two sequences (one train, one test), two labelled points per frame, three shards."""
    out = tmp_path_factory.mktemp("writers_build")
    config = load_config(None, {"source": FAKE, "seed": 5, "split_ratios": [0.5, 0.0, 0.5], "shard_size": 2,
                                "sampling": {"points_per_frame": 2}})
    build(config, out)
    return out


@pytest.fixture(scope="session")
def records(build_dir) -> dict[str, dict]:
    """The canonical records of the build, by id."""
    return {record["id"]: record for record in iter_records(build_dir)}


@pytest.fixture(scope="session")
def frames(build_dir) -> dict[str, dict]:
    """The build's frames.jsonl entries, by frame id."""
    return {frame["frame_id"]: frame for frame in iter_frames_index(build_dir)}


@pytest.fixture(scope="session")
def exported(build_dir, tmp_path_factory):
    """export(format, **options) into a fresh folder, cached per format and options for the session."""
    cache: dict = {}

    def run(format_name: str, **options):
        key = (format_name, tuple(sorted(options.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(f"export_{format_name}")
            cache[key] = export(build_dir, format_name, out, **options)
        return cache[key]

    return run


@pytest.fixture
def build_copy(build_dir, tmp_path) -> Path:
    """A copy of the build whose files are hard links (fast); delete or rewrite files freely."""
    copy = tmp_path / "build"
    shutil.copytree(build_dir, copy, copy_function=os.link)
    return copy


def rewrite(path: Path, text: str) -> None:
    """Replace a hard-linked file of a copy without touching the original."""
    path.unlink()
    path.write_text(text, encoding="utf-8")
