"""``datagen check-focal BUILD --processor PATH``: the focal length a model sees after its processor."""

from __future__ import annotations

import json
from pathlib import Path

import click

from datagen.commands._params import BUILD_DIR
from datagen.train.data import SPLIT_CHOICES


@click.command("check-focal")
@click.argument("build_dir", type=BUILD_DIR)
@click.option("--processor", "processor_path", required=True, type=click.Path(path_type=Path),
              help="Local folder with a Hugging Face image processor (a model, processor or `datagen train` "
                   "model/ folder).")
@click.option("--min-pixels", type=int, default=None, help="Try this min_pixels instead of the processor's.")
@click.option("--max-pixels", type=int, default=None, help="Try this max_pixels instead of the processor's.")
@click.option("--split", type=click.Choice(SPLIT_CHOICES), default="all", show_default=True,
              help="Check the images of these records.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Check at most N images.")
@click.option("--per-image", is_flag=True, help="One line per image instead of one per image size.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every image's effective fx and fy to this JSON file.")
@click.pass_context
def command(ctx: click.Context, build_dir: Path, processor_path: Path, min_pixels: int | None,
            max_pixels: int | None, split: str, limit: int | None, per_image: bool, json_path: Path | None) -> None:
    """Run the processor on the images of BUILD_DIR and report the fx and fy the model sees.

    An image the processor does not resize keeps the build's focal length exactly (1000 px by
    default). Exits with 1 if any image is resized.
    """
    from datagen.commands._hf import quiet_hugging_face
    from datagen.hf_processing import build_focal_report, load_image_processor, pixel_limits

    quiet_hugging_face(ctx)
    processor = load_image_processor(processor_path, min_pixels=min_pixels, max_pixels=max_pixels)
    limits = pixel_limits(processor)
    images = build_focal_report(build_dir, processor, split=split, limit=limit)  # at least one
    budget = "" if limits is None else (f" (min_pixels {limits.min_pixels}, max_pixels {limits.max_pixels}, "
                                        f"sides rounded to multiples of {limits.factor_px} px)")
    click.echo(f"processor {type(processor).__name__}{budget}")
    if per_image:
        _echo_images(images)
    else:
        _echo_sizes(images)
    resized = [image for image in images if image.resize.resized]
    _echo_verdict(images, resized, limits)
    if json_path is not None:
        _write_json(json_path, processor, limits, images)
    if resized:
        raise SystemExit(1)


def _echo_images(images) -> None:
    for image in images:
        r = image.resize
        click.echo(f"  {image.image}  {r.width_px}x{r.height_px} -> {r.out_width_px}x{r.out_height_px}  "
                   f"fx {image.effective_fx_px:.3f}  fy {image.effective_fy_px:.3f}")


def _echo_sizes(images) -> None:
    groups: dict = {}
    for image in images:
        groups.setdefault((image.resize, image.fx_px, image.fy_px), []).append(image)
    rows = [("images", "size", "as the model sees it", "fx px", "fy px", "image tokens")]
    for (resize, _, _), members in sorted(groups.items(), key=lambda item: -len(item[1])):
        first = members[0]
        rows.append((str(len(members)), f"{resize.width_px}x{resize.height_px}",
                     f"{resize.out_width_px}x{resize.out_height_px}", f"{first.effective_fx_px:.3f}",
                     f"{first.effective_fy_px:.3f}", "?" if resize.image_tokens is None else str(resize.image_tokens)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths)))


def _echo_verdict(images, resized, limits) -> None:
    from datagen.hf_processing import describe_resize, limits_advice

    if not resized:
        focal = sorted({(image.fx_px, image.fy_px) for image in images})
        shown = ", ".join(f"fx {fx:g}, fy {fy:g}" for fx, fy in focal)
        click.echo(f"all {len(images)} images pass unresized: the model sees {shown} px")
        return
    click.echo(f"{len(resized)} of {len(images)} images are resized, so the model does not see the build's "
               f"focal length:")
    for line in sorted({describe_resize(i.resize, i.fx_px, i.fy_px, limits) for i in resized}):
        click.echo(f"  {line}")
    advice = limits_advice(limits, {(i.resize.width_px, i.resize.height_px) for i in images})
    if advice:
        click.echo(f"to keep it: {advice}")


def _write_json(path: Path, processor, limits, images) -> None:
    document = {
        "processor": type(processor).__name__,
        "limits": None if limits is None else {"min_pixels": limits.min_pixels, "max_pixels": limits.max_pixels,
                                               "factor_px": limits.factor_px},
        "resized": sum(image.resize.resized for image in images),
        "images": [{"image": i.image, "width": i.resize.width_px, "height": i.resize.height_px,
                    "out_width": i.resize.out_width_px, "out_height": i.resize.out_height_px,
                    "image_tokens": i.resize.image_tokens, "fx": i.fx_px, "fy": i.fy_px,
                    "effective_fx": i.effective_fx_px, "effective_fy": i.effective_fy_px} for i in images],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
