"""Large JSON tables (one top-level array of flat objects) read into Arrow columns, a chunk at a time.

nuScenes ships its metadata as JSON arrays: ``sample_data.json`` of v1.0-trainval holds about
2.6 million objects (1.5 GB). ``json.load`` would build 2.6 million dicts (over 10 GB); this
reader never builds one. It reads the file in chunks of ``CHUNK_BYTES``; a compiled one-pass
scan (numba) follows strings and escapes, so a brace inside a string is never taken for
structure, finds where each top-level object ends and blanks the array's brackets and the
commas between objects; each run of whole objects then goes to pyarrow's JSON reader
(``newlines_in_values``: objects may be pretty-printed) with an explicit schema, so only the
wanted fields are kept, as typed Arrow columns.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np

from datagen.errors import SourceError
from datagen.sources._io import require_file

#: Bytes read per step; a chunk holds about 100k nuScenes rows.
CHUNK_BYTES = 64 << 20


def read_json_table(path: Path, schema, layout: str, chunk_bytes: int = CHUNK_BYTES):
    """The objects of a JSON array file as a pyarrow Table with the columns of ``schema``.

    Args:
        path: a file holding one JSON array of objects (any whitespace, any field order).
        schema: pyarrow.Schema of the fields to keep; other fields are skipped.
        layout: what the file should be, for error messages.
        chunk_bytes: bytes read per step (bounds the memory besides the result).

    Raises:
        SourceError: missing file, not an array of objects, a wanted field of the wrong type,
            or a truncated file.
    """
    import pyarrow as pa

    require_file(path, layout)
    tables = []
    state = np.zeros(_STATE_SIZE, dtype=np.int64)
    pending = bytearray()
    offset = 0
    try:
        with open(path, "rb") as handle:
            while data := handle.read(chunk_bytes):
                buffer = np.frombuffer(bytearray(data), dtype=np.uint8)
                end = _scan(buffer, state)
                _check(state, data, offset, path, layout)
                offset += len(data)
                if end < 0:
                    pending += buffer.tobytes()
                    continue
                run = bytes(pending) + buffer[: end + 1].tobytes()
                pending = bytearray(buffer[end + 1:].tobytes())
                if run.strip():
                    tables.append(_parse_objects(run, schema, path, layout))
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror}) ({layout})") from None
    if state[_DEPTH] != 0 or not state[_OPENED] or state[_IN_STRING]:
        raise SourceError(f"{path}: truncated (the JSON array is not closed) ({layout})")
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _parse_objects(run: bytes, schema, path: Path, layout: str):
    """Concatenated JSON objects -> Table of ``schema``'s columns."""
    import pyarrow as pa
    import pyarrow.json as pj

    options = pj.ParseOptions(explicit_schema=schema, newlines_in_values=True, unexpected_field_behavior="ignore")
    try:
        return pj.read_json(pa.BufferReader(run), read_options=pj.ReadOptions(block_size=max(len(run), 1 << 20)),
                            parse_options=options).select(schema.names)
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
        raise SourceError(f"{path}: {str(exc).splitlines()[0]} ({layout})") from None


def _check(state: np.ndarray, data: bytes, offset: int, path: Path, layout: str) -> None:
    if state[_ERROR_AT] >= 0:
        at = int(state[_ERROR_AT])
        raise SourceError(f"{path}: expected one JSON array of objects, found {chr(data[at])!r} at byte "
                          f"{offset + at} ({layout})")


# Scanner state, carried from chunk to chunk.
_DEPTH, _IN_STRING, _ESCAPED, _OPENED, _ERROR_AT, _STATE_SIZE = 0, 1, 2, 3, 4, 5


@numba.njit(cache=True, nogil=True)
def _scan(buffer: np.ndarray, state: np.ndarray) -> int:  # pragma: no cover - compiled
    """One pass over a chunk (modified in place); returns the index of the last top-level object end, or -1.

    Blanks the array's brackets and the commas between its objects. Sets ``state[_ERROR_AT]``
    to the first byte that breaks "one array of objects" (and stops there).
    """
    depth, in_string, escaped, opened = state[_DEPTH], state[_IN_STRING], state[_ESCAPED], state[_OPENED]
    state[_ERROR_AT] = -1
    last_end = -1
    for i in range(len(buffer)):
        c = buffer[i]
        if in_string:
            if escaped:
                escaped = 0
            elif c == 92:  # backslash
                escaped = 1
            elif c == 34:  # closing quote
                in_string = 0
            continue
        if c == 32 or c == 10 or c == 13 or c == 9:
            continue
        if depth >= 2:
            if c == 34:
                in_string = 1
            elif c == 123 or c == 91:
                depth += 1
            elif c == 125 or c == 93:
                depth -= 1
                if depth == 1:
                    last_end = i
            continue
        if depth == 1 and c == 123:  # an object starts
            depth = 2
        elif depth == 1 and c == 44:  # comma between objects
            buffer[i] = 32
        elif depth == 1 and c == 93:  # the array closes
            buffer[i] = 32
            depth = 0
            last_end = i
        elif depth == 0 and c == 91 and not opened:  # the array opens
            buffer[i] = 32
            depth = 1
            opened = 1
        else:
            state[_ERROR_AT] = i
            break
    state[_DEPTH], state[_IN_STRING], state[_ESCAPED], state[_OPENED] = depth, in_string, escaped, opened
    return last_end
