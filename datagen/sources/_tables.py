"""Building a source's FrameTable from per-sequence columns, and the checks shared by source options."""

from __future__ import annotations

import numpy as np

from datagen.errors import ConfigError
from datagen.sources.base import FrameTable


class FrameTableBuilder:
    """Collects the frames of a dataset sequence by sequence, as numpy columns, into one FrameTable.

    Frame ids read ``<prefix><stamp>/<camera>``; no Python object is made per frame beyond its id.
    """

    def __init__(self) -> None:
        self._ids: list[np.ndarray] = []
        self._sequences: list[np.ndarray] = []
        self._cameras: list[np.ndarray] = []
        self._splits: list[np.ndarray] = []
        self._has_split = False

    def add(self, prefix: str, stamps: np.ndarray, cameras: np.ndarray, sequence: str, split: str | None) -> None:
        """One sequence's frames, in order: ``stamps`` (N,) integers, ``cameras`` (N,) camera names."""
        cameras = np.asarray(cameras, dtype=object)
        ids = np.char.add(np.char.add(prefix, np.asarray(stamps).astype(str)), np.char.add("/", cameras.astype(str)))
        self._ids.append(ids.astype(object))
        self._sequences.append(np.full(len(cameras), sequence, dtype=object))
        self._cameras.append(cameras)
        self._splits.append(np.full(len(cameras), split or "", dtype=object))
        self._has_split |= bool(split)

    def build(self) -> FrameTable:
        """The table; its split column is None when no sequence has an official split."""
        join = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=object))
        return FrameTable(join(self._ids), join(self._sequences), join(self._cameras),
                          join(self._splits) if self._has_split else None)


def check_count(source: str, name: str, value: object, minimum: int = 1) -> None:
    """ConfigError naming the source and option unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{source} source: {name} must be an integer >= {minimum}, got {value!r}")
