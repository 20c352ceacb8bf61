"""The interface every source implements: list frame ids cheaply, load one frame by id.

A source lists its frames as a :class:`FrameTable` (ids plus, where it knows them, the
sequence, camera and official split of each, as compact columns), so that a build can
choose frames (``--cameras``, ``--split``, ``--every``, ``--limit``) before loading any.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

import numpy as np

from datagen.errors import ConfigError
from datagen.types import SPLITS, Frame


@dataclass(frozen=True, eq=False)
class FrameTable:
    """The frames of a source, in the source's fixed order, as columns.

    Attributes:
        frame_ids: (N,) unique frame ids.
        sequence: (N,) sequence of each frame (scene, log, drive), or None if unknown.
        camera: (N,) camera name of each frame, or None if the source has one camera.
        split: (N,) official split of each frame ("train", "val", "test" or "" if none),
            or None if the source has no official splits.
    """

    frame_ids: np.ndarray
    sequence: np.ndarray | None = None
    camera: np.ndarray | None = None
    split: np.ndarray | None = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.frame_ids, dtype=object).reshape(-1)
        object.__setattr__(self, "frame_ids", ids)
        for name in ("sequence", "camera", "split"):
            column = getattr(self, name)
            if column is not None:
                column = np.asarray(column, dtype=object).reshape(-1)
                if len(column) != len(ids):
                    raise ValueError(f"FrameTable.{name} has {len(column)} rows, frame_ids {len(ids)}")
                object.__setattr__(self, name, column)
        if self.split is not None:
            unknown = set(self.split.tolist()) - set(SPLITS) - {""}
            if unknown:
                raise ValueError(f"FrameTable.split holds {sorted(unknown)}; expected {SPLITS} or ''")

    def __len__(self) -> int:
        return len(self.frame_ids)

    def take(self, index: np.ndarray) -> "FrameTable":
        """The rows selected by a boolean mask or an index array, in table order."""
        pick = (lambda c: None if c is None else c[index])
        return FrameTable(self.frame_ids[index], pick(self.sequence), pick(self.camera), pick(self.split))


@dataclass(frozen=True)
class Selection:
    """Which frames of a source a build uses.

    Attributes:
        cameras: camera names to keep; None keeps all.
        splits: official splits to keep (frames without one are kept, and split later);
            None keeps all.
        every: keep every N-th frame of each (sequence, camera) stream, starting with the first.
        limit: keep at most this many frames (the first, after the other filters); None: all.
    """

    cameras: tuple[str, ...] | None = None
    splits: tuple[str, ...] | None = None
    every: int = 1
    limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("every", "limit"):
            value = getattr(self, name)
            if value is None and name == "limit":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")

    def apply(self, table: FrameTable, source_name: str = "source") -> FrameTable:
        """The rows of ``table`` this selection keeps, in table order.

        Raises:
            ConfigError: cameras are asked of a source without camera names, or a camera
                name the source does not have.
        """
        keep = np.ones(len(table), dtype=bool)
        if self.cameras is not None:
            keep &= _camera_mask(table, self.cameras, source_name)
        if self.splits is not None and table.split is not None:
            keep &= np.isin(table.split, list(self.splits) + [""])
        table = table.take(keep)
        if self.every > 1:
            table = table.take(_every_mask(table, self.every))
        if self.limit is not None:
            table = table.take(np.arange(min(self.limit, len(table))))
        return table


def _camera_mask(table: FrameTable, cameras: tuple[str, ...], source_name: str) -> np.ndarray:
    if table.camera is None:
        raise ConfigError(f"{source_name}: this source has no camera names to choose from; drop --cameras")
    known = sorted(set(table.camera.tolist()))
    unknown = [c for c in cameras if c not in known]
    if unknown:
        raise ConfigError(f"{source_name}: unknown camera(s) {unknown}; this dataset has {', '.join(known)}")
    return np.isin(table.camera, list(cameras))


def _every_mask(table: FrameTable, every: int) -> np.ndarray:
    """(N,) bool: the 1st, (every+1)-th, ... frame of each (sequence, camera) stream, in table order."""
    sequence = table.sequence if table.sequence is not None else np.full(len(table), "", dtype=object)
    camera = table.camera if table.camera is not None else np.full(len(table), "", dtype=object)
    keys = np.char.add(np.char.add(sequence.astype(str), "\x00"), camera.astype(str))
    _, stream = np.unique(keys, return_inverse=True)
    order = np.argsort(stream, kind="stable")
    position = np.empty(len(table), dtype=np.int64)
    counts = np.bincount(stream)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    position[order] = np.arange(len(table)) - starts
    return position % every == 0


class Source(abc.ABC):
    """A dataset adapter. Subclasses register with ``@sources.register(name)``.

    A subclass defines a nested frozen ``Config`` dataclass (its options, checked in
    ``__post_init__``), ``load_frame(frame_id)``, and one of ``frame_ids()`` or
    ``frame_table()`` (the richer one lets a build choose cameras and splits before
    loading). Workers load frames by id, so a build can be split in shards and resumed.

    Attributes:
        occlusion_defaults: options of the see-through filter for this source's LiDAR
            (``window_px``, ``max_depth_ratio``) where the filter's own defaults do not
            suit the sensor; a build config's explicit values still win.
    """

    occlusion_defaults: ClassVar[dict] = {}

    @dataclass(frozen=True)
    class Config:
        root: Path | None = None

    def __init__(self, config: "Source.Config | None" = None) -> None:
        cls = type(self)
        if cls.frame_ids is Source.frame_ids and cls.frame_table is Source.frame_table:
            raise TypeError(f"{cls.__name__} must define frame_ids() or frame_table()")
        self.config = config if config is not None else self.Config()

    def frame_ids(self) -> list[str]:
        """All frame ids, in a fixed order (the same on every machine)."""
        return self.frame_table().frame_ids.tolist()

    def frame_table(self) -> FrameTable:
        """All frames as a table; by default only their ids (no camera, sequence or split known)."""
        return FrameTable(self.frame_ids())

    def select(self, selection: Selection, name: str | None = None) -> list[str]:
        """The ids of the frames ``selection`` keeps, in the source's order (``name`` for messages)."""
        return selection.apply(self.frame_table(), name or type(self).__name__).frame_ids.tolist()

    @abc.abstractmethod
    def load_frame(self, frame_id: str) -> Frame:
        """Load one frame. Raises SourceError naming the file when it is missing or malformed."""

    def iter_frames(self) -> Iterator[Frame]:
        for frame_id in self.frame_ids():
            yield self.load_frame(frame_id)
