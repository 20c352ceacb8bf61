"""Reading frame images; encoding output images and naming them by their content."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from datagen.errors import SourceError, raise_if_machine_fault
from datagen.types import Frame

if TYPE_CHECKING:
    from datagen.store import StoreWriter

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
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: refused as a decompression bomb ({exc}) (frame {frame.frame_id})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise_if_machine_fault(exc)
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


def signed_png(image: np.ndarray | Image.Image, software: str, optimize: bool = False) -> bytes:
    """PNG bytes of ``image`` whose ``Software`` text names what wrote it (see ``png_software``)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", software)
    buffer = io.BytesIO()
    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))
    picture.save(buffer, format="PNG", optimize=optimize, pnginfo=info)
    return buffer.getvalue()


def png_software(path: Path) -> str | None:
    """The ``Software`` text of a PNG file, or None (not a PNG, not a readable image, no such text).

    Raises:
        OSError: a fault of the machine (permissions, I/O) while reading the file.
    """
    try:
        with Image.open(path) as image:
            return image.text.get("Software") if image.format == "PNG" else None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise_if_machine_fault(exc)
        return None


def image_relpath(data: bytes, image_format: str, digest: str | None = None) -> str:
    """Content-addressed path below the build folder: ``images/3f/3f9a0c1e2b7d4a51.jpg``.

    Args:
        digest: the hex sha256 of ``data``, if already known.
    """
    name = (digest or hashlib.sha256(data).hexdigest())[:16]
    return f"images/{name[:2]}/{name}.{image_format}"


def store_image(writer: StoreWriter, image: np.ndarray, image_format: str, jpeg_quality: int) -> str:
    """Encode an image and write it once through ``writer``, content-addressed (shared by every record
    that uses it); return its path relative to the build's root.

    Raises:
        OwnershipError: a different file already has the image's name.
    """
    data = encode_image(image, image_format, jpeg_quality)
    digest = hashlib.sha256(data).hexdigest()
    relpath = image_relpath(data, image_format, digest)
    writer.put_content(relpath, data, digest)
    return relpath
