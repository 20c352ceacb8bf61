"""MATLAB .mat reading: v7.3 arrays come back in MATLAB's axis order, v5 structs and cells, errors name the file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from datagen.errors import SourceError
from datagen.sources._matlab import V73File, cell_strings, is_v73, read_arrays, read_v5, struct_field
from tests.sources.matlab_files import write_v5, write_v73


def test_v73_images_come_back_in_matlab_axis_order(tmp_path, rng):
    images = rng.integers(0, 256, size=(4, 5, 3, 2), dtype=np.uint8)  # H x W x 3 x N, as MATLAB holds it
    path = write_v73(tmp_path / "a.mat", {"images": images, "scenes": ["bedroom_0001", "kitchen_0002"],
                                          "ndx": np.array([[3.0], [1.0]])})
    with h5py.File(path) as mat:
        assert mat["images"].shape == (2, 3, 5, 4)  # what MATLAB writes: the axes reversed
    mat = V73File(path, "test layout")
    assert is_v73(path) and mat.count("images") == 2
    np.testing.assert_array_equal(mat.item("images", 1), images[..., 1])
    assert mat.strings("scenes") == ["bedroom_0001", "kitchen_0002"]
    np.testing.assert_array_equal(read_arrays(path, ("ndx",), "test layout")["ndx"], [[3.0], [1.0]])
    with pytest.raises(SourceError, match=r"a\.mat: no variable 'depths' \(test layout\)"):
        mat.dataset("depths")


def test_v5_structs_cells_and_arrays(tmp_path):
    path = write_v5(tmp_path / "b.mat", {"data": {"calib": np.eye(3)}, "paths": ["/x/SUNRGBD/kv1/a", "/y/b"],
                                         "ndx": np.array([[1.0], [2.0]])})
    variables = read_v5(path, "test layout")
    np.testing.assert_array_equal(struct_field(variables["data"], "calib", "b.mat"), np.eye(3))
    assert cell_strings(variables["paths"], "b.mat") == ["/x/SUNRGBD/kv1/a", "/y/b"]
    np.testing.assert_array_equal(read_arrays(path, ("ndx",), "test layout")["ndx"], [[1.0], [2.0]])
    with pytest.raises(SourceError, match=r"b\.mat: no struct field 'rgb'"):
        struct_field(variables["data"], "rgb", "b.mat")


def test_unreadable_files_name_the_file(tmp_path):
    (tmp_path / "c.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 20)
    with pytest.raises(SourceError, match=r"c\.mat: not a readable MATLAB file"):
        read_v5(tmp_path / "c.mat", "test layout")
    with pytest.raises(SourceError, match=r"d\.mat: missing \(test layout\)"):
        read_arrays(tmp_path / "d.mat", ("x",), "test layout")
    write_v73(tmp_path / "e.mat", {"x": np.zeros(2)})
    with pytest.raises(SourceError, match=r"e\.mat: a MATLAB v7\.3 \(HDF5\) file, expected v5/v7"):
        read_v5(tmp_path / "e.mat", "test layout")
