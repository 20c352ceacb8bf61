"""Reading dataset files, with errors that name the file and the layout expected.

Every reader here turns a fault of the input file (missing, truncated, malformed) into a
``SourceError`` whose message starts with the path, so a build skips and counts the frame
and the CLI prints one line. ``layout`` is a short description of what the source expected
there ("KITTI object layout: training/calib/<frame>.txt").
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from datagen.errors import SourceError, raise_if_machine_fault

#: Largest image a source opens (pixels): a real camera image is far below, a decompression bomb far above.
MAX_IMAGE_PIXELS = 200_000_000


def require_file(path: Path, layout: str) -> Path:
    """``path`` if it is a file, else SourceError naming it and the layout expected."""
    if not Path(path).is_file():
        raise SourceError(f"{path}: missing ({layout})")
    return Path(path)


def require_dir(path: Path, layout: str) -> Path:
    """``path`` if it is a folder, else SourceError naming it and the layout expected."""
    if not Path(path).is_dir():
        raise SourceError(f"{path}: not a folder ({layout})")
    return Path(path)


def read_text(path: Path, layout: str) -> str:
    """The UTF-8 text of a file."""
    require_file(path, layout)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}) ({layout})") from None


def read_json(path: Path, layout: str):
    """The parsed JSON of a file."""
    text = read_text(path, layout)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise SourceError(f"{path}: not valid JSON ({exc}) ({layout})") from None


def read_binary(path: Path, dtype: str, columns: int, layout: str) -> np.ndarray:
    """A raw little-endian binary table of ``columns`` values per row, as (N, columns)."""
    require_file(path, layout)
    data = np.fromfile(path, dtype=np.dtype(dtype).newbyteorder("<"))
    if data.size % columns:
        raise SourceError(f"{path}: {data.size} values of {dtype} is not a whole number of rows of {columns} "
                          f"(truncated or not this format) ({layout})")
    return data.reshape(-1, columns)


#: What PIL raises for a file that is not an image it can decode (an OSError may also be the machine's).
_UNREADABLE = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)


def image_size(path: Path, layout: str) -> tuple[int, int]:
    """(width, height) of an image, from its header alone."""
    require_file(path, layout)
    try:
        with Image.open(path) as image:
            size = image.size
    except _UNREADABLE as exc:
        raise_if_machine_fault(exc)
        raise SourceError(f"{path}: not a readable image ({exc}) ({layout})") from None
    _check_pixels(size, str(path))
    return size


def _check_pixels(size: tuple[int, int], where: str) -> None:
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise SourceError(f"{where}: {size[0]}x{size[1]} px is larger than any camera image datagen reads "
                          f"({MAX_IMAGE_PIXELS} px)")


def read_image_array(path: Path, layout: str) -> np.ndarray:
    """An image file's pixels as stored (a 16-bit depth PNG stays uint16), header checked first."""
    image_size(path, layout)
    try:
        with Image.open(path) as image:
            return np.asarray(image)
    except _UNREADABLE as exc:
        raise_if_machine_fault(exc)
        raise SourceError(f"{path}: not a readable image ({exc}) ({layout})") from None


def read_depth_png(path: Path, layout: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W) uint16 stored values of a 16-bit single-channel depth PNG, of ``size`` (width, height) if given."""
    raw = read_image_array(path, layout)
    if raw.dtype != np.uint16 or raw.ndim != 2 or (size is not None and raw.shape != (size[1], size[0])):
        wanted = f"{size[0]}x{size[1]} 16-bit" if size is not None else "16-bit single-channel"
        raise SourceError(f"{path}: expected a {wanted} depth PNG, got {'x'.join(map(str, raw.shape[1::-1]))} "
                          f"{raw.dtype}{'' if raw.ndim < 3 else f' with {raw.shape[2]} channels'} ({layout})")
    return raw


def decode_image(data: bytes, where: str, layout: str, kind: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 RGB of an encoded image held in memory (JPEG, PNG, ...), its size checked first.

    ``where`` names the file and the record the bytes came from; ``kind`` what they should be ("JPEG").
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_pixels(image.size, where)
            return np.asarray(image.convert("RGB"))
    except _UNREADABLE as exc:
        raise_if_machine_fault(exc)
        raise SourceError(f"{where}: not a readable {kind} ({exc}) ({layout})") from None


def parse_numbers(text: str, count: int | None, where: str, what: str) -> np.ndarray:
    """Whitespace-separated finite numbers (``count`` of them if given) as float64."""
    try:
        values = np.array([float(v) for v in text.split()], dtype=np.float64)
    except ValueError:
        raise SourceError(f"{where}: {what} must be numbers, got {text.strip()[:80]!r}") from None
    if (count is not None and len(values) != count) or not np.all(np.isfinite(values)):
        size = f"{count} " if count is not None else ""
        raise SourceError(f"{where}: {what} must be {size}finite numbers, got {len(values)}: {text.strip()[:80]!r}")
    return values
