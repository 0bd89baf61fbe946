"""FlowMatchingRLTrainer: kill and resume bit-identically, it learns, and it refuses bad input."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from adrpo_nb.experiments.mnist import even_digits
from adrpo_nb.models.mnist import LatentFlowAdapter, load_base_model
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.utils.checkpoints import CheckpointError

WORKER = Path(__file__).with_name("_resume_worker.py")
TINY = FlowMatchingRLConfig(iterations=2, samples_per_iteration=16, minibatch_size=16, updates_per_iteration=1,
                            progress=False)  # fmt: skip


def _run_worker(out: Path, kill_at: int) -> int:
    return subprocess.run([sys.executable, str(WORKER), str(out), str(kill_at)], capture_output=True).returncode


def _policy(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)["policy"]


@pytest.mark.slow
def test_kill_and_resume_gives_identical_parameters(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _run_worker(straight, 0) == 0
    assert _run_worker(killed, 3) == -9  # SIGKILL during the third iteration's reward
    state = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert state["iteration"] == 2
    assert _run_worker(killed, 0) == 0  # resumes from iteration 2
    a, b = _policy(straight), _policy(killed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and the run really moved away from the base weights
    base = load_base_model().velocity.state_dict()
    assert any(not torch.equal(a[k], base[k]) for k in a)


@pytest.mark.slow
def test_adrpo_learns_the_even_digit_reward():
    torch.manual_seed(0)
    cfg = replace(TINY, iterations=12, samples_per_iteration=128, minibatch_size=128, updates_per_iteration=4,
                  beta0=0.05, seed=3)  # fmt: skip
    trainer = FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=10), even_digits, cfg)
    history = trainer.train()
    first, last = history[0]["reward"], sum(h["reward"] for h in history[-3:]) / 3
    assert last > first + 0.15, (first, last)
    assert {"beta_eff/mean", "beta_eff/frac_negative", "w2", "rl_term"} <= history[-1].keys()


def test_resume_with_another_config_is_refused(tmp_path):
    cfg = replace(TINY, output_dir=str(tmp_path))
    FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=2), even_digits, cfg).train()
    other = replace(cfg, beta0=0.5, iterations=4)
    trainer = FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=2), even_digits, other)
    with pytest.raises(CheckpointError, match=r"beta0: checkpoint 0.05 vs now 0.5"):
        trainer.train()
    # more iterations with the same settings is a resume, not an error
    longer = FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=2), even_digits,
                                   replace(cfg, iterations=3))  # fmt: skip
    assert len(longer.train()) == 3


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    trainer = FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=2), even_digits,
                                    replace(TINY, output_dir=str(tmp_path)))  # fmt: skip
    with pytest.raises(CheckpointError, match="not a readable trainer checkpoint"):
        trainer.train()


def test_nan_reward_is_reported_with_its_index():
    def bad_reward(images):
        r = even_digits(images)
        r[5] = float("nan")
        return r

    trainer = FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=2), bad_reward, TINY)
    with pytest.raises(ValueError, match=r"non-finite score nan at index 5"):
        trainer.step()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "ppo"}, "method='ppo'"),
        ({"beta0": -0.1}, "beta0=-0.1"),
        ({"method": "fixed", "clip": (-0.1, 0.1)}, "only used by method='adrpo'"),
        ({"clip": (0.2, 0.1)}, "a_min=0.2 > a_max=0.1"),
        ({"samples_per_iteration": 10, "num_generations": 4}, "multiple of num_generations=4"),
        ({"iterations": 0}, "iterations=0"),
        ({"learning_rate": -1.0}, "learning_rate=-1.0"),
        ({"shared_noise": True}, "needs num_generations"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlowMatchingRLConfig(**kwargs)


@pytest.mark.slow
def test_two_processes_train_in_sync(tmp_path):
    """torchrun with 2 CPU processes (gloo): each samples its own batch, the parameters stay identical."""
    import json
    import os
    import shutil

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    out = tmp_path / "ddp.json"
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", "29517", str(Path(__file__).with_name("_ddp_worker.py")),
           str(out)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["processes"] == 2
    assert result["checksums"][0] == result["checksums"][1]  # gradients were averaged
    assert result["first_latents"][0] != result["first_latents"][1]  # but each process drew its own samples


def test_shared_noise_noises_each_group_alike_in_whole_group_minibatches():
    adapter = LatentFlowAdapter(load_base_model(), sample_steps=2)
    calls = []
    interpolate = adapter.interpolate

    def recording(latents, noise, t):
        calls.append((noise.clone(), t.clone()))
        return interpolate(latents, noise, t)

    adapter.interpolate = recording
    cfg = replace(TINY, iterations=1, num_generations=4, minibatch_size=6, updates_per_iteration=2, shared_noise=True)
    FlowMatchingRLTrainer(adapter, even_digits, cfg).step()
    assert [len(t) for _, t in calls] == [4] * 8  # 16 samples in minibatches of whole groups, 2 updates
    for noise, t in calls:
        assert torch.equal(t, t[:1].expand_as(t)) and torch.equal(noise, noise[:1].expand_as(noise))
    assert not torch.equal(calls[0][1], calls[1][1]) or not torch.equal(calls[0][0], calls[1][0])


def test_configs_read_results_written_before_advantage_std_as_the_population_std():
    from adrpo_nb import GRPOConfig

    for cls in (FlowMatchingRLConfig, GRPOConfig):
        new = cls(method="fixed", beta0=0.1)
        assert new.advantage_std == "unbiased"  # TRL's
        assert cls.from_dict(new.to_dict()).advantage_std == "unbiased"
        legacy = {k: v for k, v in new.to_dict().items() if k != "advantage_std"}  # a committed result's config
        assert cls.from_dict(legacy).advantage_std == "population"
        with pytest.raises(ValueError, match="std='mad'"):
            cls(method="fixed", beta0=0.1, advantage_std="mad")


def test_flow_trainer_divides_by_the_configured_std():
    rewards = torch.tensor([0.0, 1.0, 3.0, 1.0, 2.0, 2.0, 5.0, 0.0])
    for std in ("unbiased", "population"):
        cfg = FlowMatchingRLConfig(method="fixed", beta0=0.1, num_generations=4, samples_per_iteration=8,
                                   minibatch_size=8, scale_rewards=True, advantage_std=std)  # fmt: skip
        trainer = FlowMatchingRLTrainer.__new__(FlowMatchingRLTrainer)
        trainer.config, trainer.advantage_fn = cfg, None
        adv = trainer._advantages(rewards, None).reshape(2, 4)
        assert torch.allclose(adv.std(1, unbiased=std == "unbiased"), torch.ones(2), atol=1e-4)


@pytest.mark.parametrize(("method", "extra"), [("adrpo", {}), ("adrpo", {"clip": (-0.02, 0.02)}), ("fixed", {}),
                                               ("none", {}), ("orw", {}), ("dpo", {"num_generations": 4})])  # fmt: skip
def test_last_beta_eff_is_the_coefficient_the_step_used(method, extra):
    from adrpo_nb import effective_beta

    cfg = replace(TINY, iterations=1, method=method, **extra)
    trainer = FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=2), even_digits, cfg)
    assert trainer.last_beta_eff is None
    logs = trainer.step()
    beta = trainer.last_beta_eff
    if method == "dpo":  # no per-sample divergence coefficient: β sits inside DPO's sigmoid
        assert beta is None
        return
    if method == "orw":  # raw rewards, no advantages: every sample gets β0
        assert trainer.last_advantages is None and torch.equal(beta, torch.full((16,), cfg.beta0))
    else:
        assert torch.equal(beta, effective_beta(method, trainer.last_advantages, cfg.beta0, cfg.clip))
    assert beta.shape == trainer.last_rewards.shape
    # one minibatch of the whole batch: the loss's own statistics are those of last_beta_eff
    assert logs["beta_eff/min"] == pytest.approx(beta.min().item(), abs=1e-7)
    assert logs["beta_eff/max"] == pytest.approx(beta.max().item(), abs=1e-7)
    assert logs["beta_eff/mean"] == pytest.approx(beta.mean().item(), abs=1e-6)


def test_an_adapter_velocity_of_another_shape_is_refused():
    adapter = LatentFlowAdapter(load_base_model(), sample_steps=2)
    velocity = adapter.velocity
    adapter.velocity = lambda x_t, t, cond=None: velocity(x_t, t, cond)[:, :1]
    with pytest.raises(ValueError, match=r"must have x_t's shape \(16, \d+\), got \(16, 1\)"):
        FlowMatchingRLTrainer(adapter, even_digits, replace(TINY, iterations=1)).step()
