"""A fault of the machine stops the build with one clear line, commits nothing half done, and the same
command resumes to the bytes of a clean build; faults of the input are still skipped and counted."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from datagen.cli import main
from datagen.config import load_config
from datagen.pipeline import build

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"source": "tests.fake_source:PlaneSource", "seed": 5, "shard_size": 2, "split_ratios": [1.0, 0.0, 0.0],
          "tasks": ["distance", "two_point", "pose"], "source_options": {"frames": 6, "per_sequence": 3}}


def _tree_bytes(out: Path) -> dict:
    """Every file of the build, its ledger included."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("clean")
    build(load_config(None, CONFIG), out)
    return _tree_bytes(out)


def _failing_nth(n: int, original, error: OSError):
    calls = {"count": 0}

    def failing(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == n:
            raise error
        return original(*args, **kwargs)
    return failing


@pytest.mark.parametrize("nth", [1, 4, 9])
def test_disk_full_stops_the_build_and_the_same_call_resumes_it(clean, tmp_path, monkeypatch, nth):
    out = tmp_path / "out"
    monkeypatch.setattr(os, "fsync", _failing_nth(nth, os.fsync, OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OSError) as info:
        build(load_config(None, CONFIG), out)
    assert info.value.errno == errno.ENOSPC
    assert not (out / "manifest.json").exists()
    monkeypatch.undo()
    manifest = build(load_config(None, CONFIG), out)
    assert manifest["frames"]["skipped"] == {}
    assert _tree_bytes(out) == clean
    assert not list(out.rglob("*.tmp"))


def test_out_of_memory_in_a_frame_stops_the_build(tmp_path, monkeypatch):
    import datagen.pipeline as pipeline

    monkeypatch.setattr(pipeline, "normalize", _failing_nth(2, pipeline.normalize, MemoryError()))
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(main, ["build", "--config", str(config_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("error: out of memory")
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_real_write_error_in_a_cli_build_exits_2_and_the_same_command_resumes(clean, tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse the first large image with EFBIG (Python ignores SIGXFSZ)."""
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    command = [sys.executable, "-m", "datagen.cli", "-q", "build", "--config", str(config_path),
               "--out", str(tmp_path / "out")]
    failed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            preexec_fn=_limit_file_size(20_000))
    assert failed.returncode == 2, failed.stderr[-2000:]
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "File too large" in lines[0], failed.stderr
    assert str(tmp_path / "out" / "images") in lines[0]
    assert not (tmp_path / "out" / "manifest.json").exists()
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _tree_bytes(tmp_path / "out") == clean


def test_a_failed_export_leaves_no_partial_file_and_one_line(tmp_path, monkeypatch):
    build(load_config(None, CONFIG), tmp_path / "out")
    monkeypatch.setattr(os, "replace", _failing_nth(1, os.replace, OSError(errno.EROFS, "Read-only file system",
                                                                         str(tmp_path / "x" / "train.jsonl"))))
    result = CliRunner().invoke(main, ["export", str(tmp_path / "out"), "--format", "trl", "--out",
                                       str(tmp_path / "x")])
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Read-only file system" in lines[0] and "train.jsonl" in lines[0], result.stderr
    written = [p for p in (tmp_path / "x").rglob("*") if p.is_file() and ".datagen" not in p.parts]
    assert written == []  # only the ledger, which names the file it was about to write


def test_input_faults_are_still_skipped_and_named(tmp_path):
    config = load_config(None, dict(CONFIG, source_options={"root": str(tmp_path), "frames": 4,
                                                            "bad": [[1, "corrupt_image"]]}))
    manifest = build(config, tmp_path / "out")
    assert manifest["frames"]["skipped"] == {"image_unreadable": 1}
    assert "0001.png" in manifest["frames"]["skipped_errors"]["plane/seq0/0001"]


def test_a_permission_error_reading_an_input_stops_instead_of_skipping(tmp_path, monkeypatch):
    import datagen.images

    config = load_config(None, dict(CONFIG, source_options={"root": str(tmp_path), "frames": 4,
                                                            "bad": [[1, "corrupt_image"]]}))
    clean = build(config, tmp_path / "clean")
    denied = OSError(errno.EACCES, "Permission denied", str(tmp_path / "0001.png"))
    monkeypatch.setattr(datagen.images.Image, "open", _failing_nth(1, datagen.images.Image.open, denied))
    with pytest.raises(OSError, match="Permission denied"):
        build(config, tmp_path / "out")
    monkeypatch.undo()
    assert build(config, tmp_path / "out") == clean  # the frame is retried, then skipped as the corrupt file it is
    assert _tree_bytes(tmp_path / "out") == _tree_bytes(tmp_path / "clean")


def test_an_io_error_removing_an_emptied_folder_stops_an_overwrite_and_the_same_call_resumes(tmp_path, monkeypatch):
    other = load_config(None, dict(CONFIG, seed=6))
    out = tmp_path / "out"
    build(load_config(None, CONFIG), out)
    monkeypatch.setattr(Path, "rmdir", _failing_nth(1, Path.rmdir, OSError(errno.EIO, "Input/output error")))
    with pytest.raises(OSError) as info:
        build(other, out, overwrite=True)
    assert info.value.errno == errno.EIO
    monkeypatch.undo()
    assert build(other, out, overwrite=True) == build(other, tmp_path / "clean")


def test_a_machine_fault_reading_a_file_in_the_way_is_not_taken_for_a_users_file(tmp_path, monkeypatch):
    import datagen.images
    from datagen.images import png_software
    from datagen.ownership import OwnershipError, check_replaceable

    path = tmp_path / "overlay.png"
    path.write_bytes(b"a user's picture")

    def ours(candidate: Path) -> bool:
        return png_software(candidate) == "datagen"

    with pytest.raises(OwnershipError):
        check_replaceable(path, signature=ours)
    failed = OSError(errno.EIO, "Input/output error", str(path))
    monkeypatch.setattr(datagen.images.Image, "open", _failing_nth(1, datagen.images.Image.open, failed))
    with pytest.raises(OSError) as info:
        check_replaceable(path, signature=ours)
    assert info.value.errno == errno.EIO
    assert path.read_bytes() == b"a user's picture"
