"""The folders a training run writes whole (a checkpoint, ``model/``, ``base-model/``), put in
place and removed through the run folder's ledger (:mod:`datagen.ownership`).

The run folder is a ledger root. A folder is written under ``<name>.partial``; when it is
complete, each of its files is claimed at its final path, then the folder is renamed, so
the ledger names every file before it appears. Replacing or deleting such a folder
touches only the files the ledger proves the trainer wrote: a file someone else put
there is never deleted. A ``.partial`` folder is the trainer's unfinished write (only the
trainer makes one) and is removed whole when the same folder is written again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Iterator

from datagen import ownership
from datagen.ownership import Ledger, OwnershipError

PARTIAL_SUFFIX = ".partial"


@contextlib.contextmanager
def writing(final: Path) -> Iterator[Path]:
    """An empty ``<final>.partial`` folder to write into, published as ``final`` when the block ends.

    Raises:
        OwnershipError: ``final`` holds a file the trainer did not write (see :func:`publish`).
    """
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    if partial.exists():
        shutil.rmtree(partial)  # an unfinished write of this run, left by an interruption
    partial.mkdir(parents=True)
    yield partial
    publish(partial, final)


def publish(partial: Path, final: Path) -> None:
    """Move the complete folder ``partial`` to ``final``, claiming each of its files there first.

    An earlier ``final`` (a resumed run writing it again) is replaced if every file in it is
    the trainer's.

    Raises:
        OwnershipError: ``final`` holds anything else; nothing is deleted then.
    """
    ledger = _ledger(final)
    if os.path.lexists(final):
        mine, others = _owned_files(final, ledger)
        if others:
            raise OwnershipError(f"{others[0]}: not written by datagen (or changed since), and {final} is to be "
                                 f"replaced; datagen deletes only its own files: move it away and run again")
        _remove(final, mine)
    for path in sorted(p for p in partial.rglob("*") if p.is_file()):
        ledger.claim(final / path.relative_to(partial), ownership.sha256_file(path))
    os.replace(partial, final)


def remove(folder: Path) -> list[Path]:
    """Delete the files of ``folder`` that the trainer wrote, and the folders they leave empty.

    Returns:
        The files left there, which the ledger does not prove the trainer wrote.
    """
    mine, others = _owned_files(folder, _ledger(folder))
    _remove(folder, mine)
    return others


def _ledger(path: Path) -> Ledger:
    root = ownership.find_root(Path(path).parent)
    if root is None:
        raise OwnershipError(f"{path}: not inside a run folder of datagen train (no {ownership.STATE_DIR}/ "
                             f"ledger above it), so datagen cannot tell its own files there")
    return Ledger(root)


def _owned_files(folder: Path, ledger: Ledger) -> tuple[list[Path], list[Path]]:
    """(files under ``folder`` the ledger proves datagen wrote, every other entry but folders)."""
    if folder.is_symlink() or not folder.is_dir():
        return [], [folder]
    digests = ownership.claims(ledger.root, prefix=ledger.relpath(folder) + "/")
    mine, others = [], []
    for top, dirs, files in os.walk(folder):  # symbolic links to folders are listed, not followed
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            path = Path(top, name)
            (mine if ownership.owned(path, digests.get(ledger.relpath(path))) else others).append(path)
    return mine, others


def _remove(folder: Path, files: list[Path]) -> None:
    """Delete ``files`` (under ``folder``), then the folders they leave empty, ``folder`` included."""
    emptied = {parent for path in files for parent in path.parents if parent == folder or folder in parent.parents}
    for path in files:
        path.unlink()
    for parent in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        try:
            parent.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # not empty: it holds what is not the trainer's
                raise
