"""How graded a run's β_i is (viz.lm.beta_distribution) and the qwen sweep's graded-β variant."""

import pytest
import torch

from adrpo_nb.core import effective_beta, group_advantages
from adrpo_nb.experiments.qwen import run as qwen_run
from adrpo_nb.viz.lm import beta_distribution, run_beta_distribution, run_variant


def test_beta_distribution_counts_each_kind_of_coefficient():
    out = beta_distribution([0.0, 0.0, 0.04, 0.08, 0.02, -0.01, 0.1, 0.08], beta0=0.04)
    assert out["n"] == 8
    assert out["at_zero"] == 2 / 8 and out["at_beta0"] == 1 / 8 and out["at_2beta0"] == 2 / 8
    assert out["between"] == 1 / 8 and out["negative"] == 1 / 8 and out["above_2beta0"] == 1 / 8
    assert sum(out["histogram"]["counts"]) == 8 and out["histogram"]["edges"][0] == pytest.approx(-0.01)
    run = {"config": {"beta0": 0.04}, "beta_eff": {"1": [0.0, 0.08], "40": [0.04, 0.02]}}
    assert run_beta_distribution(run)["between"] == 0.25
    assert run_beta_distribution(run, iterations=[1])["at_zero"] == 0.5
    with pytest.raises(ValueError, match="iterations"):
        run_beta_distribution(run, iterations=[2])
    with pytest.raises(ValueError, match="beta0"):
        beta_distribution([0.1], beta0=0.0)


def test_scaled_advantages_make_the_clipped_beta_binary_and_the_graded_variant_does_not():
    gen = torch.Generator().manual_seed(0)
    rewards = torch.randint(0, 3, (64 * 8,), generator=gen).float()  # countdown's 0/1/2 rewards
    default = qwen_run.default_config(method="adrpo", beta0=0.04)
    adv = group_advantages(rewards, 8, scale=default.scale_rewards, eps=1e-4)
    binary = beta_distribution(effective_beta("adrpo", adv, 0.04, default.clip), 0.04)
    assert binary["between"] == 0.0  # every β_i is 0, β0 or 2β0
    graded = [v for v in qwen_run.EXTRA_VARIANTS if v.get("scale_rewards") is False]
    assert len(graded) == 1
    cfg = qwen_run.default_config(**graded[0])
    adv = group_advantages(rewards, 8, scale=cfg.scale_rewards, eps=1e-4)
    spread = beta_distribution(effective_beta("adrpo", adv, cfg.beta0, cfg.clip), cfg.beta0)
    assert spread["between"] > 0.5 and spread["negative"] == 0.0


def test_the_sweep_runs_the_graded_variant_under_its_own_name(monkeypatch, tmp_path):
    jobs = []

    def fake_run_rl(config, **kwargs):  # what each sweep job trains with, in this process (workers=1)
        jobs.append(config)
        keys = ("accuracy", "distinct_correct", "kl", "entropy", "self_bleu")
        return {"config": config.to_dict(), "provenance": {"seconds": 1.0}, "final": dict.fromkeys(keys, 0.5)}

    monkeypatch.setattr(qwen_run, "run_rl", fake_run_rl)
    monkeypatch.setattr(qwen_run, "load_tiny", lambda: None)
    monkeypatch.setattr(qwen_run, "evaluate_policy", lambda *a, **k: {"accuracy": 0.3, "examples": []})
    monkeypatch.setattr(qwen_run, "samples_html", lambda examples: "")
    result = qwen_run.sweep(["adrpo"], [0.04], [0], runs_dir=tmp_path, workers=1,
                            extra_runs=qwen_run.EXTRA_VARIANTS, log=lambda *_: None)  # fmt: skip
    names = sorted(config.output_dir.split("/")[-1].rsplit("_", 1)[0] for config in jobs)  # <name>_<settings hash>
    assert names == ["adrpo_b0.04_noclip_s0", "adrpo_b0.04_s0", "adrpo_b1_unscaled_s0"]
    assert set(result["summary"]["variants"]) == {"adrpo", "adrpo (no clip)", "adrpo (unscaled A)"}
    assert run_variant({"config": {"method": "adrpo", "beta0": 1.0, "clip": None, "scale_rewards": False}}) == \
        "adrpo (no clip, unscaled A)"
