"""MATLAB ``.mat`` files (v5/v7 and v7.3), read with errors that name the file.

Two storage formats share the ``.mat`` name:

* v5 and v7 (``save`` without ``-v7.3``): MATLAB's own binary format, read with
  ``scipy.io.loadmat``; arrays come back in MATLAB's axis order.
* v7.3 (``save -v7.3``): an HDF5 file behind a 512-byte MATLAB header, read with
  ``h5py``. MATLAB is column-major and HDF5 row-major, so an ``H x W x 3 x N`` MATLAB
  array is stored as an HDF5 dataset of shape ``(N, 3, W, H)``: every read here reverses
  the axes back. A cell array is a dataset of object
  references into ``#refs#``; a string is a ``uint16`` array of UTF-16 code units.

Used by the NYU Depth v2 (v7.3 labelled set, v5 ``splits.mat``), SUN RGB-D
(``allsplit.mat``) and iBims-1 (v5 per-image files) sources.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from datagen.errors import SourceError, raise_if_machine_fault
from datagen.sources._io import require_file

log = logging.getLogger(__name__)

#: The first bytes of every v7.3 file's header (an HDF5 user block).
V73_HEADER = b"MATLAB 7.3 MAT-file"


def is_v73(path: Path) -> bool:
    """Whether ``path`` is a MATLAB v7.3 (HDF5) file, from its first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    return head.startswith(V73_HEADER) or head.startswith(b"\x89HDF\r\n\x1a\n")


def read_v5(path: Path, layout: str, names: tuple[str, ...] | None = None) -> dict:
    """The variables of a v5/v7 file (all, or ``names``), MATLAB axis order, structs as record arrays.

    Raises:
        SourceError: missing, a v7.3 file, or not a readable MAT file.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    require_file(path, layout)
    if is_v73(path):
        raise SourceError(f"{path}: a MATLAB v7.3 (HDF5) file, expected v5/v7 ({layout})")
    try:
        variables = loadmat(path, variable_names=list(names) if names else None)
    except (MatReadError, ValueError, TypeError, OSError, EOFError, IndexError, UnicodeDecodeError) as exc:
        raise_if_machine_fault(exc)
        raise SourceError(f"{path}: not a readable MATLAB file ({exc}) ({layout})") from None
    missing = [name for name in (names or ()) if name not in variables]
    if missing:
        raise SourceError(f"{path}: no variable {missing} ({layout})")
    return variables


def read_arrays(path: Path, names: tuple[str, ...], layout: str) -> dict:
    """Numeric variables ``names`` of a v5/v7 or v7.3 file, each in MATLAB axis order."""
    if not is_v73(require_file(path, layout)):
        return {name: np.asarray(value) for name, value in read_v5(path, layout, names).items() if name in names}
    mat = V73File(path, layout)
    try:
        return {name: np.asarray(mat.dataset(name)[()]).transpose() for name in names}
    except (OSError, ValueError, TypeError) as exc:
        raise_if_machine_fault(exc)
        raise SourceError(f"{path}: cannot read {list(names)} ({exc}) ({layout})") from None
    finally:
        mat.close()


def struct_field(struct: np.ndarray, name: str, where: str) -> np.ndarray:
    """Field ``name`` of a 1x1 MATLAB struct read by ``read_v5``."""
    if not isinstance(struct, np.ndarray) or struct.dtype.names is None or name not in struct.dtype.names:
        have = list(struct.dtype.names or ()) if isinstance(struct, np.ndarray) else type(struct).__name__
        raise SourceError(f"{where}: no struct field {name!r} (fields: {have})")
    if struct.size != 1:
        raise SourceError(f"{where}: expected a 1x1 struct, got shape {struct.shape}")
    return np.asarray(struct.reshape(-1)[0][name])


def cell_strings(cell: np.ndarray, where: str) -> list[str]:
    """A v5 cell array of strings (any shape) as a flat list, in MATLAB's column-major order."""
    strings = []
    for item in np.asarray(cell, dtype=object).reshape(-1, order="F"):
        value = np.asarray(item).reshape(-1)
        if value.dtype.kind != "U" or value.size != 1:
            raise SourceError(f"{where}: expected a cell array of strings, found {value.dtype} {value.shape}")
        strings.append(str(value[0]))
    return strings


class V73File:
    """A lazily opened v7.3 file; reopened in a new process (an HDF5 handle must not cross a fork).

    Args:
        path: the ``.mat`` file.
        layout: what the caller expected, for error messages.
    """

    def __init__(self, path: Path, layout: str) -> None:
        self.path = Path(path)
        self.layout = layout
        self._handle = None
        self._pid = None

    def __getstate__(self) -> dict:
        return {"path": self.path, "layout": self.layout, "_handle": None, "_pid": None}

    @property
    def handle(self):
        if self._handle is None or self._pid != os.getpid():
            self._handle = self._open()
            self._pid = os.getpid()
        return self._handle

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = None

    def _open(self):
        import h5py

        require_file(self.path, self.layout)
        if not is_v73(self.path):
            raise SourceError(f"{self.path}: not a MATLAB v7.3 (HDF5) file ({self.layout})")
        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise_if_machine_fault(exc)
            raise SourceError(f"{self.path}: not a readable HDF5 file ({exc}) ({self.layout})") from None

    def dataset(self, name: str):
        """The HDF5 dataset of variable ``name``."""
        import h5py

        node = self.handle.get(name)
        if not isinstance(node, h5py.Dataset):
            raise SourceError(f"{self.path}: no variable {name!r} ({self.layout})")
        return node

    def count(self, name: str) -> int:
        """MATLAB's last dimension of variable ``name`` (its number of images, for an image stack)."""
        shape = self.dataset(name).shape
        return int(shape[0]) if shape else 1

    def item(self, name: str, index: int) -> np.ndarray:
        """Slice ``index`` (0-based) along MATLAB's last dimension, in MATLAB axis order.

        ``images`` (H x W x 3 x N) gives an (H, W, 3) array; ``depths`` (H x W x N) an (H, W) one.
        """
        dataset = self.dataset(name)
        try:
            data = np.asarray(dataset[index])
        except (OSError, ValueError, IndexError) as exc:
            raise_if_machine_fault(exc)
            raise SourceError(f"{self.path}: cannot read {name}[{index}] ({exc}) ({self.layout})") from None
        return data.transpose()  # HDF5 holds MATLAB's axes in reverse order

    def strings(self, name: str) -> list[str]:
        """A cell array of strings, in MATLAB's column-major order."""
        dataset = self.dataset(name)
        refs = np.asarray(dataset[()]).reshape(-1)  # a 1xN or Nx1 cell: one row of references either way
        try:
            return [_decode_chars(np.asarray(self.handle[ref][()])) for ref in refs]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise_if_machine_fault(exc)
            raise SourceError(f"{self.path}: {name} is not a cell array of strings ({exc}) ({self.layout})") from None


def _decode_chars(chars: np.ndarray) -> str:
    """A MATLAB char array as stored in v7.3 (UTF-16 code units, any shape) as a str."""
    if chars.dtype.kind not in "ui":
        raise TypeError(f"expected uint16 characters, got {chars.dtype}")
    return "".join(chr(int(c)) for c in chars.reshape(-1))
