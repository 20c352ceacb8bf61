"""Units a model may write after a number, and their factors to the base units m, s and m/s.

A unit is read from the text right after a number: a word ("meters", "cm", "min"), a
length per time ("cm/s", "km per hour", "m s^-1", "m·s⁻¹") or a speed word ("mph").
"m" is always metres, never minutes. A unit of another kind (an area "m²", a percentage)
is reported as such, so that its number is never taken for a length.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: Base units answers are converted to: distance-like tasks, speed, time.
BASE_UNITS = ("m", "m/s", "s")
#: Base of a unit that fits no task (a percentage, an area, an acceleration).
OTHER = "other"

LENGTH_UNITS = {
    "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
    "cm": 0.01, "centimeter": 0.01, "centimeters": 0.01, "centimetre": 0.01, "centimetres": 0.01,
    "mm": 0.001, "millimeter": 0.001, "millimeters": 0.001, "millimetre": 0.001, "millimetres": 0.001,
    "km": 1000.0, "kilometer": 1000.0, "kilometers": 1000.0, "kilometre": 1000.0, "kilometres": 1000.0,
    "ft": 0.3048, "feet": 0.3048, "foot": 0.3048, "in": 0.0254, "inch": 0.0254, "inches": 0.0254,
    "yd": 0.9144, "yard": 0.9144, "yards": 0.9144, "mi": 1609.344, "mile": 1609.344, "miles": 1609.344,
}
TIME_UNITS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 0.001, "msec": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
}
SPEED_WORDS = {"mph": 0.44704, "kph": 1 / 3.6, "kmh": 1 / 3.6, "kmph": 1 / 3.6, "mps": 1.0}
FOOT_M, INCH_M = 0.3048, 0.0254
#: Marks written right after a number for feet (5') and inches (10"), as plain or typographic quotes.
FOOT_MARKS = frozenset("'\u2032\u2019")
INCH_MARKS = frozenset('"\u2033\u201d')
QUOTES = frozenset("'\"\u2018\u2019\u201c\u201d")

# A word, and the word after "/", "per" or "a(n)" ("km/h", "meters per second", "miles an hour").
_UNIT_RE = re.compile(r"[ \t]*-?([a-zA-Z]+)(?:(?:[ \t]*/[ \t]*|[ \t]+per[ \t]+|[ \t]+an?[ \t]+)([a-zA-Z]+))?",
                      re.IGNORECASE)
_PERCENT_RE = re.compile(r"[ \t]*[%‰]")
# "m s^-1", "ms⁻¹", "km h-1", "m·s^{-1}", read from the first letter of the unit.
_PER_TIME_RE = re.compile(
    r"(km|cm|mm|m|ft|mi)[ \t]?[·⋅.]?[ \t]?(s|sec|h|hr|min)[ \t]?(?:\^[ \t]?\{?[-\u2212][ \t]?1\}?|⁻¹|[-\u2212]1)",
    re.IGNORECASE)
_POWER_AFTER = frozenset("²³^")
_PER_TIME_STARTS = frozenset("kcmf")
_PER_TIME_LETTERS = 5  # "kmsec" in "kmsec^-1": longer words never start a length per time
# "in" is a preposition far more often than inches: only at the end of a phrase is it a unit.
_INCH_END_RE = re.compile(r"[ \t]*(?:[.,;:!?)\]\n]|\Z)")


class Unit(NamedTuple):
    """A unit read after a number: its base ("m", "s", "m/s" or OTHER; None for none), factor to it, end offset."""

    base: str | None
    factor: float
    end: int


def read_unit(text: str, pos: int) -> Unit | None:
    """The unit written at ``text[pos:]`` (after optional blanks), or None when there is none.

    Args:
        text: the answer text.
        pos: offset right after a number.
    """
    match = _UNIT_RE.match(text, pos)
    if match is None:
        percent = _PERCENT_RE.match(text, pos)
        return None if percent is None else Unit(OTHER, 1.0, percent.end())
    word, word_end = match.group(1).lower(), match.end(1)
    if len(word) <= _PER_TIME_LETTERS and word[0] in _PER_TIME_STARTS:
        per_time = _PER_TIME_RE.match(text, match.start(1))
        if per_time is not None:
            length, time = per_time.group(1).lower(), per_time.group(2).lower()
            return _checked(text, Unit("m/s", LENGTH_UNITS[length] / TIME_UNITS[time], per_time.end()))
    per_word = match.group(2)
    if per_word is not None and word in LENGTH_UNITS and per_word.lower() in TIME_UNITS:
        return _checked(text, Unit("m/s", LENGTH_UNITS[word] / TIME_UNITS[per_word.lower()], match.end()))
    if word == "in" and not _INCH_END_RE.match(text, word_end):
        return None
    for base, table in (("m/s", SPEED_WORDS), ("m", LENGTH_UNITS), ("s", TIME_UNITS)):
        if word in table:
            return _checked(text, Unit(base, table[word], word_end))
    return None


def _checked(text: str, unit: Unit) -> Unit:
    """``unit``, or OTHER when a power follows it ("m²", "m/s^2": an area, an acceleration)."""
    if text[unit.end:unit.end + 1] in _POWER_AFTER:
        return Unit(OTHER, 1.0, unit.end + 1)
    return unit


def read_mark(text: str, pos: int, quoted: bool) -> Unit | None:
    """A feet (5') or inches (10") mark right at ``pos``, unless the number is quoted ('5')."""
    char = text[pos:pos + 1]
    if quoted or not char:
        return None
    if text.startswith("''", pos):
        return Unit("m", INCH_M, pos + 2)
    if char in FOOT_MARKS:
        return Unit("m", FOOT_M, pos + 1)
    if char in INCH_MARKS:
        return Unit("m", INCH_M, pos + 1)
    return None
