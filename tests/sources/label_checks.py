"""Checks of built records against points computed in a test: shared by the driving-source tests."""

from __future__ import annotations

import math

import numpy as np
import pytest


def map_pixel(uv: np.ndarray, transforms: list) -> np.ndarray:
    """Carry source-image pixels (N, 2) through a record's resize and crop steps (pixel centres)."""
    for name, arg in transforms:
        assert name in ("resize", "crop"), name
        if name == "resize":
            uv = (uv + 0.5) * np.array(arg if isinstance(arg, list) else [arg, arg], dtype=np.float64) - 0.5
        else:
            uv = uv - np.array(arg[:2], dtype=np.float64)
    return uv


def source_pixel(uv: np.ndarray, transforms: list) -> np.ndarray:
    """The inverse of ``map_pixel``: normalised pixels (N, 2) back in the source image."""
    for name, arg in reversed(transforms):
        assert name in ("resize", "crop"), name
        if name == "resize":
            uv = (uv + 0.5) / np.array(arg if isinstance(arg, list) else [arg, arg], dtype=np.float64) - 0.5
        else:
            uv = uv + np.array(arg[:2], dtype=np.float64)
    return uv


def assert_label_is_a_point(record: dict, points_cam: np.ndarray, mapped: np.ndarray) -> None:
    """The record's label is one of ``points_cam`` (N, 3), on the pixel its projection ``mapped`` (N, 2)
    rounds to, at its z; its range and value follow from that pixel and z by hand."""
    (u, v), z = record["label"]["pixels"][0], record["label"]["z_m"][0]
    match = (np.abs(points_cam[:, 2] - z) <= 1e-9 * z) & (np.abs(mapped[:, 0] - u) <= 0.5 + 1e-9) \
        & (np.abs(mapped[:, 1] - v) <= 0.5 + 1e-9)
    assert match.any(), f"{record['id']}: no point at z={z} on pixel {(u, v)}"
    assert_range_and_value(record)


def assert_range_and_value(record: dict) -> None:
    """range = z * |(x, y, 1)| of the label's pixel centre; the distance task asks range, axis_distance z."""
    (u, v), z = record["label"]["pixels"][0], record["label"]["z_m"][0]
    fx, fy, cx, cy = record["camera"][:4]
    range_m = z * math.sqrt(((u - cx) / fx) ** 2 + ((v - cy) / fy) ** 2 + 1)
    assert record["label"]["range_m"][0] == pytest.approx(range_m, rel=1e-12)
    assert record["value"] == pytest.approx(range_m if record["task"] == "distance" else z, rel=1e-12)
