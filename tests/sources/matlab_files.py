"""Write MATLAB files as MATLAB does, for source tests: v7.3 (HDF5, axes reversed) and v5 (scipy)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

#: MATLAB class names of numpy dtypes, as v7.3 files record them.
MATLAB_CLASSES = {np.dtype(np.float64): "double", np.dtype(np.float32): "single", np.dtype(np.uint8): "uint8",
                  np.dtype(np.uint16): "uint16", np.dtype(np.int32): "int32"}


def write_v73(path: Path, variables: dict) -> Path:
    """A MATLAB v7.3 file: each numpy array stored with its axes reversed (MATLAB is column-major),
    each list of str as an N x 1 cell of char arrays (UTF-16 code units) under ``#refs#``."""
    path = Path(path)
    with h5py.File(path, "w", userblock_size=512) as mat:
        refs = mat.create_group("#refs#")
        for name, value in variables.items():
            if isinstance(value, list):
                _write_cell(mat, refs, name, value)
            else:
                array = np.asarray(value)
                dataset = mat.create_dataset(name, data=array.transpose())
                dataset.attrs["MATLAB_class"] = np.bytes_(MATLAB_CLASSES[array.dtype])
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with path.open("r+b") as handle:
        handle.write(header.ljust(116) + b"\0" * 8 + b"\x00\x02" + b"IM")
    return path


def _write_cell(mat: h5py.File, refs: h5py.Group, name: str, strings: list[str]) -> None:
    cell = mat.create_dataset(name, shape=(1, len(strings)), dtype=h5py.ref_dtype)
    for i, text in enumerate(strings):
        chars = refs.create_dataset(f"{name}_{i}", data=np.array([[ord(c) for c in text]], dtype=np.uint16).T)
        chars.attrs["MATLAB_class"] = np.bytes_("char")
        chars.attrs["MATLAB_int_decode"] = np.int32(2)
        cell[0, i] = chars.ref
    cell.attrs["MATLAB_class"] = np.bytes_("cell")


def write_v5(path: Path, variables: dict) -> Path:
    """A MATLAB v5 file (dicts become structs, lists of str cell arrays), as ``save`` writes by default."""
    from scipy.io import savemat

    converted = {name: _cell(value) if isinstance(value, list) else value for name, value in variables.items()}
    savemat(path, converted, format="5", do_compression=True)
    return Path(path)


def _cell(strings: list[str]) -> np.ndarray:
    cell = np.empty((1, len(strings)), dtype=object)
    for i, text in enumerate(strings):
        cell[0, i] = text
    return cell
