"""The chunked JSON-array reader: the same columns as json.load whatever the chunk size and layout,
strings with braces, commas and escaped quotes left alone, and clear errors for what is not an array
of objects."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from datagen.errors import SourceError
from datagen.sources._json_tables import read_json_table

SCHEMA = pa.schema([("token", pa.string()), ("values", pa.list_(pa.float64())), ("key", pa.bool_()),
                    ("n", pa.int64())])
TRICKY = ['plain', 'a "quoted" }, {"x": 1} piece', 'back\\slash\\', '[1, 2]', '\\"', 'é ✓', '']


def records(count: int) -> list[dict]:
    return [{"token": TRICKY[i % len(TRICKY)] + str(i), "values": [i, 0.5] if i % 3 else [], "key": i % 2 == 0,
             "n": i, "nested": {"a": [{"b": "}]"}], "c": None}} for i in range(count)]


@pytest.mark.parametrize("indent", [None, 0, 2])
@pytest.mark.parametrize("chunk_bytes", [5, 97, 1 << 20])
def test_columns_equal_json_load_for_any_chunking(tmp_path, indent, chunk_bytes):
    rows = records(200)
    path = tmp_path / "table.json"
    path.write_text(json.dumps(rows, indent=indent, ensure_ascii=False), encoding="utf-8")
    table = read_json_table(path, SCHEMA, "test table", chunk_bytes=chunk_bytes)
    assert table.column_names == ["token", "values", "key", "n"]
    expected = json.loads(path.read_text(encoding="utf-8"))
    for name in SCHEMA.names:
        assert table.column(name).to_pylist() == [row[name] for row in expected]


def test_missing_fields_are_null_and_other_fields_are_skipped(tmp_path):
    path = tmp_path / "table.json"
    path.write_text('[{"token": "a", "extra": [1, {"x": 2}]}, {"n": 3}]')
    table = read_json_table(path, SCHEMA, "test table")
    assert table.to_pylist() == [{"token": "a", "values": None, "key": None, "n": None},
                                 {"token": None, "values": None, "key": None, "n": 3}]


def test_an_empty_array_gives_an_empty_table(tmp_path):
    path = tmp_path / "table.json"
    path.write_text(" [ \n ] \n")
    assert read_json_table(path, SCHEMA, "test table").num_rows == 0


@pytest.mark.parametrize("text, message", [
    ('{"token": "a"}', "expected one JSON array of objects, found '{' at byte 0"),
    ("[1, 2]", "found '1' at byte 1"),
    ('[{"token": "a"}, "b"]', "found '\"' at byte 17"),
    ('[[{"token": "a"}]]', "found '\\[' at byte 1"),
    ('[{"token": "a"}] []', "found '\\[' at byte 17"),
    ('[{"token": "a"}, {"tok', "truncated"),
    ("", "truncated"),
    ('[{"token": 5}]', "JSON parse error"),
    ('[{"token": "a" "n": 1}]', "JSON parse error"),
])
def test_what_is_not_an_array_of_objects_is_refused_naming_the_file(tmp_path, text, message):
    path = tmp_path / "table.json"
    path.write_text(text)
    with pytest.raises(SourceError, match=f"^{path}: .*{message}.*\\(test table\\)$"):
        read_json_table(path, SCHEMA, "test table", chunk_bytes=7)


def test_a_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="missing"):
        read_json_table(tmp_path / "nope.json", SCHEMA, "test table")
