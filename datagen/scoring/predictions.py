"""Predictions files: one ``{"id": ..., "output": ...}`` JSON object a line, read defensively.

A line that cannot be used (not JSON, too deep, an integer too long to read, no id, an
output of the wrong shape, longer than :data:`MAX_LINE_CHARS`) is recorded with its line
number and skipped; a file with no usable line at all is a :class:`PredictionsError`.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, TextIO

from datagen.scoring.errors import PredictionsError, ScoringError

log = logging.getLogger(__name__)

#: Keys of a predictions line that may hold the model's output, in the order they are tried.
OUTPUT_KEYS = ("output", "prediction", "response")
#: Longest predictions line read (characters); a longer one is skipped as broken, unread.
MAX_LINE_CHARS = 32 * 2**20
#: How many broken lines an error message quotes.
_QUOTED = 3


@dataclass(frozen=True, eq=False)
class Predictions:
    """The lines of one predictions JSONL file that could be read.

    Attributes:
        path: the file.
        ids: prediction ids, first occurrence only, in file order.
        outputs: the model output of each id (text, a number, or None for no output).
        broken: (line number, what is wrong) of lines that could not be read.
        duplicates: (line number, id) of later lines repeating an id; the first line is kept.
    """

    path: Path
    ids: list[str]
    outputs: list[Any]
    broken: tuple[tuple[int, str], ...] = ()
    duplicates: tuple[tuple[int, str], ...] = ()

    def __len__(self) -> int:
        return len(self.ids)


def read_predictions(path: str | Path) -> Predictions:
    """Read a predictions JSONL file: one ``{"id": ..., "output": ...}`` object a line.

    The output is taken from the first of ``output``, ``prediction``, ``response`` the
    line has; a conversation (list of messages) gives its last message. A broken line is
    recorded with its number and skipped; a repeated id keeps its first line.

    Raises:
        ScoringError: the file cannot be read.
        PredictionsError: the file holds no usable line.
    """
    path = Path(path)
    ids, outputs, seen, broken, duplicates = [], [], set(), [], []
    try:
        handle = path.open(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise ScoringError(f"{path}: cannot read predictions ({exc.strerror or exc})") from None
    with handle:
        for line_number, line in _lines(handle, path):
            entry = _prediction_entry(line)
            if isinstance(entry, str):
                broken.append((line_number, entry))
            elif entry[0] in seen:
                duplicates.append((line_number, entry[0]))
            else:
                seen.add(entry[0])
                ids.append(entry[0])
                outputs.append(entry[1])
    if not ids:
        raise PredictionsError(_unusable_message(path, broken))
    if broken or duplicates:
        log.info("%s: %d broken lines, %d duplicate ids", path, len(broken), len(duplicates))
    return Predictions(path, ids, outputs, tuple(broken), tuple(duplicates))


def _lines(handle: TextIO, path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of each non-blank line; text None for a line over MAX_LINE_CHARS."""
    number = 0
    try:
        while True:
            line = handle.readline(MAX_LINE_CHARS + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                while line and not line.endswith("\n"):
                    line = handle.readline(MAX_LINE_CHARS)
                yield number, None
            elif line.strip():
                yield number, line
    except OSError as exc:
        raise ScoringError(f"{path}:{number + 1}: cannot read predictions ({exc.strerror or exc})") from None


def _unusable_message(path: Path, broken: list[tuple[int, str]]) -> str:
    if not broken:
        return f"{path}: no predictions (the file is empty; expected one JSON object a line)"
    quoted = "; ".join(f"line {line}: {error}" for line, error in broken[:_QUOTED])
    lines = f"{len(broken)} line" + ("s" if len(broken) > 1 else "")
    return f"{path}: no usable prediction in {lines} ({quoted})"


def _prediction_entry(line: str | None) -> tuple[str, Any] | str:
    """(id, output) of one predictions line, or a message saying what is wrong with it."""
    if line is None:
        return f"line longer than {MAX_LINE_CHARS:,} characters"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg})"
    except ValueError as exc:  # an integer longer than Python reads
        if "digits" in str(exc):
            return f"not readable JSON (a number with more digits than {sys.get_int_max_str_digits()})"
        return f"not readable JSON ({str(exc)[:80]})"
    except RecursionError:
        return "not readable JSON (nested too deeply)"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    try:
        record_id = _entry_id(obj.get("id"))
    except ValueError as exc:
        return str(exc)
    for key in OUTPUT_KEYS:
        if key in obj:
            try:
                return record_id, output_text(obj[key])
            except ValueError as exc:
                return f"'{key}': {exc}"
    return f"no model output (expected one of the keys {', '.join(OUTPUT_KEYS)})"


def _entry_id(value: Any) -> str:
    """The id of a line as a string; ValueError unless a string of valid Unicode or an integer."""
    if value is None:
        raise ValueError("no 'id' (expected a string)")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"'id' must be a string, got {type(value).__name__}")
    record_id = str(value)
    try:
        record_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): no record can have it
        raise ValueError("'id' is not valid Unicode (a lone surrogate)") from None
    return record_id


def output_text(output: Any) -> str | int | float | None:
    """The model output of a predictions line: text, a number, or None for no output.

    Accepts a string, a JSON number, null, a message ``{"role": ..., "content": ...}``
    or a list of them (the last one is the model's), whose content may be a list of
    parts ``[{"type": "text", "text": ...}]`` (text parts are joined, others ignored).

    Raises:
        ValueError: any other shape, with what was found.
    """
    if isinstance(output, list):
        if not output:
            return None
        output = output[-1]
        if isinstance(output, list):
            raise ValueError("expected a message as the last item, got a list")
    if isinstance(output, dict):
        if "content" not in output:
            raise ValueError("a message without 'content'")
        output = output["content"]
        if isinstance(output, list):
            return _joined_parts(output)
    if output is None or isinstance(output, str):
        return output
    if isinstance(output, (int, float)) and not isinstance(output, bool):
        return output
    raise ValueError(f"expected text, a number or chat messages, got {type(output).__name__}")


def _joined_parts(parts: list) -> str:
    """The text parts of a message's content, joined; ValueError for a part that is not a part."""
    texts = []
    for number, part in enumerate(parts, 1):
        if not isinstance(part, dict):
            raise ValueError(f"content part {number} is {type(part).__name__}, expected an object")
        if part.get("type", "text") != "text":
            continue
        text = part.get("text", "")
        if not isinstance(text, str):
            raise ValueError(f"content part {number} has 'text' of type {type(text).__name__}, expected a string")
        texts.append(text)
    return "".join(texts)


def completion_text(completion: Any) -> Any:
    """The text of one model completion (see :func:`output_text`); None for a shape it cannot read.

    Accepts a plain string, a message dict ``{"role": ..., "content": ...}``, or a list of
    them (TRL's conversational format), whose content may itself be a list of parts
    ``[{"type": "text", "text": ...}]``.
    """
    try:
        return output_text(completion)
    except ValueError:
        return None
