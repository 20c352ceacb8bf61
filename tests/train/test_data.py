"""A build's records as training examples, and every way the data can be unusable (no torch needed)."""

from __future__ import annotations

import json

import pytest

from datagen.records import NotABuildError, iter_records
from datagen.train.data import (TrainDataError, conversation, examples_fingerprint, load_examples, prompt_messages,
                                read_ids)
from tests.train.conftest import write_image_build


def test_every_record_becomes_an_example_with_its_images_on_disk(train_build):
    records = list(iter_records(train_build))
    examples = load_examples(train_build)
    assert len(examples) == len(records) == 16
    for example, record in zip(examples, records):
        assert (example.id, example.question, example.answer) == (record["id"], record["question"], record["answer"])
        assert [str(p.relative_to(train_build)) for p in example.images] == record["images"]
        assert all(p.is_file() for p in example.images)
        assert example.size_px == (140, 140)


def test_prompt_is_images_then_question_and_the_answer_is_the_assistant_turn(train_build):
    example = load_examples(train_build)[0]
    (user,) = prompt_messages(example)
    assert user["content"] == [{"type": "image"}, {"type": "text", "text": example.question}]
    assert conversation(example)[1] == {"role": "assistant", "content": [{"type": "text", "text": example.answer}]}


def test_selection_by_split_ids_and_limit(tmp_path):
    build = write_image_build(tmp_path / "build", [(56, 56)] * 3)
    ids = [f"fake/seq/{k:04d}/distance/0" for k in range(3)]
    assert [e.id for e in load_examples(build, split="test", ids=[ids[2], ids[0]])] == [ids[0], ids[2]]
    assert len(load_examples(build, split="all", limit=2)) == 2
    with pytest.raises(TrainDataError, match="1 requested ids are not records of split 'test': nope"):
        load_examples(build, split="test", ids=["nope", ids[0]])


def test_a_limit_stops_the_reading_and_ids_are_looked_up_whatever_the_record_ids_are(tmp_path):
    build = write_image_build(tmp_path / "build", [(56, 56)] * 2)
    shard = build / "records" / "part-00000.jsonl"
    first, second = shard.read_text().splitlines()
    shard.write_text(f"{first}\n{json.dumps({**json.loads(second), 'id': ['not', 'a', 'string']})}\n{{not json\n")
    assert [e.id for e in load_examples(build, split="test", limit=1)] == ["fake/seq/0000/distance/0"]
    with pytest.raises(TrainDataError, match="part-00000.jsonl:3: not a JSON record"):
        load_examples(build, split="test", ids=["fake/seq/0000/distance/0"])
    shard.write_text(f"{first}\n{json.dumps({**json.loads(second), 'id': ['not', 'a', 'string']})}\n")
    assert [e.id for e in load_examples(build, split="test", ids=["fake/seq/0000/distance/0"])] == \
        ["fake/seq/0000/distance/0"]
    with pytest.raises(TrainDataError, match="'id' must be a non-empty str"):
        load_examples(build, split="test")


def test_an_empty_split_names_what_the_build_has(train_build):
    with pytest.raises(TrainDataError, match=r"no records of split 'test' to use \(the build has: train 16\)"):
        load_examples(train_build, split="test")


def test_a_folder_that_is_not_a_build(tmp_path):
    with pytest.raises(NotABuildError, match="not a datagen build"):
        load_examples(tmp_path)


def test_a_missing_image_names_the_record_line_and_file(tmp_path):
    build = write_image_build(tmp_path / "build", [(56, 56), (56, 56)])
    (build / "images" / "0001.png").unlink()
    with pytest.raises(TrainDataError, match=r"records/part-00000.jsonl:2: record 'fake/seq/0001/distance/0': "
                                             r"image images/0001.png not found"):
        load_examples(build, split="test")


@pytest.mark.parametrize("change, message", [
    ({"answer": ""}, "'answer' must be a non-empty str"),
    ({"images": []}, "'images' must be a non-empty list"),
    ({"camera": [1000.0, 1000.0]}, r"'camera' must be \[fx, fy, cx, cy, width, height\]"),
])
def test_a_malformed_record_names_its_line(tmp_path, change, message):
    build = write_image_build(tmp_path / "build", [(56, 56)])
    shard = build / "records" / "part-00000.jsonl"
    record = {**json.loads(shard.read_text()), **change}
    shard.write_text(json.dumps(record) + "\n{not json\n")
    with pytest.raises(TrainDataError, match=rf"part-00000.jsonl:1: record 'fake/seq/0000/distance/0': {message}"):
        load_examples(build, split="test")


@pytest.mark.parametrize("line", [b"{not json\n", b"\xff\xfe not UTF-8\n", b"[" * 100_000 + b"\n",
                                  b'{"value": ' + b"1" * 5000 + b"}\n"],
                         ids=["not JSON", "not UTF-8", "nested too deeply", "too many digits"])
def test_a_broken_json_line(tmp_path, line):
    build = write_image_build(tmp_path / "build", [(56, 56)])
    with (build / "records" / "part-00000.jsonl").open("ab") as handle:
        handle.write(line)
    with pytest.raises(TrainDataError, match="part-00000.jsonl:2: not a JSON record"):
        load_examples(build, split="test")


def test_fingerprint_follows_the_texts_not_the_folder(tmp_path):
    first = write_image_build(tmp_path / "a", [(56, 56), (84, 56)])
    second = write_image_build(tmp_path / "b", [(56, 56), (84, 56)])
    assert examples_fingerprint(load_examples(first, split="test")) == \
        examples_fingerprint(load_examples(second, split="test"))
    shard = second / "records" / "part-00000.jsonl"
    shard.write_text(shard.read_text().replace('"answer": "3.00"', '"answer": "3.01"', 1))
    assert examples_fingerprint(load_examples(first, split="test")) != \
        examples_fingerprint(load_examples(second, split="test"))


def test_read_ids(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("# chosen\na/1\n\n b/2 \n")
    assert read_ids(path) == ["a/1", "b/2"]
    path.write_text("# nothing\n")
    with pytest.raises(TrainDataError, match="no record ids"):
        read_ids(path)


def test_the_data_side_and_the_focal_check_load_no_torch():
    import subprocess
    import sys

    code = ("import sys, datagen.train.data, datagen.train.options, datagen.hf_processing; "
            "print(sorted({'torch', 'transformers', 'peft'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
