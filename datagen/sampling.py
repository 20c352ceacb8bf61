"""Which labels become questions: points, point pairs and frame pairs, seeded per frame.

The pipeline calls these on the *normalised* ``DepthView`` of a frame, with an RNG from
``frame_rng(seed, frame_id, purpose)``, so a frame's samples depend only on the seed, the
frame and its labels, never on which other frames a shard holds or in which order.

Candidates (``candidate_mask``) are the labels whose snapped pixel shows content of the
source image (the normalisation's validity mask, ``NormalizationChain.valid_mask``: not
the black fill of undistortion, nor a pixel resampling blended it into), lies at least
``margin_px`` from the border (so the marker fits), whose ``z_m`` lies in
``[min_depth_m, max_depth_m]``, and, with ``avoid_edges``, whose
``edge_window_px x edge_window_px`` neighbourhood of labelled pixels spans a z ratio
(max / min) of at most ``edge_max_ratio`` (a marker on a depth edge is ambiguous).

Strategies for points:

* ``"uniform"``: candidates drawn uniformly without replacement; follows the data.
* ``"depth-stratified"``: ``depth_bins`` log-spaced bins of ``z_m`` over
  ``[min_depth_m, max_depth_m]``; the K points are shared out over the non-empty bins
  as evenly as possible (counts differ by at most one while a bin has labels left; which
  bins get the extra point is drawn at random), then drawn uniformly inside each bin. So
  far labels are not drowned by the many near ones.

Pairs (two-point task): the first points are drawn by the strategy, as points are; each
second point among candidates at least ``pair_separation_px`` away in the image (the
separation the markers need to label both points unambiguously, or more). With
``"depth-stratified"`` the second point is stratified over ``depth_bins`` log-spaced bins
of the 3D distance to the first point (from the smallest to the largest distance the
partners offer), so short and long pairs are both common; with ``"uniform"`` it is
uniform among the partners.

Frame pairs (pose task): see ``sample_frame_pairs``.

Every function that samples labels takes ``valid_px``, the (H, W) bool validity mask of
the normalised image; None means every pixel shows content (no undistortion).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import weakref
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from datagen.errors import ConfigError
from datagen.geometry.cameras import MIN_Z_M
from datagen.geometry.se3 import invert, transform_points
from datagen.markers import min_pair_separation_px
from datagen.types import SPLITS, Camera, DepthView

logger = logging.getLogger(__name__)

STRATEGIES = ("uniform", "depth-stratified")
#: Automatic margin: this share of the image diagonal (the size markers are drawn at).
AUTO_MARGIN_FRACTION = 0.04
#: First points of a pair that may fail to find a partner before ``sample_pairs`` gives up.
MAX_PARTNERLESS_DRAWS = 32
#: Second points of pairs are drawn from at most this many candidates (a random subset).
MAX_PARTNER_CANDIDATES = 50_000


def frame_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on the seed and the keys (stable across machines).

    Args:
        seed: the build seed, a non-negative integer.
        *keys: strings naming what the generator is for, e.g. ``(frame_id, "points")``.

    Returns:
        ``np.random.default_rng([seed, k])`` with ``k`` the first 16 bytes of the sha256
        of the keys (JSON-encoded, so ``("ab", "c")`` and ``("a", "bc")`` differ).

    Raises:
        ConfigError: a negative or non-integer seed, or a key that is not a string.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"frame_rng: seed must be a non-negative integer, got {seed!r}")
    bad = [key for key in keys if not isinstance(key, str)]
    if bad:
        raise ConfigError(f"frame_rng: keys must be strings, got {bad!r}")
    digest = hashlib.sha256(json.dumps(list(keys)).encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:16], "little")])


# ----------------------------------------------------------------------------- config


def _check_int(name: str, value: object, minimum: int, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        extra = " or None" if allow_none else ""
        raise ConfigError(f"SamplingConfig.{name} must be an integer >= {minimum}{extra}, got {value!r}")


def _check_number(name: str, value: object, low: float, *, strict: bool, unit: str = "") -> None:
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number)) \
        and math.isfinite(value) and (value > low if strict else value >= low)
    if not ok:
        raise ConfigError(f"SamplingConfig.{name} must be a finite number {'>' if strict else '>='} {low}"
                          f"{unit}, got {value!r}")


@dataclass(frozen=True)
class SamplingConfig:
    """Which labels, label pairs and frame pairs are sampled.

    Attributes:
        strategy: "uniform" over candidates, or "depth-stratified" (balanced over
            log-spaced bins of z_m; see the module docstring).
        points_per_frame: points drawn per frame (fewer when fewer candidates).
        depth_bins: number of log-spaced bins (depths for points, 3D distances for pairs).
        min_depth_m, max_depth_m: labels with z_m outside this range are not sampled.
        margin_px: least distance (pixels) of a sampled pixel from the border; None:
            ``AUTO_MARGIN_FRACTION`` of the image diagonal, rounded.
        avoid_edges: skip labels on depth edges.
        edge_window_px: side (odd, >= 3) of the square neighbourhood of the edge test.
        edge_max_ratio: a label is on an edge when its labelled neighbourhood spans a
            z ratio (max / min) above this (> 1).
        pairs_per_frame: point pairs drawn per frame (two-point task).
        min_pair_separation_px: least image distance between the two pixels of a pair, pixels;
            the markers' own minimum (``markers.min_pair_separation_px``, which scales with
            the image) applies whatever this says. None: that minimum alone.
        pose_min_translation_m, pose_max_translation_m: range of the distance between
            the two camera centres of a frame pair, metres.
        pose_min_overlap: least share (0..1) of the first frame's points that project
            into the second image, in front of its camera.
        pose_pairs_per_sequence: at most this many frame pairs per sequence and split
            (None: each frame is the first of at most one pair).
    """

    strategy: str = "depth-stratified"
    points_per_frame: int = 1
    depth_bins: int = 8
    min_depth_m: float = 0.1
    max_depth_m: float = 200.0
    margin_px: int | None = None
    avoid_edges: bool = True
    edge_window_px: int = 5
    edge_max_ratio: float = 1.15
    pairs_per_frame: int = 1
    min_pair_separation_px: float | None = None
    pose_min_translation_m: float = 0.2
    pose_max_translation_m: float = 10.0
    pose_min_overlap: float = 0.3
    pose_pairs_per_sequence: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"SamplingConfig.strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        for name in ("points_per_frame", "pairs_per_frame"):
            _check_int(name, getattr(self, name), 0)
        _check_int("depth_bins", self.depth_bins, 1)
        _check_int("margin_px", self.margin_px, 0, allow_none=True)
        _check_int("pose_pairs_per_sequence", self.pose_pairs_per_sequence, 0, allow_none=True)
        if not isinstance(self.avoid_edges, (bool, np.bool_)):
            raise ConfigError(f"SamplingConfig.avoid_edges must be true or false, got {self.avoid_edges!r}")
        _check_int("edge_window_px", self.edge_window_px, 3)
        if self.edge_window_px % 2 == 0:
            raise ConfigError(f"SamplingConfig.edge_window_px must be an odd integer >= 3, "
                              f"got {self.edge_window_px!r}")
        _check_number("edge_max_ratio", self.edge_max_ratio, 1.0, strict=True)
        _check_number("min_depth_m", self.min_depth_m, 0.0, strict=True, unit=" (metres)")
        _check_number("max_depth_m", self.max_depth_m, self.min_depth_m, strict=True,
                      unit=" (metres, above min_depth_m)")
        if self.min_pair_separation_px is not None:
            _check_number("min_pair_separation_px", self.min_pair_separation_px, 0.0, strict=False,
                          unit=" (pixels) or None")
        _check_number("pose_min_translation_m", self.pose_min_translation_m, 0.0, strict=False, unit=" (metres)")
        _check_number("pose_max_translation_m", self.pose_max_translation_m, self.pose_min_translation_m,
                      strict=False, unit=" (metres, at least pose_min_translation_m)")
        _check_number("pose_min_overlap", self.pose_min_overlap, 0.0, strict=False)
        if self.pose_min_overlap > 1:
            raise ConfigError(f"SamplingConfig.pose_min_overlap must be a share in [0, 1], "
                              f"got {self.pose_min_overlap!r}")


# ----------------------------------------------------------------------------- candidates


def margin_px(camera: Camera, config: SamplingConfig) -> int:
    """The border margin in pixels: ``config.margin_px``, or a share of the image diagonal."""
    if config.margin_px is not None:
        return int(config.margin_px)
    return int(round(AUTO_MARGIN_FRACTION * math.hypot(camera.width, camera.height)))


def pair_separation_px(camera: Camera, config: SamplingConfig) -> float:
    """Least image distance of a pair's pixels: what the markers need, or the configured floor if larger."""
    needed = min_pair_separation_px(camera.height, camera.width)
    return max(needed, float(config.min_pair_separation_px or 0.0))


def depth_bin_edges(config: SamplingConfig) -> np.ndarray:
    """(depth_bins + 1,) float64 log-spaced bin edges from min_depth_m to max_depth_m, metres."""
    return np.geomspace(config.min_depth_m, config.max_depth_m, config.depth_bins + 1)


def edge_mask(view: DepthView, window_px: int, max_ratio: float) -> np.ndarray:
    """(N,) bool: labels whose labelled ``window_px`` square neighbourhood spans z max/min > max_ratio.

    The neighbourhood is read from the nearest z per pixel (``DepthView.z_image``) of the
    labels inside the image, and includes the label's own z.
    """
    n = len(view)
    if n == 0:
        return np.zeros(0, dtype=bool)
    inside = view.camera.contains(view.pixels)
    cols, rows = view.pixel_indices()[inside].T
    z = view.z_m[inside]
    nearest = np.full((view.camera.height, view.camera.width), np.inf)
    np.minimum.at(nearest, (rows, cols), z)
    labelled = np.isfinite(nearest)
    z_max = ndimage.maximum_filter(np.where(labelled, nearest, 0.0), size=window_px, mode="constant", cval=0.0)
    z_min = ndimage.minimum_filter(nearest, size=window_px, mode="constant", cval=np.inf)
    edge = np.zeros(n, dtype=bool)
    ratio = np.maximum(z_max[rows, cols], z) / np.minimum(z_min[rows, cols], z)
    edge[inside] = ratio > max_ratio
    return edge


def candidate_mask(view: DepthView, config: SamplingConfig, valid_px: np.ndarray | None = None) -> np.ndarray:
    """Labels that may be sampled.

    Args:
        view: labels of one (normalised) image.
        config: margin, depth range and edge settings.
        valid_px: (H, W) bool, the pixels of the image that show source content; None: all.

    Returns:
        (N,) bool: the snapped pixel is valid and lies ``margin_px`` or more from every
        border, z_m is in ``[min_depth_m, max_depth_m]``, and (with ``avoid_edges``) the
        label is not on a depth edge.

    Raises:
        ValueError: ``valid_px`` is not an (H, W) bool mask of the view's image.
    """
    key = (id(view), id(valid_px), config)
    cached = _CANDIDATE_CACHE.get(key)
    if cached is not None and cached[0]() is view and cached[1]() is valid_px:
        return cached[2]
    camera = view.camera
    m = margin_px(camera, config)
    cols, rows = view.pixel_indices().T
    mask = (cols >= m) & (cols <= camera.width - 1 - m) & (rows >= m) & (rows <= camera.height - 1 - m)
    if valid_px is not None:
        mask[mask] &= _check_valid(valid_px, camera)[rows[mask], cols[mask]]
    mask &= (view.z_m >= config.min_depth_m) & (view.z_m <= config.max_depth_m)
    if config.avoid_edges and mask.any():
        mask &= ~edge_mask(view, config.edge_window_px, config.edge_max_ratio)
    mask.setflags(write=False)
    _CANDIDATE_CACHE.clear()  # points and pairs of one frame share the mask; frames come one at a time
    _CANDIDATE_CACHE[key] = (weakref.ref(view), (lambda: None) if valid_px is None else weakref.ref(valid_px), mask)
    return mask


def _check_valid(valid_px: np.ndarray, camera: Camera) -> np.ndarray:
    valid_px = np.asarray(valid_px)
    if valid_px.dtype != np.bool_ or valid_px.shape != (camera.height, camera.width):
        raise ValueError(f"valid_px must be a ({camera.height}, {camera.width}) bool mask of the image, "
                         f"got {valid_px.shape} {valid_px.dtype}")
    return valid_px


_CANDIDATE_CACHE: dict = {}


# ----------------------------------------------------------------------------- points


def _balanced_counts(sizes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Share ``k`` draws over bins holding ``sizes`` items, as evenly as the sizes allow.

    Round by round every bin with items left gets one; when a round has more open bins
    than draws left, the bins served are drawn at random. Returns (B,) int64 counts.
    """
    counts = np.zeros(len(sizes), dtype=np.int64)
    remaining = int(k)
    while remaining > 0:
        open_bins = np.flatnonzero(sizes > counts)
        if len(open_bins) == 0:
            break
        if len(open_bins) > remaining:
            counts[rng.choice(open_bins, size=remaining, replace=False)] += 1
            break
        # Whole rounds at once: as many as every open bin can take and the draws allow.
        rounds = min(remaining // len(open_bins), int((sizes - counts)[open_bins].min()))
        counts[open_bins] += rounds
        remaining -= rounds * len(open_bins)
    return counts


def _stratified_choice(bins: np.ndarray, n_bins: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions (into ``bins``) of ``k`` items drawn without replacement, balanced over bins.

    Args:
        bins: (M,) int bin of each item, in ``[0, n_bins)``.
        n_bins: number of bins.
        k: number of items wanted.
        rng: the generator.

    Returns:
        (min(k, M),) int64 positions, in random order.
    """
    counts = _balanced_counts(np.bincount(bins, minlength=n_bins), k, rng)
    chosen = [rng.choice(np.flatnonzero(bins == b), size=int(c), replace=False)
              for b, c in enumerate(counts) if c]
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return rng.permutation(np.concatenate(chosen)).astype(np.int64)


def _log_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(M,) int bin of each positive value among log-spaced ``edges`` (ends clipped in)."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def _draw(candidates: np.ndarray, z_m: np.ndarray, k: int, config: SamplingConfig,
          rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``candidates`` (label indices with depths ``z_m``) by the configured strategy."""
    k = min(int(k), len(candidates))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if config.strategy == "uniform":
        return rng.choice(candidates, size=k, replace=False).astype(np.int64)
    bins = _log_bins(z_m, depth_bin_edges(config))
    return candidates[_stratified_choice(bins, config.depth_bins, k, rng)]


def sample_points(view: DepthView, config: SamplingConfig, rng: np.random.Generator,
                  valid_px: np.ndarray | None = None) -> np.ndarray:
    """Draw the labels of one frame that become single-point questions.

    Args:
        view: labels of the normalised image.
        config: strategy, count and candidate settings.
        rng: the frame's generator (``frame_rng(seed, frame_id, "points")``).
        valid_px: (H, W) bool validity mask of the normalised image; None: every pixel.

    Returns:
        (K,) int64 distinct indices into ``view``, K = min(points_per_frame, candidates);
        empty when no label is a candidate.
    """
    candidates = np.flatnonzero(candidate_mask(view, config, valid_px))
    if len(candidates) == 0:
        logger.debug("sample_points: no candidate among %d labels", len(view))
    return _draw(candidates, view.z_m[candidates], config.points_per_frame, config, rng)


# ----------------------------------------------------------------------------- pairs


def _draw_partner(first_pixel: np.ndarray, first_point: np.ndarray, pixels: np.ndarray, points: np.ndarray,
                  allowed: np.ndarray, separation_px: float, config: SamplingConfig,
                  rng: np.random.Generator) -> int | None:
    """A partner for the first point among possible second points, far enough in the image.

    Args:
        first_pixel: (2,) float64 snapped pixel of the first point.
        first_point: (3,) float64 its camera-frame point, metres.
        pixels: (M, 2) float64 snapped pixels of the possible second points.
        points: (M, 3) float64 their camera-frame points, metres.
        allowed: (M,) bool those that may be chosen.
        separation_px: least image distance from the first pixel, pixels.
        config: strategy and bin settings.
        rng: the generator.

    Returns:
        The partner's position among the M, or None.
    """
    du, dv = pixels[:, 0] - first_pixel[0], pixels[:, 1] - first_pixel[1]
    partners = np.flatnonzero(allowed & (du * du + dv * dv >= separation_px ** 2))
    if len(partners) == 0:
        return None
    if config.strategy == "uniform":
        return int(rng.choice(partners))
    distance = np.maximum(np.linalg.norm(points[partners] - first_point, axis=1), 1e-9)
    edges = np.geomspace(distance.min(), distance.max(), config.depth_bins + 1)
    return int(partners[_stratified_choice(_log_bins(distance, edges), config.depth_bins, 1, rng)[0]])


def _allowed_seconds(seconds: np.ndarray, first: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    """(M,) bool: label indices ``seconds`` that may pair with ``first`` (not itself, no reversed pair)."""
    allowed = seconds != first
    back = [a for a, b in pairs if b == first]
    if back:
        allowed &= ~np.isin(seconds, back)
    return allowed


def sample_pairs(view: DepthView, config: SamplingConfig, rng: np.random.Generator,
                 valid_px: np.ndarray | None = None) -> np.ndarray:
    """Draw label pairs of one frame for the two-point (3D distance) task.

    First points are distinct and drawn by the strategy; each second point is drawn among
    candidates at least ``pair_separation_px`` away (see the module docstring). No
    pair repeats, in either order. A first point without any partner is set aside; after
    ``MAX_PARTNERLESS_DRAWS`` such draws the frame yields the pairs found so far. In a
    view with more than ``MAX_PARTNER_CANDIDATES`` candidates (dense depth maps), second
    points come from a random subset of that many, drawn once per frame.

    Args:
        view: labels of the normalised image.
        config: strategy, count, separation and candidate settings.
        rng: the frame's generator (``frame_rng(seed, frame_id, "pairs")``).
        valid_px: (H, W) bool validity mask of the normalised image; None: every pixel.

    Returns:
        (P, 2) int64 indices into ``view``, P <= pairs_per_frame; (0, 2) when none.
    """
    candidates = np.flatnonzero(candidate_mask(view, config, valid_px))
    separation = pair_separation_px(view.camera, config)
    seconds = candidates if len(candidates) <= MAX_PARTNER_CANDIDATES \
        else np.sort(rng.choice(candidates, size=MAX_PARTNER_CANDIDATES, replace=False))
    pixels = view.pixel_indices().astype(np.float64)
    second_pixels, second_points = pixels[seconds], view.points_cam[seconds]
    pool = candidates  # not yet drawn as a first point
    pairs: list[tuple[int, int]] = []
    failures = 0
    while len(pairs) < config.pairs_per_frame and len(pool) and failures <= MAX_PARTNERLESS_DRAWS:
        # First points in batches, by the strategy; a partnerless one is replaced next round.
        batch = _draw(pool, view.z_m[pool], config.pairs_per_frame - len(pairs), config, rng)
        pool = pool[~np.isin(pool, batch)]
        for first in batch.tolist():
            position = _draw_partner(pixels[first], view.points_cam[first], second_pixels, second_points,
                                     _allowed_seconds(seconds, first, pairs), separation, config, rng)
            if position is None:
                failures += 1
            else:
                pairs.append((first, int(seconds[position])))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def snap_to_pixels(view: DepthView, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move sampled labels onto their pixel centres, keeping their z.

    Args:
        view: labels of the image.
        index: (K,) int indices into ``view``.

    Returns:
        pixels: (K, 2) int64 pixel centres (u, v), the rounded sub-pixel projections.
        points_cam: (K, 3) float64 points, metres, camera frame, on the ray through each
            pixel centre at the label's z_m, so pixel, z and range agree exactly.

    Raises:
        ValueError: ``index`` is not integer or out of range.
    """
    index = np.asarray(index).reshape(-1)
    if index.size and (not np.issubdtype(index.dtype, np.integer) or index.min() < 0 or index.max() >= len(view)):
        raise ValueError(f"snap_to_pixels: index must be integers in [0, {len(view)}), got {index[:10].tolist()}")
    index = index.astype(np.int64)
    pixels = view.pixel_indices()[index]
    if len(index) == 0:
        return pixels.reshape(0, 2), np.zeros((0, 3))
    z_m = view.z_m[index]
    points = view.camera.unproject(pixels.astype(np.float64), z_m=z_m)
    points[:, 2] = z_m  # the same to rounding; exactly the label's z
    return pixels, points


# ----------------------------------------------------------------------------- frame pairs


@dataclass(frozen=True, eq=False)
class FrameInfo:
    """What pose pairing needs of a frame, without its image.

    Attributes:
        frame_id: unique frame id.
        sequence: sequence id; pairs never cross it.
        split: "train", "val" or "test"; pairs never cross it.
        camera: the (normalised) camera, with ``T_world_cam``.
        points_cam: (M, 3) float64 subsample of labelled points, metres, camera frame,
            for the overlap check; None when unknown.
    """

    frame_id: str
    sequence: str
    split: str
    camera: Camera
    points_cam: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.frame_id, str) or not self.frame_id:
            raise ValueError(f"FrameInfo.frame_id must be a non-empty string, got {self.frame_id!r}")
        if self.split not in SPLITS:
            raise ValueError(f"FrameInfo.split must be one of {SPLITS}, got {self.split!r}")
        if not isinstance(self.camera, Camera):
            raise ValueError(f"FrameInfo.camera must be a Camera, got {type(self.camera).__name__}")
        if self.points_cam is not None:
            points = np.array(self.points_cam, dtype=np.float64)
            if points.size == 0:
                points = points.reshape(0, 3)
            if points.ndim != 2 or points.shape[1] != 3 or not np.all(np.isfinite(points)):
                raise ValueError(f"FrameInfo.points_cam must be finite (M, 3), got shape {points.shape}")
            points.setflags(write=False)
            object.__setattr__(self, "points_cam", points)


def frame_overlap(first: FrameInfo, second: FrameInfo) -> float:
    """Share of ``first``'s points that land in ``second``'s image, in front of its camera.

    Returns:
        A share in [0, 1]; 0 when ``first`` has no points.
    """
    if first.points_cam is None or len(first.points_cam) == 0:
        return 0.0
    # 1. first camera -> world -> second camera.
    T_cam1_cam0 = invert(second.camera.T_world_cam) @ first.camera.T_world_cam
    points = transform_points(T_cam1_cam0, first.points_cam)
    # 2. project; keep points in front (z > 0) that fall on a pixel of the image.
    uv, valid = second.camera.project(points)
    seen = valid & (points[:, 2] > MIN_Z_M) & second.camera.contains(uv)
    return float(np.count_nonzero(seen)) / len(points)


def _partner_frame(first: FrameInfo, group: list[FrameInfo], paired: set, used: set, config: SamplingConfig,
                   rng: np.random.Generator) -> str | None:
    """A frame of ``group`` to pair with ``first``, or None.

    Candidates are the frames not yet paired with ``first`` in either order (``paired`` holds
    frozensets of two ids) whose camera centre lies in the translation range. They are tried
    in a random order spread over their translations (see ``_spread_order``), those whose
    translation (to the centimetre) no pair of the group has yet (``used``) first; the first
    with enough overlap is the partner.
    """
    centre = first.camera.T_world_cam[:3, 3]
    others = [f for f in group
              if f.frame_id != first.frame_id and frozenset((first.frame_id, f.frame_id)) not in paired]
    moved = np.array([np.linalg.norm(f.camera.T_world_cam[:3, 3] - centre) for f in others])
    near = np.flatnonzero((moved >= config.pose_min_translation_m) & (moved <= config.pose_max_translation_m))
    keys = [_translation_key(distance) for distance in moved[near]]
    for j in sorted(_spread_order(moved[near], config.depth_bins, rng), key=lambda j: keys[j] in used):
        candidate = others[near[j]]
        if config.pose_min_overlap <= 0 or frame_overlap(first, candidate) >= config.pose_min_overlap:
            used.add(keys[j])
            return candidate.frame_id
    return None


def _translation_key(distance_m: float) -> int:
    """A translation to the centimetre: pairs of a group that move alike (an evenly sampled path)."""
    return int(round(float(distance_m) * 100.0))


def _spread_order(values: np.ndarray, n_bins: int, rng: np.random.Generator):
    """Yield each position of ``values`` once, in a random order spread over their range.

    Each step draws one of the non-empty bins uniformly (``n_bins`` log-spaced bins from the
    smallest to the largest value), then a member of it uniformly; so large and small values
    come first equally often, however many of each there are.
    """
    if len(values) == 0:
        return
    values = np.maximum(np.asarray(values, dtype=np.float64), 1e-9)
    low, high = float(values.min()), float(values.max())
    edges = np.geomspace(low, high, n_bins + 1) if high > low else np.array([low, 2.0 * low])
    bins = _log_bins(values, edges)
    members = [list(np.flatnonzero(bins == b)) for b in range(len(edges) - 1)]
    members = [m for m in members if m]
    while members:
        b = int(rng.integers(len(members)))
        yield int(members[b].pop(int(rng.integers(len(members[b])))))
        if not members[b]:
            members.pop(b)


def sample_frame_pairs(frames: list[FrameInfo], config: SamplingConfig, seed: int) -> list[tuple[str, str]]:
    """Pair frames of the same sequence and split for the pose (camera motion) task.

    A pair (a, b) qualifies when the camera centres are ``pose_min_translation_m`` to
    ``pose_max_translation_m`` apart and ``frame_overlap(a, b) >= pose_min_overlap``.
    Frames are taken in id order; each is the first of at most one pair, its second frame
    drawn with ``frame_rng(seed, frame_id, "pose-pair")`` among the frames that qualify and
    are not yet paired with it in either order (no two images are paired twice in a build),
    spread over the range of translations and preferring a translation the sequence's pairs
    do not have yet (see ``_partner_frame``). With
    ``pose_pairs_per_sequence`` set, that many pairs per sequence and split are kept,
    drawn with ``frame_rng(seed, "pose-sequence", split, sequence)``.

    Args:
        frames: the frames, in any order (the result does not depend on it).
        config: translation, overlap and count settings.
        seed: the build seed.

    Returns:
        (first_id, second_id) pairs, sorted by split, sequence and first id.

    Raises:
        ValueError: two frames share an id.
    """
    ordered = sorted(frames, key=lambda f: f.frame_id)
    ids = [f.frame_id for f in ordered]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"sample_frame_pairs: duplicate frame ids {duplicates[:5]}")
    groups: dict[tuple[str, str], list[FrameInfo]] = {}
    for frame in ordered:
        groups.setdefault((frame.split, frame.sequence), []).append(frame)
    out: list[tuple[str, str]] = []
    for (split, sequence), group in sorted(groups.items()):
        pairs = _group_pairs(group, config, seed)
        out += _cap_pairs(pairs, config.pose_pairs_per_sequence, frame_rng(seed, "pose-sequence", split, sequence))
    logger.debug("sample_frame_pairs: %d pairs from %d frames in %d groups", len(out), len(ordered), len(groups))
    return out


def _group_pairs(group: list[FrameInfo], config: SamplingConfig, seed: int) -> list[tuple[str, str]]:
    """The pairs of one sequence and split, frames in id order, no unordered pair twice."""
    pairs: list[tuple[str, str]] = []
    paired: set = set()
    used: set = set()
    for frame in group:
        partner = _partner_frame(frame, group, paired, used, config, frame_rng(seed, frame.frame_id, "pose-pair"))
        if partner is not None:
            pairs.append((frame.frame_id, partner))
            paired.add(frozenset(pairs[-1]))
    return pairs


def _cap_pairs(pairs: list[tuple[str, str]], cap: int | None, rng: np.random.Generator) -> list[tuple[str, str]]:
    """At most ``cap`` of ``pairs`` drawn at random, in their original order (all when cap is None)."""
    if cap is None or len(pairs) <= cap:
        return pairs
    keep = np.sort(rng.choice(len(pairs), size=cap, replace=False))
    return [pairs[i] for i in keep]
