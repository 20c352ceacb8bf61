"""``datagen baseline DIR --kind constant|median --out PREDICTIONS``: predictions that score a baseline."""

from __future__ import annotations

from pathlib import Path

import click

from datagen import baselines
from datagen.commands._params import BUILD_DIR
from datagen.types import SPLITS


@click.command("baseline")
@click.argument("build_dir", type=BUILD_DIR)
@click.option("--kind", type=click.Choice(baselines.KINDS), default="constant", show_default=True,
              help="constant: --value for every record; median: the train median of each task.")
@click.option("--value", type=float, default=None,
              help="The constant answer, in each task's base unit (m, m/s, s); the paper uses 2.0.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions JSONL to write (what `datagen score` reads).")
@click.option("--split", type=click.Choice([*SPLITS, "all"]), default="test", show_default=True,
              help="Records to answer.")
@click.option("--fit-split", type=click.Choice(SPLITS), default="train", show_default=True,
              help="Records the median is taken over.")
def command(build_dir: Path, kind: str, value: float | None, out: Path, split: str, fit_split: str) -> None:
    """Write baseline predictions for the records of the build in BUILD_DIR."""
    if kind == "constant" and value is None:
        raise click.UsageError("--kind constant needs --value (the paper's row uses --value 2.0)")
    if kind == "median" and value is not None:
        raise click.UsageError("--value is for --kind constant; the median baseline takes its values from the build")
    from datagen.ownership import check_replaceable

    check_replaceable(out, signature=_is_baseline_file)
    result = baselines.write_baseline(build_dir, out, kind=kind, value=value, split=split, fit_split=fit_split)
    answers = ", ".join(f"{task} {answer:g}" for task, answer in result.values.items())
    click.echo(f"wrote {result.count} {kind} predictions to {result.path} ({answers})")


def _is_baseline_file(path: Path) -> bool:
    """Whether ``path`` holds predictions this command wrote (its first line names a baseline model)."""
    import json

    with open(path, "rb") as handle:
        first = handle.readline(65536)
    try:
        model = json.loads(first).get("model", "")
    except (ValueError, AttributeError, RecursionError):
        return False
    return isinstance(model, str) and model.startswith("baseline-")
