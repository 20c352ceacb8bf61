"""The ray engine on a local Ray (2 CPUs): the same bytes as the local engine, a killed worker's shard retried to
the same records, builds into a real S3 API on 127.0.0.1; bad settings stop in seconds with one line."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.config import load_config
from datagen.pipeline import build
from datagen.store import ObjectStore
from tests.test_store import BUCKET, folder_files, object_files

CONFIG = {"source": "tests.fake_source:PlaneSource", "seed": 5, "shard_size": 2, "split_ratios": [1.0, 0.0, 0.0],
          "tasks": ["distance", "two_point", "pose"], "source_options": {"frames": 8, "per_sequence": 4}}


@pytest.fixture(scope="module")
def local_build(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("local")
    build(load_config(None, CONFIG), out)
    return folder_files(out)


def test_a_ray_build_equals_the_local_build_byte_for_byte(ray_local, local_build, tmp_path):
    finished = []
    manifest = build(load_config(None, CONFIG), tmp_path, engine="ray",
                     progress=lambda frames, records: finished.append((frames, records)))
    assert folder_files(tmp_path) == local_build
    assert len(finished) == 4 and sum(f for f, _ in finished) == 8  # progress as each shard commits
    assert sum(r for _, r in finished) + manifest["counts"]["by_task"].get("pose", 0) == manifest["counts"]["total"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_ray_build_into_s3_equals_the_local_folder(ray_local, s3_server, local_build):
    url = f"s3://{BUCKET}/ray"
    build(load_config(None, CONFIG), ObjectStore(url, s3_server), engine="ray")
    assert object_files(s3_server, url) == local_build


def test_a_killed_worker_is_retried_and_the_build_ends_with_the_same_records(ray_local, tmp_path):
    announced = tmp_path / "announced"
    announced.mkdir()
    config = load_config(None, dict(CONFIG, source_options=dict(CONFIG["source_options"], delay_s=0.4,
                                                                announce_dir=str(announced))))
    outcome: dict = {}
    driver = threading.Thread(target=lambda: outcome.setdefault("manifest", build(config, tmp_path / "ray",
                                                                                  engine="ray")))
    driver.start()
    deadline = time.monotonic() + 120
    while not list(announced.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = sorted(announced.iterdir(), key=lambda p: p.stat().st_mtime_ns)[0]
    pid, frame = map(int, victim.name.split("-"))
    assert pid != os.getpid()  # a Ray worker, not this driver
    os.kill(pid, signal.SIGKILL)  # while it sleeps in the frame's load: its shard is not committed
    driver.join(timeout=300)
    assert "manifest" in outcome, "the build did not finish after its worker was killed"
    loads = [tuple(map(int, p.name.split("-"))) for p in announced.iterdir()]
    assert any(f == frame and p != pid for p, f in loads)  # the killed worker's shard ran again elsewhere
    reference = tmp_path / "local"
    build(config, reference)
    assert folder_files(tmp_path / "ray") == folder_files(reference)
    assert outcome["manifest"]["frames"]["skipped"] == {}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_ray_address_fails_before_any_work_with_one_line(tmp_path):
    out = tmp_path / "out"
    address = f"127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(main, ["build", "--source", CONFIG["source"], "--out", str(out), "--engine", "ray",
                                       "--ray-address", address])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --ray-address {address}: no Ray cluster answers"), lines
    assert "ray start --head" in lines[0]
    assert not out.exists()
    result = CliRunner().invoke(main, ["build", "--out", str(out), "--ray-address", address])
    assert result.exit_code == 2 and "needs --engine ray" in result.stderr


def test_without_the_ray_extra_the_error_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    result = CliRunner().invoke(main, ["build", "--source", CONFIG["source"], "--out", str(tmp_path / "out"),
                                       "--engine", "ray"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1].endswith("install it with: pip install 'datagen[ray]'")
    assert not (tmp_path / "out").exists()


def test_the_engines_do_not_import_the_pipeline():
    """The pipeline imports the engines, never the other way (they run the shard runner they are given)."""
    import ast

    for path in sorted((Path(__file__).resolve().parents[2] / "datagen" / "engines").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {f"{node.module}.{alias.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     for alias in node.names}
        assert imported and not any(name.startswith("datagen.pipeline") for name in imported), path.name
