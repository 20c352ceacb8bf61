"""Answer parsing: the number a model's raw output gives as its answer, in the task's base unit.

Where the answer is (an ``<answer>`` tag, a ``\\boxed{}``, the text after ``</think>``),
which of its quantities is the answer (after an "answer is" marker, else the last result
that is not an operand), and why there is none when there is none. The rules are written
out in ``docs/scoring.md``. Time is linear in the length of the output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from datagen.scoring.errors import ScoringError
from datagen.scoring.quantities import Quantity, bracket_balance, scan
from datagen.scoring.units import BASE_UNITS

#: Reasons a parse gives; every one but OK means "no value".
OK, EMPTY, NO_NUMBER, NUMBER_WORDS, RANGE, EXPRESSION, WRONG_UNIT, NOT_FINITE, AMBIGUOUS, TOO_LONG = (
    "ok", "empty", "no_number", "number_words", "range", "expression", "wrong_unit", "not_finite", "ambiguous",
    "too_long")
REASONS = (OK, EMPTY, NO_NUMBER, NUMBER_WORDS, RANGE, EXPRESSION, WRONG_UNIT, NOT_FINITE, AMBIGUOUS, TOO_LONG)
#: Longest text whose every quantity is read; of a longer one only this many last characters are
#: read, and the answer must be decided there (see :func:`_parse_long`). Bounds the time per output.
MAX_SCAN_CHARS = 100_000

_BARE_RE = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*")
# Fast paths: "7.23 m" alone, and a reasoning chain that ends "... = 1.81 m/s".
_SIMPLE_UNITS = {"m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
                 "m/s": "m/s", "s": "s", "sec": "s", "second": "s", "seconds": "s"}
_SIMPLE_RE = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))[ \t]*(m/s|meters?|metres?|m|s|sec|seconds?)?\s*\.?\s*")
_TAIL_RE = re.compile(r"=\s*([-+]?\d+(?:\.\d+)?)[ \t]*(m/s|meters?|metres?|m|s|sec|seconds?)?\s*\.?\s*\Z")
_TAIL_CHARS = 40
_SIMPLE_CHARS = 64  # longest text tried as a bare or simple answer
_RANGE_GAP_RE = re.compile(r"\s*(?:to|or|~|-|\u2013|\u2014)\s*", re.IGNORECASE)
_AND_GAP_RE = re.compile(r"\s*and\s*", re.IGNORECASE)
_BETWEEN_RE = re.compile(r"\b(?:between|from)\s*$", re.IGNORECASE)
_WORDS_AFTER_RE = re.compile(
    r"\s*(?:and\s+(?:a\s+)?)?(?:half|quarter|third|hundred|thousand|million|billion|point\s+[a-z])\b",
    re.IGNORECASE)
_NUMBER_WORDS_RE = re.compile(  # the look-ahead skips fast over text without these initials
    r"\b(?=[zotfsenhqd])(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
    r"ninety|hundred|thousand|half|quarter|dozen)\b", re.IGNORECASE)
_MARKER_RE = re.compile(
    r"\b(?:answer|estimate|result)\b\s*(?:is\b|:|=|would\s+be\b|will\s+be\b|[-\u2013\u2014](?=\s))", re.IGNORECASE)
_MARKER_WORDS = ("nswer", "NSWER", "stimate", "STIMATE", "esult", "ESULT")
_BOXED_RE = re.compile(r"\\boxed\{([^{}]*)\}")
_ANSWER_OPEN, _ANSWER_CLOSE, _THINK_CLOSE = "<answer>", "</answer>", "</think>"


@dataclass(frozen=True)
class ParsedAnswer:
    """The number a model's output means.

    Attributes:
        value: the answer in the base unit of its unit (or of ``unit_hint``), or None.
        reason: "ok", or why there is no value (one of :data:`REASONS`).
        unit: base unit of the value ("m", "m/s", "s"), None when neither the answer
            nor the hint gave one.
    """

    value: float | None
    reason: str
    unit: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


def parse_answer(text: Any, unit_hint: str | None = None) -> ParsedAnswer:
    """Find the number a model's raw output gives as its answer.

    The ``<answer>`` tag (or a ``\\boxed{}``) is read first when present; otherwise the
    text after ``</think>``, then the whole text. Inside, the answer is the first number
    after an "answer is"-like marker, else the last number that is not an operand of a
    calculation ("7.23 / 4.0 = 1.81" gives 1.81). Units are converted to the base unit;
    numbers whose unit does not fit ``unit_hint`` are skipped. See docs/scoring.md.

    Args:
        text: the model output (a string; a number is taken as is; None is empty).
        unit_hint: base unit of the task, "m", "m/s" or "s", or None to accept any unit.

    Returns:
        The value in the base unit and "ok", or None and the reason.
    """
    if unit_hint is not None and unit_hint not in BASE_UNITS:
        raise ScoringError(f"parse_answer: unit_hint must be one of {BASE_UNITS} or None, got {unit_hint!r}")
    value, reason, unit = parse(text, unit_hint)
    return ParsedAnswer(value, reason, unit)


def parse_value(text: Any, unit_hint: str | None = None) -> float | None:
    """``parse_answer(text, unit_hint).value``, without building the result object."""
    return parse(text, unit_hint)[0]


def parse_answers(texts: Sequence[Any], unit_hint: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Parse many outputs: ((N,) float64 values, NaN where unparsable; N reasons)."""
    values = np.full(len(texts), np.nan)
    reasons = []
    for i, text in enumerate(texts):
        value, reason, _ = parse(text, unit_hint)
        if value is not None:
            values[i] = value
        reasons.append(reason)
    return values, reasons


def parse(text: Any, hint: str | None) -> tuple[float | None, str, str | None]:
    """(value, reason, base unit) of an output; the hot path of scoring (``hint`` is not checked)."""
    if not isinstance(text, str):
        return _parse_non_string(text, hint)
    fast = fast_path(text, hint)
    if fast is not None:
        return fast
    tag = text.rfind(_ANSWER_OPEN)
    if tag >= 0:
        close = text.find(_ANSWER_CLOSE, tag)
        segment = text[tag + len(_ANSWER_OPEN):] if close < 0 else text[tag + len(_ANSWER_OPEN):close]
        return fast_path(segment, hint, tail=False) or parse_segment(segment, hint, use_markers=False)
    return _parse_free_text(text, hint)


def fast_path(text: str, hint: str | None, tail: bool = True) -> tuple[float | None, str, str | None] | None:
    """The value of a bare "7.23", "7.23 m", or of a chain ending "= 1.81 m/s"; None to parse fully.

    Each path gives what the full parse would give: a simple answer has one number, and
    a chain's last number after "=" is its result when no marker or bracket is around.
    """
    bare = _BARE_RE.fullmatch(text) if len(text) <= _SIMPLE_CHARS else None
    if bare is not None:
        value = float(bare.group(1))
        return (value, OK, hint) if math.isfinite(value) else (None, NOT_FINITE, None)
    match = _SIMPLE_RE.fullmatch(text) if len(text) <= _SIMPLE_CHARS else None
    if match is None and tail and len(text) > _TAIL_CHARS and "=" in text[-_TAIL_CHARS:] \
            and not _tail_blocked(text):
        match = _TAIL_RE.search(text, len(text) - _TAIL_CHARS)
    if match is None:
        return None
    unit = _SIMPLE_UNITS[match.group(2).lower()] if match.group(2) else hint
    if hint is not None and unit != hint:
        return None
    value = float(match.group(1))
    return (value, OK, unit) if math.isfinite(value) else (None, NOT_FINITE, None)


def _tail_blocked(text: str) -> bool:
    """Whether a marker, bracket or tag may make a chain's last "= x" not its answer (a chain of `in`: fastest)."""
    return ("(" in text or "[" in text or "<" in text or "nswer" in text or "NSWER" in text or "stimate" in text
            or "STIMATE" in text or "esult" in text or "ESULT" in text or "\\boxed" in text)


def _parse_non_string(obj: Any, hint: str | None) -> tuple[float | None, str, str | None]:
    """A JSON number is the value itself; None, booleans and anything else are empty."""
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        return None, EMPTY, None
    try:
        value = float(obj)
    except OverflowError:  # an integer beyond float range
        return None, NOT_FINITE, None
    return (value, OK, hint) if math.isfinite(value) else (None, NOT_FINITE, None)


def _parse_free_text(text: str, hint: str | None) -> tuple[float | None, str, str | None]:
    """An output without ``<answer>``: a ``\\boxed{}``, the text after ``</think>``, or all of it."""
    if "\\boxed{" in text:
        boxed = _BOXED_RE.findall(text)
        if boxed:
            return parse_segment(boxed[-1], hint, use_markers=False)
    think = text.rfind(_THINK_CLOSE)
    if think >= 0:
        after = parse_segment(text[think + len(_THINK_CLOSE):], hint, use_markers=True)
        if after[0] is not None or after[1] not in (EMPTY, NO_NUMBER):
            return after
    return parse_segment(text, hint, use_markers=True)


def parse_segment(segment: str, hint: str | None, use_markers: bool) -> tuple[float | None, str, str | None]:
    """Pick the answer among the quantities of one piece of text."""
    if not segment or segment.isspace():
        return None, EMPTY, None
    if len(segment) > MAX_SCAN_CHARS:
        return _parse_long(segment, hint, use_markers)
    quantities = scan(segment)
    chosen = _choose_quantity(segment, quantities, hint, use_markers)
    if isinstance(chosen, str):
        return None, chosen, None
    return _outcome(segment, quantities, chosen, hint)


def _parse_long(segment: str, hint: str | None, use_markers: bool) -> tuple[float | None, str, str | None]:
    """The answer of a text over MAX_SCAN_CHARS, read from its last MAX_SCAN_CHARS characters only.

    The tail gives the answer the whole text would give when the last marker (if any) lies
    inside it, after its first quantity (which may be cut), and the tail holds a result
    outside brackets. Otherwise the answer depends on the rest of the text, and the
    output is refused as too long rather than read wrongly.
    """
    begin = len(segment) - MAX_SCAN_CHARS
    quantities = scan(segment, begin, bracket_balance(segment, 0, begin))
    if len(quantities) < 2:
        return None, TOO_LONG, None
    if use_markers and any(word in segment for word in _MARKER_WORDS):
        last_marker = max((m.end() for m in _MARKER_RE.finditer(segment)), default=-1)
        if 0 <= last_marker <= quantities[0].end:
            return None, TOO_LONG, None
    chosen = _choose_quantity(segment, quantities[1:], hint, use_markers, explain=False)
    if isinstance(chosen, str) or chosen.bracketed:
        return None, TOO_LONG, None
    return _outcome(segment, quantities, chosen, hint)


def _choose_quantity(segment: str, quantities: list[Quantity], hint: str | None, use_markers: bool,
                     explain: bool = True) -> Quantity | str:
    """The quantity that is the answer, or the reason why none is (NO_NUMBER unexplained unless ``explain``)."""
    usable = [q for q in quantities if not q.glued]
    if not usable:
        return NUMBER_WORDS if explain and _NUMBER_WORDS_RE.search(segment) else NO_NUMBER
    fitting = [q for q in usable if q.base is None or q.base == hint or (hint is None and q.base in BASE_UNITS)]
    if not fitting:
        return WRONG_UNIT
    results = [q for q in fitting if not q.operand]
    if not results:
        return RANGE if _has_range(segment, fitting) else EXPRESSION
    return _choose(segment, [q for q in results if not q.bracketed] or results, use_markers)


def _outcome(segment: str, quantities: list[Quantity], chosen: Quantity,
             hint: str | None) -> tuple[float | None, str, str | None]:
    """(value, OK, unit) of the chosen quantity, or (None, why not, None)."""
    reason = _reject_reason(segment, quantities, chosen)
    if reason is not None:
        return None, reason, None
    return chosen.value, OK, chosen.base or hint


def _choose(segment: str, results: list[Quantity], use_markers: bool) -> Quantity:
    """The first result after the last "answer is"-like marker, else the last result."""
    if use_markers and any(word in segment for word in _MARKER_WORDS):
        markers = [m.end() for m in _MARKER_RE.finditer(segment)]
        if markers:
            after = [q for q in results if q.start >= markers[-1]]
            if after:
                return after[0]
    return results[-1]


def _reject_reason(segment: str, quantities: list[Quantity], chosen: Quantity) -> str | None:
    """Why the chosen quantity is not a value: ambiguous digits, "3 and a half", a range, overflow."""
    if chosen.ambiguous:
        return AMBIGUOUS
    if _WORDS_AFTER_RE.match(segment, chosen.number_end):
        return NUMBER_WORDS
    index = quantities.index(chosen)
    for left, right in ((index - 1, index), (index, index + 1)):
        if left < 0 or right >= len(quantities):
            continue
        a, b = quantities[left], quantities[right]
        if _RANGE_GAP_RE.fullmatch(segment, a.end, b.start):
            return RANGE
        between = _BETWEEN_RE.search(segment, max(0, a.start - 12), a.start)
        if between and _AND_GAP_RE.fullmatch(segment, a.end, b.start):
            return RANGE
    if not math.isfinite(chosen.value):
        return NOT_FINITE
    return None


def _has_range(segment: str, quantities: list[Quantity]) -> bool:
    """Whether two neighbouring numbers are joined like a range ("5-7", "5 to 7")."""
    return any(_RANGE_GAP_RE.fullmatch(segment, a.end, b.start) for a, b in zip(quantities, quantities[1:]))
