"""Write COLMAP sparse models (text and binary) as COLMAP does, for source tests."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from datagen.sources._colmap import MODEL_IDS


def write_text_model(folder: Path, cameras: dict, images: list) -> Path:
    """``cameras``: {id: (model, width, height, params)}; ``images``: [(id, qvec wxyz, tvec, camera_id, name)]."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    lines += [f"{cid} {model} {w} {h} " + " ".join(repr(float(p)) for p in params)
              for cid, (model, w, h, params) in cameras.items()]
    (folder / "cameras.txt").write_text("\n".join(lines) + "\n")
    lines = ["# Image list with two lines of data per image:"]
    for image_id, q, t, camera_id, name in images:
        lines.append(f"{image_id} " + " ".join(repr(float(v)) for v in (*q, *t)) + f" {camera_id} {name}")
        lines.append("10.5 20.25 -1 30.0 40.0 7")
    (folder / "images.txt").write_text("\n".join(lines) + "\n")
    return folder


def write_binary_model(folder: Path, cameras: dict, images: list) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = struct.pack("<Q", len(cameras))
    for cid, (model, w, h, params) in cameras.items():
        data += struct.pack("<iiQQ", cid, MODEL_IDS[model][0], w, h) + struct.pack(f"<{len(params)}d", *params)
    (folder / "cameras.bin").write_bytes(data)
    data = struct.pack("<Q", len(images))
    for image_id, q, t, camera_id, name in images:
        data += struct.pack("<I7dI", image_id, *q, *t, camera_id) + name.encode() + b"\0"
        data += struct.pack("<Q", 2) + struct.pack("<ddqddq", 1.0, 2.0, -1, 3.0, 4.0, 5)
    (folder / "images.bin").write_bytes(data)
    return folder


def colmap_project(model: str, params, point_cam) -> np.ndarray:
    """COLMAP's own projection of a camera-frame point, in COLMAP pixels (top-left corner at 0, 0)."""
    x, y = point_cam[0] / point_cam[2], point_cam[1] / point_cam[2]
    p = list(params)
    if model == "PINHOLE":
        fx, fy, cx, cy = p
        return np.array([fx * x + cx, fy * y + cy])
    if model == "OPENCV":
        fx, fy, cx, cy, k1, k2, p1, p2 = p
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 * r2
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.array([fx * xd + cx, fy * yd + cy])
    if model == "OPENCV_FISHEYE":
        fx, fy, cx, cy, k1, k2, k3, k4 = p
        r = np.hypot(x, y)
        theta = np.arctan(r)
        theta_d = theta * (1 + k1 * theta**2 + k2 * theta**4 + k3 * theta**6 + k4 * theta**8)
        scale = theta_d / r
        return np.array([fx * x * scale + cx, fy * y * scale + cy])
    if model == "SIMPLE_RADIAL":
        f, cx, cy, k = p
        radial = 1 + k * (x * x + y * y)
        return np.array([f * x * radial + cx, f * y * radial + cy])
    raise ValueError(model)
