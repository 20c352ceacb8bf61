"""The source-image pixel a built record's label came from, for tests of depth-map sources."""

from __future__ import annotations

import numpy as np

from tests.sources.label_checks import source_pixel as unmap_pixels


def source_pixel(pixel, transforms: list) -> tuple[int, int]:
    """The source pixel whose centre a record's (normalised) pixel maps back nearest to."""
    u, v = np.floor(unmap_pixels(np.asarray([pixel], dtype=np.float64), transforms)[0] + 0.5).astype(int)
    return int(u), int(v)
