"""``datagen overlay``: one frame of a source with its ground truth drawn on the image."""

from __future__ import annotations

from pathlib import Path

import click

from datagen.commands.build import load_build_config, parse_options


GENERATOR = "datagen overlay"


@click.command("overlay")
@click.option("--source", default=None, help="Source name (default: synthetic).")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Dataset folder of the source.")
@click.option("-O", "--source-option", "source_option", multiple=True, metavar="KEY=VALUE",
              callback=lambda ctx, param, value: parse_options(value), help="A source option (repeatable).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, help="YAML build config.")
@click.option("--cameras", default=None, help="Comma-separated camera names to choose from.")
@click.option("--frame", "frame_id", default=None, help="Frame id [default: the frame at --index].")
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Position of the frame among the selected frames.")
@click.option("--radius", type=click.IntRange(min=0, max=10), default=1, show_default=True,
              help="Half-size of each dot, pixels.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PNG to write.")
def command(source, root, source_option, config_path, cameras, frame_id, index, radius, out) -> None:
    """Draw the ground-truth labels of one frame over its image (red near, blue far).

    An existing --out is replaced only if it is an overlay datagen wrote.
    """
    from datagen import ownership
    from datagen.errors import DatagenError
    from datagen.images import png_software, signed_png
    from datagen.overlay import frame_overlay
    from datagen.pipeline import make_source, select_frames, source_image_view

    overrides = {"source": source, "root": str(root) if root else None, "cameras": cameras}
    config = load_build_config(config_path, overrides, source_option)
    source_obj = make_source(config)
    if frame_id is None:
        frame_ids = select_frames(config, source_obj)
        if index >= len(frame_ids):
            raise DatagenError(f"--index {index}: the source has {len(frame_ids)} selected frames")
        frame_id = frame_ids[index]
    frame = source_obj.load_frame(frame_id)
    view = source_image_view(frame, config, source_obj.occlusion_defaults)
    image, stats = frame_overlay(frame, view, radius)
    ownership.write_file(out, signed_png(image, GENERATOR), signature=lambda path: png_software(path) == GENERATOR)
    click.echo(f"wrote {out}: {frame_id}, {stats.labels} labels, z {stats.z_min_m:.2f}-{stats.z_max_m:.2f} m")
