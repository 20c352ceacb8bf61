"""The training loop: supervised fine-tuning on a build, with exact resume.

A run reads top to bottom: check the data, the model folder and the run folder (before
any compute), load the processor and report what it does to the images, load the model
(LoRA adapters by default), then take optimiser steps. Each step draws ``grad_accum``
micro-batches of ``batch_size`` examples in a seeded order, sums the answer tokens'
cross-entropy over them and divides by their count (the token mean of the whole step),
clips the gradient norm, and steps AdamW and the warmup-plus-cosine schedule. Every step
is logged (``log.jsonl``); checkpoints are written every ``save_every`` steps and at the
end; the final model goes to ``model/`` with its processor, the loss curve to ``loss.png``.

The run folder (``options.out``)::

    run.json          options, base model, data fingerprint, state and step
    log.jsonl         one line per optimiser step: loss, lr, grad norm, throughput
    loss.png          the loss curve, at the end
    checkpoints/      step-NNNNNNNN/ folders (see datagen.train.checkpoint)
    model/            the LoRA adapters or the full model, with the processor
    base-model/       tiny-random runs only: the random model trained from
    .datagen/ledger/  every file the trainer wrote here, with its sha256 (datagen.ownership)

The trainer replaces or deletes only files the ledger proves it wrote (see
:mod:`datagen.train.run_folder`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import datagen
from datagen import ownership
from datagen._optional import require
from datagen.errors import ConfigError
from datagen.hf_processing import ResolutionReport, resolution_report
from datagen.train import checkpoint as ckpt
from datagen.train.data import (Example, examples_fingerprint, image_focal_lengths, image_sizes,
                                load_examples)
from datagen.train.encode import IGNORE, Batcher, answer_logits, answer_loss_sum
from datagen.train.models import (BASE_DIR, FINAL_DIR, RUN_FILE, ModelError, add_lora, check_model_dir,
                                  enable_gradient_checkpointing, load_model, load_processor, pick_device,
                                  pick_dtype)
from datagen.train.options import TINY_RANDOM, TrainOptions
from datagen.train.plot import plot_loss
from datagen.train.run_folder import writing

torch = require("torch", "train")
transformers = require("transformers", "train")

log = logging.getLogger(__name__)

RUN_SCHEMA = "datagen.train/1"
LOG_FILE = "log.jsonl"
PLOT_FILE = "loss.png"


@dataclass(frozen=True)
class StepLog:
    """One optimiser step: mean answer-token loss, the learning rate it used, throughput."""

    step: int
    epoch: float
    loss: float
    lr: float
    grad_norm: float
    samples: int
    tokens: int
    seconds: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "samples_per_s": self.samples_per_s, "tokens_per_s": self.tokens_per_s}


@dataclass(frozen=True)
class TrainPlan:
    """What a run will do, known before the first step."""

    examples: int
    total_steps: int
    warmup_steps: int
    micro_batches_per_epoch: int
    start_step: int
    device: str
    dtype: str
    lora: bool
    trainable_parameters: int
    gradient_checkpointing: bool


@dataclass(frozen=True)
class TrainResult:
    out: Path
    model_dir: Path
    history: tuple[StepLog, ...]
    resolution: ResolutionReport


class MicroBatches:
    """Example indices of each micro-batch: a seeded permutation per epoch, cut into batches.

    Micro-batch ``k`` is the same whatever ``start`` is, so a resumed run sees the same data.
    """

    def __init__(self, n_examples: int, batch_size: int, seed: int, start: int = 0) -> None:
        self.n, self.batch_size, self.seed, self.start = n_examples, batch_size, seed, start

    @property
    def per_epoch(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, skip = divmod(self.start, self.per_epoch)
        while True:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()
            for k in range(skip, self.per_epoch):
                yield order[k * self.batch_size:(k + 1) * self.batch_size]
            epoch, skip = epoch + 1, 0


def plan_steps(options: TrainOptions, n_examples: int) -> tuple[int, int]:
    """(total optimiser steps, warmup steps)."""
    per_epoch = math.ceil(n_examples / options.batch_size)
    total = options.max_steps or max(1, math.ceil(options.epochs * per_epoch / options.grad_accum))
    return total, round(options.warmup_ratio * total)


def train(options: TrainOptions, *, on_start: Callable[[TrainPlan, ResolutionReport], None] | None = None,
          on_step: Callable[[StepLog], None] | None = None) -> TrainResult:
    """Fine-tune ``options.model`` on the records of ``options.data``; write the run to ``options.out``.

    Raises:
        NotABuildError, TrainDataError: the data folder is not a build, or its records cannot be used.
        ModelError: the model folder is missing or not an image-text model.
        ConfigError: the run folder holds something else, or a resumed run's options differ.
    """
    examples = load_examples(options.data, split=options.split)  # 1. everything checked before compute
    sizes = image_sizes(examples)
    device = pick_device(options.device)
    dtype = pick_dtype(options.precision, device)
    if options.model != TINY_RANDOM:
        check_model_dir(options.model)
    state = _prepare_run_folder(options, examples)
    base = _base_model(options)  # 2. the model and what its processor does to the images
    processor = load_processor(base, min_pixels=options.min_pixels, max_pixels=options.max_pixels)
    report = resolution_report(processor.image_processor, sizes, image_focal_lengths(examples))
    _log_resolution(report)
    model, checkpointing = _prepare_model(base, options, device, dtype)  # 3. the model, then the steps
    total, warmup = plan_steps(options, len(examples))
    params = [p for p in model.parameters() if p.requires_grad]
    plan = TrainPlan(len(examples), total, warmup, math.ceil(len(examples) / options.batch_size),
                     state["step"] if state else 0, str(device), str(dtype).removeprefix("torch."), options.lora,
                     sum(p.numel() for p in params), checkpointing)
    _log_plan(plan)
    if on_start is not None:
        on_start(plan, report)
    history = _run_steps(model, processor, examples, options, plan, state, on_step)
    model_dir = _save_final(model, processor, options, history)
    return TrainResult(options.out, model_dir, tuple(history), report)


def _log_resolution(report: ResolutionReport) -> None:
    for line in report.lines():
        log.info("processor %s: %s", report.processor, line)
    for line in report.warnings():
        log.warning("processor %s: %s", report.processor, line)


def _log_plan(plan: TrainPlan) -> None:
    if plan.device == "cpu":
        log.warning("no GPU in use: training on the CPU, which is slow (fine for tiny models and smoke runs)")
    log.info("%d examples, %d optimiser steps (%d warmup) from step %d, %s %s, %s, %d trainable parameters",
             plan.examples, plan.total_steps, plan.warmup_steps, plan.start_step, plan.device, plan.dtype,
             "LoRA" if plan.lora else "full fine-tuning", plan.trainable_parameters)


# --------------------------------------------------------------------------- run folder


def _prepare_run_folder(options: TrainOptions, examples: Sequence[Example]) -> dict | None:
    """Start a new run folder or check the one to resume; the state of its last checkpoint, or None."""
    out, run_file = options.out, options.out / RUN_FILE
    fingerprint = examples_fingerprint(examples)
    if run_file.is_file() and not options.resume:
        raise ConfigError(f"{out}: holds a training run already; pass --resume to continue it, or choose "
                          f"another --out")
    if not run_file.is_file():
        if options.resume:
            raise ConfigError(f"{out}: no training run to resume ({RUN_FILE} not found)")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"{out}: exists and is not an empty folder; choose a new or empty --out")
        ownership.mark_root(out)
        _write_run(options, fingerprint, len(examples), status="running", step=0)
        return None
    _check_resumable(options, run_file, fingerprint)
    found = ckpt.checkpoints(out)
    if not found:
        log.warning("%s: no checkpoint yet; starting the run again from step 0", out)
        return None
    log.info("resuming from %s", found[-1])
    return ckpt.load_checkpoint(found[-1])


def _check_resumable(options: TrainOptions, run_file: Path, fingerprint: str) -> None:
    try:
        run = json.loads(run_file.read_text(encoding="utf-8"))
        before = run["trajectory"]
        data = run["data_fingerprint"]
    except (ValueError, RecursionError, KeyError, TypeError) as exc:  # not JSON or UTF-8, or not a run's
        raise ConfigError(f"{run_file}: not a run file of datagen train ({exc})") from None
    now = options.trajectory()
    changed = sorted(key for key in set(before) | set(now) if before.get(key) != now.get(key))
    if changed:
        shown = ", ".join(f"{key} {before.get(key)!r} -> {now.get(key)!r}" for key in changed)
        raise ConfigError(f"{run_file}: a resumed run must use the same options; changed: {shown}")
    if data != fingerprint:
        raise ConfigError(f"{run_file}: the records of {options.data} (split {options.split}) are not the ones "
                          f"this run was trained on")


def _base_path(options: TrainOptions) -> Path:
    return options.out / BASE_DIR if options.model == TINY_RANDOM else Path(options.model).resolve()


def _write_run(options: TrainOptions, fingerprint: str | None = None, examples: int | None = None,
               **fields: Any) -> None:
    run_file = options.out / RUN_FILE
    run = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else {
        "schema": RUN_SCHEMA, "datagen_version": datagen.__version__, "options": options.to_dict(),
        "trajectory": options.trajectory(), "lora": options.lora, "data_fingerprint": fingerprint,
        "examples": examples,
        "base_model": BASE_DIR if options.model == TINY_RANDOM else str(_base_path(options))}
    run.update(fields)
    ownership.write_file(run_file, (json.dumps(run, indent=2) + "\n").encode("utf-8"))


def _base_model(options: TrainOptions) -> Path:
    base = _base_path(options)
    if options.model == TINY_RANDOM and not (base / "config.json").is_file():
        from datagen.train.tiny import build_tiny_model

        with writing(base) as partial:
            build_tiny_model(partial, seed=options.seed)
    return base


# --------------------------------------------------------------------------- model


def _prepare_model(base: Path, options: TrainOptions, device, dtype) -> tuple[Any, bool]:
    """The model ready to train, and whether gradient checkpointing is on.

    LoRA keeps the frozen weights in the compute dtype and the adapters in fp32; full
    fine-tuning keeps fp32 weights and computes in bf16 under autocast when asked.
    """
    model = load_model(base, dtype=dtype if options.lora else torch.float32, device=device)
    torch.manual_seed(options.seed)  # LoRA's initial weights and dropout draw from torch's generator
    if options.lora:
        model = add_lora(model, rank=options.lora_rank, alpha=options.lora_alpha, dropout=options.lora_dropout,
                         targets=options.lora_targets)
    else:
        model.requires_grad_(True)
    wanted = options.gradient_checkpointing
    checkpointing = enable_gradient_checkpointing(model, options.lora) if (
        wanted or (wanted is None and device.type == "cuda")) else False
    model.train()
    return model, checkpointing


# --------------------------------------------------------------------------- steps


def _run_steps(model: Any, processor: Any, examples: Sequence[Example], options: TrainOptions, plan: TrainPlan,
               state: dict | None, on_step: Callable[[StepLog], None] | None) -> list[StepLog]:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    scheduler = transformers.get_cosine_schedule_with_warmup(optimizer, plan.warmup_steps, plan.total_steps)
    history: list[StepLog] = []
    if state is not None:
        ckpt.restore(state, model=model, optimizer=optimizer, scheduler=scheduler,
                     where=ckpt.checkpoint_dir(options.out, state["step"]))
        history = [StepLog(**entry) for entry in state["history"]]
    _rewrite_log(options.out, history)
    batches = _batches(processor, examples, options, plan.start_step * options.grad_accum)
    device = next(iter(params)).device
    autocast = plan.dtype == "bfloat16"
    for step in range(plan.start_step + 1, plan.total_steps + 1):
        micro = [next(batches) for _ in range(options.grad_accum)]
        entry = _step(model, optimizer, scheduler, params, micro, options, device, autocast, step,
                      epoch=step * options.grad_accum / plan.micro_batches_per_epoch)
        history.append(entry)
        _append_log(options.out, entry)
        if on_step is not None:
            on_step(entry)
        if step % options.save_every == 0 or step == plan.total_steps:
            ckpt.save_checkpoint(options.out, step, model=model, optimizer=optimizer, scheduler=scheduler,
                                 history=[asdict(h) for h in history])
            ckpt.prune_checkpoints(options.out, options.keep_checkpoints)
            _write_run(options, step=step, loss=entry.loss)
    return history


def _batches(processor: Any, examples: Sequence[Example], options: TrainOptions, start: int) -> Iterator[dict]:
    """Collated micro-batches from micro-batch ``start`` on, encoded here or in worker processes."""
    sampler = MicroBatches(len(examples), options.batch_size, options.seed, start=start)
    batcher = Batcher(processor, examples)
    if not options.workers:
        return (batcher(indices) for indices in sampler)
    # The loader gets its own generator: starting it must not draw from torch's (dropout's) random state.
    loader = torch.utils.data.DataLoader(range(len(examples)), batch_sampler=sampler, collate_fn=batcher,
                                         num_workers=options.workers,
                                         generator=torch.Generator().manual_seed(options.seed))
    return iter(loader)


def _step(model: Any, optimizer: Any, scheduler: Any, params: list, micro: list[dict], options: TrainOptions,
          device, autocast: bool, step: int, epoch: float) -> StepLog:
    """One optimiser step over ``grad_accum`` micro-batches; the loss is the token mean of the whole step."""
    started = time.perf_counter()
    labelled = sum(int((batch["labels"][:, 1:] != IGNORE).sum()) for batch in micro)
    if labelled == 0:
        raise ModelError(f"step {step}: no answer tokens in the batch (empty answers?)")
    loss_value = 0.0
    for batch in micro:
        batch = {key: value.to(device) for key, value in batch.items()}
        labels = batch.pop("labels")
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits, targets = answer_logits(model, batch, labels)
        loss = answer_loss_sum(logits, targets) / labelled
        loss.backward()
        loss_value += loss.item()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, options.max_grad_norm))
    lr = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return StepLog(step=step, epoch=round(epoch, 6), loss=loss_value, lr=lr, grad_norm=grad_norm,
                   samples=sum(len(batch["input_ids"]) for batch in micro),
                   tokens=sum(int(batch["attention_mask"].sum()) for batch in micro),
                   seconds=time.perf_counter() - started)


def _rewrite_log(out: Path, history: Sequence[StepLog]) -> None:
    """The log as of the run's state: entries of steps after the last checkpoint are dropped."""
    with (out / LOG_FILE).open("w", encoding="utf-8") as handle:
        for entry in history:
            handle.write(json.dumps(entry.to_dict()) + "\n")


def _append_log(out: Path, entry: StepLog) -> None:
    with (out / LOG_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry.to_dict()) + "\n")


# --------------------------------------------------------------------------- the end


def _save_final(model: Any, processor: Any, options: TrainOptions, history: Sequence[StepLog]) -> Path:
    """The trained model and its processor into ``model/``; the loss plot; the run marked done."""
    final = options.out / FINAL_DIR
    with writing(final) as partial:
        model.save_pretrained(partial)
        processor.save_pretrained(partial)
    if history:
        plot_loss([h.step for h in history], [h.loss for h in history], options.out / PLOT_FILE)
    _write_run(options, status="done", step=history[-1].step if history else 0,
               loss=history[-1].loss if history else None)
    log.info("model saved to %s", final)
    return final
