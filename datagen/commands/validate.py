"""``datagen validate DIR``: re-check every record of a build."""

from __future__ import annotations

from pathlib import Path

import click

from datagen.commands._params import BUILD_DIR


@click.command("validate")
@click.argument("build_dir", type=BUILD_DIR)
@click.option("--limit", type=int, default=None, help="Check only the first N records.")
@click.option("--show", type=int, default=20, show_default=True, help="List at most N failures.")
def command(build_dir: Path, limit: int | None, show: int) -> None:
    """Check that every record's value, answer, image and marker agree with its label."""
    from datagen.validate import validate_build

    report = validate_build(build_dir, limit=limit)
    for record_id, problem in report.failures[:show]:
        click.echo(f"FAIL {record_id}: {problem}")
    if len(report.failures) > show:
        click.echo(f"... and {len(report.failures) - show} more")
    click.echo(f"{report.checked} records checked, {len(report.failures)} problems")
    if not report.ok:
        raise SystemExit(1)
