"""A small least-recently-used cache for what a source reads once per log, scene or segment."""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class LruCache(Generic[T]):
    """At most ``size`` values by key; the least recently used is dropped first.

    A worker process keeps one source instance, and frames come log by log (scene by scene),
    so a handful of entries holds the working set without growing with the dataset.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"LruCache size must be >= 1, got {size}")
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value of ``key``, made by ``make()`` (and kept) when it is not cached."""
        if key not in self._items:
            self._items[key] = make()
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        self._items.move_to_end(key)
        return self._items[key]
