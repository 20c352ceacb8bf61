"""One generic name -> object registry, used by sources, tasks, writers, renderers and markers."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, Iterator, TypeVar

from datagen.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to registered classes or functions of one kind.

    Example:
        >>> tasks = Registry("task")
        >>> @tasks.register("distance")
        ... def distance(sample, rng): ...
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, T] = {}

    def load_builtins(self) -> "Registry[T]":
        """Import every public module of ``package`` so that its entries register themselves."""
        if self.package is not None:
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{module.name}")
        return self

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers an object under ``name``; refuses a duplicate name."""
        if not name or not isinstance(name, str):
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name lists the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names()) or "(none)"
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
