"""``datagen preview DIR``: a self-contained HTML page (and optionally a contact-sheet PNG) of a build."""

from __future__ import annotations

from pathlib import Path

import click

from datagen import preview
from datagen.commands._params import BUILD_DIR


@click.command("preview")
@click.argument("build_dir", type=BUILD_DIR)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"HTML file to write [default: BUILD_DIR/{preview.PAGE_NAME}].")
@click.option("--limit", type=click.IntRange(min=1), default=preview.DEFAULT_LIMIT, show_default=True,
              help="Records shown (a seeded sample); the plots count every record.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample.")
@click.option("--link-images", is_flag=True,
              help="Link the build's images relative to the page instead of inlining thumbnails.")
@click.option("--thumb-width", type=click.IntRange(min=16), default=preview.THUMB_WIDTH_PX, show_default=True,
              help="Largest width (px) of an inlined JPEG thumbnail.")
@click.option("--contact-sheet", "sheet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a PNG grid of the sampled images with task and truth under each.")
@click.option("--sheet-cells", type=click.IntRange(min=1), default=preview.SHEET_CELLS, show_default=True,
              help="Images on the contact sheet (the first of the sample).")
def command(build_dir: Path, out: Path | None, limit: int, seed: int, link_images: bool, thumb_width: int,
            sheet: Path | None, sheet_cells: int) -> None:
    """Write a preview page of the build in BUILD_DIR: sampled records with filters, and plots."""
    sample = preview.load_sample(build_dir, limit=limit, seed=seed)
    page = preview.write_preview(build_dir, out, sample=sample, inline=not link_images, thumb_width_px=thumb_width)
    click.echo(f"wrote {page} ({len(sample.records)} of {sample.stats.total} records)")
    if sheet is not None:
        path = preview.write_contact_sheet(build_dir, sheet, sample=sample, cells=sheet_cells)
        click.echo(f"wrote {path} ({min(sheet_cells, len(sample.records))} images)")
