"""``datagen predict``: a model's greedy answers to a build's questions, for ``datagen score``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from datagen.commands._params import BUILD_DIR
from datagen.train.data import SPLIT_CHOICES
from datagen.train.options import PRECISIONS, PredictOptions

_DEFAULTS = {field.name: field.default for field in dataclasses.fields(PredictOptions)}


@click.command("predict")
@click.option("--model", required=True,
              help="Run folder of `datagen train` (LoRA adapters load on their base model), a local Hugging Face "
                   "model folder, or 'tiny-random'.")
@click.option("--data", "data", required=True, type=BUILD_DIR, help="Build folder.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions JSONL ({\"id\", \"output\"} lines); an existing file is continued.")
@click.option("--split", type=click.Choice(SPLIT_CHOICES), default=None,
              help=f"Records to answer [default: {_DEFAULTS['split']}].")
@click.option("--ids", "ids_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Answer only the record ids in this file (one per line).")
@click.option("--limit", type=int, default=None, help="Answer at most the first N selected records.")
@click.option("--base", type=click.Path(path_type=Path), default=None,
              help="Base model folder of LoRA adapters [default: the one the run recorded].")
@click.option("--batch-size", type=int, default=None, help=f"Prompts per batch [default: {_DEFAULTS['batch_size']}].")
@click.option("--max-new-tokens", type=int, default=None,
              help=f"Longest answer, in tokens [default: {_DEFAULTS['max_new_tokens']}].")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help=f"bf16, fp32, or auto [default: {_DEFAULTS['precision']}].")
@click.option("--device", default=None, help=f"cpu, cuda, cuda:N or auto [default: {_DEFAULTS['device']}].")
@click.option("--min-pixels", type=int, default=None, help="Processor's min_pixels (Qwen2-VL family).")
@click.option("--max-pixels", type=int, default=None, help="Processor's max_pixels (Qwen2-VL family).")
@click.pass_context
def command(ctx: click.Context, model: str, data: Path, out: Path, ids_file: Path | None, **options) -> None:
    """Answer the build's questions in --data with MODEL (greedy) and write --out for `datagen score`."""
    from datagen.commands._hf import quiet_hugging_face
    from datagen.train.data import read_ids

    quiet_hugging_face(ctx)
    from datagen.train.predict import predict

    values = {key: value for key, value in options.items() if value is not None}
    ids = read_ids(ids_file) if ids_file is not None else None
    predict_options = PredictOptions(model=model, data=data, out=out, ids=ids, **values)
    quiet = ctx.obj.get("quiet", False) if ctx.obj else False
    bar = {}

    def start(todo: int, already: int) -> None:
        if already and not quiet:
            click.echo(f"{out}: {already} records answered before; {todo} to go")
        bar["bar"] = click.progressbar(length=todo, label="records", show_eta=True, hidden=quiet)
        bar["bar"].__enter__()

    try:
        result = predict(predict_options, on_start=start, on_batch=lambda n: bar["bar"].update(n))
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    if not quiet:
        click.echo(f"{result.written} answers written to {result.out} ({result.already_done} there before, "
                   f"{result.selected} records selected)")
