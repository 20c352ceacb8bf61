"""``datagen score PREDICTIONS... --ref DIR``: δ1 and friends of model answers, per source and task."""

from __future__ import annotations

import json
from pathlib import Path

import click

from datagen import scoring
from datagen.scoring import ScoreReport
from datagen.types import SPLITS


def _parse_bins(ctx: click.Context, param: click.Parameter, text: str) -> tuple[float, ...]:
    try:
        return scoring.check_depth_bins(float(part) for part in text.split(",") if part.strip())
    except (ValueError, scoring.ScoringError) as exc:
        raise click.BadParameter(f"expected increasing metres separated by commas, like 0,2,5,10 ({exc})") from None


@click.command("score")
@click.argument("predictions", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ref", "ref", required=True, type=click.Path(path_type=Path),
              help="Build folder whose records hold the true values.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every metric of every run to this JSON file.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the δ1 table to this Markdown file.")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(0, scoring.MAX_BOOTSTRAP),
              help="Bootstrap resamples for the 95% interval of δ1 (0 = none).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the bootstrap.")
@click.option("--split", type=click.Choice([*SPLITS, "all"]), default=None,
              help="Split to score [default: the splits of the records predicted].")
@click.option("--skip-missing", is_flag=True,
              help="Leave records without a prediction out instead of counting them wrong.")
@click.option("--depth-bins", default="0,2,5,10,20,40,80", show_default=True, callback=_parse_bins,
              help="Edges (metres) of the depth ranges, and of the value ranges of two_point and pose; "
                   "the last range is open.")
def command(predictions: tuple[Path, ...], ref: Path, json_path: Path | None, markdown_path: Path | None,
            bootstrap: int, seed: int, split: str | None, skip_missing: bool, depth_bins: tuple[float, ...]) -> None:
    """Score model PREDICTIONS (JSONL with "id" and "output") against the build in --ref.

    Prints δ1 per source and task, one row per predictions file; problems (broken lines,
    duplicate, missing and unknown ids) go to stderr. See docs/scoring.md.
    """
    reference = scoring.load_reference(ref)
    options = {"split": split, "skip_missing": skip_missing, "depth_bins": depth_bins,
               "bootstrap": bootstrap, "seed": seed}
    reports = scoring.score_files(predictions, reference, **options)
    for report in reports:
        _echo_problems(report)
    click.echo(scoring.format_table(reports), nl=False)
    if json_path is not None:
        settings = {**options, "depth_bins": list(depth_bins), "predictions": [str(p) for p in predictions]}
        document = scoring.reports_to_json(reports, reference, settings)
        _write(json_path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    if markdown_path is not None:
        _write(markdown_path, scoring.format_table(reports, markdown=True))


def _write(path: Path, text: str) -> None:
    """Write a report file; a folder that is missing or not writable is a one-line error."""
    try:
        path.write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        raise scoring.ScoringError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def _echo_problems(report: ScoreReport) -> None:
    """One stderr line per kind of problem of a run, with the first few ids or lines."""
    path = report.path
    for line, error in report.broken_lines[:scoring.FIRST_FEW]:
        click.echo(f"warning: {path}:{line}: {_printable(error)}; line skipped", err=True)
    if len(report.broken_lines) > scoring.FIRST_FEW:
        click.echo(f"warning: {path}: {len(report.broken_lines) - scoring.FIRST_FEW} more broken lines", err=True)
    if report.duplicates:
        first = ", ".join(f"{_printable(record_id)} (line {line})"
                          for line, record_id in report.duplicates[:scoring.FIRST_FEW])
        click.echo(f"warning: {path}: {len(report.duplicates)} repeated ids, first line of each kept: {first}",
                   err=True)
    if report.unknown.count:
        click.echo(f"warning: {path}: {report.unknown.count} ids not in the build: {_ids(report.unknown)}", err=True)
    if report.missing.count:
        counted = "counted as wrong" if report.missing_counted_as_wrong else "skipped"
        click.echo(f"warning: {path}: {report.missing.count} records of split {'/'.join(report.splits)} have no "
                   f"prediction ({counted}): {_ids(report.missing)}", err=True)
    if report.invalid_truth.count:
        click.echo(f"warning: {path}: {report.invalid_truth.count} records with a true value <= 0 not scored: "
                   f"{_ids(report.invalid_truth)}", err=True)
    unparsable = report.overall.n_unparsable
    if unparsable:
        click.echo(f"note: {path}: {unparsable} answers without a usable number (counted as wrong)", err=True)


def _ids(sample: scoring.IdSample) -> str:
    more = sample.count - len(sample.first)
    shown = ", ".join(_printable(record_id) for record_id in sample.first)
    return shown + (f", ... ({more} more)" if more > 0 else "")


def _printable(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, control characters escaped, so one problem stays one line."""
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
