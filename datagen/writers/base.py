"""The shared streaming writer: canonical records in, one consumer's training files out.

A writer is a :class:`Writer` subclass registered by name in ``datagen.writers.REGISTRY``.
It turns one canonical record (a dict, DESIGN.md section 4) into one row with
``to_row(record) -> dict``; this base class does the rest, one record at a time so that
memory does not grow with the size of the build:

1. read the records of the chosen splits shard by shard (``records.iter_records``);
2. skip a record the format cannot take (an image missing on disk, a limit of the
   consumer), log it, count it and append it to ``skipped.jsonl``; ``strict`` raises instead;
3. write each row to the file of its split (``<split>.jsonl`` unless the format says
   otherwise) through a temporary file renamed when the export succeeds;
4. let the format add its file-level extras (``finish``: a dataset_info.json, a meta file).

Every file is claimed in the ledger of the build folder (or of the export folder, when it
lies outside the build) before it is moved into place, and a file there that datagen did
not write is never replaced nor removed (datagen.ownership).

``export()`` is the entry point the CLI calls.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable, Iterator

from datagen import ownership
from datagen.errors import DatagenError
from datagen.records import check_build_dir, iter_records
from datagen.types import SPLITS

log = logging.getLogger(__name__)

PATH_MODES = ("absolute", "relative")
EXPORTS_DIR = "exports"
SKIPPED_FILE = "skipped.jsonl"
FIRST_IDS = 20  # skipped ids kept in memory per reason; skipped.jsonl lists them all


class ExportError(DatagenError):
    """A build cannot be exported in the requested format."""


class MissingImageError(ExportError):
    """A record points to an image file that is not in the build (raised with ``strict``)."""


@dataclass(frozen=True)
class ExportOptions:
    """How to export.

    Attributes:
        splits: splits to export; None exports every split.
        strict: raise on the first record that would be skipped instead of skipping it.
        paths: "absolute" image paths, or "relative" to the build folder (path-based formats).
        variant: the format's variant (None = its default); see each writer's ``variants``.
    """

    splits: tuple[str, ...] | None = None
    strict: bool = False
    paths: str = "absolute"
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.splits is not None:
            unknown = sorted(set(self.splits) - set(SPLITS))
            if unknown:
                raise ExportError(f"unknown split(s) {unknown}; known: {', '.join(SPLITS)}")
            object.__setattr__(self, "splits", tuple(self.splits))
        if self.paths not in PATH_MODES:
            raise ExportError(f"paths must be one of {PATH_MODES}, got {self.paths!r}")


@dataclass
class ExportReport:
    """What an export wrote and what it left out.

    Attributes:
        format: writer name.
        out_dir: folder the files were written to.
        files: every file written (data files first, then extras such as dataset_info.json).
        records: records of the selected splits that were read.
        rows: rows written, per split (a row is a record, or a frame for the depthlm format).
        skipped: records left out, per reason.
        skipped_ids: the first ``FIRST_IDS`` ids left out, per reason.
        skipped_file: ``skipped.jsonl`` listing every record left out, or None if none was.
        notes: what the consumer must be told (its media folder, the depth kind).
        warnings: where the consumer's defaults would change the images or cut the records.
    """

    format: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    records: int = 0
    rows: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    skipped_ids: dict[str, list[str]] = field(default_factory=dict)
    skipped_file: Path | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class JsonlSink:
    """Writes one JSON object per line to ``path`` through a temporary file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = ownership.tmp_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ownership.check_replaceable(path)  # before writing, not after
        self.handle = open(self.tmp, "w", encoding="utf-8")

    def write(self, row: dict) -> None:
        self.handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False))
        self.handle.write("\n")

    def close(self) -> None:
        """Finish the file and move it into place (claimed in the ledger first)."""
        with ownership.naming(self.path):
            self.handle.close()
        ownership.commit(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the unfinished file (also when the disk that refused it refuses the close)."""
        try:
            self.handle.close()
        except OSError:
            pass
        try:
            self.tmp.unlink(missing_ok=True)
        except OSError:
            pass


class JsonArraySink(JsonlSink):
    """Writes a single JSON array, one element per line, without holding it in memory."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.handle.write("[")
        self.first = True

    def write(self, row: dict) -> None:
        self.handle.write("\n" if self.first else ",\n")
        self.handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False))
        self.first = False

    def close(self) -> None:
        self.handle.write("\n]\n")
        super().close()


#: The image placeholder of LLaVA-style conversations.
IMAGE_TOKEN = "<image>"


class Writer:
    """Base class of the exporters; a subclass implements ``to_row`` and, if needed, the hooks.

    Args:
        build_dir: the build folder (holds manifest.json, records/, images/).
        out_dir: folder to write into (created).
        options: how to export.

    Raises:
        ExportError: ``options.variant`` is not one of the format's ``variants``.
    """

    name: ClassVar[str] = ""
    suffix: ClassVar[str] = ".jsonl"
    variants: ClassVar[tuple[str, ...]] = ()  # the first is the default
    sink_class: ClassVar[type] = JsonlSink
    #: What to tell the user when image paths are written relative to the build folder ({build_dir}).
    relative_paths_hint: ClassVar[str] = ""

    def __init__(self, build_dir: Path, out_dir: Path, options: ExportOptions) -> None:
        self.build_dir = Path(build_dir).resolve()
        self._root = str(self.build_dir)
        self.out_dir = Path(out_dir).resolve()
        self.options = options
        self.variant = self._check_variant(options.variant)
        self.report = ExportReport(format=self.name, out_dir=self.out_dir)
        self._skipped_sink: JsonlSink | None = None

    def _check_variant(self, variant: str | None) -> str | None:
        if variant is None:
            return self.variants[0] if self.variants else None
        if variant not in self.variants:
            known = ", ".join(self.variants) or "(this format has none)"
            raise ExportError(f"format {self.name!r} has no variant {variant!r}; known: {known}")
        return variant

    # ---- what a format implements -------------------------------------------------------------

    def to_row(self, record: dict) -> dict:
        """The row of one canonical record in this format."""
        raise NotImplementedError

    def skip_reason(self, record: dict) -> tuple[str, str] | None:
        """(reason, detail) if the record must be left out, else None. Default: a missing image."""
        for image in record["images"]:
            if not os.path.isfile(self.image_file(image)):
                return "missing_image", f"{image} not found in {self.build_dir}"
        return None

    def finish(self, files: dict[str, Path]) -> list[Path]:
        """Write file-level extras once the data files (``files``: split -> path) are in place."""
        if self.options.paths == "relative" and files and self.relative_paths_hint:
            hint = self.relative_paths_hint.format(build_dir=self.build_dir)
            self.report.notes.append(f"{hint} (image paths are relative to it)")
        return []

    def file_name(self, split: str) -> str:
        return f"{split}{self.suffix}"

    def open_sink(self, path: Path):
        return self.sink_class(path)

    # ---- helpers for formats ------------------------------------------------------------------

    def image_file(self, image: str) -> str:
        """The absolute path of a build image given relative to the build folder.

        A string, not a Path: pathlib costs a quarter of the export time in this per-record loop.
        """
        return os.path.join(self._root, image)

    def image_path(self, image: str) -> str:
        """The path a path-based format writes for ``image`` (relative to the build folder)."""
        return image if self.options.paths == "relative" else self.image_file(image)

    def records(self) -> Iterator[dict]:
        """The canonical records of the selected splits, streamed."""
        splits = self.options.splits
        for record in iter_records(self.build_dir):
            split = record.get("split")
            if split not in SPLITS:
                raise ExportError(f"record {record.get('id', '?')} in {self.build_dir}: split {split!r} "
                                  f"is not one of {', '.join(SPLITS)}")
            if splits is None or split in splits:
                yield record

    def rows(self, records: Iterable[dict]) -> Iterator[tuple[str, dict]]:
        """(split, row) for every record that is not skipped; a format may group records here."""
        for record in records:
            try:
                skip = self.skip_reason(record)
                row = None if skip is not None else self.to_row(record)
            except (KeyError, IndexError, TypeError) as exc:
                raise malformed(record, exc) from None
            if skip is not None:
                self.skip(record, *skip)
                continue
            yield record["split"], row

    def skip(self, record: dict, reason: str, detail: str) -> None:
        """Leave one record out: count, log and list it, or raise with ``strict``."""
        record_id = record.get("id", "?")
        if self.options.strict:
            error = MissingImageError if reason == "missing_image" else ExportError
            raise error(f"record {record_id}: {detail} ({self.name} export, --strict)")
        log.info("%s export: skipping record %s: %s", self.name, record_id, detail)
        self.report.skipped[reason] += 1
        first = self.report.skipped_ids.setdefault(reason, [])
        if len(first) < FIRST_IDS:
            first.append(record_id)
        if self._skipped_sink is None:
            self._skipped_sink = JsonlSink(self.out_dir / SKIPPED_FILE)
        self._skipped_sink.write({"id": record_id, "reason": reason, "detail": detail})

    # ---- the export itself --------------------------------------------------------------------

    def run(self) -> ExportReport:
        """Export every selected record; return what was written and skipped."""
        if os.path.lexists(self.out_dir) and not self.out_dir.is_dir():
            raise ExportError(f"{self.out_dir}: exists and is not a folder; the export needs a folder")
        sinks: dict[str, JsonlSink] = {}
        try:
            for split, row in self.rows(self._counted(self.records())):
                if split not in sinks:
                    sinks[split] = self.open_sink(self.out_dir / self.file_name(split))
                with ownership.naming(sinks[split].path):
                    sinks[split].write(row)
                self.report.rows[split] += 1
            with ownership.naming(self.out_dir):
                return self._close(sinks)
        except BaseException:  # a closed sink's file is in place: abort drops only what is unfinished
            for sink in [*sinks.values(), self._skipped_sink]:
                if sink is not None:
                    sink.abort()
            raise

    def _claim_out_dir(self) -> None:
        """Make sure a ledger covers ``out_dir``: the build's when inside it, else the export folder's own."""
        if ownership.find_root(self.out_dir) is None:
            inside = self.out_dir == self.build_dir or self.build_dir in self.out_dir.parents
            ownership.mark_root(self.build_dir if inside else self.out_dir)

    def _consumer_settings(self) -> list[Path]:
        """Write the settings that keep the images as built for this consumer; note its warnings."""
        from datagen.writers.consumers import ImageStats, consumer_settings

        settings = consumer_settings(self.name, ImageStats.of_build(self.build_dir))
        if settings is None:
            return []
        self.report.warnings.extend(settings.warnings)
        if settings.file_name is None:
            return []
        path = self.out_dir / settings.file_name
        ownership.write_file(path, settings.text.encode("utf-8"))
        self.report.notes.append(f"training settings that keep the images as built: {path}")
        return [path]

    def _counted(self, records: Iterable[dict]) -> Iterator[dict]:
        for record in records:
            self.report.records += 1
            yield record

    def _close(self, sinks: dict) -> ExportReport:
        self._claim_out_dir()
        files = {}
        for split in sorted(sinks, key=SPLITS.index):
            sinks[split].close()
            files[split] = sinks[split].path
        self.report.files = list(files.values()) + self.finish(files) + self._consumer_settings()
        skipped_path = self.out_dir / SKIPPED_FILE
        if self._skipped_sink is not None:
            self._skipped_sink.close()
            self.report.skipped_file = skipped_path
        else:
            ownership.remove_if_owned(skipped_path)  # from an earlier export of this folder
        if not files:
            log.warning("%s export of %s wrote no rows (no records in splits %s)", self.name,
                        self.build_dir, ",".join(self.options.splits or SPLITS))
        return self.report


def malformed(record: dict, exc: Exception) -> ExportError:
    """The error for a record that lacks a field of the canonical record (DESIGN.md section 4)."""
    what = f"missing field {exc}" if isinstance(exc, KeyError) else f"bad field ({exc})"
    return ExportError(f"record {record.get('id', '?')}: {what}; expected a canonical record (DESIGN.md section 4)")


def write_json(path: Path, data: object) -> Path:
    """Write a small JSON document (an extra such as dataset_info.json) and return its path."""
    ownership.write_file(Path(path), (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def writer_class(name: str) -> type[Writer]:
    """The writer registered as ``name``; an unknown name lists the known ones."""
    from datagen.writers import REGISTRY

    return REGISTRY.load_builtins().get(name)


def writer_names() -> list[str]:
    from datagen.writers import REGISTRY

    return REGISTRY.load_builtins().names()


def export(build_dir: str | Path, format_name: str, out_dir: str | Path | None = None, *,
           splits: Iterable[str] | None = None, strict: bool = False, paths: str = "absolute",
           variant: str | None = None) -> ExportReport:
    """Export the build in ``build_dir`` in one format.

    Args:
        build_dir: a build folder.
        format_name: a registered writer name (``datagen list writers``).
        out_dir: where to write; default ``build_dir/exports/<format_name>``.
        splits: splits to export (default: all).
        strict: fail on the first record that would be skipped.
        paths: "absolute" or "relative" (to the build folder) image paths, for path-based formats.
        variant: the format's variant, if it has several.

    Raises:
        NotABuildError: ``build_dir`` does not hold a build.
        RegistryError: no writer is registered as ``format_name``.
        ExportError: the build cannot be exported in this format (see the message).
    """
    build = check_build_dir(build_dir)
    cls = writer_class(format_name)
    options = ExportOptions(splits=tuple(splits) if splits is not None else None, strict=strict,
                            paths=paths, variant=variant)
    out = Path(out_dir) if out_dir is not None else build / EXPORTS_DIR / format_name
    report = cls(build, out, options).run()
    log.info("%s: %d rows from %d records in %s", format_name, report.total_rows, report.records, report.out_dir)
    return report
