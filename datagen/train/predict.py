"""A model's greedy answers to a build's questions, as the predictions file ``datagen score`` reads.

One JSON object per line, ``{"id": <record id>, "output": <the generated text>}``, in
record order. The file is only ever appended to: a run that stops leaves whole lines
(each batch is written and flushed at once), and the same command continues with the
records that have no line yet. Prompts are built exactly as in training
(:mod:`datagen.train.encode`); generation is greedy, batched, left-padded.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from datagen._optional import require
from datagen.errors import DatagenError
from datagen.hf_processing import ResolutionReport, resolution_report
from datagen.records import iter_records
from datagen.train.data import Example, image_focal_lengths, image_sizes, load_examples
from datagen.train.encode import collate, encode_prompt, pad_token_id
from datagen.train.models import check_model_dir, load_trained, pick_device, pick_dtype, trained_model_dirs
from datagen.train.options import TINY_RANDOM, PredictOptions

torch = require("torch", "train")

log = logging.getLogger(__name__)


class PredictionsFileError(DatagenError):
    """An existing predictions file cannot be continued."""


@dataclass(frozen=True)
class PredictResult:
    """What a prediction run did: lines written now, records already predicted before, records selected."""

    out: Path
    written: int
    already_done: int
    selected: int
    resolution: ResolutionReport | None


def predicted_ids(path: Path, build_dir: Path) -> set[str]:
    """Ids that already have a line in a predictions file (none if there is no file).

    Args:
        build_dir: the build the file answers; every id in the file must be one of its records.

    Raises:
        PredictionsFileError: a line is not a predictions line, the last line is cut short,
            or an id is not a record of the build (the file belongs to another build).
    """
    if not path.exists():
        return set()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PredictionsFileError(f"{path}: cannot read it to continue it ({exc})") from None
    lines = text.split("\n")
    if lines[-1]:
        raise PredictionsFileError(f"{path}:{len(lines)}: the last line is incomplete (an interrupted write?); "
                                   f"delete that line and run again")
    build_ids = {record["id"] for record in iter_records(build_dir)}  # read only when there is a file to check
    done = set()
    for number, line in enumerate(lines[:-1], 1):
        try:
            record_id = json.loads(line)["id"]
        except (ValueError, RecursionError, KeyError, TypeError):  # not JSON, too deep, too many digits, no id
            record_id = None
        if not isinstance(record_id, str):
            raise PredictionsFileError(f"{path}:{number}: not a predictions line ({{\"id\", \"output\"}})")
        if record_id not in build_ids:
            raise PredictionsFileError(f"{path}:{number}: id {record_id!r} is not a record of this build; "
                                       f"write the predictions of another build to another file")
        done.add(record_id)
    return done


def predict(options: PredictOptions, *, on_start: Callable[[int, int], None] | None = None,
            on_batch: Callable[[int], None] | None = None) -> PredictResult:
    """Generate answers for the selected records that have no line in ``options.out`` yet.

    Args:
        on_start: called with (records to predict now, records predicted before) once the model is loaded.
        on_batch: called with the number of records of each batch written.

    Raises:
        NotABuildError, TrainDataError: the data cannot be used.
        ModelError: the model cannot be loaded.
        PredictionsFileError: the existing output file cannot be continued.
    """
    examples = load_examples(options.data, split=options.split, ids=options.ids, limit=options.limit)
    sizes = image_sizes(examples)
    done = predicted_ids(options.out, options.data)
    todo = [example for example in examples if example.id not in done]
    already = len(examples) - len(todo)
    if not todo:
        log.info("%s: all %d selected records have predictions already", options.out, len(examples))
        return PredictResult(options.out, 0, already, len(examples), None)
    if options.model != TINY_RANDOM:
        weights, base = trained_model_dirs(options.model, options.base)
        check_model_dir(base or weights)
    with tempfile.TemporaryDirectory(prefix="datagen-tiny-") as scratch:
        model, processor = _load(options, scratch)
        report = resolution_report(processor.image_processor, sizes, image_focal_lengths(examples))
        for line in report.warnings():
            log.warning("processor %s: %s", report.processor, line)
        if on_start is not None:
            on_start(len(todo), already)
        written = _generate_all(model, processor, todo, options, on_batch)
    return PredictResult(options.out, written, already, len(examples), report)


def _load(options: PredictOptions, scratch: str) -> tuple[Any, Any]:
    device = pick_device(options.device)
    dtype = pick_dtype(options.precision, device)
    model_path = options.model
    if model_path == TINY_RANDOM:
        from datagen.train.tiny import build_tiny_model

        model_path = build_tiny_model(Path(scratch) / "tiny-random")
    return load_trained(model_path, base=options.base, dtype=dtype, device=device, min_pixels=options.min_pixels,
                        max_pixels=options.max_pixels)


def _generate_all(model: Any, processor: Any, todo: Sequence[Example], options: PredictOptions,
                  on_batch: Callable[[int], None] | None) -> int:
    options.out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with options.out.open("a", encoding="utf-8") as handle:
        for start in range(0, len(todo), options.batch_size):
            chunk = todo[start:start + options.batch_size]
            outputs = generate(model, processor, chunk, max_new_tokens=options.max_new_tokens)
            handle.write("".join(json.dumps({"id": example.id, "output": text}, ensure_ascii=False) + "\n"
                                 for example, text in zip(chunk, outputs)))
            handle.flush()
            written += len(chunk)
            if on_batch is not None:
                on_batch(len(chunk))
    return written


def generate(model: Any, processor: Any, examples: Sequence[Example], *, max_new_tokens: int) -> list[str]:
    """Greedy answers to a batch of examples (left-padded prompts), special tokens removed, stripped."""
    tokenizer = processor.tokenizer
    pad_id = pad_token_id(processor)
    batch = collate([encode_prompt(processor, example) for example in examples], pad_id, left=True)
    device = next(model.parameters()).device
    batch = {key: value.to(device) for key, value in batch.items()}
    eos = model.generation_config.eos_token_id if model.generation_config.eos_token_id is not None \
        else tokenizer.eos_token_id
    autocast = next(model.parameters()).dtype == torch.bfloat16
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                temperature=None, top_p=None, top_k=None, pad_token_id=pad_id, eos_token_id=eos)
    new_tokens = output[:, batch["input_ids"].shape[1]:]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
