"""Rewards of the real LM path (adrpo_nb.rewards.text): GSM8K exact match, prompt text, the reward model offline."""

import pytest

from adrpo_nb.rewards.text import RewardModelReward, gsm8k_answer_value, gsm8k_correct, prompt_as_text
from adrpo_nb.utils.hub import ModelLoadError


def test_gsm8k_answer_value_is_the_number_after_the_marker():
    assert gsm8k_answer_value("She has 3 + 4 = <<3+4=7>>7 apples.\n#### 1,234") == "1234"
    assert gsm8k_answer_value("#### -5") == "-5"


def test_gsm8k_correct_reads_the_tagged_answer_first_then_the_last_number():
    completions = [
        "<think>2 + 2 = 4, then 40</think><answer>42</answer>",  # tagged: 42, not the 40 before it
        "first 7 then 42",  # no tag: the last number
        "<answer>1,234.</answer>",  # separators and a full stop
        "<answer>42.0</answer>",  # the same number written as a float
        "<answer>41</answer> 42",  # the tag wins over a later number
        "no number at all",
    ]
    gold = ["42", "42", "1234", "42", "42", "42"]
    assert gsm8k_correct(None, completions, None, answer_value=gold) == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert gsm8k_correct(None, completions, None) == [None] * len(completions)  # no column: no opinion, not 0
    with pytest.raises(ValueError):
        gsm8k_correct(None, completions, None, answer_value=gold[:2])  # lengths must match


def test_prompt_as_text_joins_chat_messages():
    assert prompt_as_text("plain") == "plain"
    assert prompt_as_text([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]) == (
        "be brief\n\nhi")


def test_reward_model_loads_lazily_and_fails_clearly_offline():
    reward = RewardModelReward("nobody/no-such-reward-model", device="cpu")
    assert reward._model is None and reward.__name__ == "reward_model"  # building it costs nothing
    with pytest.raises(ModelLoadError, match="could not load the reward model 'nobody/no-such-reward-model'"):
        reward(["prompt"], ["completion"])
