"""`datagen train` and `datagen predict` end to end on the tiny model: the loss falls, the saved model
reloads, predictions are scored, an interrupted run resumes exactly, bad input stops before any compute."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file

from datagen import ownership
from datagen.cli import main
from datagen.errors import ConfigError
from datagen.records import iter_records
from datagen.train import checkpoint as ckpt
from datagen.train.data import load_examples
from datagen.train.encode import Batcher
from datagen.train.loop import train
from datagen.train.models import add_lora, load_model, load_trained
from datagen.train.options import TrainOptions
from tests.train.conftest import TRAIN_ARGS

CPU = torch.device("cpu")
# peft asks transformers a deprecated question about gradient checkpointing; nothing of datagen's.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


def _log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_the_loss_falls_clearly(trained_run):
    log = _log(trained_run)
    assert [entry["step"] for entry in log] == list(range(1, 25))
    start = sum(entry["loss"] for entry in log[:3]) / 3
    end = sum(entry["loss"] for entry in log[-3:]) / 3
    # Seen: 12.25 over the first three steps (log 151936 = 11.93 for uniform logits, plus their random
    # spread), about 8.4 over the last three.
    assert start > 11.5
    assert end < start - 2.5
    assert all(entry["samples"] == 2 and entry["tokens"] > 0 and entry["tokens_per_s"] > 0 for entry in log)


def test_the_learning_rate_warms_up_then_decays_to_zero(trained_run):
    lrs = [entry["lr"] for entry in _log(trained_run)]
    peak = lrs.index(max(lrs))
    assert lrs[0] == 0.0 and max(lrs) == pytest.approx(1e-2) and peak == 2  # round(0.1 * 24) = 2 warmup steps
    assert all(a > b for a, b in zip(lrs[peak:], lrs[peak + 1:])) and lrs[-1] < 1e-4


def test_the_run_folder(trained_run):
    run = json.loads((trained_run / "run.json").read_text())
    assert (run["status"], run["step"], run["lora"], run["base_model"]) == ("done", 24, True, "base-model")
    assert run["loss"] == _log(trained_run)[-1]["loss"]
    names = {path.name for path in (trained_run / "model").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "processor_config.json", "tokenizer.json"} <= names
    assert [path.name for path in ckpt.checkpoints(trained_run)] == ["step-00000016", "step-00000024"]
    with Image.open(trained_run / "loss.png") as plot:
        assert plot.format == "PNG"


def test_the_ledger_names_every_file_the_trainer_put_in_place(trained_run):
    placed = [trained_run / "run.json", trained_run / "loss.png", *(trained_run / "model").iterdir(),
              *(trained_run / "base-model").iterdir(), *ckpt.checkpoints(trained_run)[-1].iterdir()]
    assert [path for path in placed if not ownership.is_owned(path)] == []


def test_resuming_replaces_the_final_model_only_if_every_file_there_is_the_trainers(trained_run, train_build,
                                                                                   tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "model" / "eval.json").write_text("{}")
    args = ["train", "--model", "tiny-random", "--data", str(train_build), "--out", str(run), *TRAIN_ARGS, "--resume"]
    result = CliRunner().invoke(main, ["-q", *args])
    assert result.exit_code == 2 and "model/eval.json: not written by datagen" in result.output
    assert (run / "model" / "eval.json").read_text() == "{}"
    assert {path.name for path in (run / "model").iterdir()} == {path.name for path in (trained_run / "model")
                                                                 .iterdir()} | {"eval.json"}
    (run / "model" / "eval.json").unlink()
    result = CliRunner().invoke(main, ["-q", *args])
    assert result.exit_code == 0, result.output
    weights, expected = (load_file(folder / "model" / "adapter_model.safetensors") for folder in (run, trained_run))
    assert weights.keys() == expected.keys() and all(torch.equal(weights[k], expected[k]) for k in expected)


def test_the_saved_model_is_the_trained_one(trained_run, tiny_model, train_build):
    """The merged reload gives the logits of the base model with the last checkpoint's adapters put back."""
    reloaded, processor = load_trained(trained_run, dtype=torch.float32, device=CPU)
    state = ckpt.load_checkpoint(ckpt.checkpoints(trained_run)[-1])
    adapted = add_lora(load_model(tiny_model, dtype=torch.float32, device=CPU), rank=16, alpha=32.0,
                       dropout=0.05, targets="language")
    params = dict(adapted.named_parameters())
    with torch.no_grad():
        for name, value in state["trainable"].items():
            params[name].copy_(value)
    batch = Batcher(processor, load_examples(train_build))([0, 5])
    batch.pop("labels")
    base = load_model(tiny_model, dtype=torch.float32, device=CPU)
    with torch.no_grad():
        expected, got, before = (m.eval()(**batch).logits for m in (adapted, reloaded, base))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert (got - before).abs().max() > 0.1  # the adapters changed the model


@pytest.fixture(scope="module")
def predictions(trained_run, train_build, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "predictions.jsonl"
    result = CliRunner().invoke(main, ["-q", "predict", "--model", str(trained_run), "--data", str(train_build),
                                       "--out", str(out), "--split", "all", "--max-new-tokens", "12"])
    assert result.exit_code == 0, result.output
    return out


def test_predict_writes_one_line_per_record_and_score_reads_them(predictions, train_build, tmp_path):
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [line["id"] for line in lines] == [record["id"] for record in iter_records(train_build)]
    assert all(set(line) == {"id", "output"} and isinstance(line["output"], str) for line in lines)
    scores = tmp_path / "scores.json"
    result = CliRunner().invoke(main, ["score", str(predictions), "--ref", str(train_build), "--bootstrap", "0",
                                       "--json", str(scores)])
    assert result.exit_code == 0, result.output
    overall = json.loads(scores.read_text())["runs"][0]["overall"]
    assert (overall["n"], overall["n_predicted"], overall["n_missing"]) == (16, 16, 0)


def test_predict_continues_a_file_where_it_stopped(predictions, trained_run, train_build, tmp_path):
    lines = predictions.read_text().splitlines(keepends=True)
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(lines[:5]))
    result = CliRunner().invoke(main, ["predict", "--model", str(trained_run), "--data", str(train_build),
                                       "--out", str(partial), "--split", "all", "--max-new-tokens", "12",
                                       "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "11 answers written" in result.output and "5 there before" in result.output
    # Greedy answers do not depend on the batch a prompt is in (left padding is masked).
    assert partial.read_text() == predictions.read_text()


@pytest.mark.parametrize("content, message", [
    ('{"id": "synthetic/room/0/000000/distance/0", "output": "1"}\n{"id": "syn', "last line is incomplete"),
    ('{"id": "kitti/other/0", "output": "1"}\n', "is not a record of this build"),
    ('{"id": ["a"], "output": "1"}\n', "not a predictions line"),
    ("[" * 100_000 + "\n", "not a predictions line"),
])
def test_predict_refuses_a_file_it_cannot_continue(train_build, tmp_path, content, message):
    out = tmp_path / "predictions.jsonl"
    out.write_text(content)
    result = CliRunner().invoke(main, ["predict", "--model", "tiny-random", "--data", str(train_build), "--out",
                                       str(out), "--split", "all"])
    assert result.exit_code == 2 and message in result.output
    assert out.read_text() == content


class Stop(Exception):
    pass


@pytest.mark.slow
def test_a_resumed_run_equals_an_uninterrupted_one(tiny_model, train_build, tmp_path):
    common = dict(model=str(tiny_model), data=train_build, max_steps=4, batch_size=2, grad_accum=2, lr=1e-2,
                  warmup_ratio=0.25, save_every=2, seed=1)  # LoRA dropout on: the random state must come back
    whole = train(TrainOptions(out=tmp_path / "whole", **common))

    def stop_after_step_3(entry):
        if entry.step == 3:
            raise Stop  # step 3 is lost; the checkpoint of step 2 remains

    with pytest.raises(Stop):
        train(TrainOptions(out=tmp_path / "cut", **common), on_step=stop_after_step_3)
    assert [p.name for p in ckpt.checkpoints(tmp_path / "cut")] == ["step-00000002"]
    resumed = train(TrainOptions(out=tmp_path / "cut", resume=True, **common))
    assert [h.step for h in resumed.history] == [h.step for h in whole.history] == [1, 2, 3, 4]
    assert [h.loss for h in resumed.history] == pytest.approx([h.loss for h in whole.history], rel=1e-6)
    assert [entry["step"] for entry in _log(tmp_path / "cut")] == [1, 2, 3, 4]
    weights, expected = (load_file(run / "model" / "adapter_model.safetensors") for run in (tmp_path / "cut",
                                                                                           tmp_path / "whole"))
    assert weights.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(weights[name], expected[name], rtol=1e-6, atol=1e-7)
    with pytest.raises(ConfigError, match=r"same options; changed: lr 0.01 -> 0.02"):
        train(TrainOptions(out=tmp_path / "cut", resume=True, **{**common, "lr": 2e-2}))
    with pytest.raises(ConfigError, match="holds a training run already; pass --resume"):
        train(TrainOptions(out=tmp_path / "cut", **common))


@pytest.mark.slow
def test_full_fine_tuning_saves_a_whole_model_that_predict_loads(tiny_model, train_build, tmp_path):
    result = CliRunner().invoke(main, ["-q", "train", "--model", str(tiny_model), "--data", str(train_build),
                                       "--out", str(tmp_path / "run"), "--full", "--max-steps", "2",
                                       "--batch-size", "2", "--lr", "1e-3"])
    assert result.exit_code == 0, result.output
    names = {path.name for path in (tmp_path / "run" / "model").iterdir()}
    assert {"config.json", "model.safetensors"} <= names and "adapter_config.json" not in names
    out = tmp_path / "predictions.jsonl"
    result = CliRunner().invoke(main, ["-q", "predict", "--model", str(tmp_path / "run"), "--data",
                                       str(train_build), "--out", str(out), "--split", "all", "--limit", "2",
                                       "--max-new-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 2


@pytest.fixture
def build_copy(train_build, tmp_path):
    copy = tmp_path / "build"
    shutil.copytree(train_build, copy, copy_function=os.link)
    return copy


@pytest.mark.parametrize("problem, message", [
    ("no_model", "model folder not found"),
    ("not_image_text", "a 'bert' model is not an image-text-to-text model"),
    ("not_a_build", "not a datagen build"),
    ("empty", "no records of split 'test' to use (the build has: train 16)"),
    ("missing_image", "not found in"),
    ("out_not_empty", "exists and is not an empty folder"),
])
def test_bad_input_fails_before_any_compute(problem, message, build_copy, tiny_model, tmp_path, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("datagen.train.loop.load_model", no_compute)
    monkeypatch.setattr("datagen.train.loop._base_model", no_compute)
    model, data, out, split = str(tiny_model), build_copy, tmp_path / "run", "train"
    if problem == "no_model":
        model = str(tmp_path / "nowhere")
    elif problem == "not_image_text":
        (tmp_path / "bert").mkdir()
        (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
        model = str(tmp_path / "bert")
    elif problem == "not_a_build":
        data = tmp_path
    elif problem == "empty":
        split = "test"
    elif problem == "missing_image":
        (build_copy / next(iter_records(build_copy))["images"][0]).unlink()
    elif problem == "out_not_empty":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["train", "--model", model, "--data", str(data), "--out", str(out),
                                       "--split", split, "--max-steps", "1"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output and result.output.count("\n") == 1
    assert out.exists() == (problem == "out_not_empty")
    if problem == "out_not_empty":
        assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("content", [b"\xff\xfe", b"[" * 100_000, b'{"trajectory": {}}'],
                         ids=["not UTF-8", "nested too deeply", "no fingerprint"])
def test_a_broken_run_file_stops_a_resume_in_one_line(content, train_build, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr("datagen.train.loop.load_model", None)  # never reached
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_bytes(content)
    result = CliRunner().invoke(main, ["train", "--model", str(tiny_model), "--data", str(train_build), "--out",
                                       str(out), "--max-steps", "1", "--resume"])
    assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "run.json: not a run file of datagen train" in result.output
    assert (out / "run.json").read_bytes() == content
