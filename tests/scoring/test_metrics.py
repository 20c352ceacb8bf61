"""δ metrics, error metrics, bootstrap interval and depth ranges against hand and numpy values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from datagen.scoring import (
    ScoringError,
    assign_depth_bins,
    bootstrap_delta1_ci,
    compute_metrics,
    depth_bin_labels,
)


def test_hand_computed_small_set():
    # rows: exact hit; ratio exactly 1.25 (a δ1 miss, δ2 hit); ratio 1.5; missing; negative; unparsable
    pred = np.array([1.0, 2.0, 3.0, np.nan, -1.0, np.nan])
    gt = np.array([1.0, 1.6, 2.0, 5.0, 1.0, 2.0])
    missing = np.array([False, False, False, True, False, False])
    m = compute_metrics(pred, gt, missing)
    assert (m.n, m.n_missing, m.n_unparsable, m.n_nonpositive, m.n_valid) == (6, 1, 1, 1, 3)
    assert m.delta1 == pytest.approx(1 / 6)
    assert m.delta2 == pytest.approx(3 / 6)
    assert m.delta3 == pytest.approx(3 / 6)
    assert m.parse_rate == pytest.approx(4 / 5)
    assert m.abs_rel == pytest.approx((0 + 0.4 / 1.6 + 1 / 2) / 3)
    assert m.rmse == pytest.approx(math.sqrt((0 + 0.16 + 1) / 3))
    assert m.log10 == pytest.approx((0 + math.log10(1.25) + math.log10(1.5)) / 3)
    assert m.delta1_ci is None


def test_delta_thresholds_are_strict():
    gt = np.ones(4)
    pred = np.array([1.25, 1 / 1.25, 1.5625, 1.953125])
    m = compute_metrics(pred, gt)
    assert m.delta1 == 0.0  # 1.25 and 0.8 sit exactly on the δ1 bound
    assert m.delta2 == pytest.approx(2 / 4)  # 1.5625 = 1.25² sits on the δ2 bound
    assert m.delta3 == pytest.approx(3 / 4)


def test_no_valid_prediction_and_empty_set():
    m = compute_metrics([np.nan, 0.0], [1.0, 2.0])
    assert (m.delta1, m.abs_rel, m.rmse, m.log10) == (0.0, None, None, None)
    assert (m.n_unparsable, m.n_nonpositive) == (1, 1)
    empty = compute_metrics(np.zeros(0), np.zeros(0))
    assert empty.n == 0 and empty.delta1 is None and empty.parse_rate is None


def test_large_random_set_matches_direct_numpy():
    rng = np.random.default_rng(0)
    n = 200_000
    gt = rng.uniform(0.3, 120.0, n)
    pred = gt * np.exp(rng.normal(0.0, 0.3, n))
    pred[rng.random(n) < 0.05] = np.nan
    pred[rng.random(n) < 0.01] *= -1
    m = compute_metrics(pred, gt)
    ok = np.isfinite(pred) & (pred > 0)
    log_ratio = np.abs(np.log(pred[ok] / gt[ok]))
    for k, value in ((1, m.delta1), (2, m.delta2), (3, m.delta3)):
        assert value == pytest.approx(np.sum(log_ratio < k * np.log(1.25)) / n, rel=1e-12)
    assert m.abs_rel == pytest.approx(np.mean(np.abs(pred[ok] - gt[ok]) / gt[ok]), rel=1e-12)
    assert m.rmse == pytest.approx(np.sqrt(np.mean((pred[ok] - gt[ok]) ** 2)), rel=1e-12)
    assert m.log10 == pytest.approx(np.mean(log_ratio) / np.log(10), rel=1e-9)
    assert m.n_valid == int(ok.sum()) and m.n_unparsable == int(np.isnan(pred).sum())


def test_bootstrap_matches_record_resampling():
    """The binomial shortcut gives the interval that resampling the records gives."""
    rng = np.random.default_rng(0)
    hits = np.zeros(400, dtype=bool)
    hits[:300] = True
    resamples = rng.integers(0, len(hits), size=(4000, len(hits)))
    explicit = np.percentile(hits[resamples].mean(axis=1), [2.5, 97.5])
    low, high = bootstrap_delta1_ci(300, 400, 4000, seed=0)
    assert low == pytest.approx(explicit[0], abs=0.012)
    assert high == pytest.approx(explicit[1], abs=0.012)
    half_width = 1.96 * math.sqrt(0.75 * 0.25 / 400)  # normal approximation
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)


def test_bootstrap_is_seeded_and_brackets_delta1():
    pred = np.array([1.0, 1.1, 3.0, 1.0] * 50)
    gt = np.ones(200)
    a = compute_metrics(pred, gt, bootstrap=1000, seed=0)
    b = compute_metrics(pred, gt, bootstrap=1000, seed=0)
    assert a.delta1_ci == b.delta1_ci
    assert a.delta1_ci[0] < a.delta1 == 0.75 < a.delta1_ci[1]
    assert bootstrap_delta1_ci(0, 0, 1000) is None


def test_depth_ranges():
    assert depth_bin_labels((0, 2, 5, 10, 20, 40, 80)) == ["0-2", "2-5", "5-10", "10-20", "20-40", "40-80", "80+"]
    bins = assign_depth_bins(np.array([0.0, 1.99, 2.0, 4.9, 5.0, 80.0, 150.0]), (0, 2, 5, 10, 20, 40, 80))
    np.testing.assert_array_equal(bins, [0, 0, 1, 1, 2, 6, 6])
    np.testing.assert_array_equal(assign_depth_bins(np.array([0.5, 3.0]), (1, 5)), [-1, 0])
    with pytest.raises(ScoringError, match="increasing"):
        depth_bin_labels((5, 2))


def test_bad_inputs():
    with pytest.raises(ScoringError, match="must be \\(N,\\)"):
        compute_metrics(np.ones(3), np.ones(2))
    with pytest.raises(ScoringError, match="> 0"):
        compute_metrics(np.ones(2), np.array([1.0, 0.0]))


def test_nan_values_are_in_no_range():
    bins = assign_depth_bins(np.array([np.nan, 3.0, np.inf]), (0, 2, 5))
    np.testing.assert_array_equal(bins, [-1, 1, 2])


def test_bootstrap_bounds():
    with pytest.raises(ScoringError, match="at most"):
        bootstrap_delta1_ci(5, 10, 10**12)
    with pytest.raises(ScoringError, match=">= 0"):
        bootstrap_delta1_ci(5, 10, 100, seed=-1)
