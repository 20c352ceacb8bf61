"""Scoring predictions files against a build, baselines, and the `score`/`baseline` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.records import NotABuildError
from datagen.scoring import (
    ScoringError,
    format_table,
    load_reference,
    read_predictions,
    score_predictions,
)

from .conftest import make_record, write_build, write_predictions

IDS = ["kitti/2011_09_26_0005/000042/distance/0", "kitti/2011_09_26_0005/000042/distance/1",
       "nyu/bedroom_0012/000007/distance/0", "kitti/2011_09_26_0005/000043/speed/0",
       "kitti/2011_09_26_0005/000044/time/0", "nyu/bedroom_0012/000008/distance/0"]


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def good_rows() -> list[dict]:
    """Predictions for the small build: 4 δ1 hits of 6 (one wrong, one unparsable)."""
    return [
        {"id": IDS[0], "output": "<think> The point is around 7.23 meters away. </think>\n<answer> 7.23 </answer>"},
        {"id": IDS[1], "output": "4.0 m"},  # wrong: 4.0 / 1.5 > 1.25
        {"id": IDS[2], "output": "The point is around 3.1 meters away from the camera."},
        {"id": IDS[3], "output": "The point is around 7.23 meters away. Hence, the speed should be around "
                                 "7.23 / 4.0 = 1.81 m/s"},
        {"id": IDS[4], "output": "about four seconds"},  # unparsable
        {"id": IDS[5], "output": "5000 cm"},
    ]


def test_score_small_build_by_hand(small_build, tmp_path):
    preds = write_predictions(tmp_path / "model_a.jsonl", good_rows())
    report = score_predictions(read_predictions(preds), load_reference(small_build), bootstrap=200)
    assert report.name == "model_a" and report.splits == ("test",)
    assert report.overall.n == 6 and report.overall.delta1 == pytest.approx(4 / 6)
    assert report.overall.n_unparsable == 1 and report.reasons == {"ok": 5, "number_words": 1}
    assert report.by_task["distance"].delta1 == pytest.approx(3 / 4)
    assert report.by_task["speed"].delta1 == 1.0 and report.by_task["time"].delta1 == 0.0
    assert report.by_source["kitti"].delta1 == pytest.approx(2 / 4)
    assert report.by_source["nyu"].delta1 == 1.0
    # binned by the depth of the point: the speed (7.24 m) and time (6 m) records fall in 5-10 with 7.2312
    assert set(report.by_depth_range) == {"0-2", "2-5", "5-10", "40-80"}
    assert report.by_depth_range["5-10"].n == 3 and report.by_depth_range["5-10"].delta1 == pytest.approx(2 / 3)
    assert report.by_depth_range["0-2"].delta1 == 0.0 and report.by_depth_range["40-80"].delta1 == 1.0
    assert report.by_value_range == {}
    assert report.missing.count == 0 and report.unknown.count == 0


def test_missing_unknown_and_skip(small_build, tmp_path):
    rows = good_rows()[:4] + [{"id": "kitti/nope/000000/distance/0", "output": "3"}]
    preds = read_predictions(write_predictions(tmp_path / "p.jsonl", rows))
    reference = load_reference(small_build)
    report = score_predictions(preds, reference, bootstrap=0)
    assert report.missing.count == 2 and report.missing.first == (IDS[4], IDS[5])
    assert report.unknown.count == 1 and report.unknown.first == ("kitti/nope/000000/distance/0",)
    assert report.overall.n == 6 and report.overall.delta1 == pytest.approx(3 / 6)
    skipped = score_predictions(preds, reference, skip_missing=True, bootstrap=0)
    assert skipped.overall.n == 4 and skipped.overall.delta1 == pytest.approx(3 / 4)
    everything = score_predictions(preds, reference, split="all", bootstrap=0)
    assert everything.overall.n == 8 and everything.missing.count == 4


def test_constant_baseline_delta1_is_the_count_inside_the_band(tmp_path):
    """`datagen baseline --kind constant --value 2.0` scores exactly #(2/1.25 < gt < 2*1.25) / n."""
    rng = np.random.default_rng(0)
    edges = [2 / 1.25, 2 * 1.25, np.nextafter(2 / 1.25, 9), np.nextafter(2 * 1.25, 0), 2.0]
    values = np.concatenate([edges, rng.uniform(0.5, 6.0, 60)])
    tasks = ["distance", "axis_distance", "speed", "time", "two_point", "pose"]
    records = [make_record(f"kitti/2011_09_26_0005/{i:06d}/{tasks[i % 6]}/0", tasks[i % 6], float(v),
                           source=("kitti", "ddad")[i % 2]) for i, v in enumerate(values)]
    records.append(make_record("kitti/2011_09_26_0001/000000/distance/0", "distance", 1.0, split="train"))
    build = write_build(tmp_path / "build", records)
    out = tmp_path / "constant.jsonl"
    result = run("baseline", build, "--kind", "constant", "--value", "2.0", "--out", out)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(values) and {line["output"] for line in lines} == {"2.0"}
    report = score_predictions(read_predictions(out), load_reference(build), bootstrap=0)
    inside = (values > 2 / 1.25) & (values < 2 * 1.25)
    assert report.overall.delta1 == inside.sum() / len(values)
    assert inside[:5].tolist() == [False, False, True, True, True]
    task_of = np.array([tasks[i % 6] for i in range(len(values))])
    for task in tasks:
        assert report.by_task[task].delta1 == inside[task_of == task].mean()


def test_median_baseline(tmp_path):
    train = {"distance": [3.0, 9.0, 4.0], "speed": [1.0, 2.0, 4.0, 10.0]}  # medians 4.0 and 3.0
    records = [make_record(f"kitti/s/{i:06d}/{task}/0", task, v, split="train")
               for i, (task, v) in enumerate((t, v) for t, vs in train.items() for v in vs)]
    test = [("distance", 4.9), ("distance", 5.0), ("speed", 2.5), ("speed", 3.8)]
    records += [make_record(f"nyu/s/{i:06d}/{task}/0", task, v, source="nyu") for i, (task, v) in enumerate(test)]
    build = write_build(tmp_path / "build", records)
    out = tmp_path / "median.jsonl"
    result = run("baseline", build, "--kind", "median", "--out", out)
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((row["id"].split("/")[3], row["output"]) for row in answers) == [
        ("distance", "4.0"), ("distance", "4.0"), ("speed", "3.0"), ("speed", "3.0")]
    report = score_predictions(read_predictions(out), load_reference(build), bootstrap=0)
    assert report.by_task["distance"].delta1 == 0.5  # 4.9 / 4.0 < 1.25 <= 5.0 / 4.0
    assert report.by_task["speed"].delta1 == 0.5  # 3.0 / 2.5 < 1.25 < 3.8 / 3.0


def test_median_baseline_needs_train_records_of_each_task(tmp_path):
    records = [make_record("kitti/s/000001/distance/0", "distance", 3.0, split="train"),
               make_record("kitti/s/000002/distance/0", "distance", 5.0, split="train"),
               make_record("kitti/s/000003/distance/0", "distance", 6.0, split="train"),
               make_record("kitti/s/000004/distance/0", "distance", 8.0),
               make_record("kitti/s/000005/time/0", "time", 2.0)]
    build = write_build(tmp_path / "build", records)
    result = run("baseline", build, "--kind", "median", "--out", tmp_path / "m.jsonl")
    assert result.exit_code == 2 and "no train records of task(s) time" in result.output
    result = run("baseline", build, "--kind", "median", "--split", "train", "--out", tmp_path / "m.jsonl")
    assert result.exit_code == 0 and "distance 5" in result.output


def test_baseline_usage_errors(small_build, tmp_path):
    result = run("baseline", small_build, "--kind", "constant", "--out", tmp_path / "c.jsonl")
    assert result.exit_code == 2 and "--value" in result.output
    result = run("baseline", tmp_path / "nothing", "--kind", "constant", "--value", "2", "--out", tmp_path / "c.jsonl")
    assert result.exit_code == 2 and "error:" in result.output and "not a folder" in result.output


def test_cli_table_json_and_markdown(small_build, tmp_path):
    a = write_predictions(tmp_path / "model_a.jsonl", good_rows())
    b = write_predictions(tmp_path / "always2.jsonl", [{"id": i, "prediction": "2.0"} for i in IDS])
    json_path, md_path = tmp_path / "scores.json", tmp_path / "scores.md"
    result = run("score", a, b, "--ref", small_build, "--json", json_path, "--markdown", md_path, "--bootstrap", "100")
    assert result.exit_code == 0, result.output
    header, row_a, row_b = result.stdout.splitlines()
    assert header.split() == ["run", "kitti", "nyu", "distance", "speed", "time", "all", "95%", "CI", "parsed", "n"]
    assert row_a.split()[:7] == ["model_a", "0.500", "1.000", "0.750", "1.000", "0.000", "0.667"]
    assert row_b.split()[0] == "always2" and row_b.split()[6] == f"{1 / 6:.3f}"  # only 1.81 m/s is within 1.25x of 2
    document = json.loads(json_path.read_text())
    assert [r["name"] for r in document["runs"]] == ["model_a", "always2"]
    run_a = document["runs"][0]
    assert run_a["overall"]["delta1"] == pytest.approx(4 / 6)
    assert set(run_a) >= {"overall", "by_task", "by_source", "by_depth_range", "parse", "missing", "unknown"}
    assert run_a["parse"]["reasons"] == {"ok": 5, "number_words": 1}
    low, high = run_a["overall"]["delta1_ci"]
    assert low <= 4 / 6 <= high
    markdown = md_path.read_text().splitlines()
    assert markdown[0].startswith("| run | kitti | nyu |") and len(markdown) == 4


def test_cli_broken_line_is_reported_and_the_rest_scored(small_build, tmp_path):
    rows = good_rows()
    rows.insert(2, '{"id": "kitti/2011_09_26_0005/000042/distance/9", "output": "7.2"')  # line 3, cut short
    preds = write_predictions(tmp_path / "broken.jsonl", rows)
    result = run("score", preds, "--ref", small_build, "--json", tmp_path / "s.json")
    assert result.exit_code == 0, result.output
    assert f"{preds}:3: not valid JSON" in result.output
    document = json.loads((tmp_path / "s.json").read_text())["runs"][0]
    assert document["broken_lines"]["count"] == 1 and document["broken_lines"]["first"][0]["line"] == 3
    assert document["overall"]["n_predicted"] == 6 and document["overall"]["delta1"] == pytest.approx(4 / 6)


def test_cli_duplicate_ids_keep_the_first(small_build, tmp_path):
    rows = good_rows() + [{"id": IDS[0], "output": "100"}, {"id": IDS[1], "output": "1.5"}]
    preds = write_predictions(tmp_path / "dup.jsonl", rows)
    result = run("score", preds, "--ref", small_build, "--json", tmp_path / "s.json")
    assert result.exit_code == 0, result.output
    assert "2 repeated ids, first line of each kept" in result.output and f"{IDS[0]} (line 7)" in result.output
    whole = json.loads((tmp_path / "s.json").read_text())
    document = whole["runs"][0]
    assert {key: whole[key] for key in ("overall", "by_task", "by_source")} == \
        {key: document[key] for key in ("overall", "by_task", "by_source")}  # one file: metrics at the top too
    assert document["duplicates"]["count"] == 2
    assert document["overall"]["delta1"] == pytest.approx(4 / 6)  # the later, different answers are ignored


def test_cli_reports_missing_and_unknown(small_build, tmp_path):
    rows = good_rows()[:5] + [{"id": "kitti/other/000001/distance/0", "output": "3"}]
    result = run("score", write_predictions(tmp_path / "p.jsonl", rows), "--ref", small_build)
    assert result.exit_code == 0
    assert "1 ids not in the build: kitti/other/000001/distance/0" in result.output
    assert f"1 records of split test have no prediction (counted as wrong): {IDS[5]}" in result.output


def test_cli_not_a_build(tmp_path):
    (tmp_path / "folder").mkdir()
    preds = write_predictions(tmp_path / "p.jsonl", [{"id": "a", "output": "1"}])
    result = run("score", preds, "--ref", tmp_path / "folder")
    assert result.exit_code == 2
    assert "error:" in result.output and "not a datagen build" in result.output
    with pytest.raises(NotABuildError):
        load_reference(tmp_path / "folder")


def test_cli_bad_depth_bins(small_build, tmp_path):
    preds = write_predictions(tmp_path / "p.jsonl", good_rows())
    result = run("score", preds, "--ref", small_build, "--depth-bins", "5,2")
    assert result.exit_code == 2 and "--depth-bins" in result.output


def test_broken_reference_record_names_file_and_line(small_build):
    shard = sorted((small_build / "records").glob("*.jsonl"))[0]
    lines = shard.read_text().splitlines()
    record = json.loads(lines[1])
    del record["value"]
    lines[1] = json.dumps(record)
    shard.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScoringError, match=f"{shard.name}:2: record lacks \\['value'\\]"):
        load_reference(small_build)


def test_unknown_split_is_an_error(small_build, tmp_path):
    preds = read_predictions(write_predictions(tmp_path / "p.jsonl", good_rows()))
    with pytest.raises(ScoringError, match="no records in split 'val'"):
        score_predictions(preds, load_reference(small_build), split="val")


def test_prediction_line_shapes(tmp_path):
    rows = [{"id": "a", "output": "1"}, {"id": "b", "response": [{"role": "assistant", "content": "2 m"}]},
            {"id": "c", "text": "3"}, [1, 2], {"output": "4"}, "", {"id": 7, "prediction": 7.5}]
    preds = read_predictions(write_predictions(tmp_path / "p.jsonl", rows))
    assert preds.ids == ["a", "b", "7"] and preds.outputs == ["1", "2 m", 7.5]
    assert [line for line, _ in preds.broken] == [3, 4, 5]
    assert "expected one of the keys output, prediction, response" in preds.broken[0][1]


def test_format_table_marks_absent_groups(small_build, tmp_path):
    reference = load_reference(small_build)
    only_speed = read_predictions(write_predictions(tmp_path / "s.jsonl", [good_rows()[3]]))
    report = score_predictions(only_speed, reference, bootstrap=0, skip_missing=True)
    table = format_table([report])
    assert table.splitlines()[1].split() == ["s", "1.000", "1.000", "1.000", "-", "100.0%", "1"]


def test_depth_tasks_binned_by_depth_others_by_their_own_value(tmp_path):
    """Speed and time go by the depth of their point; separations and translations by their value, apart."""
    records = [
        make_record("kitti/s/000001/distance/0", "distance", 30.0),
        make_record("kitti/s/000002/axis_distance/0", "axis_distance", 1.0),
        make_record("kitti/s/000003/speed/0", "speed", 1.5, depth=30.0),  # 30 m in 20 s
        make_record("kitti/s/000004/time/0", "time", 15.0, depth=30.0),  # 30 m at 2 m/s
        make_record("kitti/s/000005/two_point/0", "two_point", 0.5, depth=12.0),
        make_record("kitti/s/000006/two_point/0", "two_point", 3.0, depth=12.0),
        make_record("kitti/s/000007/pose/0", "pose", 3.0),
    ]
    build = write_build(tmp_path / "build", records)
    rows = [{"id": r.id, "output": str(r.value)} for r in records]
    rows[3]["output"] = "4 s"  # a time miss in the 20-40 m depth range
    report = score_predictions(read_predictions(write_predictions(tmp_path / "p.jsonl", rows)),
                               load_reference(build), bootstrap=0)
    assert {label: m.n for label, m in report.by_depth_range.items()} == {"0-2": 1, "20-40": 3}
    assert report.by_depth_range["20-40"].delta1 == pytest.approx(2 / 3)
    assert {task: {label: m.n for label, m in ranges.items()} for task, ranges in report.by_value_range.items()} \
        == {"two_point": {"0-2": 1, "2-5": 1}, "pose": {"2-5": 1}}
    document = report.to_dict()
    assert document["by_value_range"]["two_point"]["0-2"]["delta1"] == 1.0


def test_reference_without_depth_in_labels(tmp_path):
    """A speed record whose label lacks range_m is in no depth range; a distance record uses its value."""
    records = [make_record("kitti/s/000001/distance/0", "distance", 3.0),
               make_record("kitti/s/000002/speed/0", "speed", 1.5)]
    build = write_build(tmp_path / "build", records, shards=1)
    shard = build / "records" / "part-00000.jsonl"
    lines = [json.loads(line) for line in shard.read_text().splitlines()]
    for line in lines:
        del line["label"]
    shard.write_text("".join(json.dumps(line) + "\n" for line in lines))
    reference = load_reference(build)
    assert reference.depths[0] == 3.0 and np.isnan(reference.depths[1])


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty", "", "no predictions (the file is empty"),
    ("blank", "\n  \n", "no predictions (the file is empty"),
    ("garbage", "not json\n{]\n", "no usable prediction in 2 lines (line 1: not valid JSON"),
    ("deep", '{"id": "a", "output": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "nested too deeply"),
    ("huge_int", '{"id": "a", "output": ' + "9" * 5000 + "}\n", "more digits than"),
    ("part", json.dumps({"id": IDS[0], "output": [{"role": "assistant", "content": [{"type": "text", "text": 7}]}]})
     + "\n", "'output': content part 1 has 'text' of type int, expected a string"),
    ("other_build", json.dumps({"id": "nuscenes/x/000001/distance/0", "output": "3"}) + "\n",
     "none of its 1 ids is a record of the build"),
])
def test_cli_unusable_predictions_file_is_one_error_line(small_build, tmp_path, name, content, message):
    preds = tmp_path / f"{name}.jsonl"
    preds.write_text(content, encoding="utf-8")
    result = run("score", preds, "--ref", small_build)
    assert result.exit_code == 2, result.output
    assert result.exc_info[0] is SystemExit  # a clean exit, not an exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {preds}: ") and message in lines[0], result.output


def test_cli_bad_lines_skipped_reported_and_counted(small_build, tmp_path):
    rows = good_rows()
    bad = ['{"id": "a", "output": ' + "[" * 100_000 + "]" * 100_000 + "}",
           '{"id": "b", "output": ' + "9" * 5000 + "}",
           json.dumps({"id": "c", "output": [{"role": "assistant", "content": [{"type": "text", "text": None}]}]}),
           json.dumps({"id": "\ud800", "output": "3"}),
           json.dumps({"id": "d", "output": True})]
    preds = write_predictions(tmp_path / "p.jsonl", bad + rows)
    result = run("score", preds, "--ref", small_build, "--json", tmp_path / "s.json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    for line in range(1, 6):
        assert f"warning: {preds}:{line}: " in result.output
    document = json.loads((tmp_path / "s.json").read_text())
    assert document["broken_lines"]["count"] == 5
    assert [item["line"] for item in document["broken_lines"]["first"]] == [1, 2, 3, 4, 5]
    assert document["overall"]["delta1"] == pytest.approx(4 / 6)  # the good lines are scored as before


def test_cli_report_into_missing_folder_is_an_error(small_build, tmp_path):
    preds = write_predictions(tmp_path / "p.jsonl", good_rows())
    for option in ("--json", "--markdown"):
        result = run("score", preds, "--ref", small_build, option, tmp_path / "nowhere" / "out")
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"error: {tmp_path / 'nowhere' / 'out'}: cannot write the report" in result.output


@pytest.mark.parametrize(("value", "message"), [
    ("9" * 5000, "not a readable JSON record"), ("1e999", "'value' must be a finite number"),
    ('"7"', "'value' must be a finite number"), ("[" * 100_000 + "]" * 100_000, "not a readable JSON record")])
def test_broken_reference_value_is_a_scoring_error(small_build, value, message):
    shard = sorted((small_build / "records").glob("*.jsonl"))[0]
    lines = shard.read_text().splitlines()
    record = json.loads(lines[0])
    lines[0] = json.dumps(record).replace(f'"value": {json.dumps(record["value"])}', f'"value": {value}')
    shard.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScoringError, match=f"{shard.name}:1: {message}"):
        load_reference(small_build)


@pytest.mark.parametrize("option", [("--seed", "-1"), ("--bootstrap", "1000000000000"), ("--depth-bins", "0,nan")])
def test_cli_out_of_range_options(small_build, tmp_path, option):
    preds = write_predictions(tmp_path / "p.jsonl", good_rows())
    result = run("score", preds, "--ref", small_build, *option)
    assert result.exit_code == 2 and option[0] in result.output and "Traceback" not in result.output
