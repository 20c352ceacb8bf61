"""Large JSON tables (one top-level array of flat objects) read into Arrow columns, a chunk at a time.

nuScenes ships its metadata as JSON arrays: ``sample_data.json`` of v1.0-trainval holds about
2.6 million objects (1.5 GB). ``json.load`` would build 2.6 million dicts (over 10 GB); this
reader never builds one. It reads the file in chunks of ``CHUNK_BYTES``; a compiled one-pass
scan (numba) follows strings and escapes, so a brace inside a string is never taken for
structure, finds where each top-level object ends and blanks the array's brackets and the
commas between objects, and puts each object on one line; each run of whole objects then goes
to pyarrow's line-delimited JSON reader (in place, no copy) with an explicit schema, so only the
wanted fields are kept, as typed Arrow columns.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np

from datagen.errors import SourceError, raise_if_machine_fault
from datagen.sources._io import require_file

#: Bytes read per step; a chunk holds about 100k nuScenes rows.
CHUNK_BYTES = 64 << 20
#: Arrow parses a chunk in blocks of this size (in parallel where cores are free); an object must fit in one.
ARROW_BLOCK_BYTES = 8 << 20


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
    tables, state = [], np.zeros(_STATE_SIZE, dtype=np.int64)
    buffer, kept, offset = bytearray(chunk_bytes), 0, 0
    try:
        with open(path, "rb") as handle:
            while True:
                if len(buffer) - kept < chunk_bytes // 2:  # an object larger than a chunk: grow
                    buffer.extend(bytearray(chunk_bytes))
                read = handle.readinto(memoryview(buffer)[kept:])
                if not read:
                    break
                # 1. scan the new bytes (the kept tail was scanned before); blanks structure in place
                end = _scan_bytes(buffer, kept, read, state)
                _check(state, buffer, kept, offset, path, layout)
                offset += read
                if end < 0:
                    kept += read
                    continue
                # 2. whole objects up to the last one ended, one per line, to Arrow; keep the rest
                cut = kept + end + 1
                if state[_OBJECTS]:
                    with memoryview(buffer) as window:
                        tables.append(_parse_objects(window[:cut], schema, path, layout))
                    state[_OBJECTS] = 0
                buffer[: kept + read - cut] = buffer[cut: kept + read]
                kept = kept + read - cut
    except OSError as exc:
        raise_if_machine_fault(exc)
        raise SourceError(f"{path}: cannot be read ({exc.strerror}) ({layout})") from None
    if state[_DEPTH] != 0 or not state[_OPENED] or state[_IN_STRING]:
        raise SourceError(f"{path}: truncated (the JSON array is not closed) ({layout})")
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _scan_bytes(buffer: bytearray, start: int, count: int, state: np.ndarray) -> int:
    """``_scan`` over ``buffer[start: start + count]``; returns the last object end relative to ``start``."""
    with memoryview(buffer) as window:
        view = np.frombuffer(window, dtype=np.uint8, count=count, offset=start)
        end = _scan(view, state)
        del view
    return end


def _parse_objects(run, schema, path: Path, layout: str):
    """JSON objects, one per line, -> Table of ``schema``'s columns."""
    import pyarrow as pa
    import pyarrow.json as pj

    options = pj.ParseOptions(explicit_schema=schema, newlines_in_values=False, unexpected_field_behavior="ignore")
    data = pa.py_buffer(run)
    try:
        return pj.read_json(pa.BufferReader(data), read_options=pj.ReadOptions(block_size=ARROW_BLOCK_BYTES),
                            parse_options=options).select(schema.names)
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
        raise SourceError(f"{path}: {str(exc).splitlines()[0]} ({layout})") from None
    finally:
        del data


def _check(state: np.ndarray, buffer: bytearray, kept: int, offset: int, path: Path, layout: str) -> None:
    if state[_ERROR_AT] >= 0:
        at = int(state[_ERROR_AT])
        raise SourceError(f"{path}: expected one JSON array of objects, found {chr(buffer[kept + at])!r} at byte "
                          f"{offset + at} ({layout})")


# Scanner state, carried from chunk to chunk.
_DEPTH, _IN_STRING, _ESCAPED, _OPENED, _ERROR_AT, _OBJECTS, _STATE_SIZE = 0, 1, 2, 3, 4, 5, 6


@numba.njit(cache=True, nogil=True)
def _scan(buffer: np.ndarray, state: np.ndarray) -> int:  # pragma: no cover - compiled
    """One pass over a chunk (modified in place); returns the index of the last top-level object end, or -1.

    Makes the array's objects one per line: its brackets become spaces, the commas between its
    objects newlines, and every raw newline a space (JSON strings cannot hold raw newlines).
    Counts the objects ended in ``state[_OBJECTS]``; sets ``state[_ERROR_AT]`` to the first byte
    that breaks "one array of objects" (and stops there).
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
        if c == 10 or c == 13:
            buffer[i] = 32
            continue
        if c == 32 or c == 9:
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
                    state[_OBJECTS] += 1
            continue
        if depth == 1 and c == 123:  # an object starts
            depth = 2
        elif depth == 1 and c == 44:  # comma between objects
            buffer[i] = 10
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
