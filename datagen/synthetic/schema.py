"""Typed YAML reading for scene recipes: value types, and a dataclass reader that names the field.

A recipe section is a frozen dataclass whose fields carry the types below (``Range``,
``IntRange``, ``RGB``, ``Vec3``, ``Size``, nested dataclasses, tuples and dicts of them).
``read_dataclass`` turns a YAML mapping into one, and every error it raises is a
ConfigError that names the file, the field as a path (``objects[2].size_m``) and what is
allowed. A dataclass's own ``__post_init__`` checks raise :class:`FieldError`, which the
reader turns into a ConfigError at that field's path.

The same reader checks a build configuration (``datagen.config``) and a source's options.
``load_yaml`` reads a file with PyYAML's safe loader but refuses a key given twice in one
mapping (PyYAML would keep the last silently).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from datagen.errors import ConfigError

#: Largest side of an image a recipe or config may ask for, pixels (8K is 7680).
MAX_IMAGE_SIDE_PX = 8192


class FieldError(ValueError):
    """A bad value in a recipe dataclass; the reader adds the file and the path.

    Args:
        field: the field name, or a sub-path such as ``"size_m[1]"`` ("" = the object itself).
        message: what is wrong and what is allowed.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def join_path(path: str, name: str) -> str:
    """``join_path("objects[2]", "size_m") == "objects[2].size_m"``; indices join without a dot."""
    if not name:
        return path
    if not path:
        return name
    return f"{path}{name}" if name.startswith("[") else f"{path}.{name}"


def config_error(file: Path | str, path: str, message: str) -> ConfigError:
    """The ConfigError of one recipe field: ``"<file>: <path>: <message>"``."""
    where = f"{file}: {path}" if path else str(file)
    return ConfigError(f"{where}: {message}")


@dataclass(frozen=True)
class Range:
    """A closed interval of real numbers [lo, hi] to draw from (YAML: ``x`` or ``[lo, hi]``)."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.lo > self.hi:
            raise FieldError("", f"must be a number or [min, max] with min <= max, got [{self.lo}, {self.hi}]")

    def draw(self, rng: np.random.Generator) -> float:
        """One uniform draw; a degenerate range returns ``lo`` without using the generator."""
        return self.lo if self.lo == self.hi else float(rng.uniform(self.lo, self.hi))


@dataclass(frozen=True)
class IntRange:
    """A closed interval of integers [lo, hi] (YAML: ``n`` or ``[lo, hi]``)."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if self.lo > self.hi:
            raise FieldError("", f"must be an integer or [min, max] with min <= max, got [{self.lo}, {self.hi}]")

    def draw(self, rng: np.random.Generator) -> int:
        return self.lo if self.lo == self.hi else int(rng.integers(self.lo, self.hi + 1))


class RGB(tuple):
    """Three floats in [0, 1] (YAML: ``[r, g, b]``)."""


class Vec3(tuple):
    """Three finite floats (YAML: ``[x, y, z]``)."""


class Size(tuple):
    """An image size in pixels, two positive integers (YAML: ``[width, height]``)."""


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, (dict, list)) else type(value).__name__


def _number(value: Any, integer: bool = False) -> float | int:
    """A YAML number (bool refused); raises FieldError naming what was found."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError("", f"must be {'an integer' if integer else 'a number'}, got {_describe(value)}")
    if integer and not isinstance(value, int):
        raise FieldError("", f"must be an integer, got {_describe(value)}")
    if not math.isfinite(value):
        raise FieldError("", f"must be finite, got {value!r}")
    return value


def _read_range(value: Any, integer: bool) -> Range | IntRange:
    kind = IntRange if integer else Range
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise FieldError("", f"must be a number or [min, max], got a list of {len(value)}")
        lo, hi = (_number(v, integer) for v in value)
    else:
        lo = hi = _number(value, integer)
    return kind(lo, hi) if integer else kind(float(lo), float(hi))


def _read_triple(value: Any, kind: type) -> tuple:
    count = 2 if kind is Size else 3
    if not isinstance(value, (list, tuple)) or len(value) != count:
        raise FieldError("", f"must be a list of {count} numbers, got {_describe(value)}")
    if kind is Size:
        numbers = tuple(_number(v, integer=True) for v in value)
        if min(numbers) < 1 or max(numbers) > MAX_IMAGE_SIDE_PX:
            raise FieldError("", f"must be [width, height] in pixels, each from 1 to {MAX_IMAGE_SIDE_PX}, "
                                 f"got {list(value)}")
        return Size(numbers)
    numbers = tuple(float(_number(v)) for v in value)
    if kind is RGB and (min(numbers) < 0 or max(numbers) > 1):
        raise FieldError("", f"must be [r, g, b] with each in [0, 1], got {list(value)}")
    return kind(numbers)


def _read_scalar(value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise FieldError("", f"must be true or false, got {_describe(value)}")
        return value
    if kind is int:
        return int(_number(value, integer=True))
    if kind is float:
        return float(_number(value))
    if kind is str:
        if not isinstance(value, str) or not value:
            raise FieldError("", f"must be a non-empty string, got {_describe(value)}")
        return value
    if kind is Path:
        if isinstance(value, Path):
            return value
        return Path(_read_scalar(value, str))
    if kind in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise FieldError("", f"must be a list, got {_describe(value)}")
        return kind(tuple(v) if isinstance(v, list) else v for v in value)
    if kind is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise FieldError("", f"must be a mapping with string keys, got {_describe(value)}")
        return dict(value)
    return value  # Any, or a type the dataclass checks itself in __post_init__


def read_value(value: Any, kind: Any, file: Path | str, path: str) -> Any:
    """Convert one YAML value to ``kind`` (a schema type); ConfigError at ``path`` if it does not fit."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    try:
        if origin in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            return read_value(value, next(a for a in args if a is not type(None)), file, path)
        if origin is typing.Literal:
            if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
                raise FieldError("", f"must be one of {', '.join(map(repr, args))}, got {_describe(value)}")
            return value
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
            return _read_fixed_tuple(value, args, file, path)
        if origin is tuple:
            return _read_tuple(value, args[0], file, path)
        if origin is list:
            return list(_read_tuple(value, args[0], file, path))
        if origin is dict:
            return _read_dict(value, args[1], file, path)
        if dataclasses.is_dataclass(kind) and kind not in (Range, IntRange):
            return read_dataclass(kind, value, file, path)
        if kind in (Range, IntRange):
            return _read_range(value, kind is IntRange)
        if kind in (RGB, Vec3, Size):
            return _read_triple(value, kind)
        return _read_scalar(value, kind)
    except FieldError as exc:
        raise config_error(file, join_path(path, exc.field), exc.message) from None


def _read_tuple(value: Any, item: Any, file: Path | str, path: str) -> tuple:
    """A YAML list (a single item is taken as a list of one; so is one [r, g, b] colour)."""
    single_triple = item in (RGB, Vec3, Size) and isinstance(value, list) and bool(value) \
        and not isinstance(value[0], (list, tuple))
    if not isinstance(value, list) or single_triple:
        value = [value]
    return tuple(read_value(v, item, file, join_path(path, f"[{i}]")) for i, v in enumerate(value))


def _read_fixed_tuple(value: Any, items: tuple, file: Path | str, path: str) -> tuple:
    """A YAML list of exactly ``len(items)`` values, each read as its own type."""
    if not isinstance(value, (list, tuple)) or len(value) != len(items):
        raise FieldError("", f"must be a list of {len(items)} values, got {_describe(value)}")
    return tuple(read_value(v, kind, file, join_path(path, f"[{i}]")) for i, (v, kind) in enumerate(zip(value, items)))


def _read_dict(value: Any, item: Any, file: Path | str, path: str) -> dict:
    if not isinstance(value, dict):
        raise FieldError("", f"must be a mapping of names to entries, got {_describe(value)}")
    out = {}
    for key, entry in value.items():
        if not isinstance(key, str) or not key:
            raise FieldError("", f"keys must be non-empty strings, got {key!r}")
        out[key] = read_value(entry, item, file, join_path(path, key))
    return out


def read_dataclass(cls: type, data: Any, file: Path | str, path: str = "") -> Any:
    """Build the frozen dataclass ``cls`` from a YAML mapping.

    Unknown keys, missing required keys, wrong types and the checks of ``cls.__post_init__``
    all raise ConfigError naming ``file``, the field path and what is allowed.
    """
    if not isinstance(data, dict):
        raise config_error(file, path, f"must be a mapping with fields {field_names(cls)}, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise config_error(file, join_path(path, unknown[0]), f"unknown field; allowed: {field_names(cls)}")
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = read_value(data[name], hints[name], file, join_path(path, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise config_error(file, join_path(path, name), f"missing field (required: {_doc_of(cls, name)})")
    try:
        return cls(**values)
    except FieldError as exc:
        raise config_error(file, join_path(path, exc.field), exc.message) from None
    except ConfigError as exc:  # a check of a dataclass that names its own fields
        raise config_error(file, path, str(exc)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key that appears twice in one mapping, and reading
    ``1e7`` as a number as YAML 1.2 does (YAML 1.1 wants ``1.0e+7`` and reads ``1e7`` as text)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = key in first_line
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first_line[key]})", key_node.start_mark)
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def yaml_value(text: str) -> Any:
    """A YAML value read as the config files are (``1e7`` a number, no repeated keys).

    Raises:
        yaml.YAMLError: ``text`` is not YAML.
    """
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def load_yaml(path: Path | str, what: str = "file") -> Any:
    """Parse a UTF-8 YAML file; every failure is a ConfigError naming the file (and line).

    Raises:
        ConfigError: unreadable, not UTF-8, not YAML, or a key repeated in one mapping.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    return parse_yaml(data, str(path), what)


def parse_yaml(data: bytes, path: str, what: str = "file") -> Any:
    """Parse UTF-8 YAML bytes read from ``path`` (a file or a URL, named in errors); see ``load_yaml``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the {what} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        if problem.startswith("duplicate key"):
            raise ConfigError(f"{where}: {problem} in the {what}") from None
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(f"{path}: the {what} is nested too deeply") from None


def field_names(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls) if f.init)


def _doc_of(cls: type, name: str) -> str:
    """The one-line description of a field from the class docstring's Attributes section."""
    for line in (cls.__doc__ or "").splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{name}:"):
            return stripped[len(name) + 1:].strip().rstrip(".")
    return f"a field of {cls.__name__}"


def check(condition: bool, field: str, message: str) -> None:
    """Raise FieldError(field, message) unless ``condition``; for ``__post_init__`` checks."""
    if not condition:
        raise FieldError(field, message)


def check_choice(value: str, allowed: typing.Iterable[str], field: str) -> None:
    allowed = tuple(allowed)
    check(value in allowed, field, f"must be one of {', '.join(allowed)}, got {value!r}")


def check_range(value: Range, field: str, *, lo: float = 0.0, hi: float = math.inf, strict: bool = True,
                unit: str = "") -> None:
    """Require ``lo < value.lo`` (or ``<=`` when not strict) and ``value.hi <= hi``."""
    low_ok = value.lo > lo if strict else value.lo >= lo
    if not (low_ok and value.hi <= hi):
        bound = f"{'>' if strict else '>='} {lo:g}" + (f" and <= {hi:g}" if math.isfinite(hi) else "")
        raise FieldError(field, f"must be {bound}{unit}, got [{value.lo:g}, {value.hi:g}]")
