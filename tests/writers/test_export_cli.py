"""`datagen export` and the shared writer on bad input: not a build, unknown names, missing images."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.errors import RegistryError
from datagen.records import FRAMES_INDEX, NotABuildError
from datagen.writers import REGISTRY
from datagen.writers.base import ExportError, MissingImageError, export

from .conftest import rewrite

FORMATS = ["depthlm", "internvl", "llamafactory", "llava", "openai", "parquet", "qwen", "swift", "trl"]


def run(*args):
    return CliRunner().invoke(main, ["export", *[str(a) for a in args]])


def test_every_format_is_registered():
    assert REGISTRY.load_builtins().names() == FORMATS


def test_a_folder_that_is_not_a_build_is_refused(tmp_path):
    with pytest.raises(NotABuildError, match="not a datagen build"):
        export(tmp_path, "llava")
    result = run(tmp_path, "--format", "llava")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "not a datagen build" in result.stderr


def test_unknown_format_lists_the_known_ones(build_dir):
    with pytest.raises(RegistryError, match="known: depthlm, internvl, llamafactory"):
        export(build_dir, "alpaca")
    result = run(build_dir, "--format", "alpaca")
    assert result.exit_code == 2 and "unknown writer 'alpaca'; known: depthlm" in result.stderr


def test_unknown_variant_lists_the_known_ones(build_dir, tmp_path):
    with pytest.raises(ExportError, match="known: prompt-completion, messages"):
        export(build_dir, "trl", tmp_path, variant="chatml")
    with pytest.raises(ExportError, match="has none"):
        export(build_dir, "llava", tmp_path, variant="v2")


def test_bad_split_is_a_usage_error(build_dir):
    result = run(build_dir, "--format", "llava", "--split", "train,dev")
    assert result.exit_code == 2 and "--split" in result.stderr


@pytest.fixture
def one_image_gone(build_copy, records):
    """The build copy without the marked image of one single-image record; the ids that used it."""
    image = next(r["images"][0] for r in records.values() if r["task"] == "distance")
    (build_copy / image).unlink()
    return build_copy, image, {rid for rid, r in records.items() if image in r["images"]}


@pytest.mark.parametrize("format_name", ["llava", "trl", "parquet", "openai", "internvl"])
def test_missing_image_is_skipped_and_listed_by_record_id(one_image_gone, records, tmp_path, format_name):
    build, image, lost = one_image_gone
    report = export(build, format_name, tmp_path / "out")
    assert report.skipped == {"missing_image": len(lost)}
    assert set(report.skipped_ids["missing_image"]) == lost
    listed = [json.loads(line) for line in (tmp_path / "out" / "skipped.jsonl").read_text().splitlines()]
    assert {entry["id"] for entry in listed} == lost and all(image in entry["detail"] for entry in listed)
    assert report.total_rows == len(records) - len(lost)


def test_strict_fails_on_the_missing_image_and_leaves_no_partial_file(one_image_gone, tmp_path):
    build, image, lost = one_image_gone
    with pytest.raises(MissingImageError) as info:
        export(build, "swift", tmp_path / "out", strict=True)
    assert image in str(info.value) and any(record_id in str(info.value) for record_id in lost)
    assert list((tmp_path / "out").iterdir()) == []


def test_cli_reports_skipped_ids_and_strict_exits_2(one_image_gone, tmp_path):
    build, image, lost = one_image_gone
    result = run(build, "--format", "swift", "--out", tmp_path / "a")
    assert result.exit_code == 0
    assert f"skipped {len(lost)} records (missing_image)" in result.stderr
    assert all(record_id in result.stderr for record_id in lost)
    strict = run(build, "--format", "swift", "--out", tmp_path / "b", "--strict")
    assert strict.exit_code == 2 and strict.stderr.startswith("error: record ")


def test_a_record_without_a_canonical_field_is_named(build_copy, tmp_path):
    shard = sorted((build_copy / "records").glob("shard-*.jsonl"))[0]
    lines = shard.read_text().splitlines()
    broken = json.loads(lines[0])
    del broken["question"]
    rewrite(shard, "\n".join([json.dumps(broken), *lines[1:]]) + "\n")
    with pytest.raises(ExportError, match=f"record {broken['id']}: missing field 'question'"):
        export(build_copy, "llava", tmp_path / "out")


def test_format_all_writes_every_format_and_reports_the_one_that_fails(build_copy, tmp_path):
    (build_copy / FRAMES_INDEX).unlink()
    out = tmp_path / "out"
    result = run(build_copy, "--format", "all", "--out", out, "--split", "test")
    assert result.exit_code == 2
    assert "error: depthlm: " in result.stderr and "frames.jsonl" in result.stderr
    for name in FORMATS:
        if name != "depthlm":
            assert any(out.joinpath(name).glob("test.*")), name
            assert f"{name}: " in result.output
    assert not (out / "depthlm").exists() or not any((out / "depthlm").iterdir())


def test_cli_echoes_rows_and_the_consumer_notes(build_dir, tmp_path):
    result = run(build_dir, "--format", "depthlm", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("depthlm: ") and "rows (train" in result.output
    assert f"image_folder for DepthLM's loader: {build_dir.resolve()}" in result.output
