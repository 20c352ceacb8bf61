"""Answer parsing: a table of real-looking model outputs and the number each must give."""

from __future__ import annotations

import numpy as np
import pytest

from datagen import scoring
from datagen.scoring import parsing
from datagen.scoring import ScoringError, parse_answer, parse_answers

U = None  # unparsable
CHAIN_SPEED = ("The point is around 7.23 meters away. Hence, the speed should be around "
               "7.23 / 4.0 = 1.81 m/s")
CHAIN_TIME = "The point is around 7.23 meters away. Hence, it takes 7.23 / 1.5 = 4.82 seconds."

# (output, unit hint, the value it must give in the base unit, or U)
CASES = [
    # bare numbers and simple units (distance, metres)
    ("7.23", "m", 7.23),
    (" 7.23\n", "m", 7.23),
    ("7.23 m", "m", 7.23),
    ("7.23m", "m", 7.23),
    ("7.23 meters", "m", 7.23),
    ("7.23 metres.", "m", 7.23),
    ("12 meter", "m", 12.0),
    (".5", "m", 0.5),
    # tags
    ("<think> The point is around 7.23 meters away from the camera. </think>\n<answer> 7.23 </answer>", "m", 7.23),
    ("<answer>7.23 m</answer>", "m", 7.23),
    ("<answer> 12.5 meters </answer>", "m", 12.5),
    ("<think>It looks about 10 m away.</think><answer>8.4</answer>", "m", 8.4),
    ("<answer> 7.23", "m", 7.23),
    ("<answer></answer>", "m", U),
    ("<answer> far away </answer> 5 m", "m", U),
    ("<think>The point is around 7.23 meters away.</think>", "m", 7.23),
    ("<think>Maybe 5 m, maybe more.</think> The point is 6.1 m away.", "m", 6.1),
    ("\\boxed{9.8}", "m", 9.8),
    # sentences
    ("The point is around 7.23 meters away from the camera.", "m", 7.23),
    ("The point is around 7.23 meters away", "m", 7.23),
    ("The answer is 7.23 meters (rounded to 2 decimals).", "m", 7.23),
    ("The answer is 7.23 meters, rounded to 2 decimal places.", "m", 7.23),
    ("Answer: 14.2", "m", 14.2),
    ("The point is 7.23 meters away from the camera, at pixel (812, 401).", "m", 7.23),
    ("The 3D point is 12.0 m away.", "m", 12.0),
    ("The 2nd marker is at 4.0 m.", "m", 4.0),
    ("7.23 m (about 23.7 ft)", "m", 7.23),
    ("~6 m", "m", 6.0),
    ("≈ 6.5 m", "m", 6.5),
    # unit conversion to metres
    ("The distance is approximately 250 cm.", "m", 2.5),
    ("About 4500 mm", "m", 4.5),
    ("0.35 km", "m", 350.0),
    ("23.7 ft", "m", 23.7 * 0.3048),
    # number formats
    ("The point is 7,2 m away", "m", 7.2),
    ("7,25", "m", 7.25),
    ("1,234.5 m", "m", 1234.5),
    ("1,250 m", "m", 1250.0),
    ("1e2", "m", 100.0),
    ("1.5e1 m", "m", 15.0),
    ("-3.2 m", "m", -3.2),
    ("\u22124 m", "m", -4.0),
    (7.5, "m", 7.5),
    # must not give a number
    ("about 3 and a half meters", "m", U),
    ("seven meters", "m", U),
    ("The point is 3 hundred meters away", "m", U),
    ("", "m", U),
    ("   ", "m", U),
    (None, "m", U),
    ("I cannot determine the distance from this image.", "m", U),
    ("between 5 and 7 meters", "m", U),
    ("5-7 m", "m", U),
    ("5 to 7 m", "m", U),
    ("7 or 8 meters", "m", U),
    ("1.8 m/s", "m", U),
    ("50%", "m", U),
    ("inf", "m", U),
    ("It takes 1:30 min", "s", U),
    ("12:30", "s", U),
    ("1e999 m", "m", U),
    # two-point and pose (metres)
    ("Point 1 is 3.1 m away and point 2 is 5.4 m away, so they are about 2.6 m apart.", "m", 2.6),
    ("The camera moved about 1.2 m forward.", "m", 1.2),
    # speed (m/s)
    (CHAIN_SPEED, "m/s", 1.81),
    (f"<think> {CHAIN_SPEED} </think>\n<answer> 1.81 </answer>", "m/s", 1.81),
    ("1.81 m/s", "m/s", 1.81),
    ("The speed is 1.81", "m/s", 1.81),
    ("36 km/h", "m/s", 10.0),
    ("18 kph", "m/s", 5.0),
    ("10 mph", "m/s", 4.4704),
    ("2.5 meters per second", "m/s", 2.5),
    ("3 m s^-1", "m/s", 3.0),
    ("It moved 12 m in 4 s, so the speed is 12 / 4 = 3 m/s.", "m/s", 3.0),
    ("7.23 / 4.0", "m/s", U),
    ("The point is around 7.23 meters away.", "m/s", U),
    # time (s)
    (CHAIN_TIME, "s", 4.82),
    ("4.82 s", "s", 4.82),
    ("It takes about 12 sec", "s", 12.0),
    ("2 minutes", "s", 120.0),
    ("1.5 min", "s", 90.0),
    ("500 ms", "s", 0.5),
    ("0.5 hours", "s", 1800.0),
    ("The point is 7.23 m away", "s", U),
    # no hint: any unit, converted to its own base unit
    ("36 km/h", None, 10.0),
    ("250 cm", None, 2.5),
]


FT, IN = 0.3048, 0.0254
# Answers that were misread, and their neighbours: (output, unit hint, value in the base unit or the
# reason it is refused). docs/scoring.md lists the same decisions.
TRICKY = [
    # a value with its uncertainty is the value
    ("3.5 ± 0.2 m", "m", 3.5),
    ("3.5 +/- 0.2 m", "m", 3.5),
    ("3.5+/-0.2m", "m", 3.5),
    ("3.5 +- 0.2 m", "m", 3.5),
    ("3.5 plus or minus 0.2 meters", "m", 3.5),
    ("3.5 m ± 20 cm", "m", 3.5),
    ("3.5 ± 0.2", "m", 3.5),
    ("(3.5 ± 0.2) m", "m", 3.5),
    ("3.5 m (±0.2 m)", "m", 3.5),
    ("350 ± 20 cm", "m", 3.5),
    ("3.5 ± 5%", "m", 3.5),
    ("± 0.2 m", "m", "expression"),
    # a larger unit continued by smaller ones
    ("7 m 23 cm", "m", 7.23),
    ("7m23cm", "m", 7.23),
    ("2 meters and 30 centimeters", "m", 2.3),
    ("1 minute 30 seconds", "s", 90.0),
    ("1 min 30 s", "s", 90.0),
    ("1 h 2 min 3 s", "s", 3723.0),
    ("1 ft 2 in", "m", 1 * FT + 2 * IN),
    ("5 feet 10 inches", "m", 5 * FT + 10 * IN),
    ("5' 10\"", "m", 5 * FT + 10 * IN),
    ("5′10″", "m", 5 * FT + 10 * IN),
    ("5'10", "m", 5 * FT + 10 * IN),
    ("5 ft 10", "m", 5 * FT + 10 * IN),
    ("5'", "m", 5 * FT),
    ("12\"", "m", 12 * IN),
    ("7 m 23", "m", "ambiguous"),
    ("1 minute 30", "s", "ambiguous"),
    ("6 ft 13", "m", "ambiguous"),
    ("1'250 m", "m", "ambiguous"),
    ("7 m 2 m", "m", 2.0),
    # quotes are not feet and inches
    ("'5'", "m", 5.0),
    ("The answer is '7.23'", "m", 7.23),
    ('{"distance": "7.23"}', "m", 7.23),
    # powers of ten
    ("1.5x10^3 m", "m", 1500.0),
    ("1.5 x 10^3 m", "m", 1500.0),
    ("1.5×10³ m", "m", 1500.0),
    ("2.5×10⁻¹ m", "m", 0.25),
    ("1.5*10**3 m", "m", 1500.0),
    ("1.5 \\times 10^{3} m", "m", 1500.0),
    ("1.5·10^-3 km", "m", 1.5),
    ("1.5e3", "m", 1500.0),
    ("1.5E+03 m", "m", 1500.0),
    ("10^3 m", "m", "expression"),
    # speeds in any length per time
    ("150 cm/s", "m/s", 1.5),
    ("5 ft/s", "m/s", 5 * FT),
    ("36 kilometers per hour", "m/s", 10.0),
    ("3 m·s⁻¹", "m/s", 3.0),
    ("3 ms^-1", "m/s", 3.0),
    ("20 mph", "m/s", 20 * 0.44704),
    ("2.5 m/s²", "m/s", "wrong_unit"),
    # a dash after a word is punctuation, not a minus
    ("Answer - 4.2 m", "m", 4.2),
    ("Answer – 4.2 m", "m", 4.2),
    ("Distance — 4.2 m", "m", 4.2),
    ("The answer - 4.2 m, not 5 m", "m", 4.2),
    ("- 4.2 m", "m", 4.2),
    ("d - 4.2", "m", "expression"),
    # hedges and separators
    ("about 4 m", "m", 4.0),
    ("approximately 4.5 meters", "m", 4.5),
    ("1,250 m", "m", 1250.0),
    ("1 250 m", "m", 1250.0),
    ("1\u202f250 m", "m", 1250.0),
    ("1.250,5 m", "m", "ambiguous"),
    ("7,2500 m", "m", "ambiguous"),
    ("1,2,3 m", "m", "ambiguous"),
    ("7.5.3", "m", "ambiguous"),
    # ranges are refused, not averaged
    ("3-4 m", "m", "range"),
    ("3–4 m", "m", "range"),
    ("3 to 4 m", "m", "range"),
    ("from 3 m to 4 m", "m", "range"),
    # a negative distance is read as written (and scored as a miss)
    ("Answer: -4.2 m", "m", -4.2),
    ("The point is 3 m behind, i.e. at -3 m", "m", -3.0),
    # other units of length
    ("0.5 mi", "m", 804.672),
    ("3 yards", "m", 3 * 0.9144),
    ("5 in", "m", 5 * IN),
    ("5 in front of the camera", "m", 5.0),
    ("7.23 m²", "m", "wrong_unit"),
    # what the task asks decides which number is the answer
    ("Reasoning: the car is 30 m ahead and moves at 10 m/s. Answer: 3 s", "s", 3.0),
    ("It is 7.23 m away, so at 2 m/s it takes 7.23 / 2 = 3.6 s", "s", 3.6),
    ("It is 7.23 m away, so at 2 m/s it takes 7.23 / 2 = 3.6 s", "m/s", 2.0),
    ("90 min", "s", 5400.0),
    ("4.82 s", "m/s", "wrong_unit"),
    # tags and formatting
    ("<think>3 m? maybe 4 m</think><answer>3.5 m</answer>", "m", 3.5),
    ("<think>Between 3 and 4 m, so 3.5 ± 0.5 m.</think>\n<answer>3.5 ± 0.5</answer>", "m", 3.5),
    ("Final answer: 7.2 meters", "m", 7.2),
    ("**7.2 m**", "m", 7.2),
    ("\\boxed{7.2 \\text{ m}}", "m", 7.2),
    ("23.7 ft (7.23 m)", "m", 23.7 * FT),
]


@pytest.mark.parametrize(("text", "hint", "expected"), TRICKY, ids=[repr(c[0])[:40] for c in TRICKY])
def test_tricky_answers(text, hint, expected):
    parsed = parse_answer(text, hint)
    if isinstance(expected, str):
        assert (parsed.value, parsed.reason) == (None, expected)
    else:
        assert parsed.reason == "ok" and parsed.value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("text", "hint", "expected"), CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_parse_table(text, hint, expected):
    parsed = parse_answer(text, hint)
    if expected is U:
        assert parsed.value is None and parsed.reason != "ok" and not parsed.ok
    else:
        assert parsed.reason == "ok"
        assert parsed.value == pytest.approx(expected, rel=1e-12)


def test_table_is_large_and_mixed():
    assert len(CASES) >= 60
    assert sum(expected is U for _, _, expected in CASES) >= 15


@pytest.mark.parametrize(("text", "hint", "reason"), [
    ("", "m", "empty"), ("n/a", "m", "no_number"), ("seven meters", "m", "number_words"),
    ("about 3 and a half", "m", "number_words"), ("5 to 7 m", "m", "range"), ("5-7 m", "m", "range"),
    ("7.23 / 4.0", "m/s", "expression"), ("1.8 m/s", "m", "wrong_unit"), ("1e999", "m", "not_finite"),
])
def test_reasons(text, hint, reason):
    assert parse_answer(text, hint).reason == reason


def test_unit_reported_in_base_unit():
    assert parse_answer("36 km/h").unit == "m/s"
    assert parse_answer("7.23", "m").unit == "m"
    assert parse_answer("7.23").unit is None


def test_bad_hint_is_an_error():
    with pytest.raises(ScoringError, match="unit_hint"):
        parse_answer("7.23", "meters")


def test_fast_paths_agree_with_full_parse():
    """Chains and simple answers give through the fast paths what the full parse gives."""
    rng = np.random.default_rng(0)
    texts = []
    for d, t in rng.uniform(0.5, 90.0, size=(200, 2)).round(2):
        texts.append((f"The point is around {d} meters away. Hence, the speed should be around "
                      f"{d} / {t} = {d / t:.2f} m/s", "m/s"))
        texts.append((f"The point is around {d} meters away. Hence, it takes {d} / {t} = {d / t:.2f} s.", "s"))
        texts.append((f"{d} m", "m"))
        texts.append((f"{d} meters.", None))
    for text, hint in texts:
        assert parsing.fast_path(text, hint) is not None
        assert parse_answer(text, hint).value == parsing.parse_segment(text, hint, use_markers=True)[0]


def test_parse_answers_vectorised():
    values, reasons = parse_answers(["7.23", "no idea", "250 cm"], "m")
    np.testing.assert_array_equal(values, [7.23, np.nan, 2.5])
    assert reasons == ["ok", "no_number", "ok"]


def test_completion_text_shapes():
    assert scoring.completion_text("7.2") == "7.2"
    assert scoring.completion_text([{"role": "assistant", "content": "7.2 m"}]) == "7.2 m"
    parts = {"role": "assistant", "content": [{"type": "text", "text": "<answer> 3"}, {"type": "text", "text": " </answer>"}]}
    assert scoring.completion_text([parts]) == "<answer> 3 </answer>"
    assert scoring.completion_text([]) is None


# Pieces of long, rambling outputs: numbers with and without units, operators, brackets, markers.
_PIECES = ["The point is", "7.23 m", "3 m", "12", "(4.5 m)", "7.23 / 4.0 =", "1.81 m/s", "about", "and", "5-7 m",
           "The answer is", "2 minutes", "[3]", "so", "9.5 meters.", "x", "1,250 m", "3.5 ± 0.2 m", "6 ft 1"]


def test_long_text_read_from_its_end_agrees_with_the_full_parse(monkeypatch):
    """Past MAX_SCAN_CHARS only the end is read: it gives the full parse's answer, or refuses as too long."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(_PIECES, size=int(rng.integers(8, 40)))) for _ in range(3000)]
    hints = rng.choice(["m", "m/s", "s"], size=len(texts))
    full = [parse_answer(text, hint) for text, hint in zip(texts, hints)]
    monkeypatch.setattr(parsing, "MAX_SCAN_CHARS", 60)
    agreed = 0
    for text, hint, whole in zip(texts, hints, full):
        tail = parse_answer(text, hint)
        if len(text) <= 60:
            assert tail == whole
        elif tail.reason != "too_long":
            assert tail == whole, text
            agreed += tail.ok
    assert agreed > 300  # the end decides often enough for the check to mean something


def test_multi_megabyte_outputs():
    step = "The point is around 7.23 meters away (pixel (812, 401)). Hence 7.23 / 4.0 = 1.81 m/s. "
    rambling = step * (3 * 2**20 // len(step))
    assert parse_answer(rambling + "The answer is 7.0 m", "m") == parse_answer("The answer is 7.0 m", "m")
    assert parse_answer(rambling + "<answer> 7.0 </answer>", "m").value == 7.0
    assert parse_answer(f"<think>{rambling}</think> 7.0 m", "m").value == 7.0
    assert parse_answer("The answer is 7.0 m. " + rambling, "m").reason == "too_long"  # the end alone cannot say
    assert parse_answer(rambling, "m/s").value == 1.81
    assert parse_answer("1" * 3 * 2**20, "m").ok is False
    assert parse_answer("1 " * 2**20, "m").value == 1.0
