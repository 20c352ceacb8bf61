"""Hostile DepthLM lines: each bad line is skipped and named by file:line (the rest is built), image paths
stay below the image folder, and the options of a config file are not overridden by unset CLI options."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from datagen.cli import main
from datagen.config import load_config
from datagen.errors import SourceError
from datagen.records import iter_records, read_manifest
from datagen.sources.depthlm import DepthLMSource

GOOD = {"image": "img/a_1.png", "intrinsics": [10.0, 10.0, 3.5, 2.5, 8, 6],
        "pixel_coords": [[1, 1], [6, 4], [3, 2]], "depth": [1.0, 2.0, 3.0]}


def _entry(**changes) -> dict:
    return {**GOOD, **changes}


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels in a few dozen bytes (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


#: (line, what the skip message must say); line 1 of the file is GOOD.
BAD_LINES = [
    (_entry(depth=[1.0, int("9" * 400), 3.0]), "depth"),
    (_entry(pixel_coords=[[1, 1], [int("9" * 400), 4], [3, 2]]), "pixel_coords"),
    (_entry(intrinsics=[1e-6, 1e-6, 3.5, 2.5, 8, 6]), "field of view"),
    (_entry(intrinsics=[10.0, 10.0, 1e9, 2.5, 8, 6]), "principal point"),
    (_entry(image="../../../../etc/passwd"), "leaves the image folder"),
    (_entry(image="../outside/secret.png"), "leaves the image folder"),
    (_entry(image="img/link.png"), "symbolic link"),
    (_entry(image="img/bomb.png"), "decompression bomb"),
    ('{"image": "img/a_1.png", "depth": [' + "9" * 5000 + "]}", "not a JSON object"),
    ('{"image": "img/a_1.png", "depth": ' + "[" * 100_000 + "]" * 100_000 + "}", "not a JSON object"),
    (_entry(image=["img/a_1.png"]), "image must be a path"),
    (_entry(depth=[1.0, 2.0, 1e300]), "depth must be metres"),
]


@pytest.fixture
def release(tmp_path) -> Path:
    """``data/data_test.jsonl`` (GOOD, then BAD_LINES), its images in ``data/img`` and a secret outside."""
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    Image.new("RGB", (8, 6), (90, 120, 150)).save(data / "img" / "a_1.png")
    Image.new("RGB", (8, 6), (1, 2, 3)).save(tmp_path / "outside" / "secret.png")
    (data / "img" / "link.png").symlink_to(tmp_path / "outside" / "secret.png")
    (data / "img" / "bomb.png").write_bytes(_png_header(30_000, 30_000))
    lines = [GOOD] + [line for line, _ in BAD_LINES]
    (data / "data_test.jsonl").write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return data


def _import(data: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["import", str(data / "data_test.jsonl"), "--out", str(out), "--tasks",
                                     "distance", *extra])


def test_each_bad_line_is_skipped_and_named_the_good_one_built(release, tmp_path, monkeypatch):
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    result = _import(release, tmp_path / "out")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "out")
    assert manifest["frames"]["planned"] == 1 + len(BAD_LINES)
    assert sum(manifest["frames"]["skipped"].values()) == len(BAD_LINES)
    built = {record["provenance"]["frames"][0] for record in iter_records(tmp_path / "out")}
    assert built == {"depthlm/data_test/000000"}
    errors = manifest["frames"]["skipped_errors"]
    for number, (_, message) in enumerate(BAD_LINES, start=2):
        error = errors[f"depthlm/data_test/{number - 1:06d}"]
        assert f"data_test.jsonl:{number}: " in error and message in error, error
    assert "data_test.jsonl:2: " in result.stderr  # the first skipped lines are named on the terminal
    assert not [path for path in opened if "passwd" in path or "secret" in path]


def test_strict_stops_at_the_first_bad_line_with_one_line(release, tmp_path):
    result = _import(release, tmp_path / "out", "--strict")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "data_test.jsonl:2: " in lines[0], result.stderr


def test_follow_symlinks_lets_a_link_farm_in_but_never_dot_dot(release, tmp_path):
    source = DepthLMSource(DepthLMSource.Config(root=release, follow_symlinks=True))
    frame = source.load_frame("depthlm/data_test/000007")  # img/link.png
    assert frame.image_path == release / "img" / "link.png"
    with pytest.raises(SourceError, match="leaves the image folder"):
        source.load_frame("depthlm/data_test/000005")
    result = _import(release, tmp_path / "out", "--follow-symlinks")
    assert result.exit_code == 0, result.output
    assert "depthlm/data_test/000007" not in read_manifest(tmp_path / "out")["frames"]["skipped_errors"]


def test_a_link_inside_the_image_folder_is_fine(release):
    (release / "img" / "inner.png").symlink_to(release / "img" / "a_1.png")
    (release / "data_test.jsonl").write_text(json.dumps(_entry(image="/img/inner.png")) + "\n")
    frame = DepthLMSource(DepthLMSource.Config(root=release)).load_frame("depthlm/data_test/000000")
    assert frame.image_path == release / "img" / "inner.png"


def test_an_empty_file_or_only_bad_lines_is_an_error(release, tmp_path):
    (release / "data_test.jsonl").write_text("\n\n")
    result = _import(release, tmp_path / "out")
    assert result.exit_code == 2 and "no records (the file is empty" in result.stderr, result.output
    (release / "data_test.jsonl").write_text(json.dumps(_entry(intrinsics=[10.0, 10.0, 1e9, 2.5, 8, 6])) + "\n")
    result = _import(release, tmp_path / "out2")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and lines[-1].startswith("error: ") and "0 records" in lines[-1], result.output
    assert "principal point" in lines[-1]


def test_config_source_options_are_not_overridden_by_unset_cli_options(release, tmp_path):
    (release / "data_test.jsonl").write_text(json.dumps(GOOD) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"source_options": {"depth_kind": "range", "sequence_from": "image"}}))
    result = _import(release, tmp_path / "out", "--config", str(config))
    assert result.exit_code == 0, result.output
    options = load_config(tmp_path / "out" / "build.yaml").source_options
    assert options["depth_kind"] == "range" and options["sequence_from"] == "image"
    result = _import(release, tmp_path / "out2", "--config", str(config), "--depth-kind", "z")
    assert result.exit_code == 0, result.output
    assert load_config(tmp_path / "out2" / "build.yaml").source_options["depth_kind"] == "z"
