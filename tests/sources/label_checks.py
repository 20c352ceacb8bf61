"""Building a source in a test, and checks of its records against points computed in the test.

A record's label sits on the pixel centre of the normalised image nearest to where its point
projects, so each label must have a point of the test's computation whose projection, carried
through the record's transforms (pixel-centre convention, DESIGN.md section 3), lies within half
a pixel of the label's pixel in u and in v, at the label's depth. The RGB-D sources' checks
against their depth files are in ``depth_checks``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from datagen.config import load_config
from datagen.pipeline import build
from datagen.records import iter_records


def rotation_wxyz(qw: float, qx: float, qy: float, qz: float) -> np.ndarray:
    """(3, 3) rotation of a quaternion, scalar first (normalised first), written out by hand."""
    n = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
    w, x, y, z = qw / n, qx / n, qy / n, qz / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


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


def source_pixel_index(pixel, transforms: list) -> tuple[int, int]:
    """The source-image pixel whose centre a record's (normalised) pixel maps back nearest to."""
    u, v = np.floor(source_pixel(np.asarray([pixel], dtype=np.float64), transforms)[0] + 0.5).astype(int)
    return int(u), int(v)


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


def sampling(points_per_frame: int) -> dict:
    """Sampling that labels pixels anywhere in the image (each label costs a marked image, so a few dozen)."""
    return {"points_per_frame": points_per_frame, "avoid_edges": False, "strategy": "uniform", "margin_px": 0}


#: The tasks of one labelled point each, and the pair task: what most source tests build.
POINT_TASKS = ("distance", "axis_distance", "two_point")


def build_records(out, source: str, root, options: dict | None = None, tasks=POINT_TASKS, strict: bool = False,
                  **config) -> tuple[list[dict], dict]:
    """Build ``source`` at ``root`` into ``out`` with one worker; its records and manifest.

    Args:
        options: the source's options.
        config: other build options as a YAML config writes them (``sampling={...}``, ``frames=2``);
            sampling defaults to 12 points and 4 pairs a frame.
    """
    settings = {"source": source, "root": str(root), "source_options": options or {}, "tasks": list(tasks),
                "sampling": {"points_per_frame": 12, "pairs_per_frame": 4}, **config}
    manifest = build(load_config(None, settings), out, workers=1, overwrite=True, strict=strict)
    return list(iter_records(out)), manifest


def check_labels(records: list[dict], uv: np.ndarray, z: np.ndarray, z_tol_m: float = 1e-4) -> int:
    """Assert every record's label matches one of the test's projections (uv (M, 2) source pixels, z (M,)).

    Also checks each label's own consistency: z = points_cam's z, range and value from the pixel
    and z, and its point projects with the record's camera onto its pixel (within half a pixel).
    Returns the number of records checked.
    """
    assert records, "no record to check"
    trees: dict = {}
    for record in records:
        label, transforms = record["label"], record["provenance"]["transforms"]
        key = repr(transforms)
        if key not in trees:
            trees[key] = cKDTree(map_pixel(np.asarray(uv, dtype=np.float64), transforms))
        pixel = np.array(label["pixels"][0], dtype=np.float64)
        candidates = trees[key].query_ball_point(pixel, r=0.5 + 1e-6, p=np.inf)
        z_label = label["z_m"][0]
        assert candidates and np.min(np.abs(z[candidates] - z_label)) <= z_tol_m, (record["id"], pixel, z_label)
        point = np.array(label["points_cam"][0])
        assert abs(point[2] - z_label) < 1e-9
        assert_range_and_value(record)
        fx, fy, cx, cy = record["camera"][:4]
        projected = np.array([fx * point[0] / point[2] + cx, fy * point[1] / point[2] + cy])
        assert np.all(np.abs(projected - pixel) <= 0.5 + 1e-6), (record["id"], projected, pixel)
    return len(records)
