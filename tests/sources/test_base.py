"""Choosing frames before loading them: cameras, splits, every N-th, limit."""

import numpy as np
import pytest

from datagen.errors import ConfigError
from datagen.sources.base import FrameTable, Selection, Source


def table():
    ids = [f"d/{seq}/{i:02d}/{cam}" for seq in ("s0", "s1") for i in range(4) for cam in ("left", "right")]
    return FrameTable(ids, sequence=[i.split("/")[1] for i in ids], camera=[i.split("/")[3] for i in ids],
                      split=["train"] * 8 + ["val"] * 8)


def test_every_keeps_each_streams_first_and_nth_frames():
    kept = Selection(every=2).apply(table()).frame_ids.tolist()
    assert kept == ["d/s0/00/left", "d/s0/00/right", "d/s0/02/left", "d/s0/02/right",
                    "d/s1/00/left", "d/s1/00/right", "d/s1/02/left", "d/s1/02/right"]


def test_cameras_splits_and_limit_combine_in_table_order():
    kept = Selection(cameras=("right",), splits=("val",), limit=3).apply(table()).frame_ids.tolist()
    assert kept == ["d/s1/00/right", "d/s1/01/right", "d/s1/02/right"]


def test_unknown_camera_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown camera.*'front'.*left, right"):
        Selection(cameras=("front",)).apply(table(), "kitti")


def test_cameras_of_a_source_without_camera_names_are_refused():
    with pytest.raises(ConfigError, match="no camera names"):
        Selection(cameras=("left",)).apply(FrameTable(["a", "b"]))


def test_frames_without_an_official_split_are_kept_for_the_build_to_split():
    t = FrameTable(["a", "b", "c"], split=["train", "", "test"])
    assert Selection(splits=("test",)).apply(t).frame_ids.tolist() == ["b", "c"]


@pytest.mark.parametrize("kwargs", [{"every": 0}, {"every": 1.5}, {"limit": 0}, {"every": True}])
def test_bad_selection_values_are_refused(kwargs):
    with pytest.raises(ConfigError):
        Selection(**kwargs)


def test_a_source_lists_frames_through_either_method():
    class ByIds(Source):
        def frame_ids(self):
            return ["x", "y"]

        def load_frame(self, frame_id):
            raise NotImplementedError

    class ByTable(ByIds):
        frame_ids = Source.frame_ids

        def frame_table(self):
            return FrameTable(["p", "q", "r"], camera=["a", "b", "a"])

    assert ByIds().select(Selection(limit=1)) == ["x"]
    assert ByTable().frame_ids() == ["p", "q", "r"]
    assert ByTable().select(Selection(cameras=("a",))) == ["p", "r"]

    class Neither(Source):
        def load_frame(self, frame_id):
            raise NotImplementedError

    with pytest.raises(TypeError, match="frame_ids"):
        Neither()


def test_table_columns_must_match_and_splits_be_known():
    with pytest.raises(ValueError, match="rows"):
        FrameTable(["a", "b"], camera=["x"])
    with pytest.raises(ValueError, match="holds"):
        FrameTable(["a"], split=["training"])
    assert len(FrameTable(np.array(["a", "b"]))) == 2


def test_readers_skip_a_corrupt_file_but_let_a_machine_fault_stop_the_build(tmp_path, monkeypatch):
    import errno

    from PIL import Image

    from datagen.errors import SourceError
    from datagen.sources import _io

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    with pytest.raises(SourceError, match="corrupt.png: not a readable image"):
        _io.image_size(corrupt, "test layout")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(PermissionError):
        _io.read_image_array(corrupt, "test layout")
