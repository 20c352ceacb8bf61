"""Which files datagen wrote, so that it deletes or replaces only those.

A folder datagen writes into (a build folder; an export folder outside a build) is a
*root*: it holds ``.datagen/ledger/*.tsv``, lines of ``<sha256>\\t<path relative to the
root>``. A line is appended *before* its file is moved into place (write-ahead), so an
interrupted write never leaves a file of datagen's that the ledger does not name. A file
is datagen's when the ledger names its path with its current sha256: a file the user put
there, or changed since datagen wrote it, is never deleted or replaced (OwnershipError).

Each writer process appends to its own ledger file (``shard-00042.tsv`` for a shard,
``main.tsv`` otherwise), one ``write`` per line, so no two processes interleave in one file.
A torn line (power loss) is ignored when read: the file it named stays, unclaimed.

Temporary files are named ``.datagen-<name>.<pid>.<token>.tmp``; that prefix is the
only proof needed to remove one left by a process that no longer runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Callable, Iterable, Iterator

from datagen.errors import DatagenError, raise_if_machine_fault

log = logging.getLogger(__name__)

STATE_DIR = ".datagen"
LEDGER_DIR = "ledger"
MAIN_LEDGER = "main"
TMP_PREFIX = ".datagen-"
TMP_SUFFIX = ".tmp"
_LINE = re.compile(r"([0-9a-f]{64})\t([^\t\n]+)\Z")
_TMP = re.compile(re.escape(TMP_PREFIX) + r".*\.(\d+)\.[0-9a-f]+" + re.escape(TMP_SUFFIX) + r"\Z")
_CHUNK = 1 << 20


class OwnershipError(DatagenError):
    """datagen would replace or delete a file it cannot prove it wrote."""

    @classmethod
    def not_written_by_datagen(cls, location: str | Path) -> OwnershipError:
        """The error for a file (or object) at ``location`` that datagen would replace but did not write."""
        return cls(f"{location}: exists and was not written by datagen (or was changed since); datagen replaces "
                   "only its own files: move it away or choose another --out")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_root(folder: Path) -> bool:
    """Whether ``folder`` is a folder datagen keeps a ledger for."""
    return (Path(folder) / STATE_DIR / LEDGER_DIR).is_dir()


def mark_root(folder: Path) -> None:
    """Make ``folder`` (created if needed) a root: datagen will list there what it writes."""
    (Path(folder) / STATE_DIR / LEDGER_DIR).mkdir(parents=True, exist_ok=True)


def find_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` (a file or a folder) that is a root, else None."""
    path = Path(os.path.abspath(path))
    for folder in (path, *path.parents):
        if is_root(folder):
            return folder
    return None


class Ledger:
    """The claims of one writer process in the root ``root`` (``.datagen/ledger/<name>.tsv``)."""

    def __init__(self, root: Path, name: str = MAIN_LEDGER) -> None:
        self.root = Path(os.path.abspath(root))
        self.path = self.root / STATE_DIR / LEDGER_DIR / f"{name}.tsv"

    def relpath(self, path: Path) -> str:
        """``path`` relative to the root, as a POSIX string (raises ValueError if outside it)."""
        return Path(os.path.abspath(path)).relative_to(self.root).as_posix()

    def claim(self, path: Path, digest: str) -> None:
        """Record that datagen writes ``digest`` at ``path`` (call before the file appears)."""
        line = f"{digest}\t{self.relpath(path)}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def claims(root: Path, paths: Iterable[str] | None = None, prefix: str | None = None) -> dict[str, set[str]]:
    """Relative path -> every sha256 datagen claimed there, from all ledger files of ``root``.

    Args:
        paths: keep only these relative paths (None: all).
        prefix: keep only paths starting with this (e.g. ``"images/"``).
    """
    wanted = set(paths) if paths is not None else None
    out: dict[str, set[str]] = {}
    for ledger in sorted((Path(root) / STATE_DIR / LEDGER_DIR).glob("*.tsv")):
        with open(ledger, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = _LINE.match(line.rstrip("\n"))
                if match is None:
                    continue
                digest, relpath = match.groups()
                if (wanted is None or relpath in wanted) and (prefix is None or relpath.startswith(prefix)):
                    out.setdefault(relpath, set()).add(digest)
    return out


def compact(root: Path) -> None:
    """Drop repeated lines from the ledger files of ``root`` (a resumed write claims its file again),
    so that a resumed build ends with the ledger of an uninterrupted one. Call with no writer running."""
    for ledger in sorted((Path(root) / STATE_DIR / LEDGER_DIR).glob("*.tsv")):
        lines = ledger.read_bytes().splitlines(keepends=True)
        unique = list(dict.fromkeys(line for line in lines if line.endswith(b"\n")))
        if len(unique) != len(lines):
            os.replace(write_tmp(ledger, b"".join(unique)), ledger)


def owned(path: Path, digests: set[str] | None) -> bool:
    """Whether the file at ``path`` holds bytes datagen claimed there (``digests`` from ``claims``)."""
    return bool(digests) and Path(path).is_file() and sha256_file(Path(path)) in digests


def is_owned(path: Path) -> bool:
    """Whether ``path`` is a file datagen wrote (per the ledger of its root)."""
    root = find_root(Path(path).parent)
    if root is None:
        return False
    relpath = Ledger(root).relpath(path)
    return owned(path, claims(root, [relpath]).get(relpath))


def check_replaceable(path: Path, signature: Callable[[Path], bool] | None = None) -> None:
    """Raise OwnershipError if a file is at ``path`` that datagen did not write.

    Args:
        signature: for a path outside every root: tells whether an existing file is datagen's
            by its content (a generator tag); without it such a file is never replaced.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir() or path.is_symlink():
        raise OwnershipError(f"{path}: is a {'folder' if path.is_dir() else 'symbolic link'}; "
                             "datagen writes a file there only where there is none or its own")
    root = find_root(path.parent)
    if root is not None and is_owned(path):
        return
    if root is None and signature is not None and signature(path):
        return
    raise OwnershipError.not_written_by_datagen(path)


def tmp_path(path: Path) -> Path:
    """A temporary file beside ``path``, named so that datagen can tell it is its own."""
    path = Path(path)
    return path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def with_filename(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path`` if it names no file (a failed ``write`` does not), same class and errno."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Re-raise an OSError that names no file as one naming ``path``."""
    try:
        yield
    except OSError as exc:
        named = with_filename(exc, path)
        if named is exc:
            raise
        raise named from exc


def write_tmp(path: Path, data: bytes) -> Path:
    """Write ``data`` to a datagen temporary file beside ``path`` (synced); return the temporary path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        with naming(path), open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def commit(tmp: Path, path: Path, *, ledger: Ledger | None = None, digest: str | None = None,
           check: bool = True, signature: Callable[[Path], bool] | None = None) -> None:
    """Move a finished temporary file to ``path``, claiming it first in the ledger of its root.

    Args:
        ledger: the ledger to claim in; None: ``main`` of the root above ``path`` (no claim outside roots).
        digest: sha256 of the temporary file, if known (else it is read).
        check: refuse (OwnershipError) to replace a file datagen did not write.
        signature: see ``check_replaceable``.
    """
    try:
        if check:
            check_replaceable(path, signature)
        if ledger is None:
            root = find_root(Path(path).parent)
            ledger = Ledger(root) if root is not None else None
        if ledger is not None:
            ledger.claim(path, digest or sha256_file(tmp))
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def write_file(path: Path, data: bytes, *, ledger: Ledger | None = None, digest: str | None = None,
               check: bool = True, signature: Callable[[Path], bool] | None = None) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, claim, rename); see ``commit``.

    Args:
        digest: sha256 of ``data``, if already known.
    """
    path = Path(path)
    commit(write_tmp(path, data), path, ledger=ledger, digest=digest or hashlib.sha256(data).hexdigest(),
           check=check, signature=signature)


def remove_if_owned(path: Path, digests: set[str] | None = None) -> bool:
    """Delete ``path`` if datagen wrote it (``digests``: its claims, else read from the ledger)."""
    path = Path(path)
    if not (owned(path, digests) if digests is not None else is_owned(path)):
        return False
    path.unlink()
    return True


def remove_owned_files(root: Path) -> int:
    """Delete every file under ``root`` that datagen wrote there, then its ledger (every claim is now of
    a file gone or not datagen's). Folders left empty are removed too; nothing else is touched.

    Returns:
        The number of files removed.
    """
    root = Path(root)
    removed = 0
    parents: set[Path] = set()
    for relpath, digests in sorted(claims(root).items()):
        if remove_if_owned(root / relpath, digests):
            removed += 1
            parents.update(p for p in (root / relpath).parents if p != root and root in p.parents)
    for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError as exc:  # not empty (something else is there) is fine; a fault of the machine is not
            raise_if_machine_fault(exc)
    for ledger in (root / STATE_DIR / LEDGER_DIR).glob("*.tsv"):
        ledger.unlink()
    return removed


def sweep_tmp(folders: Iterable[Path], recursive: bool = True) -> int:
    """Delete datagen's temporary files in ``folders`` left by processes that no longer run."""
    removed = 0
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        found = Path(folder).rglob(f"{TMP_PREFIX}*{TMP_SUFFIX}") if recursive \
            else Path(folder).glob(f"{TMP_PREFIX}*{TMP_SUFFIX}")
        for tmp in found:
            match = _TMP.match(tmp.name)
            if match is not None and tmp.is_file() and not _running(int(match.group(1))):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():  # this process may still be writing it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _discard(tmp: Path) -> None:
    try:
        Path(tmp).unlink(missing_ok=True)
    except OSError:
        pass
