"""Independent checks of built records against a source's own pixels, from the recorded transforms."""

from __future__ import annotations

import numpy as np


def source_pixel(pixel, transforms: list) -> tuple[int, int]:
    """The source-image pixel a record's pixel came from: undo the recorded resize/crop steps
    (pixel-centre convention: resizing by s maps u to (u + 0.5) s - 0.5) and round."""
    uv = np.asarray(pixel, dtype=np.float64)
    for name, arg in reversed(transforms):
        if name == "crop":
            uv = uv + np.array(arg[:2], dtype=np.float64)
        elif name == "resize":
            uv = (uv + 0.5) / np.array(arg if isinstance(arg, list) else [arg, arg], dtype=np.float64) - 0.5
        else:
            raise AssertionError(f"unexpected transform {name}")
    u, v = np.floor(uv + 0.5).astype(int)
    return int(u), int(v)


def range_of(record: dict, z_m: float) -> float:
    """Euclidean distance of the point at optical-axis depth ``z_m`` on the record's pixel, by hand."""
    fx, fy, cx, cy = record["camera"][:4]
    u, v = record["label"]["pixels"][0]
    return float(z_m * np.sqrt(((u - cx) / fx) ** 2 + ((v - cy) / fy) ** 2 + 1.0))
