"""BuildConfig: the options of a build, from a YAML file plus command-line overrides.

Defaults live here (and in the nested option dataclasses of the modules that use
them); ``build.yaml`` in a build folder is the resolved configuration, so a build
can be repeated or resumed from it alone.

Every value is read by the type its field declares (``datagen.synthetic.schema``, the
reader the scene recipes use): no YAML string becomes a boolean or a number, no float
an integer, and each error names the file and the field's path (``sampling.points_per_frame``).
Ranges, and upper bounds that keep a build's size and memory sane, are checked in
``__post_init__``, so a config built in code is held to the same rules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from datagen.errors import ConfigError
from datagen.normalize import NormalizeConfig
from datagen.sampling import SamplingConfig
from datagen.synthetic.schema import MAX_IMAGE_SIDE_PX, load_yaml, parse_yaml, read_dataclass
from datagen.tasks.base import TaskOptions
from datagen.templates import ANSWER_STYLES

ALL_TASKS = ("distance", "axis_distance", "speed", "time", "two_point", "pose")
SPLITS = ("train", "val", "test")
GROUND_TRUTH = ("auto", "mesh", "depth_map", "lidar")  # auto: mesh, else depth map, else LiDAR
IMAGE_FORMATS = ("jpg", "png")
#: Options given as one comma-separated string on the command line.
LIST_OPTIONS = ("tasks", "splits", "answer_styles", "cameras")
MAX_SEED = 2**63 - 1
#: Upper bounds of nested options (section, field) -> (bound, why), beyond which a build runs out of
#: memory or time: each sampled point or pair is a marked image written to disk.
SECTION_LIMITS = {
    ("normalize", "target_focal_px"): (20_000.0, "pixels; DepthLM unifies focal lengths to 1000"),
    ("normalize", "max_side_px"): (4 * MAX_IMAGE_SIDE_PX, "pixels"),
    ("sampling", "points_per_frame"): (1000, "each point is a marked image"),
    ("sampling", "pairs_per_frame"): (1000, "each pair is a marked image"),
    ("sampling", "depth_bins"): (1000, "bins"),
    ("sampling", "edge_window_px"): (255, "pixels"),
    ("sampling", "pose_pairs_per_sequence"): (1_000_000, "pairs"),
    ("occlusion", "window_px"): (255, "pixels"),
}


@dataclass(frozen=True)
class OcclusionOptions:
    """See-through filter for projected LiDAR (datagen.geometry.projection.OcclusionFilter)."""

    enabled: bool = True
    window_px: int | None = None  # None: the filter's own default
    max_depth_ratio: float | None = None

    def overrides(self) -> dict:
        """The filter options this build sets (``OcclusionFilter`` keywords); the rest keep their defaults."""
        return {k: v for k, v in (("window_px", self.window_px), ("max_depth_ratio", self.max_depth_ratio))
                if v is not None}


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides what a build writes. Two builds with equal configs write equal bytes."""

    source: str = "synthetic"
    root: str | None = None
    source_options: dict = field(default_factory=dict)
    tasks: tuple[str, ...] = ALL_TASKS
    frames: int | None = None  # at most this many frames (after the filters below)
    cameras: tuple[str, ...] | None = None  # camera names to use; None: all the source has
    every: int = 1  # every N-th frame of each sequence and camera
    seed: int = 0
    splits: tuple[str, ...] = SPLITS
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ground_truth: str = "auto"
    mesh_label_stride_px: int = 2  # mesh labels on every 2nd pixel (offset drawn per frame): exact, 4x cheaper
    marker: str = "arrow"
    answer_styles: tuple[str, ...] | None = None
    image_format: str = "jpg"
    keep_unmarked_images: bool = True  # the depthlm export and re-marking need the clean normalised images
    jpeg_quality: int = 95
    shard_size: int = 4
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    task_options: TaskOptions = field(default_factory=TaskOptions)
    occlusion: OcclusionOptions = field(default_factory=OcclusionOptions)

    def __post_init__(self) -> None:
        for name in LIST_OPTIONS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, split_list(value))
        _check_members("tasks", self.tasks, ALL_TASKS)
        _check_members("splits", self.splits, SPLITS)
        if self.answer_styles is not None:
            _check_members("answer_styles", self.answer_styles, ANSWER_STYLES)
        self._check_split_ratios()
        for name in ("source", "marker"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{name}: must be a non-empty string, got {getattr(self, name)!r}")
        _check_choice("ground_truth", self.ground_truth, GROUND_TRUTH)
        _check_choice("image_format", self.image_format, IMAGE_FORMATS)
        if self.frames is not None:
            _check_int("frames", self.frames, 1, None, "a positive number of frames, or empty for all")
        _check_int("every", self.every, 1, None, "a positive integer")
        if self.cameras is not None and (not self.cameras or not all(isinstance(c, str) and c for c in self.cameras)):
            raise ConfigError(f"cameras: must be a non-empty list of camera names, got {list(self.cameras)}")
        _check_int("seed", self.seed, 0, MAX_SEED, "a non-negative integer")
        _check_int("mesh_label_stride_px", self.mesh_label_stride_px, 1, 64)
        _check_int("shard_size", self.shard_size, 1, 100_000)
        _check_int("jpeg_quality", self.jpeg_quality, 1, 100)
        if not isinstance(self.keep_unmarked_images, bool):
            raise ConfigError(f"keep_unmarked_images: must be true or false, got {self.keep_unmarked_images!r}")
        if not isinstance(self.source_options, dict):
            raise ConfigError(f"source_options: must be a mapping, got {type(self.source_options).__name__}")
        self._check_sections()

    def _check_split_ratios(self) -> None:
        ratios = self.split_ratios
        ok = isinstance(ratios, (tuple, list)) and len(ratios) == 3 and all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r >= 0 for r in ratios)
        if not ok or abs(sum(ratios) - 1) > 1e-9:
            raise ConfigError(f"split_ratios: must be three finite non-negative shares (train, val, test) summing "
                              f"to 1, got {list(ratios) if isinstance(ratios, (tuple, list)) else ratios!r}")
        object.__setattr__(self, "split_ratios", tuple(float(r) for r in ratios))

    def _check_sections(self) -> None:
        """Types of the nested sections, the upper bounds of SECTION_LIMITS, and the occlusion filter."""
        for name, cls in (("normalize", NormalizeConfig), ("sampling", SamplingConfig),
                          ("task_options", TaskOptions), ("occlusion", OcclusionOptions)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"{name}: must be a {cls.__name__}, got {type(getattr(self, name)).__name__}")
        for (section, name), (bound, why) in SECTION_LIMITS.items():
            value = getattr(getattr(self, section), name)
            if value is not None and value > bound:
                raise ConfigError(f"{section}.{name}: must be at most {bound:g} ({why}), got {value!r}")
        occlusion = self.occlusion
        if not isinstance(occlusion.enabled, bool):
            raise ConfigError(f"occlusion.enabled: must be true or false, got {occlusion.enabled!r}")
        if occlusion.enabled:
            from datagen.geometry.projection import OcclusionFilter

            try:
                OcclusionFilter(**occlusion.overrides())
            except ConfigError as exc:
                raise ConfigError(f"occlusion: {exc}") from None

    def to_dict(self) -> dict:
        return _to_plain(self)

    def fingerprint(self) -> str:
        """sha256 of what decides the records (not where they are written or how many workers)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def split_list(value: object) -> tuple:
    """A list option as a tuple: a comma-separated string is split (``"distance, speed"``)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    raise ConfigError(f"expected a list or a comma-separated string, got {type(value).__name__} {value!r}")


def _check_int(name: str, value: object, lo: int, hi: int | None, what: str | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo and (hi is None or value <= hi)
    if not ok:
        expected = what or (f"an integer from {lo} to {hi}" if hi is not None else f"an integer >= {lo}")
        raise ConfigError(f"{name}: must be {expected}, got {type(value).__name__} {value!r}")


def _check_choice(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: must be one of {', '.join(allowed)}, got {value!r}")


def _check_members(name: str, values: tuple, allowed: tuple) -> None:
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ConfigError(f"{name}: must be a non-empty list from {', '.join(allowed)}, got {list(values)}")


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


def read_config(data: Any, where: str = "config") -> BuildConfig:
    """A BuildConfig from a parsed YAML mapping; errors read ``"<where>: <field path>: <what is wrong>"``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of build options at the top, got "
                          f"{'an empty file' if data is None else type(data).__name__}")
    data = dict(data)
    for name in LIST_OPTIONS:
        if isinstance(data.get(name), str):
            data[name] = list(split_list(data[name]))
    return read_dataclass(BuildConfig, data, where)


def config_from_yaml(data: bytes, where: str) -> BuildConfig:
    """A BuildConfig from the bytes of a YAML file (``build.yaml`` of a build, read from its store).

    Raises:
        ConfigError: not UTF-8, not YAML, not a mapping, or unknown or invalid options.
    """
    parsed = parse_yaml(data, where, "build config")
    return read_config({} if parsed is None else parsed, where)


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> BuildConfig:
    """Read a YAML config (optional) and apply overrides (None values are ignored).

    Raises:
        ConfigError: the file is missing, not UTF-8, not YAML, not a mapping, or has unknown
            or invalid options (the message names the field's path).
    """
    data: Any = {}
    where = "config"
    if path is not None:
        where = str(path)
        data = load_yaml(path, "build config")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of build options at the top, got {type(data).__name__}")
    data = dict(data)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    return read_config(data, where)
