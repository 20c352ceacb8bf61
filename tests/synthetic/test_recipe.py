"""Recipes parse; malformed recipes give a ConfigError naming the file, the field path and what is allowed."""

from __future__ import annotations

import pytest

from datagen.errors import ConfigError
from datagen.resources import scenes_dir
from datagen.synthetic.recipe import FAMILIES, KIND_SIZES, Recipe, load_recipe, load_recipes, parse_recipe
from datagen.synthetic.schema import Range

from .conftest import bundled_recipe, write_recipe


def test_bundled_recipes_cover_the_three_families():
    recipes = load_recipes(scenes_dir())
    assert {r.family for r in recipes} >= {"room", "street", "tabletop"}
    for recipe in recipes:
        assert isinstance(recipe, Recipe) and recipe.name == recipe.file.stem
        assert recipe.sequences >= 1 and recipe.frames_per_sequence >= 2
        assert recipe.path.kind == FAMILIES[recipe.family].path
        assert all(obj.kind in FAMILIES[recipe.family].kinds for obj in recipe.objects)


def test_room_recipe_values_read_as_written():
    recipe = load_recipe(scenes_dir() / "room.yaml")
    table = recipe.objects[0]
    assert table.kind == "table" and table.size_m[0] == Range(1.0, 1.8) and table.count.lo == 1
    door = next(o for o in recipe.objects if o.kind == "door")
    assert door.size_m[1] == Range(0.05, 0.05)  # a plain number is a fixed size
    assert recipe.lidar.position_cam_m == (0.0, -0.3, -0.1)
    assert recipe.camera.resolutions == ((640, 480),)


def _set(path: str, value):
    """A mutation that sets a dotted path (``objects.2.kind``) in the recipe dict."""
    def mutate(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return mutate


_DELETE = object()

MALFORMED = [
    # (recipe, mutation, substrings the message must contain)
    ("room", _set("objects.2.kind", "spaceship"), ["objects[2].kind", "'spaceship'", "table", "window"]),
    ("room", _set("objects.0.size_m", [[1.0, 1.8], [-0.5, 1.0], 0.75]), ["objects[0].size_m[1]", "> 0", "width"]),
    ("room", _set("layout.width_m", _DELETE), ["layout.width_m", "missing field"]),
    ("room", _set("camera", _DELETE), ["camera", "missing field"]),
    ("room", _set("family", "forest"), ["family", "'forest'", "room, street, tabletop"]),
    ("room", _set("sequences", "many"), ["sequences", "integer", "'many'"]),
    ("room", _set("lidar.beams", 1.5), ["lidar.beams", "integer"]),
    ("room", _set("layout.colour", "red"), ["layout.colour", "unknown field", "length_m"]),
    ("room", _set("objects.0.kind", "car"), ["objects[0].kind", "not available", "'room'"]),
    ("room", _set("objects.1.material", ["gold"]), ["objects[1].material[0]", "'gold'", "parquet"]),
    ("room", _set("objects.9.size_m", [0.3, 0.5, 0.4]), ["objects[9].size_m", "takes 1 sizes [diameter]"]),
    ("room", _set("materials.parquet.pattern", "zigzag"), ["materials.parquet.pattern[0]", "checker", "brick"]),
    ("room", _set("camera.resolutions", [[640, 0]]), ["camera.resolutions[0]", "width, height"]),
    ("room", _set("camera.focal_px", [700, 300]), ["camera.focal_px", "min <= max"]),
    ("room", _set("objects.5.place", "floor"), ["objects[5].place", "'door'", "'wall'"]),
    ("street", _set("objects.0.place", "roof"), ["objects[0].place", "'roof'", "lane, parking, sidewalk"]),
    ("street", _set("path.kind", "orbit"), ["path.kind", "'drive'"]),
    ("tabletop", _set("lighting.lights.0.elevation_deg", 120), ["lighting.lights[0].elevation_deg", "<= 90"]),
    ("tabletop", _set("objects", "lots"), ["objects[0]", "must be a mapping", "kind"]),
]


@pytest.mark.parametrize("name, mutate, expected", MALFORMED)
def test_malformed_recipe_names_file_field_and_allowed(tmp_path, name, mutate, expected):
    data = bundled_recipe(name)
    mutate(data)
    path = write_recipe(tmp_path, "bad", data)
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for text in expected:
        assert text in message, (text, message)


def test_not_yaml_and_not_a_mapping(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("family: room\nobjects: [\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:3: not valid YAML"):
        load_recipe(broken)
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_recipe(["family", "room"], name="x", file="x.yaml")


def test_load_recipes_unknown_name_and_empty_folder(tmp_path):
    with pytest.raises(ConfigError, match="unknown recipe 'garden'; known: room, street, tabletop"):
        load_recipes(scenes_dir(), ("room", "garden"))
    with pytest.raises(ConfigError, match="no scene recipes"):
        load_recipes(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_recipes(tmp_path / "missing")


def test_every_kind_has_a_builder_and_a_family():
    from datagen.synthetic.shapes import KIND_BUILDERS

    assert set(KIND_BUILDERS) == set(KIND_SIZES)
    assert set().union(*(f.kinds for f in FAMILIES.values())) == set(KIND_SIZES)
