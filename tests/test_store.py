"""Builds into an object store (a real S3 API on 127.0.0.1) equal the local folder's, commit once, and keep
the user's objects; a folder's commit is once too. Bad object-store settings stop before any work."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.config import load_config
from datagen.errors import DatagenError
from datagen.ownership import OwnershipError
from datagen.pipeline import build
from datagen.store import CLAIMS_DIR, LocalStore, ObjectStore, open_store
from tests.cli_checks import one_line_error

CONFIG = {"source": "tests.fake_source:PlaneSource", "seed": 5, "shard_size": 2, "split_ratios": [1.0, 0.0, 0.0],
          "tasks": ["distance", "two_point", "pose"], "source_options": {"frames": 6, "per_sequence": 3}}
BUCKET = "datagen-test"


def folder_files(out: Path) -> dict:
    """What a build is, byte for byte: records, images, frame index and manifest (not build.yaml or the ledger)."""
    names = [p for p in sorted(out.rglob("*")) if p.is_file() and p.parts[len(out.parts)] in ("records", "images")]
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in names}
    return files | {name: (out / name).read_bytes() for name in ("manifest.json", "frames.jsonl")}


def object_files(options: dict, url: str) -> dict:
    """The same, read from an object store prefix."""
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    root = url.removeprefix("s3://")
    keys = sorted(fs.find(root))
    wanted = [k for k in keys if k[len(root) + 1:].split("/")[0] in ("records", "images", "manifest.json",
                                                                     "frames.jsonl")]
    return {k[len(root) + 1:]: fs.cat_file(k) for k in wanted}


@pytest.fixture(scope="module")
def local_build(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("local")
    build(load_config(None, CONFIG), out)
    return folder_files(out)


def _s3_env(options: dict) -> dict:
    return {"AWS_ACCESS_KEY_ID": options["key"], "AWS_SECRET_ACCESS_KEY": options["secret"],
            "AWS_ENDPOINT_URL": options["client_kwargs"]["endpoint_url"], "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true"}


def test_a_build_into_s3_equals_the_local_folders_and_resumes_to_nothing(s3_server, local_build):
    url = f"s3://{BUCKET}/equal"
    manifest = build(load_config(None, CONFIG), ObjectStore(url, s3_server))
    assert object_files(s3_server, url) == local_build
    again = build(load_config(None, CONFIG), ObjectStore(url, s3_server))  # every shard committed: nothing to redo
    assert again == manifest
    assert object_files(s3_server, url) == local_build


def test_an_interrupted_s3_build_resumes_to_the_same_objects(s3_server, local_build, monkeypatch):
    """The machine fails while a shard writes: nothing half is published and the same call finishes the build."""
    import datagen.store as store_module

    url = f"s3://{BUCKET}/resumed"
    calls = {"n": 0}
    original = store_module._ObjectWriter._create

    def failing(self, relpath, data, digest):
        calls["n"] += 1
        if calls["n"] == 9:
            raise OSError(5, "Input/output error (the network dropped)")
        return original(self, relpath, data, digest)

    monkeypatch.setattr(store_module._ObjectWriter, "_create", failing)
    with pytest.raises(OSError, match="network dropped"):
        build(load_config(None, CONFIG), ObjectStore(url, s3_server))
    assert "manifest.json" not in object_files(s3_server, url)
    monkeypatch.undo()
    build(load_config(None, CONFIG), ObjectStore(url, s3_server))
    assert object_files(s3_server, url) == local_build


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_racing_attempts_of_a_commit_publish_once(s3_server, tmp_path, kind):
    """Eight attempts publish the same shard at once: exactly one publishes, the bytes are whole."""
    store = LocalStore(tmp_path / "out") if kind == "folder" else ObjectStore(f"s3://{BUCKET}/race", s3_server)
    store.claim_root()
    store.prepare()
    data = b"".join(b'{"id": "%d"}\n' % i for i in range(20_000))
    barrier = threading.Barrier(8)
    published = []

    def attempt() -> None:
        writer = store.writer("shard-00000")
        barrier.wait()
        published.append(writer.publish("records/shard-00000.jsonl", data))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(published) == [False] * 7 + [True]
    assert store.read_bytes("records/shard-00000.jsonl") == data
    assert store.owned("records/shard-00000.jsonl", store.claims().get("records/shard-00000.jsonl"))


def test_a_users_objects_survive_and_are_never_replaced(s3_server):
    import s3fs

    fs = s3fs.S3FileSystem(**s3_server)
    url = f"s3://{BUCKET}/users"
    users = {"notes.txt": b"mine", "images/holiday.jpg": b"a photo", "records/mine.jsonl": b"{}\n"}
    for relpath, data in users.items():
        fs.pipe_file(f"{BUCKET}/users/{relpath}", data)
    config = load_config(None, dict(CONFIG, tasks=["distance"]))
    with pytest.raises(DatagenError, match="not empty and not a datagen build"):
        build(config, ObjectStore(url, s3_server))
    assert not fs.exists(f"{BUCKET}/users/{CLAIMS_DIR}")  # refused before writing anything
    build(config, ObjectStore(url, s3_server), allow_nonempty=True)
    first = object_files(s3_server, url)
    build(load_config(None, dict(CONFIG, tasks=["distance"], seed=6)), ObjectStore(url, s3_server), overwrite=True)
    second = object_files(s3_server, url)
    for relpath, data in users.items():
        assert fs.cat_file(f"{BUCKET}/users/{relpath}") == data
    gone = {k for k in first if k.startswith("images/") and k not in users} - set(second)
    assert gone and not any(fs.exists(f"{BUCKET}/users/{k}") for k in gone)  # the first build's, removed
    # a user's object where a shard's records go, and one under an image's name: both stop the build
    fs.pipe_file(f"{BUCKET}/other/records/shard-00000.jsonl", b"mine\n")
    with pytest.raises(OwnershipError, match="shard-00000.jsonl"):
        build(config, ObjectStore(f"s3://{BUCKET}/other", s3_server), allow_nonempty=True)
    assert fs.cat_file(f"{BUCKET}/other/records/shard-00000.jsonl") == b"mine\n"
    image = next(k for k in second if k.startswith("images/"))
    fs.pipe_file(f"{BUCKET}/third/{image}", b"not an image of ours")
    with pytest.raises(OwnershipError, match="exists with other content"):
        build(load_config(None, dict(CONFIG, tasks=["distance"], seed=6)), ObjectStore(f"s3://{BUCKET}/third",
                                                                                   s3_server), allow_nonempty=True)
    assert fs.cat_file(f"{BUCKET}/third/{image}") == b"not an image of ours"


def _build_args(url: str) -> list[str]:
    return ["-q", "build", "--source", CONFIG["source"], "--out", url, "--seed", "5", "--tasks", "distance"]


def test_the_cli_builds_into_s3_with_credentials_from_the_environment(s3_server, tmp_path):
    url = f"s3://{BUCKET}/cli"
    result = CliRunner(env=_s3_env(s3_server)).invoke(main, _build_args(url))
    assert result.exit_code == 0, result.output
    local = tmp_path / "local"
    assert CliRunner().invoke(main, _build_args(str(local))).exit_code == 0
    assert object_files(s3_server, url) == folder_files(local)


def test_object_storage_without_credentials_or_bucket_fails_before_any_work(s3_server, tmp_path):
    import s3fs

    nothing = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
               "AWS_PROFILE": None, "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
               "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_ENDPOINT_URL": s3_server["client_kwargs"]["endpoint_url"], "AWS_DEFAULT_REGION": "us-east-1"}
    result = CliRunner(env=nothing).invoke(main, _build_args(f"s3://{BUCKET}/nocreds"))
    one_line_error(result, f"s3://{BUCKET}/nocreds", "credentials")
    result = CliRunner(env=_s3_env(s3_server)).invoke(main, _build_args("s3://no-such-bucket/x"))
    one_line_error(result, "bucket 'no-such-bucket' does not exist")
    assert not s3fs.S3FileSystem(**s3_server).find(f"{BUCKET}/nocreds")


def test_reading_a_build_back_from_object_storage_says_what_to_do(tmp_path):
    for command in (["validate"], ["export", "--format", "trl"], ["preview"]):
        result = CliRunner().invoke(main, [*command[:1], "s3://bucket/build", *command[1:]])
        one_line_error(result, "s3://bucket/build", "only from a folder", "aws s3 sync s3://bucket/build ./build")
    result = CliRunner().invoke(main, [*_build_args("s3://bucket/build"), "--format", "trl"])
    one_line_error(result, "--format", "object storage")


def test_a_missing_s3_backend_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(DatagenError, match=r"pip install 'datagen\[s3\]'"):
        open_store("s3://bucket/prefix").check()
    assert isinstance(open_store("s3://bucket/prefix"), ObjectStore)
    assert isinstance(open_store("file:///tmp/x"), LocalStore) and isinstance(open_store("/tmp/x"), LocalStore)



def test_a_backend_error_mid_build_is_a_fault_of_the_machine(s3_server, monkeypatch):
    """botocore's connection errors are not OSError: they reach the CLI as one, naming the store, so the build
    stops with one line and resumes (here the S3 client fails the first PUT of an image)."""
    import botocore.exceptions

    url = f"s3://{BUCKET}/dropped"
    store = ObjectStore(url, s3_server)
    original = store.fs.pipe_file

    def dropped(path, data, mode="overwrite", **kwargs):
        if mode == "create":
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")
        return original(path, data, mode=mode, **kwargs)

    monkeypatch.setattr(store.fs, "pipe_file", dropped)
    with pytest.raises(OSError, match="EndpointConnectionError") as info:
        build(load_config(None, CONFIG), store)
    assert info.value.filename == url
