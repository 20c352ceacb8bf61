"""The six tasks: values recomputed independently, labels, drawn quantities, chains, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from datagen.errors import ConfigError
from datagen.tasks.base import (ANSWER_RTOL, TASK_FIELDS, TASK_UNITS, TaskError, TaskOptions, TaskTruth, figure_text,
                                fixed, offset_figures)
from datagen.tasks.motion import MOVERS, draw_motion
from tests.tasks.conftest import point_sample, pose_sample, random_points, random_pose

OPTIONS = TaskOptions()


def _norm(xyz) -> float:
    return math.sqrt(sum(float(c) ** 2 for c in xyz))


# --- answers known by hand --------------------------------------------------------------------


def test_point_tasks_on_a_3_4_12_point(tasks, rng):
    sample = point_sample([[3.0, 4.0, 12.0]])  # range 13 exactly
    assert tasks.get("distance")(sample, rng, OPTIONS).value == pytest.approx(13.0, abs=1e-12)
    assert tasks.get("axis_distance")(sample, rng, OPTIONS).value == 12.0
    speed = tasks.get("speed")(sample, rng, TaskOptions(time_range_s=(2.6, 2.6)))
    assert speed.label["time_s"] == 2.6 and speed.value == pytest.approx(5.0)
    assert speed.stated == {"distance_m": "13.00", "time_s": "2.6", "speed_mps": "5.00", "chain_speed_mps": "5.00"}
    assert speed.label["mover"] in ("runner", "cyclist")  # the movers whose usual speeds hold 5 m/s
    time = tasks.get("time")(sample, rng, TaskOptions(speed_range_mps=(0.5, 0.5)))
    assert time.label["speed_mps"] == 0.5 and time.value == pytest.approx(26.0)
    assert time.stated["chain_time_s"] == "26.00" and time.stated["speed_mps"] == "0.50"


def test_two_point_and_pose_by_hand(tasks, rng):
    pair = tasks.get("two_point")(point_sample([[1.0, 1.0, 5.0], [4.0, 5.0, 5.0]]), rng, OPTIONS)
    assert pair.value == pytest.approx(5.0) and pair.num_points == 2
    assert [pair.stated[k] for k in ("dx_m", "dy_m", "dz_m", "distance_m")] == ["3.00", "4.00", "0.00", "5.00"]
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # 90 degrees about z
    T[:3, 3] = [1.0, -2.0, 2.0]
    moved = tasks.get("pose")(pose_sample(T), rng, OPTIONS)
    assert moved.value == pytest.approx(3.0) and moved.num_points == 0
    assert moved.label["rotation_deg"] == pytest.approx(90.0)
    assert moved.label["T_cam0_cam1"] == T.tolist() and moved.label["translation_m"] == [1.0, -2.0, 2.0]
    assert moved.label["cameras"] == [[500.0, 500.0, 319.5, 239.5, 640, 480]] * 2


# --- independent recomputation on random samples -------------------------------------------------


@pytest.mark.parametrize("task", ["distance", "axis_distance", "speed", "time"])
def test_point_task_values_follow_from_the_points(tasks, task):
    rng = np.random.default_rng(0)
    for point in random_points(rng, 200):
        sample = point_sample([point])
        truth = tasks.get(task)(sample, rng, OPTIONS)
        x, y, z = (float(c) for c in sample.points_cam[0])
        range_m = math.sqrt(x * x + y * y + z * z)
        expected = {"distance": range_m, "axis_distance": z,
                    "speed": range_m / truth.label.get("time_s", math.nan),
                    "time": range_m / truth.label.get("speed_mps", math.nan)}[task]
        assert truth.value == pytest.approx(expected, rel=1e-12)
        assert truth.unit == TASK_UNITS[task] and truth.num_points == 1
        assert truth.label["range_m"] == pytest.approx([range_m]) and truth.label["z_m"] == [z]
        assert truth.label["points_cam"] == [[x, y, z]] and truth.label["pixels"] == sample.pixels.tolist()


def test_two_point_values_follow_from_the_points(tasks):
    rng = np.random.default_rng(0)
    for _ in range(200):
        sample = point_sample(random_points(rng, 2))
        truth = tasks.get("two_point")(sample, rng, OPTIONS)
        a, b = sample.points_cam.tolist()
        assert truth.value == pytest.approx(_norm([q - p for p, q in zip(a, b)]), rel=1e-12)
        assert truth.label["offset_m"] == pytest.approx([q - p for p, q in zip(a, b)])
        assert truth.fields["distance_a_m"] == pytest.approx(_norm(a)) and truth.label["points_cam"] == [a, b]


def test_pose_value_follows_from_the_relative_pose(tasks):
    rng = np.random.default_rng(0)
    for _ in range(100):
        T = random_pose(rng)
        truth = tasks.get("pose")(pose_sample(T), rng, OPTIONS)
        label_T = np.array(truth.label["T_cam0_cam1"])
        assert truth.value == pytest.approx(_norm(label_T[:3, 3]), rel=1e-12)
        assert np.allclose(label_T, T, atol=1e-12)
        # the label's pose moves camera 1's centre (origin) to the translation
        assert np.allclose(label_T @ [0, 0, 0, 1], [*truth.label["translation_m"], 1])


# --- the drawn quantity and the chains ------------------------------------------------------------


def _given_decimals_ok(text: str) -> bool:
    """Two significant digits and at least one decimal, as a question states a given."""
    digits = text.replace(".", "").lstrip("0")
    return len(text.split(".")[1]) >= 1 and (len(digits) == 2 or len(text.split(".")[1]) == 1)


@pytest.mark.parametrize(("task", "key"), [("speed", "time_s"), ("time", "speed_mps")])
def test_the_given_is_stated_with_two_significant_digits_and_used_as_stated(tasks, task, key):
    rng = np.random.default_rng(0)
    seen = set()
    for point in random_points(rng, 300):
        truth = tasks.get(task)(point_sample([point]), rng, OPTIONS)
        drawn = truth.label[key]
        assert float(truth.stated[key]) == drawn and _given_decimals_ok(truth.stated[key]), truth.stated[key]
        seen.add(drawn)
    assert len(seen) > 50  # drawn, not fixed


@pytest.mark.parametrize("task", ["speed", "time"])
def test_the_named_mover_moves_at_its_usual_speeds(tasks, task):
    """A question naming a pedestrian gives (or asks for) a walking speed, a car a driving one."""
    rng = np.random.default_rng(0)
    movers = {m.name: m for m in MOVERS}
    for point in random_points(rng, 400):
        truth = tasks.get(task)(point_sample([point]), rng, OPTIONS)
        mover = movers[truth.label["mover"]]
        assert truth.words == {"mover": mover.phrase}
        speed = truth.value if task == "speed" else truth.label["speed_mps"]
        assert mover.speed_mps[0] <= speed <= mover.speed_mps[1], (mover, speed)


@pytest.mark.parametrize("distance_m", [0.3, 3.0, 30.0])
def test_time_answers_spread_over_seconds_to_a_minute_whatever_the_scale(tasks, distance_m):
    """Tabletop, room and street distances all give travel times spread over 1-60 s (log-uniform)."""
    rng = np.random.default_rng(0)
    sample = point_sample([[0.0, 0.0, distance_m]])
    times = np.array([tasks.get("time")(sample, rng, OPTIONS).value for _ in range(400)])
    speeds_times = np.array([distance_m / tasks.get("speed")(sample, rng, OPTIONS).value for _ in range(400)])
    for values in (times, speeds_times):
        assert np.mean((values >= 0.9) & (values <= 66.0)) > 0.95
        low, median, high = np.quantile(np.log(values), [0.1, 0.5, 0.9])
        assert math.exp(median) == pytest.approx(math.sqrt(60.0), rel=0.35)  # log-uniform over 1-60 s
        assert high - low > math.log(10.0)


def test_draw_motion_rounds_the_given_into_the_movers_range():
    rng = np.random.default_rng(0)
    for distance in 10.0 ** rng.uniform(-2, 3, 500):
        for given in ("time", "speed"):
            motion = draw_motion(float(distance), given, OPTIONS, rng)
            assert float(motion.given_text) == motion.given > 0 and _given_decimals_ok(motion.given_text)
            speed = motion.given if given == "speed" else distance / motion.given
            low, high = motion.mover.speed_mps
            assert low <= speed <= high
    with pytest.raises(ValueError, match="given"):
        draw_motion(1.0, "distance", OPTIONS, rng)


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@pytest.mark.parametrize(("task", "given", "chain"), [("speed", "time_s", "chain_speed_mps"),
                                                      ("time", "speed_mps", "chain_time_s")])
def test_chain_divides_the_stated_figures(tasks, task, given, chain):
    rng = np.random.default_rng(0)
    for point in random_points(rng, 300):
        truth = tasks.get(task)(point_sample([point]), rng, OPTIONS)
        distance, divisor = float(truth.stated["distance_m"]), float(truth.stated[given])
        assert abs(distance - truth.fields["distance_m"]) <= ANSWER_RTOL * truth.fields["distance_m"]
        assert truth.stated[chain] == f"{distance / divisor:.{_decimals(truth.stated[chain])}f}"
        assert abs(float(truth.stated[chain]) - truth.value) <= ANSWER_RTOL * truth.value


@pytest.mark.parametrize("task", ["two_point", "pose"])
def test_offset_chain_gives_the_rounded_value(tasks, task):
    rng = np.random.default_rng(0)
    for _ in range(300):
        sample = point_sample(random_points(rng, 2)) if task == "two_point" else pose_sample(random_pose(rng))
        truth = tasks.get(task)(sample, rng, OPTIONS)
        components = [truth.stated[k] for k in ("dx_m", "dy_m", "dz_m")]
        places = _decimals(truth.stated["distance_m"])
        assert f"{_norm(float(c) for c in components):.{places}f}" == truth.stated["distance_m"]
        assert truth.stated["distance_m"] == figure_text(truth.value, 2)
        for name, text in zip(("dx_m", "dy_m", "dz_m"), components):
            assert _decimals(text) >= places and abs(float(text) - truth.fields[name]) < 10.0 ** -_decimals(text) + 1e-12


def _short_two_point(rng: np.random.Generator):
    """Two points 1 mm to 10 cm apart, 0.3-20 m from the camera."""
    first = random_points(rng, 1)[0] * rng.uniform(0.3, 0.6)
    offset = rng.normal(size=3)
    return point_sample([first, first + offset / np.linalg.norm(offset) * 10.0 ** rng.uniform(-3, -1)])


@pytest.mark.parametrize("task", ["distance", "axis_distance", "speed", "time", "two_point", "pose"])
def test_every_stated_figure_is_within_half_a_percent_however_small(tasks, task):
    """Three significant digits at least: a 2.36 cm separation reads "0.0236", not "0.02"."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        if task == "pose":
            T = random_pose(rng)
            T[:3, 3] *= 10.0 ** rng.uniform(-3, 0)
            sample = pose_sample(T)
        elif task == "two_point":
            sample = _short_two_point(rng)
        else:
            sample = point_sample(random_points(rng, 1) * 10.0 ** rng.uniform(-1.5, 0))
        truth = tasks.get(task)(sample, rng, OPTIONS)
        figures = {name: truth.fields[name] for name in TASK_FIELDS[task]
                   if name not in ("dx_m", "dy_m", "dz_m") and not name.startswith("chain")}
        chain = {"speed": "chain_speed_mps", "time": "chain_time_s"}.get(task)
        if chain:  # the answer of a chain is held to the value itself
            figures[chain] = truth.value
        for name, value in figures.items():
            assert abs(float(truth.stated[name]) - value) <= ANSWER_RTOL * abs(value), (name, truth.stated[name], value)


def test_offset_figures_hold_for_awkward_offsets():
    rng = np.random.default_rng(0)
    offsets = np.concatenate([rng.normal(size=(500, 3)) * 10.0 ** rng.uniform(-3, 2, (500, 1)),
                              np.round(rng.normal(size=(50, 3)), 2) + 0.005, np.zeros((1, 3))])
    for offset in offsets:
        norm_text = fixed(float(np.linalg.norm(offset)), 2)
        texts = offset_figures(offset, norm_text, 2)
        assert fixed(_norm(float(t) for t in texts), 2) == norm_text
        assert not any(t.startswith("-0.") and float(t) == 0 for t in texts)


def test_decimals_option_changes_the_stated_precision(tasks, rng):
    truth = tasks.get("speed")(point_sample([[3.0, 4.0, 12.0]]), rng, TaskOptions(decimals=3, time_range_s=(3, 3)))
    assert truth.stated == {"distance_m": "13.000", "time_s": "3.0", "speed_mps": "4.333", "chain_speed_mps": "4.333"}


def test_tasks_are_deterministic_given_the_rng(tasks):
    sample = point_sample([[1.0, 2.0, 9.0]])
    first = tasks.get("speed")(sample, np.random.default_rng(0), OPTIONS)
    again = tasks.get("speed")(sample, np.random.default_rng(0), OPTIONS)
    assert first.label == again.label and first.stated == again.stated


# --- options, truths and bad samples -----------------------------------------------------------


def test_options_convert_lists_and_refuse_bad_values():
    assert TaskOptions(time_range_s=[2, 3]).time_range_s == (2.0, 3.0)
    bad = [{"time_range_s": (0.0, 5.0)}, {"time_range_s": (5.0, 1.0)}, {"speed_range_mps": (1.0,)},
           {"speed_range_mps": (100.0, 200.0)}, {"time_range_s": (1.0, math.inf)},
           {"decimals": -1}, {"decimals": 2.5}, {"decimals": True}, {"time_range_s": "1-10"}]
    for kwargs in bad:
        with pytest.raises(ConfigError, match=next(iter(kwargs))):
            TaskOptions(**kwargs)


def test_units_agree_with_scoring():
    from datagen import scoring

    assert TASK_UNITS == scoring.TASK_UNITS and set(TASK_FIELDS) == set(TASK_UNITS)


def test_truth_checks_its_keys_and_unit():
    with pytest.raises(TaskError, match="fields of distance"):
        TaskTruth("distance", 1.0, "m", {"range": 1.0}, {}, 1)
    with pytest.raises(TaskError, match="unit of speed"):
        TaskTruth("speed", 1.0, "m", dict.fromkeys(TASK_FIELDS["speed"], 1.0), {}, 1)
    truth = TaskTruth("distance", 1.0, "m", {"distance_m": 1.23456}, {}, 1)
    assert truth.stated == {"distance_m": "1.23"}


@pytest.mark.parametrize(("task", "points"), [("distance", [[0, 0, 5], [1, 1, 5]]), ("speed", []),
                                              ("two_point", [[0, 0, 5]]), ("axis_distance", [[0, 0, -2]]),
                                              ("time", [[0, 0, 0]])])
def test_point_tasks_refuse_samples_that_do_not_fit(tasks, rng, task, points):
    sample = point_sample(points) if all(p[2] > 0 for p in points) else _unprojected(points)
    with pytest.raises(TaskError, match=task):
        tasks.get(task)(sample, rng, OPTIONS)


def test_pose_refuses_a_sample_without_pose(tasks, rng):
    with pytest.raises(TaskError, match="T_cam0_cam1"):
        tasks.get("pose")(point_sample([[0, 0, 5]]), rng, OPTIONS)


def _unprojected(points):
    from datagen.types import Sample
    from tests.conftest import make_camera

    return Sample(("test/seq/0",), (make_camera(),), [[10, 10]] * len(points), points, "test")
