"""Answer parsing: a table of real-looking model outputs and the number each must give."""

from __future__ import annotations

import numpy as np
import pytest

from datagen import scoring
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
        assert scoring._fast_path(text, hint) is not None
        assert parse_answer(text, hint).value == scoring._parse_segment(text, hint, use_markers=True)[0]


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
