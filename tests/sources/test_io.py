"""Readers of dataset files: a fault of the file is a SourceError that names it."""

import io

import numpy as np
import pytest
from PIL import Image

from datagen.errors import SourceError
from datagen.sources._io import decode_image, read_depth_png


def test_depth_png_keeps_the_stored_16_bit_values(tmp_path):
    stored = np.array([[0, 1, 65535], [1000, 5000, 7]], dtype=np.uint16)
    Image.fromarray(stored).save(tmp_path / "d.png")
    np.testing.assert_array_equal(read_depth_png(tmp_path / "d.png", "demo layout", (3, 2)), stored)
    assert read_depth_png(tmp_path / "d.png", "demo layout").dtype == np.uint16


@pytest.mark.parametrize("image, size, message", [
    (np.zeros((2, 3), dtype=np.uint8), (3, 2),
     r"d.png: expected a 3x2 16-bit depth PNG, got 3x2 uint8 \(demo layout\)"),
    (np.zeros((2, 3), dtype=np.uint16), (4, 2), r"d.png: expected a 4x2 16-bit depth PNG, got 3x2 uint16"),
    (np.zeros((2, 3, 3), dtype=np.uint8), None,
     r"d.png: expected a 16-bit single-channel depth PNG, got 3x2 uint8 with 3 channels"),
])
def test_depth_png_of_another_kind_or_size_is_refused(tmp_path, image, size, message):
    Image.fromarray(image).save(tmp_path / "d.png")
    with pytest.raises(SourceError, match=message):
        read_depth_png(tmp_path / "d.png", "demo layout", size)


def test_decode_image_from_bytes():
    pixels = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    np.testing.assert_array_equal(decode_image(png.getvalue(), "f.bin: frame 3", "demo layout"), pixels)
    grey = io.BytesIO()
    Image.fromarray(pixels[..., 0]).save(grey, format="PNG")
    assert decode_image(grey.getvalue(), "f.bin: frame 3", "demo layout").shape == (4, 5, 3)
    with pytest.raises(SourceError, match=r"^f.bin: frame 3: not a readable JPEG \(.*\) \(demo layout\)$"):
        decode_image(b"\xff\xd8 not really", "f.bin: frame 3", "demo layout", "JPEG")
    truncated = io.BytesIO()
    Image.fromarray(pixels).save(truncated, format="JPEG")
    with pytest.raises(SourceError, match="f.bin: frame 3: not a readable image"):
        decode_image(truncated.getvalue()[:40], "f.bin: frame 3", "demo layout")
