"""Where a build's files go: a folder (local, or shared by every node of a cluster) or an object store.

The pipeline names every file by its path relative to the build's root (POSIX, ``records/shard-00003.jsonl``)
and writes through one ``OutputStore``; ``open_store`` picks the kind from ``--out``:

- a path (or ``file://`` URL): ``LocalStore``. Files are written to a temporary file and renamed into place,
  claimed first in the ledger of ``datagen.ownership`` (``.datagen/ledger/*.tsv``, appended lines).
- any other fsspec URL (``s3://bucket/prefix``, the ``s3`` extra): ``ObjectStore``. An object store has no
  rename and no append, so:

  * a write is one PUT: an object is seen whole or not at all, never half;
  * the ledger is one empty object per claim, ``.datagen/claims/<relative path>/<sha256>``, written *before*
    the object it names (write-ahead, as on a folder). Claims are idempotent: two writers claiming the same
    bytes write the same key, so nothing is appended and nothing interleaves. An object is datagen's when a
    claim names its path with the sha256 of its current bytes; anything else (a user's upload, an object
    changed since) is never overwritten or deleted;
  * a shard's records object is its commit point: written last, after its images and notes, with a
    create-only PUT (``If-None-Match: *``), so of two attempts of one shard racing (a node thought dead
    that was not) one publishes and the other finds the same bytes there and publishes nothing.

Images are content-addressed (``images/3f/3f9a0c1e2b7d4a51.jpg``): a second write of one is harmless, and
a different file under that name stops the build (OwnershipError).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import logging
import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

from datagen import ownership
from datagen._optional import require
from datagen.errors import DatagenError, MissingDependencyError
from datagen.ownership import Ledger, OwnershipError

log = logging.getLogger(__name__)

CLAIMS_DIR = f"{ownership.STATE_DIR}/claims"
ROOT_MARKER = f"{ownership.STATE_DIR}/root.json"
#: Content-addressed objects an ObjectStore writer holds before writing them (claims first) in one batch.
BATCH_OBJECTS = 32
#: Parallel requests of one ObjectStore writer while it writes a batch.
BATCH_THREADS = 8
#: Objects an ObjectStore reads in one parallel batch (``read_many``).
READ_BATCH = 256
#: errno of a hard link the file system refuses (not a file there): publish falls back to a rename.
_NO_LINK_ERRNOS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS})


class BuildFolderError(DatagenError):
    """The output folder cannot hold a build (not a folder, or another program's files)."""


class StoreError(DatagenError):
    """The output store cannot be used: unreachable, no credentials, no such bucket."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_url(out: str | Path) -> bool:
    """Whether ``out`` names an fsspec URL other than a local file (``s3://b/p``, not ``/data/out``)."""
    text = str(out)
    return "://" in text and not text.startswith("file://")


def open_store(out, storage_options: dict | None = None) -> "OutputStore":
    """The store ``out`` names: an OutputStore as it is, a path or ``file://`` URL, or an fsspec URL.

    Args:
        storage_options: keyword arguments of the fsspec file system (``{"client_kwargs":
            {"endpoint_url": ...}}`` for an S3 server other than AWS). They travel with the store to
            every worker: give credentials through each machine's environment (``AWS_ACCESS_KEY_ID``...,
            an instance role), not here.
    """
    if isinstance(out, OutputStore):
        return out
    text = str(out)
    if is_url(text):
        return ObjectStore(text, storage_options)
    return LocalStore(Path(text[len("file://"):] if text.startswith("file://") else text))


class StoreWriter(ABC):
    """Writes of one writer (a shard, or the build's driver), each claimed before it appears."""

    @abstractmethod
    def put(self, relpath: str, data: bytes) -> None:
        """Write ``data`` at ``relpath`` whole, replacing what is there (the caller checked it may)."""

    @abstractmethod
    def put_content(self, relpath: str, data: bytes, digest: str) -> None:
        """Write content-addressed ``data`` (may be deferred until ``flush``); the same bytes there already
        are fine, other bytes raise OwnershipError."""

    @abstractmethod
    def publish(self, relpath: str, data: bytes) -> bool:
        """Commit: write ``data`` at ``relpath`` once, after everything put before it. Returns False if
        another attempt had published the same bytes there. Raises OwnershipError if a file datagen did
        not write is there."""

    def flush(self) -> None:
        """Write whatever ``put_content`` deferred."""


class OutputStore(ABC):
    """A build's root: files by relative POSIX path, and the proof of which of them datagen wrote."""

    url: str

    def identity(self) -> str:
        """What tells two stores apart: equal for the same output reached the same way."""
        return self.url

    def location(self, relpath: str = "") -> str:
        """``relpath`` as a user names it (a path or a URL), for messages."""
        return f"{self.url.rstrip('/')}/{relpath}" if relpath else self.url

    @abstractmethod
    def exists(self, relpath: str) -> bool: ...

    @abstractmethod
    def read_bytes(self, relpath: str) -> bytes: ...

    def read_many(self, relpaths: list[str]) -> Iterator[tuple[str, bytes]]:
        """``(relpath, bytes)`` of each file, in order (an object store fetches them in parallel batches)."""
        for relpath in relpaths:
            yield relpath, self.read_bytes(relpath)

    @abstractmethod
    def listing(self, folder: str = "") -> set[str]:
        """Relative paths of the files directly in ``folder`` ("" for the root), one listing."""

    @abstractmethod
    def check(self, allow_nonempty: bool = False) -> None:
        """Before any work: raise (BuildFolderError, StoreError) unless a build can be written here."""

    @abstractmethod
    def claim_root(self, allow_nonempty: bool = False) -> None:
        """``check``, then make the root datagen's (its ledger exists from now on)."""

    @abstractmethod
    def claims(self, paths=None, prefix: str | None = None) -> dict[str, set[str]]:
        """Relative path -> every sha256 datagen claimed there (``paths``: only these; ``prefix``: only below)."""

    @abstractmethod
    def writer(self, name: str = ownership.MAIN_LEDGER) -> StoreWriter: ...

    def sha256(self, relpath: str) -> str:
        return sha256_bytes(self.read_bytes(relpath))

    def owned(self, relpath: str, digests: set[str] | None) -> bool:
        """Whether the file at ``relpath`` holds bytes datagen claimed there (``digests`` from ``claims``)."""
        return bool(digests) and self.exists(relpath) and self.sha256(relpath) in digests

    @abstractmethod
    def remove_if_owned(self, relpath: str, digests: set[str]) -> bool: ...

    @abstractmethod
    def remove_owned_files(self) -> int:
        """Delete every file datagen wrote here, then its claims; nothing else. Returns the count."""

    def prepare(self) -> None:
        """Make the layout and remove what interrupted writes left (called by the driver, no writer running)."""

    def compact(self) -> None:
        """Tidy the ledger at the end of a build (no writer running)."""


# --- a folder ---------------------------------------------------------------------------------------


class LocalStore(OutputStore):
    """A folder on this machine, or a shared file system mounted at the same path on every node."""

    LAYOUT = ("records", "images", "work")

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = str(root)

    def __reduce__(self):
        return (LocalStore, (self.root,))

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def exists(self, relpath: str) -> bool:
        return self.path(relpath).is_file()

    def read_bytes(self, relpath: str) -> bytes:
        return self.path(relpath).read_bytes()

    def listing(self, folder: str = "") -> set[str]:
        try:
            with os.scandir(self.path(folder)) as entries:
                return {f"{folder}/{e.name}".lstrip("/") for e in entries if e.is_file(follow_symlinks=False)}
        except (FileNotFoundError, NotADirectoryError):
            return set()

    def sha256(self, relpath: str) -> str:
        return ownership.sha256_file(self.path(relpath))

    def check(self, allow_nonempty: bool = False) -> None:
        root = self.root
        if os.path.lexists(root) and not root.is_dir():
            raise BuildFolderError(f"{root}: exists and is not a folder; --out must name a folder")
        if ownership.is_root(root) or allow_nonempty:
            return
        if root.is_dir() and any(root.iterdir()):
            raise BuildFolderError(
                f"{root}: not empty and not a datagen build folder (it has no {ownership.STATE_DIR}/); choose a "
                "new or empty folder, or pass --allow-nonempty to build beside its files (datagen never changes or "
                "removes a file it did not write)")

    def claim_root(self, allow_nonempty: bool = False) -> None:
        self.check(allow_nonempty)
        if not ownership.is_root(self.root):
            ownership.mark_root(self.root)

    def claims(self, paths=None, prefix: str | None = None) -> dict[str, set[str]]:
        return ownership.claims(self.root, paths, prefix)

    def writer(self, name: str = ownership.MAIN_LEDGER) -> StoreWriter:
        return _LocalWriter(self, Ledger(self.root, name))

    def remove_if_owned(self, relpath: str, digests: set[str]) -> bool:
        return ownership.remove_if_owned(self.path(relpath), digests)

    def remove_owned_files(self) -> int:
        return ownership.remove_owned_files(self.root)

    def prepare(self) -> None:
        for name in self.LAYOUT:
            self.path(name).mkdir(parents=True, exist_ok=True)
        ownership.sweep_tmp([self.root], recursive=False)  # left by an interrupted write
        ownership.sweep_tmp([self.path(name) for name in (*self.LAYOUT, "exports", ownership.STATE_DIR)])

    def compact(self) -> None:
        ownership.compact(self.root)


class _LocalWriter(StoreWriter):
    def __init__(self, store: LocalStore, ledger: Ledger) -> None:
        self.store = store
        self.ledger = ledger

    def put(self, relpath: str, data: bytes) -> None:
        ownership.write_file(self.store.path(relpath), data, ledger=self.ledger, check=False)

    def put_content(self, relpath: str, data: bytes, digest: str) -> None:
        path = self.store.path(relpath)
        if path.exists():
            if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
                return  # written before, by this build or an interrupted run of it
            raise OwnershipError(f"{path}: exists with other content; datagen does not replace a file it did not "
                                 "write (move it away)")
        ownership.write_file(path, data, ledger=self.ledger, digest=digest, check=False)

    def publish(self, relpath: str, data: bytes) -> bool:
        """Claim, then hard-link a finished temporary file into place: a link never replaces a file, so of
        two racing attempts only one publishes (a file system without hard links falls back to a rename)."""
        path = self.store.path(relpath)
        tmp = ownership.write_tmp(path, data)
        digest = sha256_bytes(data)
        try:
            self.ledger.claim(path, digest)
            with ownership.naming(path):
                return _link_once(tmp, path, data, digest, lambda: self.store.owned(relpath, self._claims(relpath)))
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _claims(self, relpath: str) -> set[str]:
        return self.store.claims([relpath]).get(relpath, set())


def _link_once(tmp: Path, path: Path, data: bytes, digest: str, owned) -> bool:
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        pass
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
        if not os.path.lexists(path):
            os.replace(tmp, path)
            return True
    if path.is_file() and path.stat().st_size == len(data) and ownership.sha256_file(path) == digest:
        return False  # another attempt of this shard published the same bytes
    if not owned():
        raise OwnershipError.not_written_by_datagen(path)
    os.replace(tmp, path)  # datagen's own file from an earlier run: replaced
    return True


# --- an object store, through fsspec --------------------------------------------------------------


def _backend_faults(method):
    """Re-raise what the storage backend raises outside OSError (botocore's connection errors have no common
    base with it) as an OSError naming the store: a fault of the machine, which stops the build for a resume."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (OSError, DatagenError):
            raise
        except Exception as exc:
            store = getattr(self, "store", self)
            raise OSError(errno.EIO, f"{type(exc).__name__}: {exc}", store.url) from exc
    return wrapper


class ObjectStore(OutputStore):
    """A prefix of an object store (``s3://bucket/prefix``) through fsspec; see the module docstring."""

    def __init__(self, url: str, storage_options: dict | None = None) -> None:
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs = None
        self._root = None

    def __reduce__(self):
        return (ObjectStore, (self.url, self.storage_options))

    def identity(self) -> str:
        return f"{self.url} {json.dumps(self.storage_options, sort_keys=True, default=str)}"

    @property
    def fs(self):
        if self._fs is None:
            self._fs, self._root = _url_to_fs(self.url, self.storage_options)
        return self._fs

    @property
    def root(self) -> str:
        self.fs  # noqa: B018  (resolves the root with the file system)
        return self._root.rstrip("/")

    def key(self, relpath: str) -> str:
        return f"{self.root}/{relpath}"

    @_backend_faults
    def exists(self, relpath: str) -> bool:
        self.fs.invalidate_cache()  # other processes write here too: never trust a cached listing
        return self.fs.isfile(self.key(relpath))

    @_backend_faults
    def read_bytes(self, relpath: str) -> bytes:
        return self.fs.cat_file(self.key(relpath))

    def read_many(self, relpaths: list[str]) -> Iterator[tuple[str, bytes]]:
        for start in range(0, len(relpaths), READ_BATCH):
            chunk = relpaths[start: start + READ_BATCH]
            found = self._cat([self.key(relpath) for relpath in chunk])
            for relpath in chunk:
                yield relpath, found[self.key(relpath)]

    @_backend_faults
    def _cat(self, keys: list[str]) -> dict:
        return self.fs.cat(keys)

    @_backend_faults
    def listing(self, folder: str = "") -> set[str]:
        self.fs.invalidate_cache()
        base = f"{self.root}/{folder}".rstrip("/")
        try:
            keys = self.fs.find(base, maxdepth=1)
        except FileNotFoundError:
            return set()
        return {key[len(self.root) + 1:] for key in keys if key.startswith(self.root + "/")}

    def check(self, allow_nonempty: bool = False) -> None:
        bucket = self.root.split("/")[0]
        try:
            self.fs.info(bucket)  # credentials, endpoint, bucket: before any work
            found = self.fs.find(self.root, maxdepth=1, withdirs=True)
        except FileNotFoundError:
            raise StoreError(f"{self.url}: bucket {bucket!r} does not exist (or these credentials cannot see it); "
                             "create it first, or check --out") from None
        except PermissionError as exc:
            raise StoreError(f"{self.url}: access denied ({exc}); check the credentials' permissions") from None
        except Exception as exc:  # botocore's NoCredentialsError, EndpointConnectionError, ...: no common base
            raise StoreError(f"{self.url}: cannot use the object store ({type(exc).__name__}: {exc}); set "
                             "credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or an instance "
                             "role) and, for a server other than AWS, its endpoint (AWS_ENDPOINT_URL)") from None
        if allow_nonempty or self.exists(ROOT_MARKER):
            return
        if found:
            raise BuildFolderError(
                f"{self.url}: not empty and not a datagen build (it has no {ROOT_MARKER}); choose a new prefix, or "
                "pass --allow-nonempty to build beside its objects (datagen never changes or removes an object it "
                "did not write)")

    def claim_root(self, allow_nonempty: bool = False) -> None:
        self.check(allow_nonempty)
        if not self.exists(ROOT_MARKER):
            self.fs.pipe_file(self.key(ROOT_MARKER), json.dumps({"datagen": "build root"}).encode() + b"\n")

    @_backend_faults
    def claims(self, paths=None, prefix: str | None = None) -> dict[str, set[str]]:
        wanted = set(paths) if paths is not None else None
        if wanted is not None:  # list only the folders those paths are in
            listings = sorted({p.split("/", 1)[0] + ("/" if "/" in p else "") for p in wanted})
        else:
            listings = [prefix or ""]
        out: dict[str, set[str]] = {}
        base = f"{self.root}/{CLAIMS_DIR}/"
        self.fs.invalidate_cache()
        for listing in listings:
            for key in self.fs.find(base + listing):
                relpath, _, digest = key[len(base):].rpartition("/")
                if len(digest) != 64 or (wanted is not None and relpath not in wanted):
                    continue
                if prefix is None or relpath.startswith(prefix):
                    out.setdefault(relpath, set()).add(digest)
        return out

    def claim_key(self, relpath: str, digest: str) -> str:
        return f"{self.root}/{CLAIMS_DIR}/{relpath}/{digest}"

    def writer(self, name: str = ownership.MAIN_LEDGER) -> StoreWriter:
        return _ObjectWriter(self)

    @_backend_faults
    def remove_if_owned(self, relpath: str, digests: set[str]) -> bool:
        if not self.owned(relpath, digests):
            return False
        self.fs.rm_file(self.key(relpath))
        return True

    @_backend_faults
    def remove_owned_files(self) -> int:
        removed = sum(self.remove_if_owned(relpath, digests) for relpath, digests in sorted(self.claims().items()))
        claims_dir = f"{self.root}/{CLAIMS_DIR}"
        if self.fs.find(claims_dir):
            self.fs.rm(claims_dir, recursive=True)  # what they named is gone, or not datagen's
        return removed


class _ObjectWriter(StoreWriter):
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.pending: dict[str, tuple[bytes, str]] = {}

    @_backend_faults
    def _claim(self, items: dict[str, str]) -> None:
        """Write the claim objects of ``{relpath: digest}`` (before the objects they name)."""
        self.store.fs.pipe({self.store.claim_key(relpath, digest): b"" for relpath, digest in items.items()})

    @_backend_faults
    def put(self, relpath: str, data: bytes) -> None:
        self._claim({relpath: sha256_bytes(data)})
        self.store.fs.pipe_file(self.store.key(relpath), data)

    def put_content(self, relpath: str, data: bytes, digest: str) -> None:
        self.pending[relpath] = (data, digest)
        if len(self.pending) >= BATCH_OBJECTS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, {}
        self._claim({relpath: digest for relpath, (_, digest) in batch.items()})
        with ThreadPoolExecutor(BATCH_THREADS) as pool:
            list(pool.map(lambda item: self._create(item[0], *item[1]), batch.items()))

    @_backend_faults
    def _create(self, relpath: str, data: bytes, digest: str) -> bool:
        """Write an object only where none is; True if written, False if the same bytes were there."""
        key = self.store.key(relpath)
        try:
            self.store.fs.pipe_file(key, data, mode="create")
            return True
        except FileExistsError:
            if sha256_bytes(self.store.fs.cat_file(key)) == digest:
                return False
        raise OwnershipError(f"{self.store.location(relpath)}: exists with other content; datagen does not "
                             "replace an object it did not write (move it away)")

    @_backend_faults
    def publish(self, relpath: str, data: bytes) -> bool:
        self.flush()
        digest = sha256_bytes(data)
        self._claim({relpath: digest})
        try:
            return self._create(relpath, data, digest)
        except OwnershipError:
            claimed = self.store.claims([relpath]).get(relpath, set()) - {digest}
            if not self.store.owned(relpath, claimed):
                raise
        self.store.fs.pipe_file(self.store.key(relpath), data)  # datagen's own object from an earlier run
        return True


def _url_to_fs(url: str, storage_options: dict):
    """The fsspec file system of ``url`` and the root path in it; a missing backend names its pip extra.

    A new file system each time (not fsspec's cached instance), so credentials are read from the
    environment as it is now.
    """
    fsspec = require("fsspec", "s3")
    try:
        return fsspec.core.url_to_fs(url, **{"skip_instance_cache": True, **storage_options})
    except ImportError as exc:
        protocol = url.split("://", 1)[0]
        extra = "'datagen[s3]'" if protocol in ("s3", "s3a") else f"the fsspec backend of {protocol}://"
        raise MissingDependencyError(f"{url}: {exc}; install it with: pip install {extra}") from None
    except ValueError as exc:
        raise StoreError(f"{url}: not a storage URL fsspec knows ({exc})") from None
