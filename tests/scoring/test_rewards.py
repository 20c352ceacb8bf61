"""Reward functions called the way TRL's GRPOTrainer calls them."""

from __future__ import annotations

import logging
import math

import pytest

from datagen.rewards import depth_reward, make_smooth_depth_reward, smooth_depth_reward
from datagen.scoring import ScoringError


def trl_kwargs(**columns):
    """The extra keyword arguments TRL passes besides completions and the dataset columns."""
    n = len(next(iter(columns.values())))
    return {"prompts": ["How far is the point marked by the red arrow from the camera?"] * n,
            "completion_ids": [[1, 2, 3]] * n, "trainer_state": None, **columns}


def test_plain_string_completions():
    completions = ["7.23", "<think> The point is around 9.5 meters away. </think>\n<answer> 9.5 </answer>",
                   "I am not sure", "-7.0", "5.8 m"]
    rewards = depth_reward(completions=completions, **trl_kwargs(value=[7.0] * 5, task=["distance"] * 5))
    assert rewards == [1.0, 0.0, 0.0, 0.0, 1.0]  # 9.5/7 = 1.357; 7/5.8 = 1.207


def test_conversational_completions():
    completions = [[{"role": "assistant", "content": "<answer> 1.81 </answer>"}],
                   [{"role": "assistant", "content": [{"type": "text", "text": "around 2.5 m/s"}]}],
                   [{"role": "assistant", "content": "The point is 7.23 meters away."}]]
    rewards = depth_reward(completions=completions, **trl_kwargs(value=[1.8, 1.8, 1.8], task=["speed"] * 3))
    assert rewards == [1.0, 0.0, 0.0]  # 2.5/1.8 = 1.39; metres are not an answer to a speed question


def test_solution_column_with_answer_texts_and_unit_column():
    completions = ["120 s", "2 minutes", "1.9 min"]
    solution = ["<answer> 2.0 </answer>", "<answer> 120 </answer>", "100"]
    rewards = depth_reward(completions, **trl_kwargs(solution=solution, unit=["s"] * 3))
    assert rewards == [0.0, 1.0, 1.0]  # 120 s vs 2 s; 2 minutes = 120 s; 1.9 min = 114 s vs 100 s


def test_smooth_reward_values():
    truth = 4.0
    completions = [str(truth), str(truth * 1.25), str(truth / 1.25), str(truth * 1.25 ** 2), str(truth * 1.25 ** 3),
                   "no idea", str(truth * 1.25 ** 0.5)]
    rewards = smooth_depth_reward(completions, **trl_kwargs(value=[truth] * 7))
    assert rewards[:6] == pytest.approx([1.0, 0.5, 0.5, 0.0, 0.0, 0.0])
    assert rewards[6] == pytest.approx(0.75)
    k1 = make_smooth_depth_reward(1.0)
    assert k1.__name__ == "smooth_depth_reward_k1"
    assert k1([str(truth * 1.25 ** 0.5)], value=[truth]) == pytest.approx([0.5])


def test_truth_problems(caplog):
    with pytest.raises(ScoringError, match="no truth column"):
        depth_reward(["7"], **trl_kwargs(task=["distance"]))
    with pytest.raises(ScoringError, match="has 1 items for 2 completions"):
        depth_reward(["7", "8"], value=[7.0])
    with caplog.at_level(logging.WARNING, logger="datagen.rewards"):
        assert depth_reward(["7", "7"], value=[0.0, 7.0]) == [0.0, 1.0]
    assert "1 of 2 truths" in caplog.text


def test_bad_width():
    with pytest.raises(ScoringError, match="k must be"):
        make_smooth_depth_reward(-1)
    assert not math.isnan(smooth_depth_reward(["1e-300"], value=[1.0])[0])


def test_malformed_completions_and_columns_earn_zero_not_an_error():
    completions = [[{"role": "assistant", "content": [{"type": "text", "text": 7}]}], True, {"content": None},
                   10 ** 400, "150 cm/s", "1 minute 30 seconds"]
    rewards = depth_reward(completions, **trl_kwargs(value=[1.5] * 4 + [1.5, 90.0],
                                                     task=["speed"] * 4 + [["speed"], "time"]))
    assert rewards == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]  # an unhashable task gives no unit hint, not a crash
