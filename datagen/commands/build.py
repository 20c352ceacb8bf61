"""``datagen build``: frames in, canonical question/answer records out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from datagen.engines import ENGINES
from datagen.errors import ConfigError, DatagenError

if TYPE_CHECKING:
    from datagen.config import BuildConfig


SHOW_SKIPPED = 5  # skipped frames named after a build; the manifest lists them all


@click.command("build")
@click.option("--source", default=None, help="Source name (default: synthetic, the bundled scenes).")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Dataset folder of the source.")
@click.option("--out", "out_dir", required=True, metavar="FOLDER|URL",
              help="Output: a build folder (on a cluster, one every node mounts at this path), or an object store "
                   "prefix such as s3://bucket/prefix (pip install 'datagen[s3]'; credentials from the environment).")
@click.option("--tasks", default=None, help="Comma-separated tasks (default: all six).")
@click.option("--frames", "--limit", "frames", type=int, default=None,
              help="Use only the first N frames (after the filters below).")
@click.option("--cameras", default=None, help="Comma-separated camera names of the source (default: all).")
@click.option("--every", type=int, default=None, help="Every N-th frame of each sequence and camera.")
@click.option("-O", "--source-option", "source_option", multiple=True, metavar="KEY=VALUE",
              callback=lambda ctx, param, value: parse_options(value),
              help="A source option (repeatable; VALUE is read as YAML: 3, true, [a, b]). "
                   "See docs/sources/<name>.md.")
@click.option("--seed", type=int, default=None, help="Seed of every random choice (default 0).")
@click.option("--split", "splits", default=None, help="Comma-separated splits to build (train,val,test).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
              help="local: a process pool here; ray: Ray tasks (pip install 'datagen[ray]').")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="With --engine ray: the cluster's head node (host:port, ray://host:port, or auto); "
                   "default: RAY_ADDRESS if set, else a local Ray with --workers CPUs.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, help="YAML build config.")
@click.option("--strict", is_flag=True, help="Stop at the first bad frame instead of skipping it.")
@click.option("--overwrite", is_flag=True,
              help="Replace a build of a different config in --out (only the files datagen wrote are removed).")
@click.option("--allow-nonempty", is_flag=True,
              help="Build in a non-empty --out that is not a datagen build; its files are never changed.")
@click.option("--format", "formats", multiple=True,
              help="Also export for a trainer (repeatable; see `datagen list writers`), as `datagen export` does.")
@click.pass_context
def command(ctx, source, root, out_dir, tasks, frames, cameras, every, source_option, seed, splits, workers, engine,
            ray_address, config_path, strict, overwrite, allow_nonempty, formats) -> None:
    """Build question/answer records from a source into OUT (resumes an interrupted build)."""
    from datagen.engines import make_engine
    from datagen.pipeline import build, check_out_dir, plan_shards
    from datagen.store import is_url

    overrides = {"source": source, "root": str(root) if root else None, "tasks": tasks, "frames": frames,
                 "cameras": cameras, "every": every, "seed": seed, "splits": splits}
    config = load_build_config(config_path, overrides, source_option)
    if formats and is_url(out_dir):
        raise ConfigError(f"--format: exporting reads the build back, which datagen does not do from object storage "
                          f"({out_dir}); build without --format, copy the build to a folder, then run "
                          "`datagen export FOLDER --format ...`")
    run_engine = make_engine(engine, workers=workers, ray_address=ray_address)
    if formats:
        from datagen.writers import REGISTRY as WRITERS

        for format_name in formats:
            WRITERS.load_builtins().get(format_name)  # an unknown name fails before the build starts
    quiet = ctx.obj.get("quiet", False) if ctx.obj else False
    store = check_out_dir(out_dir, allow_nonempty)
    shards = plan_shards(config)
    total_frames = sum(len(shard) for shard in shards)
    started = time.perf_counter()
    state = {"records": 0}

    with click.progressbar(length=total_frames, label="frames", show_eta=True, show_percent=True,
                           hidden=quiet, item_show_func=lambda _: _rate(state, started)) as bar:
        def progress(frames_done: int, records: int) -> None:
            state["records"] += records
            bar.update(frames_done)

        manifest = build(config, store, engine=run_engine, strict=strict, overwrite=overwrite,
                         allow_nonempty=allow_nonempty, progress=progress, shards=shards)
    if not quiet:
        _summary(manifest, out_dir, time.perf_counter() - started)
    check_not_empty(manifest, out_dir)
    for format_name in formats:
        from datagen.writers.base import export

        report = export(out_dir, format_name)
        if not quiet:
            click.echo(f"  exported {format_name}: {report.total_rows} rows in {report.out_dir}")
            for note in report.notes:
                click.echo(f"    note: {note}")
        for warning in report.warnings:
            click.echo(f"warning: {format_name}: {warning}", err=True)


class EmptyBuildError(DatagenError):
    """A build finished without writing a single record."""


def check_not_empty(manifest: dict, out_dir: str | Path) -> None:
    """Raise EmptyBuildError, saying why, if the build wrote no record."""
    if manifest["counts"]["total"]:
        return
    frames = manifest["frames"]
    skipped = ", ".join(f"{reason} {n}" for reason, n in frames["skipped"].items())
    why = f"{frames['planned']} frames planned"
    why += f", {frames['outside_selected_splits']} outside the selected splits" if frames["outside_selected_splits"] else ""
    why += f", skipped: {skipped}" if skipped else ""
    first = next(iter(frames.get("skipped_errors", {}).values()), None)
    why += f"; first: {first}" if first else ""
    raise EmptyBuildError(f"{str(out_dir).rstrip('/')}/manifest.json: the build wrote 0 records ({why})")


def load_build_config(config_path: Path | None, overrides: dict, source_options: dict) -> BuildConfig:
    """``load_config`` with ``source_options`` (``-O``) merged over the config file's own, key by key."""
    from datagen.config import load_config

    if source_options:
        base = load_config(config_path, {"source": overrides.get("source")})
        overrides = {**overrides, "source_options": {**base.source_options, **source_options}}
    return load_config(config_path, overrides)


def parse_options(pairs: tuple[str, ...]) -> dict:
    """``("sweeps=true", "cameras=[a, b]")`` -> ``{"sweeps": True, "cameras": ["a", "b"]}`` (values as YAML)."""
    import yaml

    from datagen.synthetic.schema import yaml_value

    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--source-option")
        try:
            options[key.strip()] = yaml_value(text) if text.strip() else None
        except yaml.YAMLError:
            raise click.BadParameter(f"{pair!r}: VALUE is not a YAML value", param_hint="--source-option") from None
    return options


def _rate(state: dict, started: float) -> str:
    elapsed = max(time.perf_counter() - started, 1e-9)
    return f"{state['records']} records, {state['records'] / elapsed:.1f}/s"


def _summary(manifest: dict, out_dir: str | Path, seconds: float) -> None:
    """Records per source and task as a table, then splits and skipped frames."""
    counts = manifest["counts"]
    click.echo(f"\n{counts['total']} records in {out_dir} ({seconds:.1f} s)")
    tasks = list(counts["by_task"])
    rows = [["source", *tasks, "total"]]
    for source, per_task in counts.get("by_source_task", {}).items():
        rows.append([source, *(str(per_task.get(t, 0)) for t in tasks), str(sum(per_task.values()))])
    rows.append(["total", *(str(counts["by_task"][t]) for t in tasks), str(counts["total"])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    click.echo("  by split: " + ", ".join(f"{name} {n}" for name, n in counts["by_split"].items()))
    skipped = manifest["frames"]["skipped"]
    if skipped:
        click.echo("  frames skipped: " + ", ".join(f"{reason} {n}" for reason, n in skipped.items()))
    errors = manifest["frames"].get("skipped_errors", {})
    for frame_id, message in list(errors.items())[:SHOW_SKIPPED]:
        click.echo(f"warning: skipped {frame_id}: {message}", err=True)
    if len(errors) > SHOW_SKIPPED:
        click.echo(f"warning: {len(errors) - SHOW_SKIPPED} more skipped frames are listed in "
                   f"{str(out_dir).rstrip('/')}/manifest.json (frames.skipped_errors)", err=True)
