"""Reading frame images and writing content-addressed output images."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from datagen.errors import SourceError
from datagen.types import Frame

EXTENSIONS = {"jpg": "JPEG", "png": "PNG"}


class ImageReadError(SourceError):
    """A frame's image file is missing, unreadable, or not the camera's size."""


def load_frame_image(frame: Frame) -> np.ndarray:
    """The frame's image as (H, W, 3) uint8, checked against the camera's size.

    Raises:
        ImageReadError: the file is missing, unreadable, or not the camera's size.
    """
    if frame.image is not None:
        return np.asarray(frame.image)
    path = frame.image_path
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise ImageReadError(f"{path}: image file not found (frame {frame.frame_id})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageReadError(f"{path}: not a readable image ({exc}) (frame {frame.frame_id})") from None
    expected = (frame.camera.height, frame.camera.width)
    if array.shape[:2] != expected:
        raise ImageReadError(f"{path}: image is {array.shape[1]}x{array.shape[0]} px but the camera says "
                          f"{expected[1]}x{expected[0]} (frame {frame.frame_id})")
    return array


def encode_image(image: np.ndarray, image_format: str = "jpg", jpeg_quality: int = 95) -> bytes:
    """Encode (H, W, 3) uint8 as JPEG or PNG bytes; the same array gives the same bytes."""
    buffer = io.BytesIO()
    options = {"quality": jpeg_quality, "subsampling": 0} if image_format == "jpg" else {"optimize": False}
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format=EXTENSIONS[image_format], **options)
    return buffer.getvalue()


def image_relpath(data: bytes, image_format: str) -> str:
    """Content-addressed path below the build folder: ``images/3f/3f9a0c1e2b7d4a51.jpg``."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"images/{digest[:2]}/{digest}.{image_format}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so no half file is ever seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def store_image(out_dir: Path, image: np.ndarray, image_format: str, jpeg_quality: int) -> str:
    """Encode and write an image once (shared by every record that uses it); return its relative path."""
    data = encode_image(image, image_format, jpeg_quality)
    relpath = image_relpath(data, image_format)
    target = out_dir / relpath
    if not target.exists():
        write_atomic(target, data)
    return relpath
