"""The trainer's whole folders: claimed in the run folder's ledger as they are put in place, and
replaced or deleted only where the ledger proves every file the trainer's."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen import ownership
from datagen.ownership import OwnershipError
from datagen.train import checkpoint as ckpt
from datagen.train.run_folder import remove, writing


@pytest.fixture
def run(tmp_path) -> Path:
    folder = tmp_path / "run"
    ownership.mark_root(folder)
    return folder


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def _tree(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def test_a_published_folder_is_claimed_file_by_file_and_replaced_whole(run):
    final = run / "model"
    with writing(final) as partial:
        _write(partial, {"weights.bin": b"one", "sub/config.json": b"{}"})
    assert sorted(ownership.claims(run)) == ["model/sub/config.json", "model/weights.bin"]
    assert ownership.is_owned(final / "weights.bin") and ownership.is_owned(final / "sub" / "config.json")
    assert not (run / "model.partial").exists()
    with writing(final) as partial:
        _write(partial, {"weights.bin": b"two"})
    assert _tree(final) == ["weights.bin"] and (final / "weights.bin").read_bytes() == b"two"


@pytest.mark.parametrize("change", ["a file added", "a file changed"])
def test_a_file_that_is_not_the_trainers_stops_the_replacement_before_anything_is_deleted(run, change):
    final = run / "model"
    with writing(final) as partial:
        _write(partial, {"weights.bin": b"one", "config.json": b"{}"})
    name = "notes.txt" if change == "a file added" else "config.json"
    (final / name).write_text("mine")
    with pytest.raises(OwnershipError, match=f"{name}: not written by datagen"):
        with writing(final) as partial:
            _write(partial, {"weights.bin": b"two", "config.json": b"{}"})
    assert (final / name).read_text() == "mine" and (final / "weights.bin").read_bytes() == b"one"


def test_an_interrupted_write_leaves_the_folder_absent_and_the_next_write_starts_afresh(run):
    final = run / "model"
    with pytest.raises(KeyboardInterrupt):
        with writing(final) as partial:
            _write(partial, {"half.bin": b"x"})
            raise KeyboardInterrupt
    assert not final.exists() and _tree(run / "model.partial") == ["half.bin"]
    with writing(final) as partial:
        assert _tree(partial) == []
        _write(partial, {"whole.bin": b"y"})
    assert _tree(final) == ["whole.bin"] and not (run / "model.partial").exists()


def test_remove_deletes_the_trainers_files_and_keeps_the_rest(run):
    kept, gone = run / "checkpoints" / "step-00000008", run / "checkpoints" / "step-00000016"
    for folder in (kept, gone):
        with writing(folder) as partial:
            _write(partial, {"state.pt": b"s", "checkpoint.json": str(folder).encode()})
    _write(kept, {"eval/notes.txt": b"mine"})
    assert remove(kept) == [kept / "eval" / "notes.txt"]
    assert _tree(kept) == ["eval", "eval/notes.txt"]
    assert remove(gone) == [] and not gone.exists() and (run / "checkpoints").is_dir()


def test_outside_a_run_folder_nothing_is_published(tmp_path):
    with pytest.raises(OwnershipError, match="not inside a run folder of datagen train"):
        with writing(tmp_path / "model") as partial:
            _write(partial, {"weights.bin": b"one"})
    assert not (tmp_path / "model").exists()


def test_pruning_keeps_a_file_put_into_an_old_checkpoint(run):
    for step in (8, 16, 24):
        with writing(ckpt.checkpoint_dir(run, step)) as partial:
            _write(partial, {ckpt.STATE_FILE: b"state %d" % step, ckpt.INFO_FILE: b"{}"})
    _write(ckpt.checkpoint_dir(run, 8), {"eval.json": b"{}"})
    ckpt.prune_checkpoints(run, 1)
    assert [path.name for path in ckpt.checkpoints(run)] == ["step-00000024"]
    assert _tree(ckpt.checkpoint_dir(run, 8)) == ["eval.json"] and not ckpt.checkpoint_dir(run, 16).exists()
