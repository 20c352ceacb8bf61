"""Each path-based export read back field by field as its consumer documents it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from datagen.types import SPLITS

SPLIT_NAMES = ("train", "test")  # the splits of the shared build


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def ids_by_split(records: dict) -> dict[str, set]:
    return {split: {rid for rid, r in records.items() if r["split"] == split} for split in SPLIT_NAMES}


def check_images(record: dict, paths: list[str], resolve) -> None:
    """Each path, resolved as the consumer does, is the record's image file of the build."""
    assert len(paths) == len(record["images"])
    for path, image in zip(paths, record["images"]):
        resolved = Path(resolve(path))
        assert resolved.is_file(), path
        assert resolved.resolve() == (Path(record["_build"]) / image).resolve()


@pytest.fixture(scope="module")
def recs(records, build_dir):
    """Canonical records with the build folder attached, for check_images."""
    return {rid: {**r, "_build": str(build_dir)} for rid, r in records.items()}


def test_the_build_has_single_and_multi_image_records_in_two_splits(records):
    assert {len(r["images"]) for r in records.values()} == {1, 2}
    assert {r["split"] for r in records.values()} == set(SPLIT_NAMES)


# ---- LLaMA-Factory -------------------------------------------------------------------------------

def find_medias(media_dir: Path, path: str) -> str:
    """LLaMA-Factory's DatasetConverter._find_medias for one local image path."""
    joined = os.path.join(media_dir, path)
    return joined if os.path.isfile(joined) else path


@pytest.mark.parametrize("paths", ["absolute", "relative"])
def test_llamafactory_rows_and_dataset_info(exported, recs, build_dir, paths):
    report = exported("llamafactory", paths=paths)
    dataset_dir = report.out_dir
    media_dir = dataset_dir if paths == "absolute" else build_dir  # relative: media_dir is set to the build
    info = json.loads((dataset_dir / "dataset_info.json").read_text())
    assert set(info) == {f"datagen_{split}" for split in SPLIT_NAMES}
    for split in SPLIT_NAMES:
        entry = info[f"datagen_{split}"]
        assert entry["formatting"] == "sharegpt"
        assert entry["columns"] == {"messages": "messages", "images": "images"}
        assert entry["tags"] == {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                 "assistant_tag": "assistant"}
        rows = read_jsonl(dataset_dir / entry["file_name"])
        assert {row["id"] for row in rows} == ids_by_split(recs)[split]
        for row in rows:
            record = recs[row["id"]]
            user, assistant = row["messages"]
            assert (user["role"], assistant["role"]) == ("user", "assistant")
            assert user["content"].count("<image>") == len(row["images"])
            assert user["content"].replace("<image>", "") == record["question"]
            assert assistant["content"] == record["answer"]
            check_images(record, row["images"], lambda p: find_medias(media_dir, p))


def test_llamafactory_file_loads_with_the_json_builder_it_uses(exported, tmp_path):
    datasets = pytest.importorskip("datasets")
    report = exported("llamafactory")
    dataset = datasets.load_dataset("json", data_files=str(report.out_dir / "train.jsonl"),
                                    cache_dir=str(tmp_path), split="train")
    assert dataset.num_rows == report.rows["train"]
    assert set(dataset.column_names) == {"id", "messages", "images"}


# ---- ms-swift ------------------------------------------------------------------------------------

def test_swift_messages_and_absolute_images(exported, recs):
    report = exported("swift")
    for split in SPLIT_NAMES:
        rows = read_jsonl(report.out_dir / f"{split}.jsonl")
        assert {row["id"] for row in rows} == ids_by_split(recs)[split]
        for row in rows:
            record = recs[row["id"]]
            assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
            user = row["messages"][0]["content"]
            assert user == "<image>" * len(record["images"]) + record["question"]
            assert row["messages"][1]["content"] == record["answer"]
            assert all(os.path.isabs(p) for p in row["images"])
            check_images(record, row["images"], lambda p: p)


# ---- LLaVA ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("paths", ["absolute", "relative"])
def test_llava_json_array(exported, recs, build_dir, paths):
    report = exported("llava", paths=paths)
    image_folder = "/somewhere/else" if paths == "absolute" else str(build_dir)
    for split in SPLIT_NAMES:
        rows = json.loads((report.out_dir / f"{split}.json").read_text())
        assert isinstance(rows, list)
        assert {row["id"] for row in rows} == ids_by_split(recs)[split]
        for row in rows:
            record = recs[row["id"]]
            images = [row["image"]] if isinstance(row["image"], str) else row["image"]
            human, gpt = row["conversations"]
            assert (human["from"], gpt["from"]) == ("human", "gpt")
            assert human["value"] == "<image>\n" * len(images) + record["question"]
            assert gpt["value"] == record["answer"]
            check_images(record, images, lambda p: os.path.join(image_folder, p))


# ---- Qwen2.5-VL ----------------------------------------------------------------------------------

def qwen_messages(item: dict, data_path: Path) -> list[dict]:
    """qwen-vl-finetune's _build_messages: <image> placeholders paired with images in order."""
    images = item.get("image") or []
    pool = [str((data_path / p).resolve()) for p in ([images] if isinstance(images, str) else images)]
    messages = []
    for turn in item["conversations"]:
        role = "user" if turn["from"] == "human" else "assistant"
        content = []
        for seg in re.split(r"(<image>|<video>)", turn["value"]) if role == "user" else [turn["value"]]:
            if seg == "<image>":
                content.append({"type": "image", "image": pool.pop(0)})
            elif seg.strip():
                content.append({"type": "text", "text": seg.strip()})
        messages.append({"role": role, "content": content})
    assert not pool, "images left without a placeholder"
    return messages


@pytest.mark.parametrize("paths", ["absolute", "relative"])
def test_qwen_rows_pair_placeholders_with_images(exported, recs, build_dir, paths):
    report = exported("qwen", paths=paths)
    data_path = Path("/unused") if paths == "absolute" else build_dir
    for split in SPLIT_NAMES:
        rows = read_jsonl(report.out_dir / f"{split}.jsonl")
        assert {row["id"] for row in rows} == ids_by_split(recs)[split]
        for row in rows:
            record = recs[row["id"]]
            assert [t["from"] for t in row["conversations"]] == ["human", "gpt"]  # no system turn
            user, assistant = qwen_messages(row, data_path)
            images = [part["image"] for part in user["content"] if part["type"] == "image"]
            check_images(record, images, lambda p: p)
            assert user["content"][-1] == {"type": "text", "text": record["question"]}
            assert assistant["content"] == [{"type": "text", "text": record["answer"]}]


# ---- InternVL ------------------------------------------------------------------------------------

def test_internvl_annotations_and_meta(exported, recs):
    report = exported("internvl")
    for split in SPLIT_NAMES:
        meta = json.loads((report.out_dir / f"meta_{split}.json").read_text())
        (name, entry), = meta.items()
        assert name == f"datagen_{split}"
        assert set(entry) == {"root", "annotation", "data_augment", "repeat_time", "length"}
        assert entry["data_augment"] is False and entry["repeat_time"] == 1
        rows = read_jsonl(Path(entry["annotation"]))
        assert entry["length"] == len(rows)
        assert {row["id"] for row in rows} == ids_by_split(recs)[split]
        for row in rows:
            record = recs[row["id"]]
            images = [row["image"]] if isinstance(row["image"], str) else row["image"]
            check_images(record, images, lambda p: os.path.join(entry["root"], p))
            human, gpt = row["conversations"]
            assert (human["from"], gpt["from"]) == ("human", "gpt")
            assert human["value"].count("<image>") == len(images)
            expected = ("<image>\n" if len(images) == 1 else
                        "".join(f"Image-{i}: <image>\n" for i in range(1, len(images) + 1)))
            assert human["value"] == expected + record["question"]
            assert gpt["value"] == record["answer"]


# ---- every format --------------------------------------------------------------------------------

@pytest.mark.parametrize("format_name", ["llamafactory", "swift", "llava", "qwen", "internvl", "trl", "openai",
                                         "parquet"])
def test_split_option_exports_only_those_splits(exported, recs, format_name):
    report = exported(format_name, splits=("test",))
    assert dict(report.rows) == {"test": len(ids_by_split(recs)["test"])}
    assert report.records == len(ids_by_split(recs)["test"])
    assert not any(path.name.startswith("train") for path in report.out_dir.iterdir())


def test_default_output_folder_is_exports_format(build_copy):
    from datagen.writers.base import export

    report = export(build_copy, "swift")
    assert report.out_dir == (build_copy / "exports" / "swift").resolve()
    expected = [f"{s}.jsonl" for s in SPLITS if s != "val"] + ["swift_settings.sh"]
    assert sorted(p.name for p in report.out_dir.iterdir()) == sorted(expected)
