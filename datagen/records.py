"""The on-disk layout of a build folder, and reading its canonical records back.

A build folder holds::

    build.yaml            the resolved configuration
    manifest.json         schema and package version, seed, counts, skipped frames, checksums
    frames.jsonl          one line per built frame: its unmarked normalised image, camera, split
    records/*.jsonl       canonical records (one QARecord per line), in shards
    images/               the marked images the records point to
    exports/<format>/     what the writers produced
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from datagen.errors import DatagenError

#: Version of the record format and of what records state, in every manifest. 2: figures stated with
#: three significant digits (at least the configured decimals); speed and time questions name a mover
#: (label key ``mover``) and draw their givens to spread the answers; letters of two marked points laid
#: out as their own; no label on a pixel without source image content; each pose pair once; axis-distance
#: questions name the optical axis; chain answers end with a full stop.
SCHEMA = "datagen.records/2"
MANIFEST = "manifest.json"
RECORDS_DIR = "records"
IMAGES_DIR = "images"
FRAMES_INDEX = "frames.jsonl"


class NotABuildError(DatagenError):
    """A folder given as a build does not hold one."""


def check_build_dir(path: str | Path) -> Path:
    """Return ``path`` as a Path if it holds a build (manifest.json and records/), else raise."""
    path = Path(path)
    if not path.is_dir():
        raise NotABuildError(f"{path}: not a folder")
    if not (path / MANIFEST).is_file() or not (path / RECORDS_DIR).is_dir():
        raise NotABuildError(f"{path}: not a datagen build (expected {MANIFEST} and {RECORDS_DIR}/)")
    return path


def record_files(build_dir: str | Path, *, finished: bool = True) -> list[Path]:
    """The record shards of a build, in name order (``finished=False`` for a build still being written)."""
    folder = check_build_dir(build_dir) if finished else Path(build_dir)
    return sorted((folder / RECORDS_DIR).glob("*.jsonl"))


def iter_records(build_dir: str | Path, *, finished: bool = True) -> Iterator[dict]:
    """Yield every canonical record of a build as a dict, shard by shard, line by line."""
    for path in record_files(build_dir, finished=finished):
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatagenError(f"{path}:{line_number}: not a JSON record ({exc.msg})") from None


def read_manifest(build_dir: str | Path) -> dict:
    path = check_build_dir(build_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatagenError(f"{path}: not valid JSON ({exc.msg})") from None


def iter_frames_index(build_dir: str | Path) -> Iterator[dict]:
    """Yield the entries of ``frames.jsonl`` (none if the build has not written it yet)."""
    path = Path(build_dir) / FRAMES_INDEX
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
