"""A build killed mid-way resumes to exactly the records of a clean build; workers do not change bytes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from datagen.config import load_config
from datagen.pipeline import build
from tests.test_store import folder_files

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"source": "tests.fake_source:PlaneSource", "seed": 5, "shard_size": 2, "split_ratios": [1.0, 0.0, 0.0],
          "source_options": {"frames": 10, "per_sequence": 5}}


@pytest.fixture(scope="module")
def clean_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    build(load_config(None, CONFIG), out)
    return folder_files(out)


def test_two_workers_write_the_same_bytes_as_one(clean_build, tmp_path):
    build(load_config(None, CONFIG), tmp_path, workers=2)
    assert folder_files(tmp_path) == clean_build


def _cli(out: Path, config_path: Path) -> list[str]:
    return [sys.executable, "-m", "datagen.cli", "-q", "build", "--config", str(config_path), "--out", str(out)]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_build_resumes_to_the_clean_result(clean_build, tmp_path, sig):
    config = dict(CONFIG, source_options=dict(CONFIG["source_options"], delay_s=0.25))
    config_path = tmp_path / "build.yaml"
    config_path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    process = subprocess.Popen(_cli(out, config_path), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first_shard = out / "records" / "shard-00000.jsonl"
    deadline = time.monotonic() + 60
    while not first_shard.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert first_shard.exists(), process.communicate()[1].decode()[-2000:]
    time.sleep(0.3)  # into the next shard
    os.kill(process.pid, sig)
    process.wait(timeout=30)
    assert not (out / "manifest.json").exists(), "the build finished before it could be interrupted"
    resumed = subprocess.run(_cli(out, config_path), cwd=ROOT, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    # delay_s is a source option, so it is part of the config: compare with a clean build of this config
    reference = tmp_path / "reference"
    build(load_config(config_path), reference)
    assert folder_files(out) == folder_files(reference)
    assert {k: v for k, v in folder_files(out).items() if k.startswith("records/")} == \
        {k: v for k, v in clean_build.items() if k.startswith("records/")}
    assert not list(out.rglob("*.tmp"))
