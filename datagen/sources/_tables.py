"""Building a source's FrameTable from per-sequence columns, and the checks of source options.

Every check raises a ConfigError whose message names the source and the option:
``"<source> source: <option> must be ..., got <value>"``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from datagen.errors import ConfigError
from datagen.sources.base import FrameTable
from datagen.types import SPLITS


class FrameTableBuilder:
    """Collects the frames of a dataset sequence by sequence, as numpy columns, into one FrameTable.

    No Python object is made per frame beyond its id. The table has a camera column when the
    frames were added with their cameras, and a split column when a sequence has an official split.
    """

    def __init__(self) -> None:
        self._ids: list[np.ndarray] = []
        self._sequences: list[np.ndarray] = []
        self._cameras: list[np.ndarray] = []
        self._splits: list[np.ndarray] = []
        self._has_split = False

    def add(self, prefix: str, stamps: np.ndarray, cameras: np.ndarray, sequence: str, split: str | None) -> None:
        """One sequence's frames, in order, with ids ``<prefix><stamp>/<camera>``.

        Args:
            stamps: (N,) integers (timestamps, sample indices).
            cameras: (N,) camera names.
        """
        cameras = np.asarray(cameras, dtype=object)
        ids = np.char.add(np.char.add(prefix, np.asarray(stamps).astype(str)), np.char.add("/", cameras.astype(str)))
        self.add_ids(ids, sequence, split, cameras)

    def add_ids(self, ids, sequence: str, split: str | None = None, cameras=None) -> None:
        """One sequence's frames, in order, by their ids (N,); ``cameras`` (N,) where the source names them.

        Raises:
            ValueError: frames added with cameras and without them in one table.
        """
        ids = np.asarray(ids, dtype=object).reshape(-1)
        if self._ids and (cameras is None) != (not self._cameras):
            raise ValueError("FrameTableBuilder: every sequence needs camera names, or none does")
        self._ids.append(ids)
        self._sequences.append(np.full(len(ids), sequence, dtype=object))
        if cameras is not None:
            self._cameras.append(np.asarray(cameras, dtype=object).reshape(-1))
        self._splits.append(np.full(len(ids), split or "", dtype=object))
        self._has_split |= bool(split)

    def build(self) -> FrameTable:
        """The table (empty if nothing was added)."""
        join = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=object))
        return FrameTable(join(self._ids), join(self._sequences), join(self._cameras) if self._cameras else None,
                          join(self._splits) if self._has_split else None)


def check_root(config, source: str, holds: str) -> None:
    """Turn ``config.root`` into a Path; ConfigError naming the source and what the root holds if it is unset."""
    if config.root is None:
        raise ConfigError(f"{source} source: root ({holds}) is required")
    object.__setattr__(config, "root", Path(config.root))


def optional_paths(config, *names: str) -> None:
    """Turn each of the ``names`` options of ``config`` that is set into a Path."""
    for name in names:
        if getattr(config, name) is not None:
            object.__setattr__(config, name, Path(getattr(config, name)))


def check_choice(source: str, name: str, value: object, allowed) -> None:
    """ConfigError naming the source and option unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{source} source: {name} must be one of {allowed}, got {value!r}")


def check_split(source: str, value: object) -> None:
    """ConfigError unless ``value`` is a split name or None (no split stated)."""
    if value is not None and value not in SPLITS:
        raise ConfigError(f"{source} source: split must be one of {list(SPLITS)} or null, got {value!r}")


def check_flag(source: str, name: str, value: object) -> None:
    """ConfigError unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise ConfigError(f"{source} source: {name} must be true or false, got {value!r}")


def check_count(source: str, name: str, value: object, minimum: int = 1, maximum: int | None = None) -> None:
    """ConfigError naming the source and option unless ``value`` is an integer from ``minimum`` to ``maximum``."""
    whole = not isinstance(value, bool) and isinstance(value, (int, np.integer))
    if not whole or value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigError(f"{source} source: {name} must be an integer {bounds}, got {value!r}")


def check_number(source: str, name: str, value: object, low: float, high: float = math.inf, *,
                 low_included: bool = False, high_included: bool = True, unit: str = "a number") -> None:
    """ConfigError unless ``value`` is a real number between ``low`` and ``high`` (ends included as said).

    An infinite ``high`` is never included; NaN is never in range.
    """
    real = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    above = real and (value > low or (low_included and value == low))
    below = real and (value < high or (high_included and value == high and math.isfinite(high)))
    if not (above and below):
        if math.isinf(high):
            bounds = f"{'>=' if low_included else '>'} {low:g}"
        else:
            bounds = f"in {'[' if low_included else '('}{low:g}, {high:g}{']' if high_included else ')'}"
        raise ConfigError(f"{source} source: {name} must be {unit} {bounds}, got {value!r}")


def check_name(source: str, name: str, value: object, what: str = "a non-empty name", *, slash: bool = True) -> None:
    """ConfigError unless ``value`` is a non-empty string (a file, folder or sensor name).

    ``slash=False`` also refuses a "/" (a name that becomes one part of a path or frame id).
    """
    if not isinstance(value, str) or not value or (not slash and "/" in value):
        raise ConfigError(f"{source} source: {name} must be {what}, got {value!r}")


def names_option(source: str, name: str, value: object, allowed=None, what: str = "names") -> tuple[str, ...]:
    """A list option as a tuple of distinct names: a list, one name, or names separated by commas.

    Raises:
        ConfigError: no name, a repeated one, one that is not a string, or one not in ``allowed``
            (when given).
    """
    if isinstance(value, str):
        items = tuple(part.strip() for part in value.split(",") if part.strip())
    else:
        items = tuple(value) if isinstance(value, (list, tuple)) else ()
    strings = bool(items) and all(isinstance(item, str) and item for item in items)
    if not strings or len(set(items)) != len(items) or (allowed is not None and not set(items) <= set(allowed)):
        choices = f" of {list(allowed)}" if allowed is not None else ""
        raise ConfigError(f"{source} source: {name} must be {what}{choices}, got {value!r}")
    return items
