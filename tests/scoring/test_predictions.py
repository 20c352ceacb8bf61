"""Reading predictions files: every malformed line is skipped with its line number and a reason."""

from __future__ import annotations

import json
import math

import pytest

from datagen.scoring import PredictionsError, completion_text, output_text, read_predictions
from datagen.scoring import predictions as predictions_module

from .conftest import write_predictions

# (line as written, what the broken-line message must contain)
BROKEN = [
    ('{"id": "a", "output": "7.2"', "not valid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    ("null", "expected a JSON object, got NoneType"),
    ('{"id": "a", "output": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ('{"id": "a", "output": {' + '"a": {' * 100_000 + "}" * 100_001 + "}", "nested too deeply"),
    ('{"id": "a", "output": ' + "9" * 5000 + "}", "a number with more digits than"),
    ('{"id": ' + "9" * 5000 + ', "output": "7"}', "a number with more digits than"),
    (json.dumps({"output": "7"}), "no 'id'"),
    (json.dumps({"id": 1.5, "output": "7"}), "'id' must be a string, got float"),
    (json.dumps({"id": True, "output": "7"}), "'id' must be a string, got bool"),
    ('{"id": "\\ud800", "output": "7"}', "'id' is not valid Unicode"),
    (json.dumps({"id": "a", "text": "7"}), "expected one of the keys output, prediction, response"),
    (json.dumps({"id": "a", "output": True}), "'output': expected text, a number or chat messages, got bool"),
    (json.dumps({"id": "a", "output": {"role": "assistant"}}), "'output': a message without 'content'"),
    (json.dumps({"id": "a", "output": [[{"content": "7"}]]}), "expected a message as the last item, got a list"),
    (json.dumps({"id": "a", "output": [{"content": [{"type": "text", "text": 7}]}]}),
     "content part 1 has 'text' of type int, expected a string"),
    (json.dumps({"id": "a", "output": [{"content": ["7"]}]}), "content part 1 is str, expected an object"),
    (json.dumps({"id": "a", "response": {"content": {"text": "7"}}}), "'response': expected text, a number or chat"),
]


def test_every_broken_line_is_skipped_with_its_number_and_reason(tmp_path):
    good = {"id": "kitti/s/000001/distance/0", "output": "7.2 m"}
    path = write_predictions(tmp_path / "p.jsonl", [line for line, _ in BROKEN] + [good])
    predictions = read_predictions(path)
    assert predictions.ids == [good["id"]] and predictions.outputs == ["7.2 m"]
    assert [line for line, _ in predictions.broken] == list(range(1, len(BROKEN) + 1))
    for (line, error), (_, expected) in zip(predictions.broken, BROKEN):
        assert expected in error, (line, error)


@pytest.mark.parametrize(("output", "expected"), [
    ("7.2", "7.2"), (7.5, 7.5), (3, 3), (None, None), ([], None),
    ([{"role": "user", "content": "how far?"}, {"role": "assistant", "content": "7 m"}], "7 m"),
    ({"role": "assistant", "content": None}, None),
    ({"content": [{"type": "image"}, {"type": "text", "text": "7"}, {"text": " m"}]}, "7 m"),
])
def test_output_shapes(output, expected):
    assert output_text(output) == expected


def test_json_nan_output_is_a_number_that_parses_as_not_finite():
    assert math.isnan(output_text(float("nan")))


def test_completion_text_never_raises():
    for completion in (True, {"x": 1}, [[1]], [{"content": [{"text": 7}]}], object()):
        assert completion_text(completion) is None


def test_byte_order_mark_and_invalid_utf8_are_read(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "output": "7"}).encode() + b"\n"
                     + b'{"id": "b", "output": "8 \xff m"}\n')
    predictions = read_predictions(path)
    assert predictions.ids == ["a", "b"] and predictions.outputs[1] == "8 \ufffd m"


def test_line_over_the_limit_is_skipped_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(predictions_module, "MAX_LINE_CHARS", 100)
    long_line = json.dumps({"id": "a", "output": "x" * 500})
    path = write_predictions(tmp_path / "p.jsonl", [long_line, {"id": "b", "output": "7"}, long_line[:90]])
    predictions = read_predictions(path)
    assert predictions.ids == ["b"]
    assert predictions.broken[0] == (1, "line longer than 100 characters")
    assert predictions.broken[1][0] == 3 and "not valid JSON" in predictions.broken[1][1]


@pytest.mark.parametrize(("content", "message"), [
    ("", "no predictions (the file is empty"), ("\n\n", "no predictions (the file is empty"),
    ("x\ny\n", "no usable prediction in 2 lines (line 1: not valid JSON"),
])
def test_file_without_a_usable_line_is_an_error(tmp_path, content, message):
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises(PredictionsError) as raised:
        read_predictions(path)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)


def test_binary_file_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(PredictionsError, match="no usable prediction"):
        read_predictions(path)
