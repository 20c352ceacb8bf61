"""Recipes: a key given twice and values too large to build are refused with the file and field."""

from __future__ import annotations

import pytest
import yaml

from datagen.errors import ConfigError
from datagen.synthetic.recipe import load_recipe

from .conftest import bundled_recipe, write_recipe


def test_a_duplicate_key_is_refused_with_its_line(tmp_path):
    text = yaml.safe_dump(bundled_recipe("room"), sort_keys=False)
    path = tmp_path / "room.yaml"
    path.write_text(text + "seed: 99\n")
    line = len(text.splitlines()) + 1
    with pytest.raises(ConfigError, match=rf"room\.yaml:{line}: duplicate key 'seed' \(first on line \d+\)"):
        load_recipe(path)


def _with(data: dict, path: str, value) -> dict:
    node = data
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return data


@pytest.mark.parametrize(("path", "value", "message"), [
    ("sequences", 1_000_000_000_000, "sequences: must be at most 100000"),
    ("sequences", 50_000, "sequences x path.frames must be at most 1000000"),
    ("objects.0.count", 1_000_000, "objects[0].count: must be from 0 to 1000"),
    ("camera.resolutions", [[200000, 150000]], "camera.resolutions[0]: must be [width, height] in pixels, each "
                                               "from 1 to 8192"),
])
def test_sizes_beyond_sane_bounds_are_refused(tmp_path, path, value, message):
    data = _with(bundled_recipe("room"), "path.frames", 100) if path == "sequences" else bundled_recipe("room")
    file = write_recipe(tmp_path, "room", _with(data, path, value))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        load_recipe(file)
    assert str(info.value).startswith(str(file))
