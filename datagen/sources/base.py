"""The interface every source implements: list frame ids cheaply, load one frame by id."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from datagen.types import Frame


class Source(abc.ABC):
    """A dataset adapter. Subclasses register with ``@sources.register(name)``.

    A subclass defines a nested frozen ``Config`` dataclass (its options, checked in
    ``__post_init__``), ``frame_ids()`` and ``load_frame(frame_id)``. Workers load
    frames by id, so a build can be split in shards and resumed.
    """

    @dataclass(frozen=True)
    class Config:
        root: Path | None = None

    def __init__(self, config: "Source.Config | None" = None) -> None:
        self.config = config if config is not None else self.Config()

    @abc.abstractmethod
    def frame_ids(self) -> list[str]:
        """All frame ids, in a fixed order (the same on every machine)."""

    @abc.abstractmethod
    def load_frame(self, frame_id: str) -> Frame:
        """Load one frame. Raises SourceError naming the file when it is missing or malformed."""

    def iter_frames(self) -> Iterator[Frame]:
        for frame_id in self.frame_ids():
            yield self.load_frame(frame_id)
