"""Scoring model answers against a build: answer parsing, δ metrics, per-group reports, tables.

Three layers, each usable alone:

* :func:`parse_answer` turns a model's raw output into the number it means, in the
  task's base unit (``m``, ``m/s`` or ``s``), or says why it cannot.
* :func:`compute_metrics` turns predicted and true values into δ1/δ2/δ3, AbsRel, RMSE,
  log10 error and parse counts, with a bootstrap confidence interval on δ1.
* :func:`load_reference`, :func:`read_predictions` and :func:`score_predictions` match a
  predictions JSONL file to the records of a build and report per task, source and
  depth range; :func:`format_table` lays several reports side by side.

The rules (which number is "the answer", how misses count) are written out in
``docs/scoring.md``; the short version: an answer that cannot be parsed, is missing,
or is not positive counts as a miss for δ and is left out of the error metrics.
"""

from __future__ import annotations

import json
import logging
import math
import re
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from datagen.errors import DatagenError
from datagen.records import check_build_dir, record_files
from datagen.tasks.base import TASK_UNITS  # base unit of every task; answers are converted to it

log = logging.getLogger(__name__)


class ScoringError(DatagenError):
    """Predictions or reference records cannot be scored (bad file, bad argument)."""


BASE_UNITS = ("m", "m/s", "s")
#: Keys of a predictions line that may hold the model's output, in the order they are tried.
OUTPUT_KEYS = ("output", "prediction", "response")
#: Edges (metres) of the default ground-truth depth ranges: 0-2, 2-5, ..., 40-80, 80+.
DEFAULT_DEPTH_BINS = (0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0)
DELTA_BASE = 1.25

# ---------------------------------------------------------------------------------------
# Answer parsing
# ---------------------------------------------------------------------------------------

#: Reasons a parse gives; every one but OK means "no value".
OK, EMPTY, NO_NUMBER, NUMBER_WORDS, RANGE, EXPRESSION, WRONG_UNIT, NOT_FINITE = (
    "ok", "empty", "no_number", "number_words", "range", "expression", "wrong_unit", "not_finite")

_LENGTH_UNITS = {
    "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
    "cm": 0.01, "centimeter": 0.01, "centimeters": 0.01, "centimetre": 0.01, "centimetres": 0.01,
    "mm": 0.001, "millimeter": 0.001, "millimeters": 0.001, "millimetre": 0.001, "millimetres": 0.001,
    "km": 1000.0, "kilometer": 1000.0, "kilometers": 1000.0, "kilometre": 1000.0, "kilometres": 1000.0,
    "ft": 0.3048, "feet": 0.3048, "foot": 0.3048, "inch": 0.0254, "inches": 0.0254,
    "mile": 1609.344, "miles": 1609.344,
}
_TIME_UNITS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 0.001, "msec": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
}
_SPEED_WORDS = {"mph": 0.44704, "kph": 1 / 3.6, "kmh": 1 / 3.6, "kmph": 1 / 3.6, "mps": 1.0}
_SPEED_LENGTHS = ("m", "meter", "meters", "metre", "metres", "km", "kilometer", "kilometers",
                  "kilometre", "kilometres", "mile", "miles", "ft", "feet")
_SPEED_TIMES = ("s", "sec", "second", "h", "hr", "hour", "min", "minute")


_NUMBER_RE = re.compile(  # the leading look-ahead lets the engine skip to a digit or sign fast
    r"(?=[-+\u2212.\d])(?P<sign>[-+\u2212](?=\.?\d))?"
    r"(?:(?P<thou>\d{1,3}(?:,\d{3})+(?:\.\d+)?)(?![\d,])"
    r"|(?P<dcomma>\d+,\d{1,2})(?![\d,.])"
    r"|(?P<plain>\d+(?:\.\d+)?|\.\d+))"
    r"(?P<exp>[eE][-+]?\d+)?"
)
# A unit is read in Python from the words after a number (cheaper than one big alternation).
_UNIT_RE = re.compile(r"[ \t]*-?(?:(?P<w1>[a-z]+)(?:(?:[ \t]*/[ \t]*|\s+per\s+|\s+an?\s+)(?P<w2>[a-z]+))?|(?P<pct>%))",
                      re.IGNORECASE)
_PER_SECOND_RE = re.compile(r"[ \t]?(?:·[ \t]?)?s[ \t]?(?:\^[ \t]?\{?-1\}?|⁻¹|-1)", re.IGNORECASE)  # "m s^-1"
_BARE_RE = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*")
# Fast paths: "7.23 m" alone, and a reasoning chain that ends "... = 1.81 m/s".
_SIMPLE_UNITS = {"m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
                 "m/s": "m/s", "s": "s", "sec": "s", "second": "s", "seconds": "s"}
_SIMPLE_RE = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))[ \t]*(m/s|meters?|metres?|m|s|sec|seconds?)?\s*\.?\s*")
_TAIL_RE = re.compile(r"=\s*([-+]?\d+(?:\.\d+)?)[ \t]*(m/s|meters?|metres?|m|s|sec|seconds?)?\s*\.?\s*\Z")
_TAIL_BLOCKERS = ("nswer", "NSWER", "stimate", "STIMATE", "esult", "ESULT", "(", "[", "<", "\\boxed")
_OPERATORS = frozenset("-+*/×÷·\u2212\u2013")
_OPERAND_START = frozenset("0123456789.(+-\u2212")
_RANGE_GAP_RE = re.compile(r"\s*(?:to|or|~|-|\u2013|\u2014)\s*", re.IGNORECASE)
_AND_GAP_RE = re.compile(r"\s*and\s*", re.IGNORECASE)
_BETWEEN_RE = re.compile(r"\b(?:between|from)\s*$", re.IGNORECASE)
_WORDS_AFTER_RE = re.compile(
    r"\s*(?:and\s+(?:a\s+)?)?(?:half|quarter|third|hundred|thousand|million|billion|point\s+[a-z])\b",
    re.IGNORECASE)
_NUMBER_WORDS_RE = re.compile(
    r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
    r"ninety|hundred|thousand|half|quarter|dozen)\b", re.IGNORECASE)
_MARKER_RE = re.compile(r"\b(?:answer|estimate|result)\b\s*(?:is\b|:|=|would\s+be\b|will\s+be\b)",
                        re.IGNORECASE)
_MARKER_WORDS = ("nswer", "NSWER", "stimate", "STIMATE", "esult", "ESULT")
_BOXED_RE = re.compile(r"\\boxed\{([^{}]*)\}")


@dataclass(frozen=True)
class ParsedAnswer:
    """The number a model's output means.

    Attributes:
        value: the answer in the base unit of its unit (or of ``unit_hint``), or None.
        reason: "ok", or why there is no value: "empty", "no_number", "number_words",
            "range", "expression", "wrong_unit", "not_finite".
        unit: base unit of the value ("m", "m/s", "s"), None when neither the answer
            nor the hint gave one.
    """

    value: float | None
    reason: str
    unit: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


class _Candidate(NamedTuple):
    """One number found in an answer, with what its surroundings say about it."""

    start: int
    number_end: int
    end: int
    value: float
    base: str | None  # base unit of the unit written after it; "%" for a percentage
    glued: bool  # letters glued to the digits that are not a unit ("3D", "2nd")
    operand: bool  # beside an arithmetic operator: part of a calculation, not its result
    bracketed: bool  # inside (...) or [...]


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
    value, reason, unit = _parse(text, unit_hint)
    return ParsedAnswer(value, reason, unit)


def parse_value(text: Any, unit_hint: str | None = None) -> float | None:
    """``parse_answer(text, unit_hint).value``, without building the result object."""
    return _parse(text, unit_hint)[0]


def _parse(text: Any, hint: str | None) -> tuple[float | None, str, str | None]:
    """(value, reason, base unit) of an output; the hot path of scoring."""
    if not isinstance(text, str):
        return _parse_non_string(text, hint)
    fast = _fast_path(text, hint)
    if fast is not None:
        return fast
    tag = text.rfind("<answer>")
    if tag >= 0:
        close = text.find("</answer>", tag)
        segment = text[tag + 8:] if close < 0 else text[tag + 8:close]
        return _fast_path(segment, hint, tail=False) or _parse_segment(segment, hint, use_markers=False)
    return _parse_free_text(text, hint)


def _fast_path(text: str, hint: str | None, tail: bool = True) -> tuple[float, str, str | None] | None:
    """The value of a bare "7.23", "7.23 m", or of a chain ending "= 1.81 m/s"; None to parse fully.

    Each path gives what the full parse would give: a simple answer has one number, and
    a chain's last number after "=" is its result when no marker or bracket is around.
    """
    bare = _BARE_RE.fullmatch(text)
    if bare is not None:
        return float(bare.group(1)), OK, hint
    match = _SIMPLE_RE.fullmatch(text)
    if match is None and tail and len(text) > 40 and "=" in text and not any(b in text for b in _TAIL_BLOCKERS):
        match = _TAIL_RE.search(text, len(text) - 40)
    if match is None:
        return None
    unit = _SIMPLE_UNITS[match.group(2).lower()] if match.group(2) else hint
    if hint is not None and unit != hint:
        return None
    return float(match.group(1)), OK, unit


def _parse_non_string(obj: Any, hint: str | None) -> tuple[float | None, str, str | None]:
    if isinstance(obj, bool) or obj is None:
        return None, EMPTY, None
    if isinstance(obj, (int, float)):
        return (float(obj), OK, hint) if math.isfinite(obj) else (None, NOT_FINITE, None)
    return None, EMPTY, None


def _parse_free_text(text: str, hint: str | None) -> tuple[float | None, str, str | None]:
    """An output without ``<answer>``: a ``\\boxed{}``, the text after ``</think>``, or all of it."""
    boxed = _BOXED_RE.findall(text)
    if boxed:
        return _parse_segment(boxed[-1], hint, use_markers=False)
    think = text.rfind("</think>")
    if think >= 0:
        after = _parse_segment(text[think + 8:], hint, use_markers=True)
        if after[0] is not None or after[1] not in (EMPTY, NO_NUMBER):
            return after
    return _parse_segment(text, hint, use_markers=True)


def _parse_segment(segment: str, hint: str | None, use_markers: bool) -> tuple[float | None, str, str | None]:
    """Pick the answer among the numbers of one piece of text."""
    if not segment or segment.isspace():
        return None, EMPTY, None
    candidates = _candidates(segment)
    usable = [c for c in candidates if not c.glued]
    if not usable:
        return None, (NUMBER_WORDS if _NUMBER_WORDS_RE.search(segment) else NO_NUMBER), None
    fitting = [c for c in usable if c.base != "%" and (hint is None or c.base is None or c.base == hint)]
    if not fitting:
        return None, WRONG_UNIT, None
    results = [c for c in fitting if not c.operand]
    if not results:
        return None, (RANGE if _has_range(segment, fitting) else EXPRESSION), None
    chosen = _choose(segment, [c for c in results if not c.bracketed] or results, use_markers)
    reason = _reject_reason(segment, candidates, chosen)
    if reason is not None:
        return None, reason, None
    if not math.isfinite(chosen.value):
        return None, NOT_FINITE, None
    return chosen.value, OK, chosen.base or hint


def _candidates(segment: str) -> list[_Candidate]:
    """Every number of ``segment`` with its unit converted and its context flags."""
    out = []
    brackets = "(" in segment or "[" in segment
    covered = 0
    for match in _NUMBER_RE.finditer(segment):
        start, number_end = match.start(), match.end()
        if start < covered:
            continue  # inside the unit of the number before ("m s^-1")
        if start and (segment[start - 1].isalnum() or segment[start - 1] in "_.,"):
            if not match.group("sign"):
                continue  # part of a word or of another number ("x2", "v1.5")
            start += 1  # "5-7": the minus is a dash, not a sign
        base, factor, end = _unit_after(segment, number_end)
        letters_after = base is None and segment[number_end:number_end + 1].isalpha()
        glued = letters_after or _in_clock(segment, start, number_end)
        bracketed = brackets and (segment.count("(", 0, start) + segment.count("[", 0, start)
                                  > segment.count(")", 0, start) + segment.count("]", 0, start))
        value = _number_value(match, signed=start == match.start()) * factor
        covered = end
        out.append(_Candidate(start, number_end, end, value, base, glued, _is_operand(segment, start, end), bracketed))
    return out


def _in_clock(segment: str, start: int, end: int) -> bool:
    """Whether the number at ``start:end`` is one side of "1:30" (a clock or a ratio, not a value)."""
    after, before = segment[end:end + 2], segment[max(0, start - 2):start]
    return (len(after) == 2 and after[0] == ":" and after[1].isdigit()) or (
        len(before) == 2 and before[1] == ":" and before[0].isdigit())


def _is_operand(segment: str, start: int, end: int) -> bool:
    """Whether the number at ``start:end`` stands beside an arithmetic operator."""
    after = segment[end:end + 6].lstrip()
    if after[:1] in _OPERATORS or after[:2] in ("x ", "X "):
        operand = after[1:].lstrip()[:1]
        if operand and operand in _OPERAND_START:
            return True
    before = segment[max(0, start - 6):start].rstrip()
    if before[-1:] in _OPERATORS or before[-2:] in (" x", " X"):
        left = before[:-1].rstrip()[-1:]
        return bool(left) and (left.isalnum() or left == ")")
    return False


def _number_value(match: re.Match, signed: bool = True) -> float:
    """The signed value of a number token: thousands commas dropped, a decimal comma read as a point."""
    body = match.group("plain")
    if body is None:
        thousands = match.group("thou")
        body = thousands.replace(",", "") if thousands is not None else match.group("dcomma").replace(",", ".")
    exponent = match.group("exp")
    value = float(body + exponent if exponent else body)
    return -value if signed and match.group("sign") in ("-", "\u2212") else value


def _unit_after(segment: str, pos: int) -> tuple[str | None, float, int]:
    """(base unit, factor to it, end) of a unit written at ``pos``; (None, 1.0, pos) when none."""
    match = _UNIT_RE.match(segment, pos)
    if match is None:
        return None, 1.0, pos
    if match.group("pct"):
        return "%", 1.0, match.end()
    first, second = match.group("w1").lower(), match.group("w2")
    if second is not None and first in _SPEED_LENGTHS and second.lower() in _SPEED_TIMES:
        return "m/s", _LENGTH_UNITS[first] / _TIME_UNITS[second.lower()], match.end()
    if first in ("m", "ms"):
        per_second = _PER_SECOND_RE.match(segment, match.start("w1") + 1)
        if per_second is not None:
            return "m/s", 1.0, per_second.end()
    for base, table in (("m/s", _SPEED_WORDS), ("m", _LENGTH_UNITS), ("s", _TIME_UNITS)):
        if first in table:
            return base, table[first], match.end("w1")
    return None, 1.0, pos


def _choose(segment: str, results: list[_Candidate], use_markers: bool) -> _Candidate:
    """The first result after the last "answer is"-like marker, else the last result."""
    if use_markers and any(word in segment for word in _MARKER_WORDS):
        markers = [m.end() for m in _MARKER_RE.finditer(segment)]
        if markers:
            after = [c for c in results if c.start >= markers[-1]]
            if after:
                return after[0]
    return results[-1]


def _reject_reason(segment: str, candidates: list[_Candidate], chosen: _Candidate) -> str | None:
    """NUMBER_WORDS for "3 and a half", RANGE for "5 to 7 m"/"between 5 and 7", else None."""
    if _WORDS_AFTER_RE.match(segment, chosen.number_end):
        return NUMBER_WORDS
    index = candidates.index(chosen)
    for left, right in ((index - 1, index), (index, index + 1)):
        if left < 0 or right >= len(candidates):
            continue
        a, b = candidates[left], candidates[right]
        if _RANGE_GAP_RE.fullmatch(segment, a.end, b.start):
            return RANGE
        between = _BETWEEN_RE.search(segment, max(0, a.start - 12), a.start)
        if between and _AND_GAP_RE.fullmatch(segment, a.end, b.start):
            return RANGE
    return None


def _has_range(segment: str, candidates: list[_Candidate]) -> bool:
    """Whether two neighbouring numbers are joined like a range ("5-7", "5 to 7")."""
    return any(_RANGE_GAP_RE.fullmatch(segment, a.end, b.start) for a, b in zip(candidates, candidates[1:]))


def parse_answers(texts: Sequence[Any], unit_hint: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Parse many outputs: ((N,) float64 values, NaN where unparsable; N reasons)."""
    values = np.full(len(texts), np.nan)
    reasons = []
    for i, text in enumerate(texts):
        value, reason, _ = _parse(text, unit_hint)
        if value is not None:
            values[i] = value
        reasons.append(reason)
    return values, reasons


def completion_text(completion: Any) -> Any:
    """The text of one model completion: a string, or the last message of a conversation.

    Accepts a plain string, a message dict ``{"role": ..., "content": ...}``, or a list of
    them (TRL's conversational format), whose content may itself be a list of parts
    ``[{"type": "text", "text": ...}]``. Anything else is returned unchanged.
    """
    if isinstance(completion, list):
        if not completion:
            return None
        completion = completion[-1]
    if isinstance(completion, dict):
        completion = completion.get("content")
        if isinstance(completion, list):
            texts = [p.get("text", "") for p in completion if isinstance(p, dict) and p.get("type", "text") == "text"]
            return "".join(texts)
    return completion


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """δ and error metrics of one group of answers.

    A missing, unparsable or non-positive answer is a miss for δ1/δ2/δ3 (their
    denominator is ``n``) and is left out of AbsRel, RMSE and log10 (their
    denominator is ``n_valid``); the counts say how many of each there were.

    Attributes:
        n: records scored (missing predictions included unless skipped).
        n_missing: records without a prediction.
        n_unparsable: predictions without a number (or a non-finite one).
        n_nonpositive: parsed predictions <= 0.
        delta1, delta2, delta3: share of ``n`` with max(pred/gt, gt/pred) < 1.25, 1.25², 1.25³.
        abs_rel: mean |pred - gt| / gt over valid predictions.
        rmse: root mean squared error over valid predictions, in the task's base unit.
        log10: mean |log10 pred - log10 gt| over valid predictions.
        delta1_ci: bootstrap 95% interval of delta1, or None when not computed.
    """

    n: int
    n_missing: int = 0
    n_unparsable: int = 0
    n_nonpositive: int = 0
    delta1: float | None = None
    delta2: float | None = None
    delta3: float | None = None
    abs_rel: float | None = None
    rmse: float | None = None
    log10: float | None = None
    delta1_ci: tuple[float, float] | None = None

    @property
    def n_predicted(self) -> int:
        return self.n - self.n_missing

    @property
    def n_parsed(self) -> int:
        return self.n_predicted - self.n_unparsable

    @property
    def n_valid(self) -> int:
        return self.n_parsed - self.n_nonpositive

    @property
    def parse_rate(self) -> float | None:
        """Share of the predictions given that hold a number."""
        return self.n_parsed / self.n_predicted if self.n_predicted else None

    def to_dict(self) -> dict:
        out = {"n": self.n, "n_predicted": self.n_predicted, "n_parsed": self.n_parsed, "n_valid": self.n_valid,
               "n_missing": self.n_missing, "n_unparsable": self.n_unparsable,
               "n_nonpositive": self.n_nonpositive, "parse_rate": self.parse_rate}
        for name in ("delta1", "delta2", "delta3", "abs_rel", "rmse", "log10"):
            out[name] = getattr(self, name)
        out["delta1_ci"] = list(self.delta1_ci) if self.delta1_ci is not None else None
        return out


def compute_metrics(pred: np.ndarray, gt: np.ndarray, missing: np.ndarray | None = None, *,
                    bootstrap: int = 0, seed: int | Sequence[int] = 0) -> Metrics:
    """δ1/δ2/δ3, AbsRel, RMSE and log10 error of predictions against positive truths.

    Args:
        pred: (N,) float predictions in the truth's unit; NaN (or inf) where unparsable.
        gt: (N,) float true values, all > 0.
        missing: (N,) bool, True where there was no prediction at all; None = none missing.
        bootstrap: number of bootstrap resamples for the δ1 interval; 0 = no interval.
        seed: seed of the bootstrap generator.

    Returns:
        The metrics; the δ are None when N = 0, the errors when no prediction is valid.
    """
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    missing = np.zeros(gt.shape, dtype=bool) if missing is None else np.asarray(missing, dtype=bool)
    if pred.shape != gt.shape or missing.shape != gt.shape or gt.ndim != 1:
        raise ScoringError(f"compute_metrics: pred, gt and missing must be (N,), got {pred.shape}, {gt.shape}, "
                           f"{missing.shape}")
    if not np.all(gt > 0) or not np.all(np.isfinite(gt)):
        raise ScoringError("compute_metrics: true values must be finite and > 0")
    finite = np.isfinite(pred) & ~missing
    valid = finite & (pred > 0)
    n = len(gt)
    counts = {"n": n, "n_missing": int(missing.sum()), "n_unparsable": int((~finite & ~missing).sum()),
              "n_nonpositive": int((finite & ~valid).sum())}
    if n == 0:
        return Metrics(**counts)
    p, g = pred[valid], gt[valid]
    ratio = np.maximum(p / g, g / p)
    hits = [int(np.count_nonzero(ratio < DELTA_BASE ** k)) for k in (1, 2, 3)]
    errors = _error_metrics(p, g)
    ci = bootstrap_delta1_ci(hits[0], n, bootstrap, seed) if bootstrap else None
    return Metrics(**counts, delta1=hits[0] / n, delta2=hits[1] / n, delta3=hits[2] / n, **errors, delta1_ci=ci)


def _error_metrics(p: np.ndarray, g: np.ndarray) -> dict:
    """AbsRel, RMSE and log10 error of valid (positive) predictions; None when there are none."""
    if len(p) == 0:
        return {"abs_rel": None, "rmse": None, "log10": None}
    return {"abs_rel": float(np.mean(np.abs(p - g) / g)),
            "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
            "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g))))}


def bootstrap_delta1_ci(hits: int, n: int, resamples: int, seed: int | Sequence[int] = 0,
                        level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of δ1 = hits / n.

    δ1 is the mean of n hit/miss indicators, so the number of hits in a resample of the
    n records (drawn with replacement) is Binomial(n, hits / n): drawing that count is
    the record-resampling bootstrap exactly, in O(resamples) instead of O(n * resamples).

    Args:
        hits: records that count as δ1 hits.
        n: records scored (hits and misses).
        resamples: bootstrap resamples.
        seed: seed (or seed sequence) of ``np.random.default_rng``.
        level: coverage of the interval.

    Returns:
        (low, high), or None when n or resamples is 0.
    """
    if n <= 0 or resamples <= 0:
        return None
    rng = np.random.default_rng(seed)
    shares = rng.binomial(n, hits / n, size=resamples) / n
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(shares, [tail, 100 - tail])
    return float(low), float(high)


def depth_bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the depth ranges [e0, e1), ..., [e_last, inf): "0-2", ..., "80+"."""
    edges = check_depth_bins(edges)
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges, edges[1:])] + [f"{edges[-1]:g}+"]


def assign_depth_bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """(N,) int index of the depth range of each value; -1 below the first edge."""
    edges = check_depth_bins(edges)
    return np.searchsorted(np.asarray(edges), np.asarray(values, dtype=np.float64), side="right") - 1


def check_depth_bins(edges: Sequence[float]) -> tuple[float, ...]:
    """``edges`` as a tuple of floats, or ScoringError unless finite, >= 0 and increasing."""
    try:
        edges = tuple(float(e) for e in edges)
    except (TypeError, ValueError):
        raise ScoringError(f"depth bins must be numbers, got {edges!r}") from None
    if not edges or not all(math.isfinite(e) and e >= 0 for e in edges) or any(
            b <= a for a, b in zip(edges, edges[1:])):
        raise ScoringError(f"depth bins must be finite, >= 0 and strictly increasing, got {list(edges)}")
    return edges


# ---------------------------------------------------------------------------------------
# Reference records and predictions files
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Reference:
    """What scoring needs from the records of a build, as columns.

    Attributes:
        path: the build folder.
        ids: (N,) record ids.
        values: (N,) float64 true values, base unit of each record's ``unit``.
        task_codes, source_codes, split_codes, unit_codes: (N,) int32 indices into the
            matching ``*_names`` tuple (tasks, ``provenance.source``, splits, units).
    """

    path: Path
    ids: tuple[str, ...]
    values: np.ndarray
    task_codes: np.ndarray
    task_names: tuple[str, ...]
    source_codes: np.ndarray
    source_names: tuple[str, ...]
    split_codes: np.ndarray
    split_names: tuple[str, ...]
    unit_codes: np.ndarray
    unit_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def index(self) -> dict[str, int]:
        """Record id -> row."""
        return {record_id: i for i, record_id in enumerate(self.ids)}

    def column(self, name: str) -> list[str]:
        """Per-record names of "task", "source", "split" or "unit"."""
        names = getattr(self, f"{name}_names")
        return [names[code] for code in getattr(self, f"{name}_codes").tolist()]

    def split_mask(self, split: str) -> np.ndarray:
        """(N,) bool: records of ``split``; ScoringError naming the splits there are if none."""
        if split not in self.split_names:
            raise ScoringError(f"{self.path}: no records in split {split!r} (splits: {', '.join(self.split_names)})")
        return self.split_codes == self.split_names.index(split)


class _Encoder:
    """Strings -> small int codes, in order of first appearance."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.column: list[int] = []

    def add(self, name: str) -> None:
        code = self.codes.get(name)
        if code is None:
            code = self.codes[name] = len(self.codes)
        self.column.append(code)

    def arrays(self) -> tuple[np.ndarray, tuple[str, ...]]:
        return np.asarray(self.column, dtype=np.int32), tuple(self.codes)


def load_reference(build_dir: str | Path) -> Reference:
    """Read id, task, split, value, unit and source of every record of a build.

    Raises:
        NotABuildError: the folder is not a build.
        ScoringError: a record line is not JSON, lacks a field, or repeats an id.
    """
    build_dir = check_build_dir(build_dir)
    ids, values, seen = [], [], set()
    encoders = {name: _Encoder() for name in ("task", "source", "split", "unit")}
    for path in record_files(build_dir):
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                record_id, fields, value = _reference_fields(line, f"{path}:{line_number}")
                if record_id in seen:
                    raise ScoringError(f"{path}:{line_number}: duplicate record id {record_id!r} "
                                       "(ids are unique in a build)")
                seen.add(record_id)
                ids.append(record_id)
                values.append(value)
                for name, encoder in encoders.items():
                    encoder.add(fields[name])
    columns = {}
    for name, encoder in encoders.items():
        columns[f"{name}_codes"], columns[f"{name}_names"] = encoder.arrays()
    log.info("%s: %d reference records", build_dir, len(ids))
    return Reference(build_dir, tuple(ids), np.asarray(values, dtype=np.float64), **columns)


def _reference_fields(line: str, where: str) -> tuple[str, dict[str, str], float]:
    """(id, {task, source, split, unit}, value) of one canonical record line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ScoringError(f"{where}: not a JSON record ({exc.msg})") from None
    if not isinstance(record, dict):
        raise ScoringError(f"{where}: expected a JSON object (canonical record), got {type(record).__name__}")
    missing = [key for key in ("id", "task", "split", "value") if key not in record]
    if missing:
        raise ScoringError(f"{where}: record lacks {missing} (canonical record, DESIGN.md section 4)")
    value = record["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScoringError(f"{where}: 'value' must be a finite number, got {value!r}")
    provenance = record.get("provenance")
    source = provenance.get("source") if isinstance(provenance, dict) else None
    unit = record.get("unit") or TASK_UNITS.get(record["task"], "")
    fields = {"task": str(record["task"]), "source": str(source or "unknown"), "split": str(record["split"]),
              "unit": str(unit)}
    return str(record["id"]), fields, float(value)


@dataclass(frozen=True, eq=False)
class Predictions:
    """The lines of one predictions JSONL file that could be read.

    Attributes:
        path: the file.
        ids: prediction ids, first occurrence only, in file order.
        outputs: the model output of each id (text, or whatever the line held).
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
    """
    path = Path(path)
    ids, outputs, seen, broken, duplicates = [], [], set(), [], []
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ScoringError(f"{path}: cannot read predictions ({exc.strerror})") from None
    with handle:
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            entry = _prediction_entry(line)
            if isinstance(entry, str):
                broken.append((line_number, entry))
            elif entry[0] in seen:
                duplicates.append((line_number, entry[0]))
            else:
                seen.add(entry[0])
                ids.append(entry[0])
                outputs.append(entry[1])
    if broken or duplicates:
        log.info("%s: %d broken lines, %d duplicate ids", path, len(broken), len(duplicates))
    return Predictions(path, ids, outputs, tuple(broken), tuple(duplicates))


def _prediction_entry(line: str) -> tuple[str, Any] | str:
    """(id, output) of one predictions line, or a message saying what is wrong with it."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg})"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    record_id = obj.get("id")
    if not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
        return "no 'id' (expected a string)"
    for key in OUTPUT_KEYS:
        if key in obj:
            return str(record_id), completion_text(obj[key])
    return f"no model output (expected one of the keys {', '.join(OUTPUT_KEYS)})"


# ---------------------------------------------------------------------------------------
# Scoring a predictions file against a build
# ---------------------------------------------------------------------------------------

#: How many ids a report lists for each kind of problem.
FIRST_FEW = 5
_REASONS = (OK, EMPTY, NO_NUMBER, NUMBER_WORDS, RANGE, EXPRESSION, WRONG_UNIT, NOT_FINITE)


@dataclass(frozen=True)
class IdSample:
    """How many ids had a problem, and the first few of them."""

    count: int = 0
    first: tuple[str, ...] = ()

    @classmethod
    def of(cls, ids: Sequence[str]) -> "IdSample":
        return cls(len(ids), tuple(ids[:FIRST_FEW]))

    def to_dict(self) -> dict:
        return {"count": self.count, "first": list(self.first)}


@dataclass(frozen=True, eq=False)
class ScoreReport:
    """Every metric of one predictions file, overall and per group, and what went wrong.

    Attributes:
        name: the run's name in tables (the file name without extension).
        path: the predictions file.
        splits: the splits of the build that were scored.
        overall, by_task, by_source, by_depth_range: metrics; depth ranges are of the
            true value, for metre tasks only.
        reasons: parse outcome ("ok" or why not) -> count, over the scored predictions.
        missing: scored records without a prediction (counted as wrong unless skipped).
        unknown: prediction ids that are not in the build.
        outside_split: predictions of records outside the scored splits (ignored).
        invalid_truth: records whose true value is not > 0 (not scored).
        duplicates, broken_lines: from the predictions file.
        missing_counted_as_wrong: whether missing predictions count as misses.
    """

    name: str
    path: str
    splits: tuple[str, ...]
    overall: Metrics
    by_task: dict[str, Metrics]
    by_source: dict[str, Metrics]
    by_depth_range: dict[str, Metrics]
    reasons: dict[str, int]
    missing: IdSample
    unknown: IdSample
    outside_split: int
    invalid_truth: IdSample
    duplicates: tuple[tuple[int, str], ...]
    broken_lines: tuple[tuple[int, str], ...]
    missing_counted_as_wrong: bool = True

    def to_dict(self) -> dict:
        groups = {key: {name: m.to_dict() for name, m in getattr(self, key).items()}
                  for key in ("by_task", "by_source", "by_depth_range")}
        return {
            "name": self.name, "file": self.path, "splits": list(self.splits),
            "overall": self.overall.to_dict(), **groups,
            "parse": {"rate": self.overall.parse_rate, "reasons": dict(self.reasons)},
            "missing": {**self.missing.to_dict(),
                        "counted_as": "wrong" if self.missing_counted_as_wrong else "skipped"},
            "unknown": self.unknown.to_dict(),
            "outside_split": self.outside_split,
            "invalid_truth": self.invalid_truth.to_dict(),
            "duplicates": {"count": len(self.duplicates), "first": _line_items(self.duplicates, "id")},
            "broken_lines": {"count": len(self.broken_lines), "first": _line_items(self.broken_lines, "error")},
        }


def _line_items(items: Sequence[tuple[int, str]], key: str) -> list[dict]:
    return [{"line": line, key: text} for line, text in items[:FIRST_FEW]]


@dataclass(frozen=True, eq=False)
class _Matched:
    """Predictions parsed and laid out by reference row."""

    values: np.ndarray  # (N,) float64, NaN where no number
    answered: np.ndarray  # (N,) bool, a prediction exists
    reason_codes: np.ndarray  # (N,) int8 index into _REASONS; -1 where no prediction
    unknown: list[str]


def match_predictions(predictions: Predictions, reference: Reference) -> _Matched:
    """Parse every prediction with its record's unit as hint and place it on the record's row."""
    index = reference.index
    hints = [unit if unit in BASE_UNITS else None for unit in reference.unit_names]
    unit_codes = reference.unit_codes.tolist()
    reason_index = {reason: i for i, reason in enumerate(_REASONS)}
    rows, values, reasons, unknown = [], [], [], []
    parse = _parse
    for record_id, output in zip(predictions.ids, predictions.outputs):
        row = index.get(record_id)
        if row is None:
            unknown.append(record_id)
            continue
        value, reason, _ = parse(output, hints[unit_codes[row]])
        rows.append(row)
        values.append(math.nan if value is None else value)
        reasons.append(reason_index[reason])
    n = len(reference)
    out = _Matched(np.full(n, np.nan), np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int8), unknown)
    rows = np.asarray(rows, dtype=np.int64)
    out.values[rows], out.answered[rows], out.reason_codes[rows] = values, True, reasons
    return out


def score_predictions(predictions: Predictions, reference: Reference, *, split: str | None = None,
                      skip_missing: bool = False, depth_bins: Sequence[float] = DEFAULT_DEPTH_BINS,
                      bootstrap: int = 1000, seed: int = 0, name: str | None = None) -> ScoreReport:
    """Score one predictions file against the records of a build.

    Args:
        predictions: read by :func:`read_predictions`.
        reference: read by :func:`load_reference`.
        split: split to score, "all", or None for the splits of the records predicted.
        skip_missing: leave records without a prediction out instead of counting them wrong.
        depth_bins: edges (metres) of the depth ranges of metre tasks.
        bootstrap: resamples of the δ1 interval (0 = none); seed: its seed.
        name: the run's name; the file name without extension by default.

    Returns:
        The report, overall and per task, source and depth range.
    """
    matched = match_predictions(predictions, reference)
    splits = _scored_splits(reference, matched.answered, split)
    in_split = np.isin(reference.split_codes, [reference.split_names.index(s) for s in splits])
    bad_truth = in_split & ~(reference.values > 0)
    scope = in_split & ~bad_truth & (matched.answered if skip_missing else True)
    scored = np.flatnonzero(scope)
    groups = _group_metrics(reference, matched, scored, depth_bins, bootstrap, seed)
    codes = matched.reason_codes[scored]
    reasons = {_REASONS[i]: int(c) for i, c in enumerate(np.bincount(codes[codes >= 0], minlength=len(_REASONS))) if c}
    return ScoreReport(
        name=name or predictions.path.stem, path=str(predictions.path), splits=splits,
        reasons=reasons, missing=_rows_sample(reference, scope & ~matched.answered),
        unknown=IdSample.of(matched.unknown), outside_split=int((matched.answered & ~in_split).sum()),
        invalid_truth=_rows_sample(reference, bad_truth),
        duplicates=predictions.duplicates, broken_lines=predictions.broken,
        missing_counted_as_wrong=not skip_missing, **groups)


def _rows_sample(reference: Reference, mask: np.ndarray) -> IdSample:
    rows = np.flatnonzero(mask)
    return IdSample(len(rows), tuple(reference.ids[i] for i in rows[:FIRST_FEW]))


def _scored_splits(reference: Reference, answered: np.ndarray, split: str | None) -> tuple[str, ...]:
    """The splits to score: the one asked, all, or those of the records that have predictions."""
    if split == "all":
        return reference.split_names
    if split is not None:
        reference.split_mask(split)  # raises when the build has no such split
        return (split,)
    present = np.unique(reference.split_codes[answered])
    return tuple(reference.split_names[i] for i in present) if len(present) else reference.split_names


def _group_metrics(reference: Reference, matched: _Matched, scored: np.ndarray, depth_bins: Sequence[float],
                   bootstrap: int, seed: int) -> dict:
    """overall, by_task, by_source and by_depth_range metrics of the scored rows."""
    pred, gt, missing = matched.values[scored], reference.values[scored], ~matched.answered[scored]

    def metrics(mask: np.ndarray | None, key: str) -> Metrics:
        select = slice(None) if mask is None else mask
        group_seed = [seed, zlib.crc32(key.encode("utf-8"))]
        return compute_metrics(pred[select], gt[select], missing[select], bootstrap=bootstrap, seed=group_seed)

    out = {"overall": metrics(None, "overall")}
    for key, codes, names in (("task", reference.task_codes, _task_order(reference.task_names)),
                              ("source", reference.source_codes, sorted(reference.source_names))):
        codes = codes[scored]
        all_names = getattr(reference, f"{key}_names")
        out[f"by_{key}"] = {name: metrics(codes == all_names.index(name), f"{key}/{name}") for name in names
                            if np.any(codes == all_names.index(name))}
    out["by_depth_range"] = _depth_range_metrics(reference, scored, depth_bins, metrics)
    return out


def _depth_range_metrics(reference: Reference, scored: np.ndarray, depth_bins: Sequence[float], metrics) -> dict:
    """Metrics per range of the true value, over the records whose unit is metres."""
    if "m" not in reference.unit_names:
        return {}
    metre = reference.unit_codes[scored] == reference.unit_names.index("m")
    bins = assign_depth_bins(reference.values[scored], depth_bins)
    out = {}
    for i, label in enumerate(depth_bin_labels(depth_bins)):
        mask = metre & (bins == i)
        if mask.any():
            out[label] = metrics(mask, f"depth/{label}")
    return out


def _task_order(names: Iterable[str]) -> list[str]:
    """Known tasks in their canonical order, then any others alphabetically."""
    names = set(names)
    return [t for t in TASK_UNITS if t in names] + sorted(names - set(TASK_UNITS))


def score_files(paths: Sequence[str | Path], reference: Reference, **options: Any) -> list[ScoreReport]:
    """Score several predictions files against one build; runs are named by file name.

    Two files with the same name (in different folders) are named by their full path.
    ``options`` are those of :func:`score_predictions` but ``name``.
    """
    stems = [Path(p).stem for p in paths]
    reports = []
    for path, stem in zip(paths, stems):
        name = stem if stems.count(stem) == 1 else str(path)
        reports.append(score_predictions(read_predictions(path), reference, name=name, **options))
    return reports


def reports_to_json(reports: Sequence[ScoreReport], reference: Reference, settings: dict) -> dict:
    """The JSON document of ``datagen score --json``: reference, settings and one entry per run.

    With a single predictions file its metrics (``overall``, ``by_task``, ``by_source``, ...) also
    stand at the top level, so ``doc["overall"]["delta1"]`` reads the headline number directly.
    """
    runs = [report.to_dict() for report in reports]
    document = {"reference": str(reference.path), "records": len(reference), "settings": dict(settings)}
    if len(runs) == 1:
        document.update({key: value for key, value in runs[0].items() if key not in document})
    document["runs"] = runs
    return document


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def format_table(reports: Sequence[ScoreReport], markdown: bool = False) -> str:
    """δ1 of each run (rows) per source and per task (columns), then overall with its interval.

    Args:
        reports: one per run, in row order.
        markdown: a GitHub-flavoured Markdown table instead of aligned plain text.
    """
    sources = sorted({name for r in reports for name in r.by_source})
    tasks = _task_order({name for r in reports for name in r.by_task})
    header = ["run", *sources, *tasks, "all", "95% CI", "parsed", "n"]
    rows = [[r.name, *(_cell(r.by_source.get(s)) for s in sources), *(_cell(r.by_task.get(t)) for t in tasks),
             _cell(r.overall), _interval(r.overall), _percent(r.overall.parse_rate), str(r.overall.n)]
            for r in reports]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cell(metrics: Metrics | None) -> str:
    return "-" if metrics is None or metrics.delta1 is None else f"{metrics.delta1:.3f}"


def _interval(metrics: Metrics) -> str:
    return "-" if metrics.delta1_ci is None else f"[{metrics.delta1_ci[0]:.3f}, {metrics.delta1_ci[1]:.3f}]"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"
