"""The audio chapter's pieces: reasoning budgets, reward set-ups, the shipped tiny model, a smoke RL run."""

import math

import pytest
import torch

from adrpo_nb.experiments import audio
from adrpo_nb.experiments.audio import (
    VARIANTS,
    audio_config,
    book_run_config,
    reward_setup,
    run_rl,
    scaling_slope,
    smoke_config,
    sweep_grid,
)
from adrpo_nb.rewards.cesar import parse_completion

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_think_budget_forces_the_closing_tag_after_budget_tokens():
    think, close = 7, 8
    processor = audio.ThinkBudget(budget=2, prompt_length=3, think_id=think, close_id=close)
    scores = torch.zeros(3, 10)
    ids = torch.tensor([[1, 1, 1, think, 4, 5],   # opened, 2 reasoning tokens: must close now
                        [1, 1, 1, think, 4, close],  # already closed: free
                        [1, 1, 1, 4, 5, 6]])  # never opened: free  # fmt: skip
    out = processor(ids, scores)
    assert out[0].argmax() == close and torch.isinf(out[0, :close]).all()
    assert torch.equal(out[1], scores[1]) and torch.equal(out[2], scores[2])
    assert torch.equal(processor(ids[:, :5], scores), scores)  # one reasoning token so far: free
    with pytest.raises(ValueError, match="budget"):
        audio.ThinkBudget(-1, 3, think, close)


def test_reward_setups_and_config_validation():
    funcs, weights = reward_setup("outcome")
    assert [f.__name__ for f in funcs] == ["accuracy_reward", "format_reward"] and weights == [5.0, 1.0]
    funcs, weights = reward_setup("cesar", process_weight=0.5)
    assert len(funcs) == 5 and weights == [5.0, 1.0, 0.5, 0.5, 0.5]
    cfg = audio_config("grpo_outcome", 0.04)
    assert cfg.method == "fixed" and cfg.reward_weights == [5.0, 1.0] and cfg.settings.rewards == "outcome"
    assert audio_config("adrpo_cesar").method == "adrpo"
    with pytest.raises(ValueError, match="variant"):
        audio_config("ppo")
    with pytest.raises(ValueError, match="process_weight"):
        audio_config("adrpo_cesar", process_weight=-1)
    assert {g[0] for g in sweep_grid()} == set(VARIANTS)


def test_scaling_slope_is_accuracy_points_per_reasoning_token():
    points = [{"think_length": x, "accuracy": 0.5 + 0.01 * x} for x in (0, 10, 20)]
    assert math.isclose(scaling_slope(points), 1.0)
    assert scaling_slope(points[:1]) == 0.0


def test_the_shipped_tiny_model_answers_in_format_and_respects_a_budget():
    policy = audio.load_tiny(max_new_tokens=40)
    questions = audio.eval_questions(5)
    texts = audio.sample_answers(policy, questions, budget=3, seed=0)
    parsed = [parse_completion(t) for t in texts]
    assert sum(p.valid_format for p in parsed) >= 3
    assert all(len(p.think.split()) <= 3 for p in parsed if p.think is not None)
    assert not policy.policy.training


def test_dataset_rows_carry_the_clip_and_the_reward_columns():
    rows = audio.dataset("test", tasks=("pitch",))
    row = rows[0]
    assert set(row) >= {"prompt", "answer", "choices", "question", "task"} and row["task"] == "pitch"
    clip = row["prompt"][0]["content"][0]["audio"]
    assert clip.shape == (32000,) and clip.dtype.name == "float32"
    with pytest.raises(ValueError, match="unknown tasks"):
        audio.dataset("test", tasks=("speech",))


@pytest.mark.slow
def test_a_smoke_rl_run_writes_its_result_and_is_reused(tmp_path):
    cfg = smoke_config(audio_config("adrpo_cesar", 0.04, output_dir=str(tmp_path), iterations=2))
    result = run_rl(cfg, eval_size=5, budgets=(4, None), snapshots=(cfg.iterations,))
    assert [p["budget"] for p in result["scaling"]] == [4, audio.MAX_NEW_TOKENS]
    assert 0.0 <= result["final"]["accuracy"] <= 1.0 and result["provenance"]["seconds"] > 0
    last = result["beta_eff"][str(cfg.iterations)]  # recorded at the last iteration (snapshots)
    assert len(last) == cfg.config.samples_per_iteration
    assert all(0.0 <= b <= 2 * cfg.beta0 + 1e-9 for b in last)
    again = run_rl(cfg, eval_size=5, budgets=(4, None), snapshots=(cfg.iterations,))
    assert again == result  # finished: read back, not retrained


def test_a_book_run_with_other_settings_gets_its_own_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    default = book_run_config("adrpo_cesar", 0.04)
    again = book_run_config("adrpo_cesar", 0.04)
    exercise = book_run_config("adrpo_cesar", 0.04, reward_weights=[5, 1, 1, 1, 0])
    assert default.output_dir == again.output_dir != exercise.output_dir
    assert default.output_dir.startswith(str(tmp_path))


def test_run_rl_needs_the_unlimited_budget():
    with pytest.raises(ValueError, match="budgets must include None"):
        run_rl(smoke_config(audio_config("adrpo_cesar")), budgets=(4, 8))
