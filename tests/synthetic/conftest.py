"""Factories for the synthetic-scene tests: recipe files written to tmp_path, small sources."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from datagen.resources import scenes_dir

FAMILIES = ("room", "street", "tabletop")


def bundled_recipe(name: str) -> dict:
    """The bundled recipe ``name`` as a plain dict (a fresh copy to mutate)."""
    return copy.deepcopy(yaml.safe_load((scenes_dir() / f"{name}.yaml").read_text()))


def write_recipe(folder: Path, name: str, data: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def small_source():
    """A source of the bundled recipes at 1/4 resolution, 2 scenes of 3 frames each, shared per module."""
    from datagen.sources.synthetic import SyntheticSource

    return SyntheticSource(SyntheticSource.Config(image_scale=0.25, sequences=2, frames_per_sequence=3))
