"""The openai export: base64 images that decode to the build's files, an id list, documented limits."""

from __future__ import annotations

import base64
import json

import pytest

from datagen.writers import openai
from datagen.writers.base import ExportError, export

SPLIT_NAMES = ("train", "test")


def read_rows(report, split):
    lines = (report.out_dir / f"{split}.jsonl").read_text().splitlines()
    ids = (report.out_dir / f"{split}.ids.txt").read_text().splitlines()
    assert len(lines) == len(ids)
    return [(record_id, json.loads(line)) for record_id, line in zip(ids, lines)]


def test_openai_rows_carry_question_images_and_answer(exported, records, build_dir):
    report = exported("openai")
    seen = set()
    for split in SPLIT_NAMES:
        for record_id, row in read_rows(report, split):
            record = records[record_id]
            assert set(row) == {"messages"}
            user, assistant = row["messages"]
            assert (user["role"], assistant["role"]) == ("user", "assistant")
            assert user["content"][0] == {"type": "text", "text": record["question"]}
            urls = [part["image_url"]["url"] for part in user["content"][1:]]
            assert all(part["type"] == "image_url" for part in user["content"][1:])
            for url, image in zip(urls, record["images"], strict=True):
                header, data = url.split(",", 1)
                assert header == "data:image/jpeg;base64"
                assert base64.b64decode(data) == (build_dir / image).read_bytes()
            assert assistant["content"] == record["answer"]
            seen.add(record_id)
    assert seen == set(records)


def test_documented_limits_are_the_ones_checked():
    assert (openai.MAX_IMAGES_PER_EXAMPLE, openai.MAX_IMAGE_BYTES, openai.MAX_EXAMPLES_PER_FILE) == \
           (10, 10 * 1024 * 1024, 50_000)


def test_records_over_the_image_count_limit_are_skipped_and_listed(build_dir, records, tmp_path, monkeypatch):
    monkeypatch.setattr(openai.OpenAIWriter, "max_images", 1)
    report = export(build_dir, "openai", tmp_path)
    multi = {rid for rid, r in records.items() if len(r["images"]) > 1}
    assert multi and report.skipped == {"too_many_images": len(multi)}
    listed = [json.loads(line) for line in (tmp_path / "skipped.jsonl").read_text().splitlines()]
    assert {entry["id"] for entry in listed} == multi
    written = {rid for split in SPLIT_NAMES for rid, _ in read_rows(report, split)}
    assert written == set(records) - multi


def test_images_over_the_size_limit_are_skipped(build_dir, records, tmp_path, monkeypatch):
    smallest = min((build_dir / image).stat().st_size for r in records.values() for image in r["images"])
    monkeypatch.setattr(openai.OpenAIWriter, "max_image_bytes", smallest)  # only the smallest image(s) pass
    report = export(build_dir, "openai", tmp_path)
    assert report.skipped["image_too_large"] > 0
    assert report.total_rows + report.skipped["image_too_large"] == len(records)
    for split in report.rows:
        for record_id, _ in read_rows(report, split):
            assert all((build_dir / p).stat().st_size <= smallest for p in records[record_id]["images"])


def test_file_limit_keeps_the_first_examples_of_each_split(build_dir, records, tmp_path, monkeypatch):
    monkeypatch.setattr(openai.OpenAIWriter, "max_examples", 5)
    report = export(build_dir, "openai", tmp_path)
    assert dict(report.rows) == {"train": 5, "test": 5}
    assert report.skipped == {"file_limit": len(records) - 10}


def test_strict_fails_on_a_limit(build_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(openai.OpenAIWriter, "max_images", 1)
    with pytest.raises(ExportError, match=r"record .*/pose/\d+: 2 images, OpenAI takes at most 1"):
        export(build_dir, "openai", tmp_path, strict=True)
    assert not list(tmp_path.glob("*.jsonl"))  # nothing half-written is left
