"""Reading Arrow tables (Feather and Parquet), with errors that name the file and the layout expected.

Argoverse 2 stores its calibration, poses and LiDAR sweeps as Feather v2 files; the Waymo Open
Dataset v2 stores each component as a Parquet file per segment. A file that is truncated, not
Arrow, or lacks a column the layout needs becomes a ``SourceError`` whose message starts with
the path, so a build skips and counts the frame. Columns come back as numpy arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq

from datagen.errors import SourceError
from datagen.sources._io import require_file


def read_feather(path: Path, layout: str, columns: Iterable[str] | None = None) -> pa.Table:
    """A Feather (Arrow IPC) file as a table, checked to hold ``columns`` (all of it if None)."""
    require_file(path, layout)
    wanted = None if columns is None else list(columns)
    try:
        table = feather.read_table(path, memory_map=False)
    except pa.ArrowException as exc:
        raise SourceError(f"{path}: not a readable Feather file ({exc}) ({layout})") from None
    if wanted is not None:
        require_columns(table.schema, path, wanted, layout)
        table = table.select(wanted)
    return table


def parquet_file(path: Path, layout: str) -> pq.ParquetFile:
    """An open Parquet file (its footer read, no data), or SourceError naming it."""
    require_file(path, layout)
    try:
        return pq.ParquetFile(path, memory_map=False)
    except pa.ArrowException as exc:
        raise SourceError(f"{path}: not a readable Parquet file ({exc}) ({layout})") from None


def read_parquet(handle: pq.ParquetFile, path: Path, columns: list[str], layout: str,
                 row_group: int | None = None) -> pa.Table:
    """``columns`` of a Parquet file (of one row group if given), checked to exist."""
    require_columns(handle.schema_arrow, path, columns, layout)
    try:
        if row_group is None:
            return handle.read(columns=columns)
        return handle.read_row_group(row_group, columns=columns)
    except pa.ArrowException as exc:
        raise SourceError(f"{path}: cannot read columns {columns} ({exc}) ({layout})") from None


def require_columns(schema: pa.Schema, path: Path, columns: Iterable[str], layout: str) -> None:
    """SourceError naming the file and the missing columns unless ``schema`` has all ``columns``."""
    missing = [name for name in columns if name not in schema.names]
    if missing:
        raise SourceError(f"{path}: missing column(s) {missing}; found {schema.names[:12]} ({layout})")


def column_array(table: pa.Table, name: str, path: Path, layout: str, dtype=None) -> np.ndarray:
    """One column as a numpy array (``dtype`` if given); nulls and non-numbers become SourceError."""
    column = table.column(name)
    if column.null_count:
        raise SourceError(f"{path}: column {name!r} has {column.null_count} empty value(s) ({layout})")
    try:
        array = column.to_numpy()
        return array if dtype is None else array.astype(dtype)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise SourceError(f"{path}: column {name!r} is not {dtype or 'an array'} ({exc}) ({layout})") from None


def fixed_lists(table: pa.Table, name: str, size: int, path: Path, layout: str) -> np.ndarray:
    """A column of lists of ``size`` numbers each (e.g. flattened 4x4 transforms) as (N, size) float64."""
    column = table.column(name).combine_chunks()
    if column.null_count:
        raise SourceError(f"{path}: column {name!r} has {column.null_count} empty value(s) ({layout})")
    if not (pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type)
            or pa.types.is_large_list(column.type)):
        raise SourceError(f"{path}: column {name!r} must hold lists of {size} numbers, got {column.type} ({layout})")
    lengths = np.asarray(pc.list_value_length(column).to_numpy(zero_copy_only=False))
    if len(column) and not np.all(lengths == size):
        bad = int(np.flatnonzero(lengths != size)[0])
        raise SourceError(f"{path}: column {name!r} row {bad} has {lengths[bad]} values, expected {size} "
                          f"({layout})")
    values = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
    return values.reshape(len(column), size)
