"""Templates: the bundled files, rendering, chains, golden records, and refusing bad or unsafe templates.

Refresh the golden records with ``DATAGEN_REFRESH_GOLDEN=1 pytest tests/test_templates.py``.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from datagen.errors import TemplateError
from datagen.markers import MARKERS
from datagen.scoring import parse_answer
from datagen.tasks import REGISTRY
from datagen.tasks.base import ANSWER_RTOL, TASK_FIELDS, TaskOptions, figure_text
from datagen.templates import ANSWER_STYLES, TemplateSet, load_templates
from tests.tasks.conftest import point_sample, pose_sample, random_points, random_pose

GOLDEN = Path(__file__).parent / "golden" / "templates.jsonl"
REFRESH = os.environ.get("DATAGEN_REFRESH_GOLDEN") == "1"
ARROW = MARKERS.get("arrow")()

GOOD = """\
task: distance
questions:
  q1: "How far is the point marked by the {{ marker }}?"
answers:
  number: "{{ distance_m }}"
"""


@pytest.fixture(scope="module")
def templates():
    REGISTRY.load_builtins()
    return load_templates()


def _sample(task: str, rng: np.random.Generator):
    if task == "pose":
        return pose_sample(random_pose(rng))
    return point_sample(random_points(rng, 2 if task == "two_point" else 1))


def _write(tmp_path: Path, text: str, name: str = "distance") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the bundled templates ---------------------------------------------------------------------


def test_every_task_has_five_paraphrases_and_every_style(templates):
    assert set(templates) == set(TASK_FIELDS)
    for task, template_set in templates.items():
        assert len(template_set.question_ids) >= 5, task
        assert len({t.text for t in template_set.questions.values()}) == len(template_set.question_ids)
        assert template_set.answer_styles == ANSWER_STYLES, task


def test_questions_name_the_marker_from_its_description(templates):
    rng = np.random.default_rng(0)
    for name in MARKERS.names():
        marker = MARKERS.get(name)()
        for task in ("distance", "axis_distance", "speed", "time"):
            truth = REGISTRY.get(task)(_sample(task, rng), rng, TaskOptions())
            for qid in templates[task].question_ids:
                question = templates[task].render(truth, marker, rng, question_id=qid).question
                assert f"the {marker.description}" in question.lower(), question
        truth = REGISTRY.get("two_point")(_sample("two_point", rng), rng, TaskOptions())
        for qid in templates["two_point"].question_ids:
            assert marker.description_two in templates["two_point"].render(truth, marker, rng, question_id=qid).question


def test_speed_and_time_questions_state_the_drawn_quantity_and_who_moves(templates):
    rng = np.random.default_rng(0)
    for task, key in (("speed", "time_s"), ("time", "speed_mps")):
        for qid in templates[task].question_ids * 5:
            truth = REGISTRY.get(task)(_sample(task, rng), rng, TaskOptions())
            question = templates[task].render(truth, ARROW, rng, question_id=qid).question
            assert re.search(rf"(?<![\d.]){re.escape(truth.stated[key])}(?![\d.])", question), question
            assert len(truth.stated[key].split(".")[1]) >= 1
            assert truth.words["mover"] in question, question


def test_axis_distance_questions_name_the_cameras_viewing_direction(templates):
    """The z label is along the optical axis; a world direction (horizontal forward) differs when pitched."""
    axis = ("optical axis", "viewing axis", "principal axis", "viewing direction")
    world = ("forward-backward", "up-down", "left-right", "horizontal", "ignoring")
    rng = np.random.default_rng(0)
    truth = REGISTRY.get("axis_distance")(_sample("axis_distance", rng), rng, TaskOptions())
    for qid in templates["axis_distance"].question_ids:
        question = templates["axis_distance"].render(truth, ARROW, rng, question_id=qid).question.lower()
        assert any(words in question for words in axis), question
        assert not any(words in question for words in world), question


def test_answer_styles_end_their_sentences_alike(templates):
    """think and chain answers end each sentence with a full stop; number and unit are bare."""
    rng = np.random.default_rng(0)
    for task, template_set in templates.items():
        truth = REGISTRY.get(task)(_sample(task, rng), rng, TaskOptions())
        answers = {style: template_set.render(truth, ARROW, rng, style=style).answer for style in ANSWER_STYLES}
        assert answers["chain"].endswith("."), (task, answers["chain"])
        assert answers["think"].split("</think>")[0].endswith(". "), (task, answers["think"])
        assert not answers["number"].endswith(".") and not answers["unit"].endswith("."), (task, answers)


def test_answers_state_the_value_within_half_a_percent_and_parse_back(templates):
    rng = np.random.default_rng(0)
    for task, template_set in templates.items():
        for _ in range(40):
            truth = REGISTRY.get(task)(_sample(task, rng), rng, TaskOptions())
            qa = template_set.render(truth, ARROW, rng)
            parsed = parse_answer(qa.answer, unit_hint=truth.unit)
            numbers = re.findall(r"-?\d+\.\d+", qa.answer)
            assert numbers and all(len(n.split(".")[1]) >= 1 for n in numbers)
            final = float(numbers[-1])
            assert parsed.value == final, qa.answer
            assert len(numbers[-1].split(".")[1]) >= 2, qa.answer
            assert abs(final - truth.value) <= ANSWER_RTOL * abs(truth.value), qa.answer


def test_chains_redo_their_arithmetic_on_the_stated_figures(templates):
    rng = np.random.default_rng(0)
    for task in ("speed", "time", "two_point", "pose"):
        for _ in range(60):
            truth = REGISTRY.get(task)(_sample(task, rng), rng, TaskOptions())
            for style in ("chain", "think"):
                qa = templates[task].render(truth, ARROW, rng, style=style)
                division = re.search(r"(\d+\.\d+) / (\d+\.\d+) = (\d+\.\d+)", qa.answer)
                if task in ("speed", "time"):
                    a, b, c = division.groups()
                    assert f"{float(a) / float(b):.{len(c.split('.')[1])}f}" == c
                    assert qa.answer.startswith(("The point is around", "<think> The point is around"))
                    assert f"around {a} meters away" in qa.answer and a == truth.stated["distance_m"]
                else:
                    terms = re.search(r"sqrt\((.*)\) = (\d+\.\d+)", qa.answer)
                    values = [float(t.strip(" ()²")) for t in terms.group(1).split(" + ")]
                    places = len(terms.group(2).split(".")[1])
                    assert f"{sum(v * v for v in values) ** 0.5:.{places}f}" == terms.group(2)
                    assert terms.group(2) == figure_text(truth.value, 2)


def test_think_answers_follow_the_paper_format(templates):
    rng = np.random.default_rng(0)
    for task, template_set in templates.items():
        truth = REGISTRY.get(task)(_sample(task, rng), rng, TaskOptions())
        answer = template_set.render(truth, ARROW, rng, style="think").answer
        assert re.fullmatch(r"<think> .+ </think>\n<answer> \d+\.\d{2,} </answer>", answer, re.DOTALL), answer


def test_chain_states_the_distance_first_as_the_paper_does(templates):
    truth = REGISTRY.get("speed")(point_sample([[3.0, 4.0, 12.0]]), np.random.default_rng(0),
                                  TaskOptions(time_range_s=(4.0, 4.0)))
    qa = templates["speed"].render(truth, ARROW, np.random.default_rng(0), style="chain", question_id="q1")
    assert qa.answer == ("The point is around 13.00 meters away. "
                         "Hence, the speed should be around 13.00 / 4.0 = 3.25 m/s.")
    assert qa.question == ("How fast, in meters per second, must a runner move to get from the camera to the point "
                           "marked by the red arrow in 4.0 seconds?")
    assert qa.template_id == "speed/q1+chain"
    assert qa.stated == {"distance_m": 13.0, "time_s": 4.0, "chain_speed_mps": 3.25}


def test_question_and_style_are_drawn_uniformly_unless_given(templates):
    rng = np.random.default_rng(0)
    truth = REGISTRY.get("distance")(_sample("distance", rng), rng, TaskOptions())
    ids = Counter(templates["distance"].render(truth, ARROW, rng).template_id for _ in range(2400))
    assert len(ids) == len(templates["distance"].question_ids) * len(ANSWER_STYLES)
    assert min(ids.values()) > 2400 / len(ids) * 0.6
    fixed = templates["distance"].render(truth, ARROW, rng, style="unit", question_id="q2")
    assert fixed.template_id == "distance/q2+unit" and fixed.answer == f"{truth.stated['distance_m']} meters"
    with pytest.raises(TemplateError, match="unknown answer style 'poem'"):
        templates["distance"].render(truth, ARROW, rng, style="poem")
    with pytest.raises(TemplateError, match="unknown question id 'q99'"):
        templates["distance"].render(truth, ARROW, rng, question_id="q99")
    with pytest.raises(TemplateError, match="cannot render a 'distance' truth"):
        templates["speed"].render(truth, ARROW, rng)


def test_golden_records():
    """Question and answer text for a fixed seed over every task and style (and every marker once)."""
    REGISTRY.load_builtins()
    templates = load_templates()
    lines = []
    rng = np.random.default_rng(0)
    for task, template_set in templates.items():
        for style in ANSWER_STYLES:
            truth = REGISTRY.get(task)(_sample(task, rng), rng, TaskOptions())
            qa = template_set.render(truth, ARROW, rng, style=style)
            lines.append({"template_id": qa.template_id, "question": qa.question, "answer": qa.answer,
                          "value": round(truth.value, 6)})
    for name in MARKERS.names():
        for task in ("distance", "two_point"):
            rng = np.random.default_rng(0)
            truth = REGISTRY.get(task)(_sample(task, rng), rng, TaskOptions())
            qa = templates[task].render(truth, MARKERS.get(name)(), rng, style="number", question_id="q1")
            lines.append({"marker": name, "template_id": qa.template_id, "question": qa.question})
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if REFRESH or not GOLDEN.exists():
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
        pytest.skip(f"refreshed {GOLDEN}")
    assert text.splitlines() == GOLDEN.read_text(encoding="utf-8").splitlines()


# --- refusing broken files ---------------------------------------------------------------------


def test_a_minimal_file_loads(tmp_path):
    template_set = TemplateSet.load(_write(tmp_path, GOOD))
    assert template_set.question_ids == ("q1",) and template_set.answer_styles == ("number",)


@pytest.mark.parametrize(("broken", "line", "message"), [
    ('  q1: "How far is {{ marker "\n', 4, "syntax error"),
    ('  q1: "How far is {% if marker %}"\n', 4, "syntax error"),
    ('  q1: "How far is {{ marker | shout }}"\n', 4, "No filter named 'shout'"),
    ('  q1: "How far is the {{ colour }} point?"\n', 4, r"unknown field\(s\) \['colour'\]"),
    ('  q1: "{% if false %}{{ time_s }}{% endif %}How far?"\n', 4, r"unknown field\(s\) \['time_s'\]"),
    ('  q1: "How far is {{ distance_m.real }}?"\n', 4, "fails to render"),
])
def test_a_broken_template_names_file_and_line(tmp_path, broken, line, message):
    text = GOOD.replace("questions:\n", "questions:\n  q0: fine\n")
    text = text.replace('  q1: "How far is the point marked by the {{ marker }}?"\n', broken)
    path = _write(tmp_path, text)
    with pytest.raises(TemplateError, match=message) as error:
        TemplateSet.load(path)
    assert str(error.value).startswith(f"{path}:{line}:")


def test_a_broken_answer_in_a_block_scalar_names_its_line(tmp_path):
    text = GOOD + "  think: |\n    <think> {{ distance_m }}\n    {{ speed_mps }} </think>\n"
    path = _write(tmp_path, text)
    with pytest.raises(TemplateError, match="speed_mps") as error:
        TemplateSet.load(path)
    assert str(error.value).startswith(f"{path}:6:")  # the line of "think: |"


@pytest.mark.parametrize(("text", "line", "message"), [
    (GOOD.replace("task: distance", "task: speed"), 1, "must name the file's task"),
    (GOOD.replace("answers:", "extras: 1\nanswers:"), 4, "unknown key 'extras'"),
    (GOOD.replace("  number:", "  poem:"), 5, "one of number, unit, think, chain"),
    (GOOD.replace('  q1: "How far is the point marked by the {{ marker }}?"\n', ""), 2, "at least one template"),
    (GOOD.replace("questions:\n", "questions:\n  q1: again\n"), 4, "duplicate key 'q1'"),
    (GOOD.replace("questions:\n", "questions:\n  q+1: x\n"), 3, "letters, digits"),
    (GOOD.replace('  number: "{{ distance_m }}"', "  number: 7"), 5, "must be a string"),
    (GOOD.replace('  number: "{{ distance_m }}"', '  think: "{{ distance_m }}"'), 5, "think answer must read"),
    (GOOD.replace("answers:\n", "").replace('  number: "{{ distance_m }}"\n', ""), 1, "lacks answers"),
    (GOOD + "  chain: [1, 2\n", 7, "not valid YAML"),
    ("- a list\n", 1, "must be a mapping"),
    ("", 1, "empty file"),
])
def test_a_malformed_file_is_refused_with_its_line(tmp_path, text, line, message):
    path = _write(tmp_path, text)
    with pytest.raises(TemplateError, match=message) as error:
        TemplateSet.load(path)
    assert str(error.value).startswith(f"{path}:{line}:"), str(error.value)


def test_load_templates_refuses_unknown_tasks_and_missing_files(tmp_path):
    with pytest.raises(TemplateError, match="no such task"):
        load_templates(tasks=["distance", "depth"])
    _write(tmp_path, GOOD)
    assert list(load_templates(tmp_path, tasks=["distance"])) == ["distance"]
    with pytest.raises(TemplateError, match=r"speed\.yaml: missing"):
        load_templates(tmp_path, tasks=["distance", "speed"])


def test_a_template_naming_the_marker_needs_one(tmp_path):
    template_set = TemplateSet.load(_write(tmp_path, GOOD))
    truth = REGISTRY.load_builtins().get("distance")(point_sample([[0, 0, 4]]), np.random.default_rng(0),
                                                     TaskOptions())
    with pytest.raises(TemplateError, match="lacks a value"):
        template_set.render(truth, None, np.random.default_rng(0))


# --- the sandbox ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    "{{ marker.__class__ }}",
    "{{ marker.__class__.__mro__[1].__subclasses__() }}",
    "{{ marker | attr('__class__') }}",
    "{{ self.__init__.__globals__ }}",
    "{{ '{0.__class__}'.format(marker) }}",
    "{% set x = marker %}{{ x.__init__.__globals__['os'].system('touch pwned') }}",
    "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}",
    "{{ lipsum.__globals__['os'].system('touch pwned') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ (marker | list).append(1) }}",
    "{{ distance_m * 1000000000 }}",
])
def test_the_sandbox_refuses_code(tmp_path, monkeypatch, payload):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    monkeypatch.setattr(os, "popen", lambda *a: calls.append(a))
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, GOOD.replace("How far is the point marked by the {{ marker }}?", payload.replace('"', "'")))
    with pytest.raises(TemplateError, match="sandbox|unknown field") as error:
        TemplateSet.load(path)
    assert str(error.value).startswith(f"{path}:3:")
    assert calls == [] and not (tmp_path / "pwned").exists()
