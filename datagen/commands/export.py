"""``datagen export DIR --format NAME|all``: write a build's records in a trainer's format."""

from __future__ import annotations

from pathlib import Path

import click

from datagen.commands._params import BUILD_DIR
from datagen.types import SPLITS


def _parse_splits(ctx: click.Context, param: click.Parameter, text: str) -> tuple[str, ...] | None:
    if text.strip() == "all":
        return None
    splits = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [split for split in splits if split not in SPLITS]
    if unknown or not splits:
        raise click.BadParameter(f"expected 'all' or some of {', '.join(SPLITS)} separated by commas, got {text!r}")
    return splits


@click.command("export")
@click.argument("build_dir", type=BUILD_DIR)
@click.option("--format", "format_name", required=True,
              help="Writer name (see `datagen list writers`), or 'all' for every writer.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: BUILD_DIR/exports/<format>]; with --format all, one subfolder per format.")
@click.option("--split", "splits", default="all", show_default=True, callback=_parse_splits,
              help="Splits to export: 'all' or a comma-separated list of train,val,test.")
@click.option("--variant", default=None, help="Variant of the format (trl: prompt-completion|messages; "
                                              "depthlm: range|z). See docs/formats.md.")
@click.option("--paths", type=click.Choice(["absolute", "relative"]), default="absolute", show_default=True,
              help="Image paths of path-based formats: absolute, or relative to BUILD_DIR (then point the "
                   "trainer's media folder at it). internvl and depthlm always write paths relative to BUILD_DIR.")
@click.option("--strict", is_flag=True, help="Fail on the first record that would be skipped (missing image, "
                                             "a limit of the format) instead of skipping and listing it.")
def command(build_dir: Path, format_name: str, out: Path | None, splits, variant: str | None, paths: str,
            strict: bool) -> None:
    """Export the records of the build in BUILD_DIR for a trainer (one file per split)."""
    from datagen.records import check_build_dir
    from datagen.writers.base import export

    build = check_build_dir(build_dir)
    options = {"splits": splits, "strict": strict, "paths": paths, "variant": variant}
    if format_name != "all":
        _echo(export(build, format_name, out, **options))
        return
    if variant is not None:
        raise click.UsageError("--variant applies to one format; use it with --format NAME")
    _export_all(build, out, options)


def _export_all(build: Path, out: Path | None, options: dict) -> None:
    """Every registered format; a format that fails is reported and the others still run."""
    from datagen.errors import DatagenError
    from datagen.writers.base import export, writer_names

    failed = []
    for name in writer_names():
        try:
            _echo(export(build, name, out / name if out is not None else None, **options))
        except DatagenError as exc:
            click.echo(f"error: {name}: {exc}", err=True)
            failed.append(name)
    if failed:
        click.echo(f"error: {len(failed)} format(s) failed: {', '.join(failed)}", err=True)
        click.get_current_context().exit(2)


def _echo(report) -> None:
    files = ", ".join(path.name for path in report.files) or "(no files)"
    rows = ", ".join(f"{split} {n}" for split, n in sorted(report.rows.items(), key=lambda kv: SPLITS.index(kv[0])))
    click.echo(f"{report.format}: {report.total_rows} rows ({rows or 'none'}) from {report.records} records "
               f"-> {report.out_dir}: {files}")
    for note in report.notes:
        click.echo(f"  note: {note}")
    for warning in report.warnings:
        click.echo(f"warning: {report.format}: {warning}", err=True)
    for reason, count in sorted(report.skipped.items()):
        first = report.skipped_ids[reason]
        more = f", ... ({count - len(first)} more)" if count > len(first) else ""
        click.echo(f"warning: {report.format}: skipped {count} records ({reason}): {', '.join(first)}{more}", err=True)
    if report.skipped_file is not None:
        click.echo(f"warning: {report.format}: every skipped record is listed in {report.skipped_file}", err=True)
