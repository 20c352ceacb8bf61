"""datagen deletes or replaces only the files it can prove it wrote; a user's files survive every command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.config import load_config
from datagen.errors import DatagenError
from datagen.images import encode_image, image_relpath, store_image
from datagen.pipeline import build
from datagen.records import iter_records, read_manifest
from tests.cli_checks import one_line_error

FAKE = "tests.fake_source:PlaneSource"
#: A user's files in the folder given as --out, in the places datagen writes to.
USER_FILES = {
    "images/holiday/beach.jpg": b"a photo",
    "images/3f/3f9a0c1e2b7d4a51.jpg": b"looks like one of ours, is not",
    "images/.beach.jpg.123.tmp": b"a user's dot-tmp file in images/",
    "records/mine.jsonl": b'{"id": "mine", "task": "distance", "split": "train"}\n',
    "exports/trl/notes.txt": b"notes",
    "exports/mine.csv": b"a,b\n",
    "work/todo.txt": b"x",
    ".draft.tmp": b"a user's dot-tmp file",
    "notes.txt": b"unrelated",
}


def _cli(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def user_folder(tmp_path) -> Path:
    folder = tmp_path / "out"
    for relpath, data in USER_FILES.items():
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_bytes(data)
    return folder


def _user_files_intact(folder: Path) -> None:
    for relpath, data in USER_FILES.items():
        assert (folder / relpath).read_bytes() == data, relpath


def _used_images(folder: Path) -> set:
    frames = (json.loads(line) for line in (folder / "frames.jsonl").read_text().splitlines())
    return {i for r in iter_records(folder) for i in r["images"]} | {f["image"] for f in frames if f["image"]}


def _build_args(out: Path, seed: int = 3) -> list:
    return ["-q", "build", "--source", FAKE, "--out", out, "--seed", seed, "--tasks", "distance,two_point"]


def test_a_non_empty_folder_that_is_not_a_build_is_refused(user_folder):
    result = _cli(*_build_args(user_folder))
    one_line_error(result, str(user_folder), "not a datagen build folder", "--allow-nonempty")
    _user_files_intact(user_folder)
    assert not (user_folder / "build.yaml").exists() and not (user_folder / ".datagen").exists()


def test_a_users_files_survive_every_command(user_folder, tmp_path):
    result = _cli(*_build_args(user_folder), "--allow-nonempty")
    assert result.exit_code == 0, result.output
    _user_files_intact(user_folder)
    manifest = read_manifest(user_folder)
    assert "records/mine.jsonl" not in manifest["checksums"]
    assert sum(1 for _ in iter_records(user_folder)) == manifest["counts"]["total"]  # the user's line is not read
    assert manifest["images"] == len(_used_images(user_folder))
    for args in (_build_args(user_folder),  # resume a finished build: nothing to do
                 ["export", user_folder, "--format", "trl"], ["export", user_folder, "--format", "all"],
                 ["preview", user_folder], ["validate", user_folder]):
        result = _cli(*args)
        assert result.exit_code == 0, (args, result.output)
        _user_files_intact(user_folder)
    first_images = {p for p in (user_folder / "images").rglob("*.jpg")} - {user_folder / r for r in USER_FILES}
    result = _cli(*_build_args(user_folder, seed=4), "--overwrite")
    assert result.exit_code == 0, result.output
    _user_files_intact(user_folder)
    assert read_manifest(user_folder)["seed"] == 4
    second_images = {user_folder / i for i in _used_images(user_folder)}
    assert first_images - second_images and all(not p.exists() for p in first_images - second_images)
    assert not (user_folder / "exports" / "trl" / "train.jsonl").exists()  # the old export was datagen's
    assert not (user_folder / "preview.html").exists()


def test_overwrite_removes_only_what_datagen_wrote(tmp_path):
    out = tmp_path / "out"
    build(load_config(None, {"source": FAKE, "seed": 3, "tasks": ["distance"]}), out)
    # a failed first attempt's folder, to which the user then added files of their own
    extra = {"records/keep.jsonl": b"{}\n", "images/00/mine.jpg": b"x", "exports/x/train.jsonl": b"{}\n",
             "work/shard-00000.json.bak": b"b"}
    for relpath, data in extra.items():
        (out / relpath).parent.mkdir(parents=True, exist_ok=True)
        (out / relpath).write_bytes(data)
    changed = out / "records" / "shard-00000.jsonl"
    changed.write_bytes(changed.read_bytes() + b"\n")  # edited by the user since: no longer provably ours
    build(load_config(None, {"source": FAKE, "seed": 9, "tasks": ["distance"]}), tmp_path / "other")
    with pytest.raises(DatagenError, match="shard-00000.jsonl"):
        build(load_config(None, {"source": FAKE, "seed": 9, "tasks": ["distance"]}), out, overwrite=True)
    for relpath, data in extra.items():
        assert (out / relpath).read_bytes() == data


def test_orphan_sweep_removes_only_claimed_images(tmp_path):
    from datagen.store import LocalStore

    out = tmp_path / "out"
    config = load_config(None, {"source": FAKE, "seed": 3, "tasks": ["distance"]})
    build(config, out)
    rng = np.random.default_rng(0)
    orphan = store_image(LocalStore(out).writer("test"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "png", 95)
    data = encode_image(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "png")
    unclaimed = image_relpath(data, "png")  # named as datagen would, but put there by the user
    (out / unclaimed).parent.mkdir(parents=True, exist_ok=True)
    (out / unclaimed).write_bytes(data)
    build(config, out)  # resuming a finished build sweeps orphans again
    assert not (out / orphan).exists()
    assert (out / unclaimed).exists()


def test_stale_temporary_files_only_datagens_are_removed(tmp_path):
    from datagen import ownership

    out = tmp_path / "out"
    config = load_config(None, {"source": FAKE, "seed": 3, "tasks": ["distance"]})
    build(config, out)
    ours = out / "images" / f"{ownership.TMP_PREFIX}ab12.jpg.999999999.00ff{ownership.TMP_SUFFIX}"
    theirs = [out / ".notes.txt.12.tmp", out / "images" / ".x.jpg.1.tmp", out / "records" / ".y.tmp"]
    for path in [ours, *theirs]:
        path.write_bytes(b"t")
    build(config, out)
    assert not ours.exists() and all(path.read_bytes() == b"t" for path in theirs)


def test_a_users_file_where_datagen_would_write_stops_the_build(tmp_path):
    out = tmp_path / "out"
    (out / "records").mkdir(parents=True)
    (out / "records" / "shard-00000.jsonl").write_text("mine\n")
    (out / "build.yaml").write_text("mine: 1\n")
    config = load_config(None, {"source": FAKE, "seed": 3, "tasks": ["distance"]})
    with pytest.raises(DatagenError, match="build.yaml"):
        build(config, out, allow_nonempty=True)
    (out / "build.yaml").unlink()
    with pytest.raises(DatagenError, match="shard-00000.jsonl"):
        build(config, out, allow_nonempty=True)
    assert (out / "records" / "shard-00000.jsonl").read_text() == "mine\n"


def test_out_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    one_line_error(_cli(*_build_args(target)), str(target), "not a folder")
    with pytest.raises(DatagenError):
        build(load_config(None, {"source": FAKE}), target)
    assert target.read_text() == "keep"


def test_export_and_preview_replace_only_their_own_files(tmp_path):
    out = tmp_path / "out"
    build(load_config(None, {"source": FAKE, "seed": 3, "tasks": ["distance"]}), out)
    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    (elsewhere / "train.jsonl").write_text("a user's training file\n")
    one_line_error(_cli("export", out, "--format", "trl", "--out", elsewhere), "train.jsonl",
                    "not written by datagen")
    assert (elsewhere / "train.jsonl").read_text() == "a user's training file\n"
    assert [p.name for p in elsewhere.iterdir()] == ["train.jsonl"]  # nothing half-written is left
    fresh = tmp_path / "fresh"
    for _ in range(2):  # a second export replaces the files of the first
        assert _cli("export", out, "--format", "trl", "--out", fresh).exit_code == 0
    page = tmp_path / "page.html"
    page.write_text("<html>my own page</html>")
    one_line_error(_cli("preview", out, "--out", page), "page.html", "not written by datagen")
    assert page.read_text() == "<html>my own page</html>"
    for _ in range(2):
        assert _cli("preview", out, "--out", tmp_path / "mine.html").exit_code == 0
    sheet = tmp_path / "sheet.png"
    sheet.write_bytes(b"not datagen's")
    one_line_error(_cli("preview", out, "--out", tmp_path / "p.html", "--contact-sheet", sheet), "sheet.png")
    assert sheet.read_bytes() == b"not datagen's"


def test_a_users_files_survive_an_import(user_folder, tmp_path):
    from PIL import Image

    release = tmp_path / "release"
    (release / "img").mkdir(parents=True)
    Image.new("RGB", (8, 6), (90, 120, 150)).save(release / "img" / "a_1.png")
    entry = {"image": "img/a_1.png", "intrinsics": [10.0, 10.0, 3.5, 2.5, 8, 6],
             "pixel_coords": [[1, 1], [6, 4], [3, 2]], "depth": [1.0, 2.0, 3.0]}
    (release / "data_test.jsonl").write_text(json.dumps(entry) + "\n")
    args = ["import", release / "data_test.jsonl", "--out", user_folder, "--tasks", "distance"]
    one_line_error(_cli(*args), "not a datagen build folder")
    for extra in (["--allow-nonempty"], [], ["--seed", "2", "--overwrite"]):
        result = _cli(*args, *extra)
        assert result.exit_code == 0, (extra, result.output)
        _user_files_intact(user_folder)
    assert read_manifest(user_folder)["counts"]["total"] == 1


def test_overlay_replaces_only_its_own_png(tmp_path):
    out = tmp_path / "overlay.png"
    out.write_bytes(b"a user's picture")
    args = ["overlay", "--source", "tests.fake_source:RigSource", "-O", "frames=2", "--out", out]
    one_line_error(_cli(*args), "overlay.png", "not written by datagen")
    assert out.read_bytes() == b"a user's picture"
    out.unlink()
    for _ in range(2):
        assert _cli(*args).exit_code == 0


def test_baseline_replaces_only_its_own_predictions(tmp_path):
    out = tmp_path / "out"
    build(load_config(None, {"source": FAKE, "seed": 3, "tasks": ["distance"], "split_ratios": [0, 0, 1]}), out)
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text('{"id": "x", "output": "my model says 3"}\n')
    args = ["baseline", out, "--kind", "constant", "--value", "2", "--out", predictions]
    one_line_error(_cli(*args), "predictions.jsonl", "not written by datagen")
    assert predictions.read_text() == '{"id": "x", "output": "my model says 3"}\n'
    predictions.unlink()
    for _ in range(2):
        assert _cli(*args).exit_code == 0
