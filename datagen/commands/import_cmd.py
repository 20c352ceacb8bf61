"""``datagen import JSONL --images DIR --out BUILD_DIR``: build every task from DepthLM curated data.

A shorthand for ``datagen build --source depthlm`` with the JSONL's folder as root
(see datagen/sources/depthlm.py for the format and its depth kind).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from datagen.engines import ENGINES
from datagen.types import DEPTH_KINDS


@click.command("import")
@click.argument("jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder the JSONL's image paths are relative to [default: the JSONL's folder].")
@click.option("--out", "out_dir", required=True, metavar="FOLDER|URL",
              help="Output: a build folder, or an object store prefix such as s3://bucket/prefix (see `build --help`).")
@click.option("--depth-kind", type=click.Choice(DEPTH_KINDS), default=None,
              help="What the JSONL's depth holds [default: z, as in DepthLM's iBims-1 example].")
@click.option("--limit", type=int, default=None, help="Use only the first N lines.")
@click.option("--tasks", default=None, help="Comma-separated tasks (default: all six).")
@click.option("--seed", type=int, default=None, help="Seed of every random choice (default 0).")
@click.option("--split", "splits", default=None, help="Comma-separated splits to build (train,val,test).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True)
@click.option("--ray-address", default=None, metavar="ADDRESS", help="With --engine ray: the cluster (see `build --help`).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="YAML build config; the options above override it.")
@click.option("--strict", is_flag=True, help="Stop at the first bad line instead of skipping it.")
@click.option("--overwrite", is_flag=True,
              help="Replace a build of a different config in --out (only the files datagen wrote are removed).")
@click.option("--allow-nonempty", is_flag=True,
              help="Build in a non-empty --out that is not a datagen build; its files are never changed.")
@click.option("--follow-symlinks", is_flag=True, default=None,
              help="Accept images reached through symbolic links that lead outside --images.")
@click.pass_context
def command(ctx, jsonl, images, out_dir, depth_kind, limit, tasks, seed, splits, workers, engine, ray_address,
            config_path, strict, overwrite, allow_nonempty, follow_symlinks) -> None:
    """Build question/answer records from a DepthLM curated JSONL and its images into OUT.

    A line that breaks the format is skipped and named (file:line) unless --strict.
    """
    from datagen.commands.build import _summary, check_not_empty, load_build_config
    from datagen.pipeline import build

    given = {"annotation": jsonl.name, "images": str(images.resolve()) if images else None,
             "depth_kind": depth_kind, "limit": limit, "follow_symlinks": follow_symlinks}
    overrides = {"source": "depthlm", "root": str(jsonl.resolve().parent), "tasks": tasks, "seed": seed,
                 "splits": splits}
    config = load_build_config(config_path, overrides, {k: v for k, v in given.items() if v is not None})
    started = time.perf_counter()
    manifest = build(config, out_dir, workers=workers, engine=engine, ray_address=ray_address, strict=strict,
                     overwrite=overwrite, allow_nonempty=allow_nonempty)
    if not (ctx.obj or {}).get("quiet", False):
        _summary(manifest, out_dir, time.perf_counter() - started)
    check_not_empty(manifest, out_dir)
