"""Every quantity written in an answer: a number, its unit, and what surrounds it.

One left-to-right pass over the text (linear in its length) finds each number and reads
what belongs to it: the unit after it, smaller units that continue it ("7 m 23 cm",
"1 minute 30 seconds", "5' 10\""), an uncertainty ("3.5 ± 0.2 m"), and a power of ten
("1.5x10^3", "1.5×10³"). Each quantity carries the flags :mod:`datagen.scoring.parsing`
needs to pick the answer among them: part of a word, operand of a calculation, inside
brackets, or a number that cannot be read unambiguously ("1'250", "1.250,5").
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from datagen.scoring.units import FOOT_M, INCH_M, OTHER, QUOTES, Unit, read_mark, read_unit

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_MINUS = "-\u2212"

_NUMBER_RE = re.compile(  # the leading look-ahead lets the engine skip to a digit or sign fast
    r"(?=[-+\u2212.\d])(?P<sign>[-+\u2212](?=\.?\d))?"
    r"(?:(?P<thou>\d{1,3}(?:,\d{3})+(?:\.\d+)?)(?![\d,])"
    r"|(?P<spaced>\d{1,3}(?:[ \u00a0\u2009\u202f]\d{3})+(?:\.\d+)?)(?![\d,]|\.\d)"
    r"|(?P<dcomma>\d+,\d{1,2})(?![\d,]|\.\d)"
    r"|(?P<plain>\d+(?:\.\d+)?|\.\d+))"
    r"(?P<exp>[eE][-+\u2212]?\d+)?"
)
# "x10^3", " × 10³", "*10**3", " \times 10^{3}" after a number.
_POWER_OF_TEN_RE = re.compile(
    r"[ \t]*(?:[x×*·⋅]|\\times|\\cdot)[ \t]*10[ \t]*"
    r"(?:(?:\^|\*\*)[ \t]*\{?\(?([-+\u2212]?\d+)\)?\}?|([⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+))")
_POWER_STARTS = frozenset("x×*·⋅\\")
_UNSIGNED_RE = re.compile(r"\d+(?:\.\d+)?|\.\d+")
# Digits that continue a number in no format we read: "1.250,5", "1,2,3", "7,2500".
_TRAILING_DIGITS_RE = re.compile(r"(?:[.,]\d+)+")
_WORD_AFTER_RE = re.compile(r"[ \t]*-?[a-zA-Z]|[\d,:]|\.\d")  # "7 m 3 points": the 3 is not a smaller unit
_NEXT_NUMBER_RE = re.compile(r"[ \t]*(?:and[ \t]+)?(\d+(?:\.\d+)?|\.\d+)", re.IGNORECASE)  # "7 m [and] 23 cm"
_PLUS_MINUS = r"(?:±|\+[ \t]*/?[ \t]*[-\u2212]|plus[ \t]*(?:or|/)[ \t]*minus)"
_PLUS_MINUS_RE = re.compile(r"[ \t]*" + _PLUS_MINUS + r"[ \t]*", re.IGNORECASE)
_PLUS_MINUS_BEFORE_RE = re.compile(_PLUS_MINUS + r"[ \t]*\Z", re.IGNORECASE)
_OPERATORS = frozenset("-+*/×÷·⋅^\u2212\u2013")
_OPERAND_START = frozenset("0123456789.(+-\u2212")
_POWERS = frozenset("²³^")
_SEPARATORS = (".", ",")
_MARKS = frozenset("'\"\u2032\u2019\u2033\u201d")
_PLUS_MINUS_STARTS = frozenset("±+pP")
#: A bare number after feet is inches below this ("5 ft 10"); from it on, it is ambiguous ("6 ft 13").
_INCHES_PER_FOOT = 12


class Quantity(NamedTuple):
    """One number of an answer with what was read around it.

    Attributes:
        start, number_end: span of the number itself (its sign included).
        end: end of everything read with it (unit, smaller units, uncertainty).
        value: in the base unit of ``base``, or as written when there is no unit; NaN
            when ``ambiguous``.
        base: "m", "s", "m/s", OTHER (a unit no task uses), or None (no unit written).
        glued: letters glued to the digits that are not a unit ("3D", "2nd", "x2").
        operand: beside an arithmetic operator or after "±": part of a calculation or
            an uncertainty, not a result.
        bracketed: inside (...) or [...].
        ambiguous: digits that read two ways ("1'250", "1.250,5"): never a value.
    """

    start: int
    number_end: int
    end: int
    value: float
    base: str | None
    glued: bool
    operand: bool
    bracketed: bool
    ambiguous: bool = False


def scan(text: str, begin: int = 0, depth: int = 0) -> list[Quantity]:
    """Every quantity of ``text[begin:]``, left to right, in one pass (time linear in its length).

    Args:
        text: the answer text.
        begin: offset to start at; a quantity cut there reads as its part after ``begin``.
        depth: brackets open before ``begin``.
    """
    out: list[Quantity] = []
    covered = depth_pos = begin
    features = _Features(brackets="(" in text or "[" in text, colon=":" in text,
                         plus_minus="±" in text or "+" in text or "inus" in text or "INUS" in text)
    for match in _NUMBER_RE.finditer(text, begin):
        start = match.start()
        if start < covered:
            continue  # read with the quantity before ("7 m 23 cm", "m s^-1", "± 0.2")
        signed = match.group("sign") is not None
        if start and (text[start - 1].isalnum() or text[start - 1] in "_.,"):
            if not signed:
                continue  # part of a word or of another number ("x2", "v1.5")
            start, signed = start + 1, False  # "5-7": the minus is a dash, not a sign
        if start and text[start - 1] in QUOTES and start >= 2 and text[start - 2].isdigit():
            out.append(Quantity(start, match.end(), match.end(), math.nan, None, False, False, False, True))
            covered = match.end()
            continue  # digits right after 1' that are not inches: "1'250"
        if features.brackets:
            depth += bracket_balance(text, depth_pos, start)
            depth_pos = start
        quantity = _read_quantity(text, match, start, signed, depth > 0, features)
        covered = quantity.end
        out.append(quantity)
    return out


def bracket_balance(text: str, begin: int, end: int) -> int:
    """Opening minus closing brackets in ``text[begin:end]``."""
    return (text.count("(", begin, end) + text.count("[", begin, end)
            - text.count(")", begin, end) - text.count("]", begin, end))


class _Features(NamedTuple):
    """What a text holds at all, so that the checks it cannot need are skipped."""

    brackets: bool
    colon: bool
    plus_minus: bool


def _read_quantity(text: str, match: re.Match, start: int, signed: bool, bracketed: bool,
                   features: _Features) -> Quantity:
    """The quantity whose number is ``match``: unit, smaller units, uncertainty and flags."""
    number_end = match.end()
    separator = text[number_end:number_end + 1] in _SEPARATORS
    trailing = _TRAILING_DIGITS_RE.match(text, number_end) if separator else None
    if trailing is not None:
        return Quantity(start, number_end, trailing.end(), math.nan, None, False, False, bracketed, True)
    power = _POWER_OF_TEN_RE.match(text, number_end) if _power_may_follow(text, number_end, match) else None
    if power is not None:
        number_end = power.end()
    value = number_value(match, signed, power)
    quoted = start > 0 and text[start - 1] in QUOTES
    unit = read_unit(text, number_end) or (read_mark(text, number_end, quoted)
                                           if text[number_end:number_end + 1] in _MARKS else None)
    base, end, ambiguous = None, number_end, False
    if unit is not None:
        base, value, end = unit.base, value * unit.factor, unit.end
        if base in ("m", "s"):
            value, end, ambiguous = _smaller_units(text, unit, value)
    uncertainty = _uncertainty(text, end) if features.plus_minus else None
    if uncertainty is not None:
        end = uncertainty.end
        if base is None and uncertainty.base != OTHER:  # "3.5 ± 0.2 m": the unit is written once, at the end
            base, value = uncertainty.base, value * uncertainty.factor
    glued = base is None and text[number_end:number_end + 1].isalpha() or (
        features.colon and _in_clock(text, start, number_end))
    operand = _is_operand(text, start, end) or (features.plus_minus and
                                                 _after_plus_minus(text, start + 1 if signed else start))
    if ambiguous:
        value = math.nan
    return Quantity(start, number_end, end, value, base, glued, operand, bracketed, ambiguous)


def _power_may_follow(text: str, pos: int, match: re.Match) -> bool:
    """Whether "x10^3"-like text may follow a number without an exponent: a cheap test before the regex."""
    return match.group("exp") is None and (text[pos:pos + 1] in _POWER_STARTS or text[pos + 1:pos + 2] in _POWER_STARTS)


def number_value(match: re.Match, signed: bool = True, power: re.Match | None = None) -> float:
    """The value of a number token: separators dropped, a decimal comma read as a point, powers of ten applied.

    Args:
        match: the number (:data:`_NUMBER_RE`).
        signed: whether its sign belongs to it.
        power: the "x10^3" after it (:data:`_POWER_OF_TEN_RE`), if any.

    Overflow gives inf (Python's float() of a long digit string never raises).
    """
    if match.lastgroup == "plain" and power is None:  # the common case: no separator, no exponent
        value = float(match.group("plain"))
        return -value if signed and match.group("sign") in _MINUS else value
    if match.group("plain") is not None:
        body = match.group("plain")
    elif match.group("thou") is not None:
        body = match.group("thou").replace(",", "")
    elif match.group("spaced") is not None:
        body = re.sub(r"[ \u00a0\u2009\u202f]", "", match.group("spaced"))
    else:
        body = match.group("dcomma").replace(",", ".")
    exponent = match.group("exp") or ("e" + (power.group(1) or power.group(2).translate(_SUPERSCRIPTS))
                                       if power is not None else "")
    value = float(body + exponent.replace("\u2212", "-"))
    return -value if signed and match.group("sign") in _MINUS else value


def _smaller_units(text: str, unit: Unit, value: float) -> tuple[float, int, bool]:
    """(value, end, ambiguous) after the smaller units that continue a quantity.

    "7 m 23 cm" = 7.23 m, "2 meters and 30 centimeters" = 2.3 m, "1 minute 30 seconds" =
    90 s, "1 h 2 min 3 s", "5 ft 10 in", "5' 10\"", and "5'10" or "5 ft 10" (a bare number
    below 12 after feet is inches). Any other bare number right after a unit ("7 m 23",
    "1 minute 30", "6 ft 13", "1'250" with a Swiss thousands separator) makes the
    quantity ambiguous.
    """
    end, factor = unit.end, unit.factor
    while True:
        number = _NEXT_NUMBER_RE.match(text, end)
        if number is None:
            return value, end, False
        amount, number_end = float(number.group(1)), number.end()
        following = read_unit(text, number_end) or read_mark(text, number_end, False)
        glued_to_mark = number.start(1) == end and text[end - 1:end] in QUOTES
        if following is None and not _WORD_AFTER_RE.match(text, number_end):
            if factor != FOOT_M or amount >= _INCHES_PER_FOOT:
                return value, number_end, True
            following = Unit("m", INCH_M, number_end)
        if following is None or following.base != unit.base or following.factor >= factor:
            return value, end, glued_to_mark
        value, end, factor = value + amount * following.factor, following.end, following.factor


def _uncertainty(text: str, pos: int) -> Unit | None:
    """The "± 0.2 m" after a value: its unit (factor 1 and base None when it has none) and end."""
    after = text[pos:pos + 8].lstrip(" \t")[:1]
    if after and after not in _PLUS_MINUS_STARTS:
        return None
    sign = _PLUS_MINUS_RE.match(text, pos)
    if sign is None:
        return None
    number = _UNSIGNED_RE.match(text, sign.end())
    if number is None:
        return None
    unit = read_unit(text, number.end())
    return unit if unit is not None else Unit(None, 1.0, number.end())


def _after_plus_minus(text: str, digits: int) -> bool:
    """Whether the number whose digits start at ``digits`` is an uncertainty on its own: "(±0.2 m)", "+/-0.2"."""
    return _PLUS_MINUS_BEFORE_RE.search(text, max(0, digits - 16), digits) is not None


def _in_clock(text: str, start: int, end: int) -> bool:
    """Whether the number at ``start:end`` is one side of "1:30" (a clock or a ratio, not a value)."""
    after, before = text[end:end + 2], text[max(0, start - 2):start]
    return (len(after) == 2 and after[0] == ":" and after[1].isdigit()) or (
        len(before) == 2 and before[1] == ":" and before[0].isdigit())


def _is_operand(text: str, start: int, end: int) -> bool:
    """Whether the quantity at ``start:end`` stands beside an arithmetic operator.

    "7.23 / 4.0", "41.02² + 14.21²" and "d - 4" are calculations; a dash after a word is
    punctuation ("Answer - 4.2 m", "Distance – 4.2 m").
    """
    if text[end:end + 1] in _POWERS:
        return True
    after = text[end:end + 6].lstrip()
    if after[:1] in _OPERATORS or after[:2] in ("x ", "X "):
        operand = after[1:].lstrip()[:1]
        if operand and operand in _OPERAND_START:
            return True
    before = text[max(0, start - 16):start].rstrip()
    if before[-1:] in _OPERATORS or before[-2:] in (" x", " X"):
        left = before[:-1].rstrip()
        return bool(left) and (left[-1].isdigit() or left[-1] in ")]²³" or _is_variable(left))
    return False


def _is_variable(left: str) -> bool:
    """Whether ``left`` ends with a one-letter name ("d", "v"), not a word ("Answer")."""
    return left[-1].isalpha() and not left[-2:-1].isalpha()
