"""Check built records against ground truth computed in a test from a dataset's own formula.

A record's label sits on the pixel centre of the normalised image nearest to where its point
projects, so each label must have a point of the test's computation whose projection, carried
through the record's transforms (pixel-centre convention, DESIGN.md section 3), lies within half
a pixel of the label's pixel in u and in v, at the label's depth.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from datagen.config import load_config
from datagen.pipeline import build
from datagen.records import iter_records

#: Sampling that labels pixels anywhere in the image (each label costs a marked image, so a few dozen).
def sampling(points_per_frame: int) -> dict:
    return {"points_per_frame": points_per_frame, "avoid_edges": False, "strategy": "uniform", "margin_px": 0}


def map_pixel(uv: np.ndarray, transforms: list) -> np.ndarray:
    """Carry (N, 2) source pixels through recorded ``resize`` and ``crop`` steps."""
    if transforms and isinstance(transforms[0], str):
        transforms = [transforms]
    uv = np.asarray(uv, dtype=np.float64)
    for name, arg in transforms:
        if name == "resize":
            scale = np.array(arg if isinstance(arg, list) else [arg, arg], dtype=np.float64)
            uv = (uv + 0.5) * scale - 0.5
        elif name == "crop":
            uv = uv - np.array(arg[:2], dtype=np.float64)
        else:
            raise AssertionError(f"unexpected transform {name}")
    return uv


def build_records(source: str, root, out, tasks=("distance",), options=None, points_per_frame: int = 40,
                  **overrides) -> tuple[dict, list[dict]]:
    config = load_config(None, {"source": source, "root": str(root), "tasks": list(tasks),
                                "source_options": options or {}, "sampling": sampling(points_per_frame), **overrides})
    manifest = build(config, out)
    return manifest, list(iter_records(out))


def check_labels(records: list[dict], uv: np.ndarray, z: np.ndarray, z_tol_m: float = 1e-4) -> int:
    """Assert every record's label matches one of the test's projections (uv (M, 2) source pixels, z (M,)).

    Also checks each label's own consistency: range = |points_cam|, z = points_cam's z, and its
    point projects with the record's camera onto its pixel (within half a pixel). Returns the count.
    """
    assert records, "no record to check"
    trees: dict = {}
    for record in records:
        label, transforms = record["label"], record["provenance"]["transforms"]
        key = repr(transforms)
        if key not in trees:
            trees[key] = cKDTree(map_pixel(uv, transforms))
        pixel = np.array(label["pixels"][0], dtype=np.float64)
        candidates = trees[key].query_ball_point(pixel, r=0.5 + 1e-6, p=np.inf)
        z_label = label["z_m"][0]
        assert candidates and np.min(np.abs(z[candidates] - z_label)) <= z_tol_m, (record["id"], pixel, z_label)
        point = np.array(label["points_cam"][0])
        assert abs(point[2] - z_label) < 1e-9 and abs(np.linalg.norm(point) - label["range_m"][0]) < 1e-9
        fx, fy, cx, cy = record["camera"][:4]
        projected = np.array([fx * point[0] / point[2] + cx, fy * point[1] / point[2] + cy])
        assert np.all(np.abs(projected - pixel) <= 0.5 + 1e-6), (record["id"], projected, pixel)
    return len(records)
