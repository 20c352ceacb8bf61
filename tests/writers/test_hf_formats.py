"""The trl and parquet exports read back with the datasets library itself, images decoded."""

from __future__ import annotations

import json

import pytest

datasets = pytest.importorskip("datasets")
pq = pytest.importorskip("pyarrow.parquet")

SPLIT_NAMES = ("train", "test")


def image_sizes(record: dict) -> list[tuple[int, int]]:
    """(width, height) of each image of a record, from its cameras."""
    cameras = record["label"].get("cameras") or [record["camera"]]
    return [(int(c[4]), int(c[5])) for c in cameras]


def load_json(report, tmp_path):
    files = {split: str(report.out_dir / f"{split}.jsonl") for split in SPLIT_NAMES}
    return datasets.load_dataset("json", data_files=files, cache_dir=str(tmp_path))


@pytest.mark.parametrize("variant", ["prompt-completion", "messages"])
def test_trl_loads_casts_and_decodes_every_image(exported, records, tmp_path, variant):
    report = exported("trl", variant=variant)
    loaded = load_json(report, tmp_path)
    for split in SPLIT_NAMES:
        dataset = loaded[split].cast_column("images", datasets.Sequence(datasets.Image()))
        assert sorted(dataset["id"]) == sorted(r for r, rec in records.items() if rec["split"] == split)
        for row in dataset:
            record = records[row["id"]]
            assert [image.size for image in row["images"]] == image_sizes(record)
            turns = row["messages"] if variant == "messages" else row["prompt"] + row["completion"]
            user, assistant = turns
            assert (user["role"], assistant["role"]) == ("user", "assistant")
            kinds = [part["type"] for part in user["content"]]
            assert kinds == ["image"] * len(record["images"]) + ["text"]
            assert user["content"][-1]["text"] == record["question"]
            assert assistant["content"] == [{"type": "text", "text": record["answer"]}]
        if variant == "prompt-completion":
            assert set(dataset.column_names) == {"id", "images", "prompt", "completion"}


def test_trl_content_parts_have_one_arrow_type(exported, tmp_path):
    report = exported("trl")
    schema = load_json(report, tmp_path)["train"].data.schema
    for column in ("prompt", "completion"):
        part = schema.field(column).type.value_type.field("content").type.value_type
        assert {part.field(i).name: str(part.field(i).type) for i in range(part.num_fields)} == \
               {"type": "string", "text": "string"}


def test_parquet_loads_with_embedded_images_decoded(exported, records, tmp_path):
    report = exported("parquet")
    files = {split: str(report.out_dir / f"{split}.parquet") for split in SPLIT_NAMES}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path))
    for split in SPLIT_NAMES:
        dataset = loaded[split]
        assert isinstance(dataset.features["images"].feature, datasets.Image)
        assert sorted(dataset["id"]) == sorted(r for r, rec in records.items() if rec["split"] == split)
        for row in dataset:
            record = records[row["id"]]
            assert [image.size for image in row["images"]] == image_sizes(record)
            assert (row["question"], row["answer"], row["unit"], row["task"]) == \
                   (record["question"], record["answer"], record["unit"], record["task"])
            assert row["value"] == record["value"]  # full precision
            assert json.loads(row["label_json"]) == record["label"]
            assert row["camera"] == pytest.approx(record["camera"])


def test_parquet_embeds_the_image_bytes_and_their_build_paths(exported, records, build_dir):
    report = exported("parquet")
    table = pq.read_table(report.out_dir / "train.parquet", columns=["id", "images"])
    for row in table.to_pylist():
        record = records[row["id"]]
        assert [image["path"] for image in row["images"]] == record["images"]
        assert [image["bytes"] for image in row["images"]] == [(build_dir / p).read_bytes() for p in record["images"]]


def test_parquet_streams_in_row_groups(build_dir, tmp_path, monkeypatch, records):
    from datagen.writers import parquet
    from datagen.writers.base import export

    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 10)
    report = export(build_dir, "parquet", tmp_path / "out", splits=["train"])
    n = sum(1 for r in records.values() if r["split"] == "train")
    metadata = pq.ParquetFile(report.out_dir / "train.parquet").metadata
    assert metadata.num_rows == n
    assert metadata.num_row_groups == -(-n // 10)
