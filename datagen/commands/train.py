"""``datagen train``: fine-tune a vision-language model on a build with the bundled minimal trainer."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click

from datagen.commands._params import BUILD_DIR
from datagen.train.data import SPLIT_CHOICES
from datagen.train.options import LORA_TARGETS, PRECISIONS, TrainOptions

_DEFAULTS = {field.name: field.default for field in dataclasses.fields(TrainOptions)}


def _help(text: str, name: str) -> str:
    """Help text that states the default of TrainOptions (the one place defaults live)."""
    return f"{text} [default: {_DEFAULTS[name]}]"


@click.command("train")
@click.option("--model", required=True, help="Local Hugging Face model folder (image-text-to-text), or "
                                             "'tiny-random' for a tiny random Qwen2.5-VL built here.")
@click.option("--data", "data", required=True, type=BUILD_DIR, help="Build folder (datagen build).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Run folder: checkpoints, final model (model/), log.jsonl, loss.png.")
@click.option("--split", type=click.Choice(SPLIT_CHOICES), default=None, help=_help("Records to train on.", "split"))
@click.option("--full", is_flag=True, help="Train every weight instead of LoRA adapters.")
@click.option("--lora-rank", type=int, default=None, help=_help("LoRA rank.", "lora_rank"))
@click.option("--lora-alpha", type=float, default=None, help=_help("LoRA alpha.", "lora_alpha"))
@click.option("--lora-dropout", type=float, default=None, help=_help("LoRA dropout.", "lora_dropout"))
@click.option("--lora-targets", type=click.Choice(LORA_TARGETS), default=None,
              help=_help("Linear layers with adapters: the language model's, or all (vision tower too).",
                         "lora_targets"))
@click.option("--batch-size", type=int, default=None, help=_help("Examples per forward pass.", "batch_size"))
@click.option("--grad-accum", type=int, default=None, help=_help("Forward passes per optimiser step.", "grad_accum"))
@click.option("--lr", type=float, default=None, help=_help("Peak learning rate (warmup, then cosine to 0).", "lr"))
@click.option("--weight-decay", type=float, default=None, help=_help("AdamW weight decay.", "weight_decay"))
@click.option("--warmup-ratio", type=float, default=None, help=_help("Share of steps of linear warmup.",
                                                                     "warmup_ratio"))
@click.option("--max-steps", type=int, default=None, help="Optimiser steps (instead of --epochs).")
@click.option("--epochs", type=float, default=None, help=_help("Passes over the data (without --max-steps).",
                                                               "epochs"))
@click.option("--max-grad-norm", type=float, default=None, help=_help("Gradient clipping norm.", "max_grad_norm"))
@click.option("--seed", type=int, default=None, help=_help("Seed of the data order, LoRA init and dropout.", "seed"))
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help=_help("bf16 autocast, fp32, or auto (bf16 on a GPU that has it).", "precision"))
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None,
              help="Recompute activations to save memory [default: on for CUDA].")
@click.option("--device", default=None, help=_help("cpu, cuda, cuda:N or auto.", "device"))
@click.option("--save-every", type=int, default=None, help=_help("Checkpoint every N steps.", "save_every"))
@click.option("--keep-checkpoints", type=int, default=None, help=_help("Checkpoints kept.", "keep_checkpoints"))
@click.option("--min-pixels", type=int, default=None, help="Processor's min_pixels (Qwen2-VL family).")
@click.option("--max-pixels", type=int, default=None,
              help="Processor's max_pixels (Qwen2-VL family): set it at least to the build's largest image "
                   "so that no image is shrunk (see docs/training.md).")
@click.option("--workers", type=int, default=None, help=_help("Data-loading processes.", "workers"))
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.pass_context
def command(ctx: click.Context, model: str, data: Path, out: Path, full: bool, **options) -> None:
    """Fine-tune MODEL on the records of the build in --data (LoRA by default); see docs/training.md."""
    from datagen.commands._hf import quiet_hugging_face

    quiet_hugging_face(ctx)
    from datagen.train.loop import train

    values = {key: value for key, value in options.items() if value is not None}
    train_options = TrainOptions(model=model, data=data, out=out, lora=not full, **values)
    quiet = ctx.obj.get("quiet", False) if ctx.obj else False
    progress = _Progress(quiet)
    started = time.perf_counter()
    try:
        result = train(train_options, on_start=progress.start, on_step=progress.step)
    except KeyboardInterrupt:
        progress.close()
        click.echo("\ninterrupted; continue from the last checkpoint with the same command and --resume", err=True)
        ctx.exit(130)
    progress.close()
    if not quiet:
        _summary(result, time.perf_counter() - started)


class _Progress:
    """The CLI's view of a run: the processor's resolution, the plan, a progress bar."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.last = None

    def start(self, plan, report) -> None:
        if self.quiet:
            return
        click.echo(f"processor {report.processor}: how the model sees the images")
        for line in report.lines():
            click.echo(f"  {line}")
        mode = "LoRA" if plan.lora else "full fine-tuning"
        click.echo(f"{plan.examples} examples, {plan.total_steps} steps ({plan.warmup_steps} warmup), {mode}, "
                   f"{plan.trainable_parameters:,} trainable parameters, {plan.device} {plan.dtype}"
                   f"{', gradient checkpointing' if plan.gradient_checkpointing else ''}")
        self.bar = click.progressbar(length=plan.total_steps - plan.start_step, label="steps", show_eta=True,
                                     item_show_func=self._status)
        self.bar.__enter__()

    def _status(self, _item) -> str:
        entry = self.last
        if entry is None:
            return ""
        return f"loss {entry.loss:.4f}  lr {entry.lr:.2e}  {entry.samples_per_s:.1f} samples/s"

    def step(self, entry) -> None:
        self.last = entry
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _summary(result, seconds: float) -> None:
    history = result.history
    if history:
        click.echo(f"\n{history[-1].step} steps, loss {history[0].loss:.4f} (step {history[0].step}) -> "
                   f"{history[-1].loss:.4f} (step {history[-1].step}), {seconds:.0f} s")
    click.echo(f"  model: {result.model_dir}")
    click.echo(f"  log: {result.out / 'log.jsonl'}, plot: {result.out / 'loss.png'}")
    for line in result.resolution.warnings():
        click.echo(f"  warning: {line}")

