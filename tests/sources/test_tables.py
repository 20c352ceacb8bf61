"""The frame-table builder and the checks every source's options go through."""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from datagen.errors import ConfigError
from datagen.sources._tables import (
    FrameTableBuilder,
    check_choice,
    check_count,
    check_flag,
    check_name,
    check_number,
    check_root,
    check_split,
    names_option,
    optional_paths,
)


def test_builder_joins_sequences_into_one_table():
    table = FrameTableBuilder()
    table.add("ds/log1/", np.array([10, 20]), np.array(["front", "back"], dtype=object), "log1", "train")
    table.add("ds/log2/", np.array([5]), np.array(["front"], dtype=object), "log2", None)
    built = table.build()
    assert built.frame_ids.tolist() == ["ds/log1/10/front", "ds/log1/20/back", "ds/log2/5/front"]
    assert built.sequence.tolist() == ["log1", "log1", "log2"]
    assert built.camera.tolist() == ["front", "back", "front"]
    assert built.split.tolist() == ["train", "train", ""]


def test_builder_without_official_splits_has_no_split_column():
    table = FrameTableBuilder()
    table.add("ds/a/", np.array([1]), np.array(["c"], dtype=object), "a", None)
    assert table.build().split is None
    assert len(FrameTableBuilder().build()) == 0


def test_builder_of_frames_by_id_without_cameras():
    table = FrameTableBuilder()
    table.add_ids(["ds/s1/000", "ds/s1/001"], "s1")
    table.add_ids([], "s2", "val")
    table.add_ids(["ds/s3/000"], "s3", "test")
    built = table.build()
    assert built.frame_ids.tolist() == ["ds/s1/000", "ds/s1/001", "ds/s3/000"]
    assert built.sequence.tolist() == ["s1", "s1", "s3"] and built.camera is None
    assert built.split.tolist() == ["", "", "test"]
    with pytest.raises(ValueError, match="camera names"):
        table.add_ids(["ds/s4/000"], "s4", cameras=["front"])
    with_cameras = FrameTableBuilder()
    with_cameras.add_ids(["ds/s1/000/dslr"], "s1", cameras=["dslr"])
    assert with_cameras.build().camera.tolist() == ["dslr"]
    with pytest.raises(ValueError, match="camera names"):
        with_cameras.add_ids(["ds/s2/000"], "s2")


@dataclass(frozen=True)
class _Options:
    root: object = None
    masks: object = None


def test_root_and_optional_paths_become_paths():
    options = _Options(root="data", masks="m")
    check_root(options, "demo", "the dataset folder")
    optional_paths(options, "masks")
    assert options.root == Path("data") and options.masks == Path("m")
    with pytest.raises(ConfigError, match=r"^demo source: root \(the dataset folder\) is required$"):
        check_root(_Options(), "demo", "the dataset folder")
    unset = _Options(root="data")
    optional_paths(unset, "masks")
    assert unset.masks is None


@pytest.mark.parametrize("value, ok", [(1, True), (20, True), (np.int64(3), True), (0, False), (21, False),
                                       (True, False), (2.0, False), ("3", False)])
def test_count_is_a_whole_number_in_its_range(value, ok):
    if ok:
        check_count("demo", "sweeps", value, 1, 20)
    else:
        with pytest.raises(ConfigError, match=rf"demo source: sweeps must be an integer from 1 to 20, got {value!r}"):
            check_count("demo", "sweeps", value, 1, 20)


def test_count_without_maximum_says_its_minimum():
    with pytest.raises(ConfigError, match="demo source: stride must be an integer >= 1, got 0"):
        check_count("demo", "stride", 0)


@pytest.mark.parametrize("value, ok", [(0.5, True), (1, True), (0.0, False), (1.5, False), (math.nan, False),
                                       (False, False), ("0.5", False)])
def test_number_in_a_half_open_interval(value, ok):
    if ok:
        check_number("demo", "gap_s", value, 0.0, 1.0, unit="seconds")
    else:
        with pytest.raises(ConfigError, match=r"demo source: gap_s must be seconds in \(0, 1\], got "):
            check_number("demo", "gap_s", value, 0.0, 1.0, unit="seconds")


def test_number_bounds_as_asked():
    check_number("demo", "d", 0, 0.0, 10.0, low_included=True, high_included=False)
    with pytest.raises(ConfigError, match=r"d must be a number in \[0, 10\), got 10"):
        check_number("demo", "d", 10, 0.0, 10.0, low_included=True, high_included=False)
    check_number("demo", "scale", 1e300, 0.0)
    with pytest.raises(ConfigError, match="scale must be a number > 0, got inf"):
        check_number("demo", "scale", math.inf, 0.0)


def test_choice_flag_split_and_name():
    check_choice("demo", "kind", "z", ("z", "range"))
    with pytest.raises(ConfigError, match=r"demo source: kind must be one of \['z', 'range'\], got 'depth'"):
        check_choice("demo", "kind", "depth", ("z", "range"))
    with pytest.raises(ConfigError, match="kind must be one of"):
        check_choice("demo", "kind", ["z"], {"z": 1})  # an unhashable value is refused, not a TypeError
    check_flag("demo", "stereo", False)
    with pytest.raises(ConfigError, match="demo source: stereo must be true or false, got 'yes'"):
        check_flag("demo", "stereo", "yes")
    check_split("demo", None)
    check_split("demo", "val")
    with pytest.raises(ConfigError, match=r"demo source: split must be one of \['train', 'val', 'test'\] or null"):
        check_split("demo", "training")
    check_name("demo", "lidar", "LIDAR")
    check_name("demo", "split_file", "lists/ddad.json")
    for bad, slash in (("", True), (3, True), ("a/b", False)):
        with pytest.raises(ConfigError, match="demo source: name must be"):
            check_name("demo", "name", bad, slash=slash)


def test_names_from_a_list_one_name_or_commas():
    assert names_option("demo", "scenes", ["a", "b"]) == ("a", "b")
    assert names_option("demo", "scenes", "a") == ("a",)
    assert names_option("demo", "scenes", " a, b ,") == ("a", "b")
    assert names_option("demo", "lasers", "TOP", ("TOP", "FRONT")) == ("TOP",)
    for bad in ([], "", ["a", "a"], ["a", 1], 5, [["a"]]):
        with pytest.raises(ConfigError, match="demo source: scenes must be names, got "):
            names_option("demo", "scenes", bad)
    with pytest.raises(ConfigError, match=r"demo source: lasers must be some of \['TOP', 'FRONT'\], got \['MID'\]"):
        names_option("demo", "lasers", ["MID"], ("TOP", "FRONT"), "some")
