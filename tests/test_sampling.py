"""Tests of datagen.sampling: candidates, point and pair strategies, snapping, frame pairs."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from datagen.errors import ConfigError
from datagen.geometry.se3 import make_transform
from datagen.markers import min_pair_separation_px
from datagen.sampling import (
    FrameInfo,
    SamplingConfig,
    candidate_mask,
    frame_overlap,
    frame_rng,
    margin_px,
    pair_separation_px,
    sample_frame_pairs,
    sample_pairs,
    sample_points,
    snap_to_pixels,
)
from datagen.types import DepthView
from tests.conftest import make_camera, pixel_grid

PLAIN = dict(avoid_edges=False, margin_px=0)


def make_view(camera, pixels, z) -> DepthView:
    """Labels at sub-pixel ``pixels`` (N, 2) with optical-axis depth ``z`` (N,) metres."""
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    points = camera.unproject(pixels, z_m=np.broadcast_to(np.asarray(z, dtype=np.float64), len(pixels)))
    return DepthView.from_points(camera, points, pixels)


def dense_view(camera, z_image: np.ndarray) -> DepthView:
    """One label at every pixel centre, z from a (H, W) image."""
    rows, cols = np.indices(z_image.shape)
    return make_view(camera, np.column_stack([cols.ravel(), rows.ravel()]), z_image.ravel())


def near_far_view(rng, n_near=1900, n_far=100):
    """Sparse labels on distinct random pixels: 95% at 2-4 m, 5% at 40-70 m."""
    camera = make_camera()
    flat = rng.choice(camera.width * camera.height, size=n_near + n_far, replace=False)
    pixels = np.column_stack([flat % camera.width, flat // camera.width]).astype(float)
    z = np.r_[rng.uniform(2.0, 4.0, n_near), rng.uniform(40.0, 70.0, n_far)]
    return make_view(camera, pixels, z)


# ----------------------------------------------------------------------------- frame_rng


def test_frame_rng_is_the_documented_sha256_derivation():
    digest = hashlib.sha256(b'["kitti/seq/000042", "points"]').digest()
    expected = np.random.default_rng([7, int.from_bytes(digest[:16], "little")]).integers(0, 2**62, 4)
    assert np.array_equal(frame_rng(7, "kitti/seq/000042", "points").integers(0, 2**62, 4), expected)


def test_frame_rng_depends_on_seed_and_every_key():
    draw = lambda *args: frame_rng(*args).integers(0, 2**62, 4).tolist()  # noqa: E731
    assert draw(0, "a", "points") == draw(0, "a", "points")
    others = [draw(1, "a", "points"), draw(0, "b", "points"), draw(0, "a", "pairs"), draw(0, "a", "points", "0")]
    assert all(other != draw(0, "a", "points") for other in others)
    assert draw(0, "ab", "c") != draw(0, "a", "bc")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_frame_rng_refuses_bad_seed(seed):
    with pytest.raises(ConfigError, match="seed"):
        frame_rng(seed, "a")


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize("changes, field", [
    ({"strategy": "random"}, "strategy"),
    ({"points_per_frame": -1}, "points_per_frame"),
    ({"depth_bins": 0}, "depth_bins"),
    ({"edge_window_px": 4}, "edge_window_px"),
    ({"edge_max_ratio": 1.0}, "edge_max_ratio"),
    ({"min_depth_m": 0.0}, "min_depth_m"),
    ({"max_depth_m": 0.05}, "max_depth_m"),
    ({"margin_px": -3}, "margin_px"),
    ({"pose_min_overlap": 1.5}, "pose_min_overlap"),
    ({"pose_max_translation_m": 0.1}, "pose_max_translation_m"),
    ({"avoid_edges": "yes"}, "avoid_edges"),
])
def test_config_refuses_bad_values_naming_the_field(changes, field):
    with pytest.raises(ConfigError, match=f"SamplingConfig.{field}"):
        SamplingConfig(**changes)


# ----------------------------------------------------------------------------- candidates


def test_margin_is_respected_and_exact():
    camera = make_camera(width=64, height=48, fx=50.0)
    view = dense_view(camera, np.full((48, 64), 5.0))
    config = SamplingConfig(strategy="uniform", points_per_frame=10_000, avoid_edges=False, margin_px=10)
    index = sample_points(view, config, np.random.default_rng(0))
    assert len(index) == (64 - 20) * (48 - 20)
    cols, rows = view.pixel_indices()[index].T
    assert cols.min() == 10 and cols.max() == 53 and rows.min() == 10 and rows.max() == 37


def test_automatic_margin_is_four_percent_of_the_diagonal():
    camera = make_camera()  # 640 x 480: diagonal 800 px -> 32 px
    assert margin_px(camera, SamplingConfig()) == 32
    view = make_view(camera, pixel_grid(camera, step=1), 5.0)
    mask = candidate_mask(view, SamplingConfig(avoid_edges=False))
    assert mask.sum() == (640 - 64) * (480 - 64)


def test_labels_on_pixels_without_source_content_are_never_sampled():
    camera = make_camera()
    view = make_view(camera, pixel_grid(camera, step=2), 5.0)
    valid = np.ones((480, 640), dtype=bool)
    valid[:120, :200] = False  # a black corner left by undistortion
    valid[300:310, 400:410] = False
    config = SamplingConfig(strategy="uniform", points_per_frame=5000, pairs_per_frame=300, **PLAIN)
    mask = candidate_mask(view, config, valid)
    cols, rows = view.pixel_indices().T
    np.testing.assert_array_equal(mask, valid[rows, cols])
    for index in (sample_points(view, config, np.random.default_rng(0), valid),
                  sample_pairs(view, config, np.random.default_rng(0), valid).ravel()):
        assert len(index) and valid[rows[index], cols[index]].all()
    assert candidate_mask(view, config).all()  # no mask: every pixel shows content
    with pytest.raises(ValueError, match="valid_px"):
        candidate_mask(view, config, valid[:, :-1])


def test_the_audit_frame_samples_no_label_on_the_undistortion_fill():
    """``camera_preset: wide``, frame synthetic/room/1/000005 (seed 1): a pincushion lens leaves black
    corners after undistortion; labels at (1784, 90) and others there were candidates."""
    from datagen.config import BuildConfig
    from datagen.images import load_frame_image
    from datagen.normalize import NormalizeConfig, plan_normalization
    from datagen.pipeline import make_source, mesh_view

    config = BuildConfig(seed=1, source_options={"camera_preset": "wide", "lidar": False},
                         normalize=NormalizeConfig(processor="none"))  # the audited build had no budget crop
    frame_id = "synthetic/room/1/000005"
    frame = make_source(config).load_frame(frame_id)
    chain = plan_normalization(frame.camera, config.normalize, frame_rng(config.seed, frame_id, "normalize"))
    stride = config.mesh_label_stride_px
    offset = tuple(frame_rng(config.seed, frame_id, "stride").integers(0, stride, size=2))
    view = mesh_view(frame.mesh, chain.camera, stride, offset)
    image, valid = chain.apply_image(load_frame_image(frame)), chain.valid_mask()
    black = np.all(image == 0, axis=2)
    assert black.sum() > 100_000 and not (black & valid).any()
    cols, rows = view.pixel_indices().T
    unmasked = candidate_mask(view, config.sampling)
    assert black[rows[unmasked], cols[unmasked]].sum() > 50  # what the audit found
    masked = candidate_mask(view, config.sampling, valid)
    assert masked.sum() > 400_000 and valid[rows[masked], cols[masked]].all()
    audit = np.flatnonzero((cols == 1784) & (rows == 90))
    assert unmasked[audit].all() and not masked[audit].any()


def test_depth_range_excludes_labels_outside():
    camera = make_camera()
    view = make_view(camera, [[100, 100], [200, 100], [300, 100], [400, 100]], [0.05, 0.1, 200.0, 250.0])
    assert candidate_mask(view, SamplingConfig(**PLAIN)).tolist() == [False, True, True, False]


def _box_scene():
    """A box at 3 m (columns 30-49, rows 20-39) in front of a wall at 10 m, 80 x 60 image."""
    camera = make_camera(width=80, height=60, fx=60.0)
    z = np.full((60, 80), 10.0)
    z[20:40, 30:50] = 3.0
    return camera, dense_view(camera, z)


def _distance_to_edge(pixels: np.ndarray) -> np.ndarray:
    """Chebyshev distance (px) from each pixel to the nearest pixel of the other depth."""
    cols, rows = pixels.T
    in_box = (cols >= 30) & (cols <= 49) & (rows >= 20) & (rows <= 39)
    inside = np.minimum.reduce([cols - 30, 49 - cols, rows - 20, 39 - rows]) + 1
    dx = np.maximum.reduce([30 - cols, cols - 49, np.zeros_like(cols)])
    dy = np.maximum.reduce([20 - rows, rows - 39, np.zeros_like(rows)])
    return np.where(in_box, inside, np.maximum(dx, dy))


def test_depth_edges_are_avoided():
    camera, view = _box_scene()
    config = SamplingConfig(strategy="uniform", points_per_frame=10_000, margin_px=0)
    index = sample_points(view, config, np.random.default_rng(0))
    distance = _distance_to_edge(view.pixel_indices())
    # A 5 px window reaches 2 px: exactly the labels more than 2 px from the other depth remain.
    assert np.sort(index).tolist() == np.flatnonzero(distance > 2).tolist()
    assert distance[index].min() == 3


def test_edge_pixels_are_sampled_when_edges_are_allowed():
    camera, view = _box_scene()
    config = SamplingConfig(strategy="uniform", points_per_frame=10_000, **PLAIN)
    index = sample_points(view, config, np.random.default_rng(0))
    assert len(index) == 80 * 60 and _distance_to_edge(view.pixel_indices()[index]).min() == 1


def test_edge_test_uses_labelled_neighbours_only():
    camera = make_camera(width=80, height=60, fx=60.0)
    # Two labels a pixel apart at 3 m and 10 m (an edge), one alone at 10 m, one pair at 5.0 / 5.5 m.
    view = make_view(camera, [[20, 20], [21, 20], [40, 40], [60, 30], [61, 31]], [3.0, 10.0, 10.0, 5.0, 5.5])
    mask = candidate_mask(view, SamplingConfig(margin_px=0))
    assert mask.tolist() == [False, False, True, True, True]


# ----------------------------------------------------------------------------- points


def test_stratified_balances_near_and_far_labels():
    rng = np.random.default_rng(0)
    view = near_far_view(rng)
    far = view.z_m > 20
    config = SamplingConfig(points_per_frame=1, **PLAIN)
    picks = np.concatenate([sample_points(view, config, rng) for _ in range(1000)])
    assert len(picks) == 1000
    assert abs(far[picks].mean() - 0.5) < 0.06  # binomial std 0.016
    # With 100 points per frame the two occupied bins share them exactly.
    index = sample_points(view, SamplingConfig(points_per_frame=100, **PLAIN), rng)
    assert len(np.unique(index)) == 100 and far[index].sum() == 50
    # 300 points: the far bin runs out at 100, the near bin takes the other 200.
    index = sample_points(view, SamplingConfig(points_per_frame=300, **PLAIN), rng)
    assert len(np.unique(index)) == 300 and far[index].sum() == 100


def test_uniform_follows_the_data():
    rng = np.random.default_rng(0)
    view = near_far_view(rng)
    far = view.z_m > 20
    config = SamplingConfig(strategy="uniform", points_per_frame=1, **PLAIN)
    picks = np.concatenate([sample_points(view, config, rng) for _ in range(1000)])
    assert abs(far[picks].mean() - 0.05) < 0.025  # binomial std 0.007


def test_fewer_candidates_than_asked_gives_all_of_them():
    camera = make_camera()
    view = make_view(camera, [[100, 100], [300, 200], [500, 400]], [1.0, 5.0, 50.0])
    for strategy in ("uniform", "depth-stratified"):
        config = SamplingConfig(strategy=strategy, points_per_frame=5, **PLAIN)
        assert sorted(sample_points(view, config, np.random.default_rng(0)).tolist()) == [0, 1, 2]


def test_empty_view_gives_empty_results():
    view = DepthView.empty(make_camera())
    config = SamplingConfig(points_per_frame=3, pairs_per_frame=3)
    rng = np.random.default_rng(0)
    assert candidate_mask(view, config).shape == (0,)
    points = sample_points(view, config, rng)
    assert points.shape == (0,) and points.dtype == np.int64
    assert sample_pairs(view, config, rng).shape == (0, 2)
    pixels, points_cam = snap_to_pixels(view, points)
    assert pixels.shape == (0, 2) and pixels.dtype == np.int64 and points_cam.shape == (0, 3)


def test_view_without_candidates_gives_empty_results():
    camera = make_camera()
    view = make_view(camera, [[100, 100], [300, 200]], [500.0, 900.0])  # beyond max_depth_m
    assert sample_points(view, SamplingConfig(**PLAIN), np.random.default_rng(0)).shape == (0,)
    assert sample_pairs(view, SamplingConfig(**PLAIN), np.random.default_rng(0)).shape == (0, 2)


def test_sampling_is_deterministic_per_frame_and_independent_of_other_frames():
    view_a = near_far_view(np.random.default_rng(0))
    view_b = near_far_view(np.random.default_rng(1))
    config = SamplingConfig(points_per_frame=5, **PLAIN)
    alone = sample_points(view_b, config, frame_rng(3, "seq/B", "points"))
    sample_points(view_a, config, frame_rng(3, "seq/A", "points"))
    after_a = sample_points(view_b, config, frame_rng(3, "seq/B", "points"))
    assert np.array_equal(alone, after_a)
    other_id = sample_points(view_b, config, frame_rng(3, "seq/C", "points"))
    assert not np.array_equal(alone, other_id)


# ----------------------------------------------------------------------------- snapping


@pytest.mark.parametrize("model", ["pinhole", "radtan"])
def test_snap_to_pixels_keeps_z_and_makes_range_consistent(model):
    rng = np.random.default_rng(0)
    camera = make_camera(model)
    centres = pixel_grid(camera, step=37)
    pixels = centres + rng.uniform(-0.49, 0.49, size=centres.shape)
    z = rng.uniform(0.5, 80.0, len(pixels))
    view = make_view(camera, pixels, z)
    index = rng.permutation(len(view))[:50]
    snapped, points = snap_to_pixels(view, index)
    assert snapped.dtype == np.int64 and np.array_equal(snapped, centres[index].astype(np.int64))
    np.testing.assert_array_equal(points[:, 2], view.z_m[index])
    np.testing.assert_allclose(points[:, 2], z[index], rtol=1e-12)
    uv, valid = camera.project(points)
    assert valid.all() and np.abs(uv - snapped).max() < 1e-6
    if model == "pinhole":  # range = z |ray| / ray_z with ray = K^-1 (u, v, 1)
        rays = np.column_stack([snapped, np.ones(len(snapped))]) @ np.linalg.inv(camera.K).T
        expected = z[index] * np.linalg.norm(rays, axis=1) / rays[:, 2]
        np.testing.assert_allclose(np.linalg.norm(points, axis=1), expected, rtol=1e-9)


def test_snap_to_pixels_refuses_bad_index():
    view = make_view(make_camera(), [[10, 10]], [2.0])
    with pytest.raises(ValueError, match="index"):
        snap_to_pixels(view, np.array([1]))
    with pytest.raises(ValueError, match="index"):
        snap_to_pixels(view, np.array([0.0]))


# ----------------------------------------------------------------------------- pairs


def test_pairs_are_valid_separated_and_distinct():
    rng = np.random.default_rng(0)
    view = near_far_view(rng)
    config = SamplingConfig(pairs_per_frame=40, min_pair_separation_px=60.0, margin_px=20, avoid_edges=False)
    assert pair_separation_px(view.camera, config) == 60.0  # above what the markers need (45 px)
    pairs = sample_pairs(view, config, rng)
    assert pairs.shape == (40, 2) and pairs.dtype == np.int64
    candidates = candidate_mask(view, config)
    assert candidates[pairs].all()
    pixels = view.pixel_indices()
    assert np.linalg.norm(pixels[pairs[:, 0]] - pixels[pairs[:, 1]], axis=1).min() >= 60.0
    assert len({frozenset(pair) for pair in pairs.tolist()}) == 40
    assert len(np.unique(pairs[:, 0])) == 40


def test_pairs_need_separated_partners():
    camera = make_camera()
    # Separations: 0-1 60 px, 0-2 75 px, 1-2 96 px. At 80 px only {1, 2} qualifies, once.
    view = make_view(camera, [[300, 200], [360, 200], [300, 275]], [5.0, 5.0, 5.0])
    config = SamplingConfig(pairs_per_frame=2, min_pair_separation_px=80.0, **PLAIN)
    pairs = sample_pairs(view, config, np.random.default_rng(0))
    assert len(pairs) == 1 and sorted(pairs[0].tolist()) == [1, 2]
    assert len(sample_pairs(view, SamplingConfig(pairs_per_frame=2, **PLAIN), np.random.default_rng(0))) == 2


def test_pairs_keep_the_separation_the_markers_need_whatever_the_config():
    """Closer than the markers' minimum, a label would sit nearer the other point (markers.py)."""
    camera = make_camera()
    view = make_view(camera, [[300, 200], [310, 200], [300, 215], [330, 230]], 5.0)  # all within 43 px
    config = SamplingConfig(pairs_per_frame=3, min_pair_separation_px=16.0, **PLAIN)
    assert pair_separation_px(camera, config) == min_pair_separation_px(480, 640) > 43.0
    assert sample_pairs(view, config, np.random.default_rng(0)).shape == (0, 2)
    small, large = make_camera(width=320, height=240), make_camera(width=1280, height=960)
    assert pair_separation_px(large, SamplingConfig()) > 1.8 * pair_separation_px(small, SamplingConfig())
    dense = make_view(camera, pixel_grid(camera, step=4), 5.0)
    pairs = sample_pairs(dense, SamplingConfig(pairs_per_frame=300, **PLAIN), np.random.default_rng(0))
    pixels = dense.pixel_indices()
    gaps = np.linalg.norm(pixels[pairs[:, 0]] - pixels[pairs[:, 1]], axis=1)
    assert len(pairs) == 300 and gaps.min() >= min_pair_separation_px(480, 640)


def _short_pair_share(strategy: str) -> float:
    """Share of sampled pairs on a plane at 5 m whose pixels are 40-80 px apart."""
    rng = np.random.default_rng(0)
    camera = make_camera()
    view = make_view(camera, pixel_grid(camera, step=8), 5.0)
    config = SamplingConfig(strategy=strategy, **PLAIN)
    pairs = np.concatenate([sample_pairs(view, config, rng) for _ in range(300)])
    pixels = view.pixel_indices()
    gap = np.linalg.norm(pixels[pairs[:, 0]] - pixels[pairs[:, 1]], axis=1)
    return float(np.mean(gap < 80.0))


def test_stratified_pairs_spread_their_distances():
    # Uniform: the 40-80 px annulus is ~5% of the image; stratified over 8 log bins of
    # distance (ratio ~10-20 from shortest to longest) it holds 2-3 bins, ~25-30%.
    assert _short_pair_share("uniform") < 0.1
    assert _short_pair_share("depth-stratified") > 0.15


# ----------------------------------------------------------------------------- frame pairs


def _facing(x: float, z: float = 0.0, yaw_pi: bool = False) -> np.ndarray:
    """T_world_cam of a camera at (x, 0, z) looking along +z (or -z when ``yaw_pi``)."""
    rotation = np.diag([-1.0, 1.0, -1.0]) if yaw_pi else np.eye(3)
    return make_transform(rotation, [x, 0.0, z])


def _info(frame_id, x, sequence="s1", split="train", points=True, **pose) -> FrameInfo:
    camera = make_camera(T_world_cam=_facing(x, **pose))
    pts = make_view(camera, pixel_grid(camera, step=16), 10.0).points_cam if points else None
    return FrameInfo(frame_id=frame_id, sequence=sequence, split=split, camera=camera, points_cam=pts)


def test_overlap_of_a_sideways_step_is_the_shifted_share():
    camera = make_camera()
    points = make_view(camera, pixel_grid(camera, step=1), 10.0).points_cam
    first = FrameInfo("a", "s", "train", camera, points)
    second = FrameInfo("b", "s", "train", make_camera(T_world_cam=_facing(1.0)))
    # A 1 m step right at 10 m, f = 500: pixels move 50 px left; columns 0-49 fall off.
    assert frame_overlap(first, second) == pytest.approx((640 - 50) / 640, abs=1e-12)


def test_cameras_facing_opposite_ways_do_not_overlap_or_pair():
    a = _info("a", 0.0)
    b = _info("b", 0.0, z=1.0, yaw_pi=True)
    assert frame_overlap(a, b) == 0.0 and frame_overlap(b, a) == 0.0
    assert sample_frame_pairs([a, b], SamplingConfig(), seed=0) == []
    assert sample_frame_pairs([a, b], SamplingConfig(pose_min_overlap=0.0), seed=0) == [("a", "b")]


def test_frame_pairs_stay_in_sequence_and_split_and_translation_range():
    xs = [0.0, 0.1, 0.5, 1.0, 3.0, 30.0]
    frames = [_info(f"{seq}/{split}/{i}", x, sequence=seq, split=split)
              for seq in ("s1", "s2") for split in ("train", "val") for i, x in enumerate(xs)]
    by_id = {f.frame_id: f for f in frames}
    pairs = sample_frame_pairs(frames, SamplingConfig(), seed=0)
    assert len(pairs) >= 12
    firsts = [a for a, _ in pairs]
    assert len(firsts) == len(set(firsts))
    for a, b in pairs:
        fa, fb = by_id[a], by_id[b]
        assert (fa.sequence, fa.split) == (fb.sequence, fb.split)
        moved = np.linalg.norm(fa.camera.T_world_cam[:3, 3] - fb.camera.T_world_cam[:3, 3])
        assert 0.2 <= moved <= 10.0
    assert all(not a.endswith("/5") and not b.endswith("/5") for a, b in pairs)  # 30 m from every other


def test_frame_pairs_do_not_depend_on_order_and_follow_the_seed():
    frames = [_info(f"s1/{i}", x) for i, x in enumerate([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])]
    pairs = sample_frame_pairs(frames, SamplingConfig(), seed=4)
    shuffled = [frames[i] for i in np.random.default_rng(0).permutation(len(frames))]
    assert sample_frame_pairs(shuffled, SamplingConfig(), seed=4) == pairs
    assert len(pairs) == 6
    others = [sample_frame_pairs(frames, SamplingConfig(), seed=s) for s in range(5, 10)]
    assert any(other != pairs for other in others)


def test_no_two_frames_are_paired_twice_in_either_order():
    xs = np.random.default_rng(0).uniform(0.0, 3.0, 12)
    for seed in range(10):
        frames = [_info(f"s1/{i:02d}", x) for i, x in enumerate(xs)]
        pairs = sample_frame_pairs(frames, SamplingConfig(pose_min_overlap=0.0), seed=seed)
        assert len(pairs) >= 10
        assert len({frozenset(pair) for pair in pairs}) == len(pairs), pairs


def test_frame_pairs_spread_over_the_range_of_translations():
    """40 frames within 1.2 m and 3 frames 8 m away: far partners are 3 of ~35 candidates, but one
    of ~5 occupied translation bins, so they are drawn about a fifth of the time, not a tenth."""
    xs = [0.03 * i for i in range(40)] + [8.0, 8.1, 8.2]
    frames = [_info(f"s1/{i:02d}", x) for i, x in enumerate(xs)]
    far = total = 0
    for seed in range(10):
        for a, b in sample_frame_pairs(frames, SamplingConfig(pose_min_overlap=0.0), seed=seed):
            if int(a.split("/")[1]) < 40:
                total += 1
                far += int(b.split("/")[1]) >= 40
    assert total > 300 and far / total > 0.15


def test_an_evenly_sampled_path_gives_pairs_of_distinct_translations():
    """Six frames 0.3 m apart on a line allow five translations; six pairs use all five."""
    frames = [_info(f"s1/{i}", 0.3 * i) for i in range(6)]
    for seed in range(10):
        pairs = sample_frame_pairs(frames, SamplingConfig(pose_min_overlap=0.0), seed=seed)
        moved = {round(0.3 * abs(int(a[-1]) - int(b[-1])), 6) for a, b in pairs}
        assert len(pairs) == 6 and len(moved) == 5, pairs


def test_frame_pairs_cap_and_missing_points():
    frames = [_info(f"s1/{i}", x) for i, x in enumerate([0.0, 0.5, 1.0, 1.5])]
    assert len(sample_frame_pairs(frames, SamplingConfig(pose_pairs_per_sequence=2), seed=0)) == 2
    no_points = [_info(f"s1/{i}", x, points=False) for i, x in enumerate([0.0, 0.5])]
    assert sample_frame_pairs(no_points, SamplingConfig(), seed=0) == []
    with pytest.raises(ValueError, match="duplicate"):
        sample_frame_pairs(frames + frames[:1], SamplingConfig(), seed=0)


def test_dense_views_draw_second_points_from_a_capped_subset(monkeypatch):
    import datagen.sampling as sampling

    monkeypatch.setattr(sampling, "MAX_PARTNER_CANDIDATES", 20)
    camera = make_camera()
    view = make_view(camera, pixel_grid(camera, step=8), 5.0)
    config = SamplingConfig(strategy="uniform", pairs_per_frame=200, **PLAIN)
    pairs = sample_pairs(view, config, np.random.default_rng(0))
    assert len(pairs) == 200 and len(np.unique(pairs[:, 0])) == 200
    assert len(np.unique(pairs[:, 1])) <= 20
