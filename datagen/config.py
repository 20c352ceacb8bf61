"""BuildConfig: the options of a build, from a YAML file plus command-line overrides.

Defaults live here (and in the nested option dataclasses of the modules that use
them); ``build.yaml`` in a build folder is the resolved configuration, so a build
can be repeated or resumed from it alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from datagen.errors import ConfigError
from datagen.normalize import NormalizeConfig
from datagen.sampling import SamplingConfig
from datagen.tasks.base import TaskOptions

ALL_TASKS = ("distance", "axis_distance", "speed", "time", "two_point", "pose")
SPLITS = ("train", "val", "test")
GROUND_TRUTH = ("auto", "mesh", "depth_map", "lidar")  # auto: mesh, else depth map, else LiDAR
ENGINES = ("local", "ray")
IMAGE_FORMATS = ("jpg", "png")


@dataclass(frozen=True)
class OcclusionOptions:
    """See-through filter for projected LiDAR (datagen.geometry.projection.OcclusionFilter)."""

    enabled: bool = True
    window_px: int | None = None  # None: the filter's own default
    max_depth_ratio: float | None = None


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides what a build writes. Two builds with equal configs write equal bytes."""

    source: str = "synthetic"
    root: str | None = None
    source_options: dict = field(default_factory=dict)
    tasks: tuple = ALL_TASKS
    frames: int | None = None  # at most this many frames (after the filters below)
    cameras: tuple | None = None  # camera names to use; None: all the source has
    every: int = 1  # every N-th frame of each sequence and camera
    seed: int = 0
    splits: tuple = SPLITS
    split_ratios: tuple = (0.8, 0.1, 0.1)
    ground_truth: str = "auto"
    mesh_label_stride_px: int = 2  # mesh labels on every 2nd pixel (offset drawn per frame): exact, 4x cheaper
    marker: str = "arrow"
    answer_styles: tuple | None = None
    image_format: str = "jpg"
    keep_unmarked_images: bool = True  # the depthlm export and re-marking need the clean normalised images
    jpeg_quality: int = 95
    shard_size: int = 4
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    task_options: TaskOptions = field(default_factory=TaskOptions)
    occlusion: OcclusionOptions = field(default_factory=OcclusionOptions)

    def __post_init__(self) -> None:
        for name in ("tasks", "splits", "split_ratios", "answer_styles", "cameras"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = tuple(part.strip() for part in value.split(",") if part.strip())
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        _check_members("tasks", self.tasks, ALL_TASKS)
        _check_members("splits", self.splits, SPLITS)
        if len(self.split_ratios) != 3 or min(self.split_ratios) < 0 or abs(sum(self.split_ratios) - 1) > 1e-9:
            raise ConfigError(f"split_ratios must be three non-negative shares (train, val, test) summing to 1, "
                              f"got {list(self.split_ratios)}")
        _check_choice("ground_truth", self.ground_truth, GROUND_TRUTH)
        _check_choice("image_format", self.image_format, IMAGE_FORMATS)
        if self.frames is not None and self.frames < 1:
            raise ConfigError(f"frames must be a positive number or empty (all), got {self.frames}")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ConfigError(f"every must be a positive integer, got {self.every!r}")
        if self.cameras is not None and (not self.cameras or not all(isinstance(c, str) and c for c in self.cameras)):
            raise ConfigError(f"cameras must be a non-empty list of camera names, got {list(self.cameras)}")
        if not 1 <= self.mesh_label_stride_px <= 64:
            raise ConfigError(f"mesh_label_stride_px must be between 1 and 64, got {self.mesh_label_stride_px}")
        if not 1 <= self.shard_size <= 100_000:
            raise ConfigError(f"shard_size must be between 1 and 100000, got {self.shard_size}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be between 1 and 100, got {self.jpeg_quality}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")

    def to_dict(self) -> dict:
        return _to_plain(self)

    def fingerprint(self) -> str:
        """sha256 of what decides the records (not where they are written or how many workers)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _check_choice(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _check_members(name: str, values: tuple, allowed: tuple) -> None:
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ConfigError(f"{name} must be a non-empty list from {', '.join(allowed)}, got {list(values)}")


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _from_plain(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys and naming the path of a bad one."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {unknown}; known: {sorted(known)}")
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            value = _from_plain(hint, value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        values[key] = value
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> BuildConfig:
    """Read a YAML config (optional) and apply overrides (None values are ignored).

    Raises:
        ConfigError: the file is missing, not YAML, or has unknown or invalid options.
    """
    data: dict = {}
    where = "config"
    if path is not None:
        path = Path(path)
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    data = dict(data)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    return _from_plain(BuildConfig, data, where)
