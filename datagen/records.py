"""The on-disk layout of a build folder, and reading its canonical records back.

A build folder holds::

    build.yaml            the resolved configuration
    manifest.json         schema and package version, seed, counts, skipped frames, checksums
    frames.jsonl          one line per built frame: its unmarked normalised image, camera, split
    records/*.jsonl       canonical records (one QARecord per line), in shards
    images/               the marked images the records point to
    exports/<format>/     what the writers produced
    work/                 the shards' notes (for the pose task and resuming)
    .datagen/ledger/      every file datagen wrote here, with its sha256 (datagen.ownership)

A finished build's record files are the ones its manifest lists (``checksums``): other
files the user keeps in ``records/`` are not read as records.
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
BUILD_CONFIG = "build.yaml"
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
    """The record shards of a build, in name order.

    A finished build's are those its manifest lists; ``finished=False`` (a build still being
    written) lists every ``records/*.jsonl``.
    """
    if not finished:
        return sorted((Path(build_dir) / RECORDS_DIR).glob("*.jsonl"))
    folder = check_build_dir(build_dir)
    listed = read_manifest(folder).get("checksums")
    if not isinstance(listed, dict):  # a manifest from before the list: every records/*.jsonl
        return sorted((folder / RECORDS_DIR).glob("*.jsonl"))
    names = sorted(name for name in listed if isinstance(name, str) and name.startswith(f"{RECORDS_DIR}/")
                   and "/" not in name[len(RECORDS_DIR) + 1:] and name.endswith(".jsonl"))
    return [folder / name for name in names]


def iter_records(build_dir: str | Path, *, finished: bool = True) -> Iterator[dict]:
    """Yield every canonical record of a build as a dict, shard by shard, line by line."""
    for path in record_files(build_dir, finished=finished):
        if not path.is_file():
            raise DatagenError(f"{path}: record file missing (the build's {MANIFEST} lists it)")
        with path.open("rb") as handle:
            for line_number, line in enumerate(handle, 1):
                if line.strip():
                    yield _json_line(line, path, line_number)


def _json_line(line: bytes, path: Path, line_number: int) -> dict:
    try:
        return json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, a number past Python's digit limit
        raise DatagenError(f"{path}:{line_number}: not a JSON record ({getattr(exc, 'msg', exc)})") from None


def read_manifest(build_dir: str | Path) -> dict:
    path = check_build_dir(build_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DatagenError(f"{path}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(manifest, dict):
        raise DatagenError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    return manifest


def iter_frames_index(build_dir: str | Path) -> Iterator[dict]:
    """Yield the entries of ``frames.jsonl`` (none if the build has not written it yet)."""
    path = Path(build_dir) / FRAMES_INDEX
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
