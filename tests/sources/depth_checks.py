"""Independent checks of the labels that RGB-D sources produce, written from the documented formulas.

Every check starts from a built record (a label's normalised pixel, z, range and 3D point)
and walks back to the dataset's own files with formulas written here, not with the code
under test: the normalised camera is a pinhole (normalisation only undistorts, resizes and
crops), so a label's pixel gives its viewing ray; the original camera's documented lens
model takes that ray to the original image, where the stored depth must be the label's z.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

#: Farthest a pixel centre is from a point that rounds to it: half a pixel on each axis.
HALF_DIAGONAL = 0.5 * np.sqrt(2.0)


def label_rows(records: list[dict]):
    """(record, normalised pixel (2,), z, range, point (3,)) of every labelled point."""
    for record in records:
        label = record["label"]
        for pixel, z, r, point in zip(label["pixels"], label["z_m"], label["range_m"], label["points_cam"]):
            yield record, np.array(pixel, dtype=float), z, r, np.array(point, dtype=float)


def normalised_ray(record: dict, pixel: np.ndarray) -> np.ndarray:
    """(3,) ray (x, y, 1) of a normalised-image pixel, from the record's pinhole [fx, fy, cx, cy, w, h]."""
    fx, fy, cx, cy, _, _ = record["camera"]
    return np.array([(pixel[0] - cx) / fx, (pixel[1] - cy) / fy, 1.0])


def radtan(xy: np.ndarray, dist) -> np.ndarray:
    """OpenCV's radial-tangential distortion of normalised coordinates (k1, k2, p1, p2, k3)."""
    k1, k2, p1, p2, k3 = (list(dist) + [0.0] * 5)[:5]
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    return np.stack([x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                     y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], axis=-1)


def check_point_consistency(records: list[dict]) -> int:
    """Each label's 3D point lies on its pixel's ray at its z, and its range is the point's norm."""
    n = 0
    for record, pixel, z, r, point in label_rows(records):
        np.testing.assert_allclose(point, normalised_ray(record, pixel) * z, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(r, np.linalg.norm(point), rtol=1e-12)
        n += 1
    return n


def check_depth_map_labels(records: list[dict], K: np.ndarray, depth_of: dict, dist=(), kind: str = "z",
                           tolerance_m: float = 1e-6) -> int:
    """Every label is a stored depth value at the original pixel its ray goes through.

    Args:
        records: built records of a source whose depth maps are registered to the images.
        K: (3, 3) documented intrinsics of the original image.
        depth_of: frame id -> (H, W) depth in metres decoded here from the stored file.
        dist: the original image's radtan coefficients (empty: pinhole).
        kind: what the stored depth is ("z" or "range").

    Returns:
        How many labels were checked.
    """
    n = 0
    for record, pixel, z, r, point in label_rows(records):
        depth = depth_of[record["provenance"]["frames"][0]]
        ray = normalised_ray(record, pixel)
        xy = radtan(ray[:2], dist) if len(dist) else ray[:2]
        u, v = K[0, 0] * xy[0] + K[0, 1] * xy[1] + K[0, 2], K[1, 1] * xy[1] + K[1, 2]
        # the snapped normalised pixel is within half a normalised pixel (per axis) of the original centre's image
        scale = record["camera"][0] / K[0, 0]
        reach = HALF_DIAGONAL / min(scale, 1.0) + 0.05
        cols = np.arange(int(np.floor(u - reach)), int(np.ceil(u + reach)) + 1)
        rows = np.arange(int(np.floor(v - reach)), int(np.ceil(v + reach)) + 1)
        stored = [depth[b, a] for b in rows for a in cols
                  if 0 <= a < depth.shape[1] and 0 <= b < depth.shape[0] and np.hypot(a - u, b - v) <= reach]
        value = z if kind == "z" else r
        assert any(abs(s - value) <= tolerance_m for s in stored), \
            f"{record['id']}: label {kind} {value} at original ({u:.2f}, {v:.2f}) is not a stored depth {stored}"
        n += 1
    assert check_point_consistency(records) == n
    return n


def check_reprojected_labels(records: list[dict], points_of: dict, K: np.ndarray, tolerance_m: float = 1e-6) -> int:
    """Every label is a depth-camera point, moved into the colour camera here, that is nearest on its pixel.

    Args:
        records: built records.
        points_of: frame id -> (N, 3) points in the colour camera frame computed here from the
            depth file, the depth intrinsics and the documented depth-to-colour transform.
        K: (3, 3) colour intrinsics of the original image.

    Returns:
        How many labels were checked.
    """
    n, cache = 0, {}
    for record, pixel, z, r, point in label_rows(records):
        frame = record["provenance"]["frames"][0]
        if frame not in cache:
            points = points_of[frame]
            uv = np.column_stack([K[0, 0] * points[:, 0] / points[:, 2] + K[0, 2],
                                  K[1, 1] * points[:, 1] / points[:, 2] + K[1, 2]])
            cache[frame] = (points, uv, cKDTree(uv), _zbuffer(uv, points[:, 2]))
        points, uv, tree, nearest = cache[frame]
        ray = normalised_ray(record, pixel)
        u, v = K[0, 0] * ray[0] + K[0, 2], K[1, 1] * ray[1] + K[1, 2]
        reach = HALF_DIAGONAL * K[0, 0] / record["camera"][0] + 1e-6
        candidates = [i for i in tree.query_ball_point([u, v], reach) if abs(points[i, 2] - z) <= tolerance_m]
        assert candidates, f"{record['id']}: no depth point of z {z} projects within {reach:.2f} px of ({u:.2f}, {v:.2f})"
        cell = tuple(np.floor(uv[candidates[0]] + 0.5).astype(int))
        assert z <= nearest[cell] + tolerance_m, f"{record['id']}: z {z} is behind {nearest[cell]} on pixel {cell}"
        n += 1
    assert check_point_consistency(records) == n
    return n


def _zbuffer(uv: np.ndarray, z: np.ndarray) -> dict:
    """(col, row) -> smallest z of the points whose projection rounds to that pixel."""
    cells = np.floor(uv + 0.5).astype(np.int64)
    order = np.lexsort((z, cells[:, 1], cells[:, 0]))
    out = {}
    for i in order:
        out.setdefault((int(cells[i, 0]), int(cells[i, 1])), float(z[i]))
    return out
