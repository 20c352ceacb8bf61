"""Build configs: every value read by type and range, named by its field path; the CLI turns each bad
input into one line ``error: <file>: <what is wrong>`` and exit code 2."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from datagen.cli import main
from datagen.config import BuildConfig, load_config
from datagen.errors import ConfigError
from tests.cli_checks import one_line_error

FAKE = "tests.fake_source:PlaneSource"

BAD = [
    ("frames: 1.5\n", "frames: must be an integer, got float 1.5"),
    ("frames: ten\n", "frames: must be an integer, got str 'ten'"),
    ("frames: 0\n", "frames: must be a positive number"),
    ("seed: true\n", "seed: must be an integer, got bool True"),
    ("seed: -1\n", "seed: must be a non-negative integer"),
    ("split_ratios: [.nan, .5, .5]\n", "split_ratios[0]: must be finite, got nan"),
    ("split_ratios: [0.5, 0.5]\n", "split_ratios: must be a list of 3 values"),
    ("keep_unmarked_images: 'false'\n", "keep_unmarked_images: must be true or false, got str 'false'"),
    ("sampling: {avoid_edges: 'no'}\n", "sampling.avoid_edges: must be true or false, got str 'no'"),
    ("occlusion: {enabled: 'no'}\n", "occlusion.enabled: must be true or false"),
    ("answer_styles: [poetry]\n", "answer_styles: must be a non-empty list from number, unit, think, chain"),
    ("tasks: [distance, depth]\n", "tasks: must be a non-empty list"),
    ("- frames\n- 2\n", "expected a mapping of build options at the top, got list"),
    ("frames: 2\nframes: 3\n", "c.yaml:2: duplicate key 'frames' (first on line 1) in the build config"),
    ("sampling: {points_per_frame: 1000000000}\n", "sampling.points_per_frame: must be at most 1000"),
    ("sampling: {points_per_frame: 1e9}\n", "sampling.points_per_frame: must be an integer, got float"),
    ("normalize: {target_focal_px: 1e7}\n", "normalize.target_focal_px: must be at most 20000"),
    ("normalize: {target_focal_px: 0}\n", "normalize: NormalizeConfig.target_focal_px must be a finite number > 0"),
    ("task_options: {time_range_s: [1, .inf]}\n", "task_options.time_range_s[1]: must be finite"),
    ("shard_size: '4'\n", "shard_size: must be an integer, got str '4'"),
    ("colour: red\n", "colour: unknown field"),
    ("frames: [1\n", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_value_is_named_by_file_and_field(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value), str(info.value)


@pytest.mark.parametrize(("text", "message"), BAD[:4] + BAD[12:14])
def test_the_cli_gives_one_line_and_exit_code_2(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["build", "--config", str(path), "--out", str(tmp_path / "out")])
    one_line_error(result, str(path), message)


def test_a_config_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes("frames: 2\nsource: caf\xe9\n".encode("latin-1"))
    result = CliRunner().invoke(main, ["build", "--config", str(path), "--out", str(tmp_path / "out")])
    one_line_error(result, str(path), "not UTF-8")


def test_a_source_that_is_not_a_source_class_is_refused(tmp_path):
    for name, message in (("os:system", "not a datagen source"), ("os:nothing", "cannot import nothing from os"),
                          ("no_such_module_x:Thing", "cannot import Thing")):
        result = CliRunner().invoke(main, ["build", "--source", name, "--out", str(tmp_path / "out")])
        one_line_error(result, f"source {name!r}", message)


def test_source_options_are_read_by_the_sources_own_types(tmp_path):
    with pytest.raises(ConfigError, match=r"source_options\.frames: must be an integer, got str 'six'"):
        from datagen.pipeline import make_source

        make_source(load_config(None, {"source": FAKE, "source_options": {"frames": "six"}}))
    with pytest.raises(ConfigError, match=r"source_options\.colour: unknown field"):
        make_source(load_config(None, {"source": FAKE, "source_options": {"colour": 1}}))


def test_source_options_on_the_command_line_are_merged_over_the_config_files(tmp_path):
    from datagen.commands.build import load_build_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"source": FAKE, "seed": 4, "source_options": {"frames": 6, "per_sequence": 3}}))
    config = load_build_config(path, {"seed": 5}, {"per_sequence": 2})
    assert config.source_options == {"frames": 6, "per_sequence": 2} and config.seed == 5
    assert load_build_config(path, {}, {}) == load_config(path)


def test_the_cli_options_and_comma_lists_still_work(tmp_path):
    config = load_config(None, {"tasks": "distance, speed", "splits": "train", "frames": 3, "seed": 2})
    assert config.tasks == ("distance", "speed") and config.splits == ("train",) and config.frames == 3
    assert BuildConfig().to_dict() == load_config(None).to_dict()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(load_config(None, {"seed": 7, "sampling": {"points_per_frame": 3}}).to_dict()))
    assert load_config(path).fingerprint() == load_config(None, {"seed": 7, "sampling": {"points_per_frame": 3}}) \
        .fingerprint()  # build.yaml reads back to the same config


def test_a_config_built_in_code_is_held_to_the_same_rules():
    for options, message in (({"seed": True}, "seed"), ({"frames": 2.0}, "frames"),
                             ({"split_ratios": (float("nan"), 0.5, 0.5)}, "split_ratios"),
                             ({"keep_unmarked_images": "no"}, "keep_unmarked_images")):
        with pytest.raises(ConfigError, match=message):
            BuildConfig(**options)


def test_a_build_with_no_record_is_an_error(tmp_path):
    bad = [[i, "nan_depth"] for i in range(4)]
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"source": FAKE, "source_options": {"frames": 4, "bad": bad}}))
    result = CliRunner().invoke(main, ["-q", "build", "--config", str(config), "--out", str(tmp_path / "out")])
    one_line_error(result, "manifest.json", "the build wrote 0 records", "4 frames planned", "no_valid_pixel 4")


def test_verbose_keeps_the_traceback_and_bugs_are_not_hidden(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("frames: ten\n")
    result = CliRunner().invoke(main, ["-v", "build", "--config", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    import datagen.config

    monkeypatch.setattr(datagen.config, "read_config", lambda *a, **k: {}["a bug"])
    result = CliRunner().invoke(main, ["build", "--out", str(tmp_path / "out2")])
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)  # a bug keeps its traceback


def test_json_into_a_missing_folder_is_one_line(tmp_path):
    from datagen.pipeline import build

    out = tmp_path / "out"
    build(load_config(None, {"source": FAKE, "tasks": ["distance"], "split_ratios": [0, 0, 1]}), out)
    predictions = tmp_path / "p.jsonl"
    assert CliRunner().invoke(main, ["baseline", str(out), "--kind", "constant", "--value", "2",
                                     "--out", str(predictions)]).exit_code == 0
    target = tmp_path / "missing" / "scores.json"
    result = CliRunner().invoke(main, ["score", str(predictions), "--ref", str(out), "--json", str(target)])
    one_line_error(result, str(target), "No such file or directory")
