"""The verl plug-in (adrpo_nb.integrations.verl) against verl 0.9 itself, on the CPU.

Runs in the second environment .venv-verl (scripts/setup_verl.sh; scripts/test.sh runs this file there): verl pins
transformers < 5.11, older than the main environment's. Nothing here is skipped: without verl the imports fail.

* with every β_{i,t} = β0 (a zero clip) the plug-in's loss, gradients and KL metrics are verl's own ``ppo_loss``
  with ``kl_loss_coef = β0``, bit for bit, for every ``loss_agg_mode`` and KL estimator;
* with per-sample β it is this package's ``grpo_loss(method="adrpo")`` on the same tensors, and a scalar-β mutant
  (β_i replaced by the batch mean) fails that comparison;
* verl's launcher configuration with ``+adrpo.*`` composes, passes verl's validation, and verl's own trainer
  installs the loss after ``init_model`` (``set_loss_fn``); the entry point is listed and loaded by ``import verl``.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

try:
    import verl  # noqa: F401
except ImportError as err:  # the main environment: an error, never a skip
    raise ImportError("tests/test_verl.py runs in .venv-verl, where verl is: bash scripts/test.sh tests/test_verl.py "
                      "(scripts/setup_verl.sh builds it)") from err
from hydra import compose, initialize_config_module
from tensordict import TensorDict
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage
from verl.utils import tensordict_utils as tu
from verl.workers.config import FSDPActorConfig
from verl.workers.utils.losses import ppo_loss

import adrpo_nb.integrations.verl as plugin
from adrpo_nb import group_advantages, grpo_loss
from adrpo_nb.integrations.verl import ADRPOActorLoss, adrpo_settings, install_loss

ROOT = Path(__file__).resolve().parents[1]
AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
#: verl's loss_agg_mode -> grpo_loss's loss_type (the three aggregations both have)
AS_GRPO = {"seq-mean-token-mean": "grpo", "token-mean": "dapo", "seq-mean-token-sum-norm": "dr_grpo"}
RESPONSE_LENGTHS = (5, 2, 4, 3, 5, 1)
PROMPT_LENGTHS = (3, 2, 3, 1, 2, 4)


def _nested(rows: list[torch.Tensor]) -> torch.Tensor:
    return torch.nested.nested_tensor(rows, layout=torch.jagged)


def _batch(seed: int = 0, global_info: bool = False, entropy: bool = False, adv_scale: float = 1.0):
    """A micro-batch as verl's engine hands it to the loss (no-padding layout: nested prompts / responses, the
    model's log-probs flat over every sequence's tokens), and the same tensors padded, for ``grpo_loss``.

    Returns ``(model_output, data, padded)`` with ``padded["logp"]`` the leaf the gradients are taken of."""
    g = torch.Generator().manual_seed(seed)
    n, width = len(RESPONSE_LENGTHS), max(RESPONSE_LENGTHS)
    mask = torch.zeros(n, width)
    for i, r in enumerate(RESPONSE_LENGTHS):
        mask[i, :r] = 1
    logp = (-torch.rand(n, width, generator=g) * 2 - 0.1).requires_grad_()
    old = logp.detach() + 0.15 * torch.randn(n, width, generator=g)  # ratios ≈ e^±0.3: some clipped
    ref = logp.detach() + 0.3 * torch.randn(n, width, generator=g)
    adv = adv_scale * torch.randn(n, generator=g)
    rows = lambda x: _nested([x[i, :r].clone() for i, r in enumerate(RESPONSE_LENGTHS)])  # noqa: E731
    data = TensorDict({
        "prompts": _nested([torch.randint(0, 100, (p,), generator=g) for p in PROMPT_LENGTHS]),
        "responses": _nested([torch.randint(0, 100, (r,), generator=g) for r in RESPONSE_LENGTHS]),
        "response_mask": rows(mask.long()),
        "old_log_probs": rows(old),
        "ref_log_prob": rows(ref),
        "advantages": rows(adv[:, None].expand(n, width)),  # verl's GRPO: the response's advantage on each token
    }, batch_size=[n])  # fmt: skip
    tokens = int(mask.sum())
    tu.assign_non_tensor(data, dp_size=2 if global_info else 1, batch_num_tokens=2 * tokens if global_info else None,
                         global_batch_size=2 * n if global_info else None)  # fmt: skip
    # the model's output over whole sequences: position p + t - 1 holds the log-prob of response token t
    pieces = []
    for i, (p, r) in enumerate(zip(PROMPT_LENGTHS, RESPONSE_LENGTHS, strict=True)):
        pieces += [torch.full((p - 1,), -7.0), logp[i, :r], torch.full((1,), -7.0)]
    output = {"log_probs": torch.cat(pieces)}
    if entropy:
        output["entropy"] = torch.rand(output["log_probs"].shape[0], generator=g) + 0.5
    return output, data, {"logp": logp, "old": old, "ref": ref, "adv": adv, "mask": mask}


def _actor(mode: str, kl_type: str = "low_var_kl", beta0: float = 0.05, **kw) -> FSDPActorConfig:
    return FSDPActorConfig(strategy="fsdp", rollout_n=2, ppo_micro_batch_size_per_gpu=2, use_kl_loss=True,
                           kl_loss_coef=beta0, kl_loss_type=kl_type, loss_agg_mode=mode, **kw)  # fmt: skip


def _values(metrics: dict) -> dict:
    return {k: (v.aggregate() if hasattr(v, "aggregate") else v) for k, v in metrics.items()}


# --------------------------------------------------------------------------------------
# β_i ≡ β0: verl's own ppo_loss, bit for bit
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("global_info", [False, True], ids=["local", "global-batch"])
@pytest.mark.parametrize("mode", AGG_MODES)
def test_constant_beta_is_verls_ppo_loss_bit_for_bit(mode, global_info):
    out, data, padded = _batch(global_info=global_info, entropy=True)
    config = _actor(mode, entropy_coeff=0.01)
    theirs, their_metrics = ppo_loss(config, out, data)
    (their_grad,) = torch.autograd.grad(theirs, padded["logp"])
    loss = ADRPOActorLoss(_actor(mode, entropy_coeff=0.01), beta0=0.05, clip=(0.0, 0.0))  # β = β0 − 0 = β0
    ours, our_metrics = loss(out, data)
    (our_grad,) = torch.autograd.grad(ours, padded["logp"])
    assert torch.equal(ours, theirs), (ours.item(), theirs.item())
    assert torch.equal(our_grad, their_grad)
    theirs_m, ours_m = _values(their_metrics), _values(our_metrics)
    for key in theirs_m:  # pg_loss, entropy_loss, clip fractions, kl_loss, kl_coef
        assert ours_m[key] == theirs_m[key], key
    assert ours_m["beta_eff/min"] == ours_m["beta_eff/max"] == pytest.approx(0.05)


@pytest.mark.parametrize("kl_type", ["low_var_kl", "k1", "mse", "abs", "k3+"])
def test_constant_beta_matches_verl_for_every_kl_estimator(kl_type):
    out, data, padded = _batch(seed=1)
    theirs, _ = ppo_loss(_actor("seq-mean-token-mean", kl_type), out, data)
    ours, _ = ADRPOActorLoss(_actor("seq-mean-token-mean", kl_type), 0.05, (0.0, 0.0))(out, data)
    assert torch.equal(ours, theirs)
    assert torch.equal(*(torch.autograd.grad(x, padded["logp"])[0] for x in (ours, theirs)))


# --------------------------------------------------------------------------------------
# per-sample β: this package's grpo_loss on the same tensors
# --------------------------------------------------------------------------------------
def _check_per_sample(mode: str, clip, beta0: float = 0.1, seed: int = 2) -> None:
    out, data, t = _batch(seed=seed, adv_scale=0.2)  # |A| around β0: some clipped, some not
    ours, metrics = ADRPOActorLoss(_actor(mode, beta0=123.0), beta0=beta0, clip=clip)(out, data)  # coef unread
    (our_grad,) = torch.autograd.grad(ours, t["logp"])
    theirs, stats = grpo_loss(t["logp"], t["old"], t["ref"], t["adv"], t["mask"], method="adrpo", beta0=beta0,
                              clip=clip, loss_type=AS_GRPO[mode])  # fmt: skip
    (their_grad,) = torch.autograd.grad(theirs, t["logp"])
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(our_grad, their_grad, rtol=1e-5, atol=1e-8)
    values = _values(metrics)
    assert values["beta_eff/min"] == pytest.approx(stats["beta_eff/min"])
    assert values["beta_eff/max"] == pytest.approx(stats["beta_eff/max"])
    assert values["kl_coef"] == beta0


@pytest.mark.parametrize("clip", [(-0.1, 0.1), None, (-0.05, 0.2)], ids=["auto", "unclipped", "asymmetric"])
@pytest.mark.parametrize("mode", list(AS_GRPO))
def test_per_sample_beta_is_grpo_loss(mode, clip):
    _check_per_sample(mode, clip)


def test_the_per_sample_beta_matters_here():
    """The batch of the per-sample tests is one where β_i varies: verl's scalar coefficient gives another loss."""
    out, data, t = _batch(seed=2, adv_scale=0.2)
    scalar, _ = ppo_loss(_actor("seq-mean-token-mean", beta0=0.1), out, data)
    adrpo, _ = grpo_loss(t["logp"], t["old"], t["ref"], t["adv"], t["mask"], method="adrpo", beta0=0.1,
                         clip=(-0.1, 0.1))  # fmt: skip
    assert not torch.allclose(scalar, adrpo, rtol=1e-4, atol=0)


def test_a_scalar_beta_mutant_fails(monkeypatch):
    """β_i replaced by its batch mean (one number, as verl's kl_loss_coef): the per-sample comparison fails."""
    real = plugin.effective_beta

    def batch_mean(method, advantages, beta0, clip=None):
        return real(method, advantages, beta0, clip).mean().expand(advantages.shape)

    monkeypatch.setattr(plugin, "effective_beta", batch_mean)
    with pytest.raises(AssertionError):
        _check_per_sample("seq-mean-token-mean", (-0.1, 0.1))
    with pytest.raises(AssertionError):
        _check_per_sample("token-mean", None)


def test_grpo_advantages_are_this_packages_group_advantages():
    """verl's GRPO advantage (group mean over std + 1e-6, or the mean alone) is group_advantages's."""
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 1.0, 1.0, 0.0])
    mask = torch.ones(8, 3)
    index = np.array(["a"] * 4 + ["b"] * 4, dtype=object)
    token_rewards = torch.zeros(8, 3)
    token_rewards[:, -1] = rewards
    for scale in (True, False):
        theirs, _ = compute_grpo_outcome_advantage(token_rewards.clone(), mask, index, norm_adv_by_std_in_grpo=scale)
        ours = group_advantages(rewards, 4, scale=scale, eps=1e-6, std="unbiased")
        torch.testing.assert_close(theirs[:, 0], ours, rtol=1e-6, atol=1e-7)


def test_the_loss_travels_to_ray_workers():
    out, data, _ = _batch(seed=3)
    loss = ADRPOActorLoss(_actor("token-mean"), 0.05, (-0.05, 0.05))
    copy = pickle.loads(pickle.dumps(loss))
    assert torch.equal(copy(out, data)[0], loss(out, data)[0])


# --------------------------------------------------------------------------------------
# the switch: verl's launcher configuration and verl's trainer
# --------------------------------------------------------------------------------------
#: what a verl run needs besides the recipe's model and data to pass verl's own validation
BASE = [
    "algorithm.adv_estimator=grpo",
    "actor_rollout_ref.actor.use_kl_loss=True",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
    "actor_rollout_ref.rollout.n=4",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4",
    "data.train_batch_size=8",
    "actor_rollout_ref.actor.ppo_mini_batch_size=4",
    "actor_rollout_ref.model.path=Qwen/Qwen2.5-0.5B-Instruct",
]


def _compose(overrides: list[str]):
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose("ppo_trainer", overrides=overrides)


@pytest.fixture(scope="module")
def launcher_config():
    return _compose([*BASE, "+adrpo.beta0=0.05", "+adrpo.clip=[-0.02,0.03]"])


def test_the_launcher_configuration_passes_verls_validation(launcher_config):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(config=launcher_config, use_reference_policy=need_reference_policy(launcher_config),
                    use_critic=need_critic(launcher_config))  # fmt: skip
    assert need_reference_policy(launcher_config)
    assert adrpo_settings(launcher_config) == plugin.ADRPOSettings(0.05, (-0.02, 0.03))


class RecordingWorkerGroup:
    def __init__(self):
        self.calls = []

    def set_loss_fn(self, loss_fn):
        self.calls.append(loss_fn)


def _trainer(config, events):
    """verl's default trainer (v1, sync) with its worker start-up replaced by a recording worker group."""
    from verl.trainer.ppo.v1 import PPOTrainerSync

    trainer = object.__new__(PPOTrainerSync)
    trainer.config = config
    trainer.actor_rollout_wg = None

    def setup():
        events.append("init_model")  # where verl spawns the workers and calls actor_rollout_wg.init_model()
        trainer.actor_rollout_wg = RecordingWorkerGroup()

    trainer._setup, trainer.on_init_end = setup, lambda: events.append("on_init_end")
    return trainer


def test_verls_trainer_installs_the_loss_after_init_model(launcher_config):
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from verl.trainer.ppo.v1 import PPOTrainer

    assert PPOTrainer.init.__adrpo_wrapped__ and RayPPOTrainer.init_workers.__adrpo_wrapped__
    events = []
    trainer = _trainer(launcher_config, events)
    trainer.init()
    assert events == ["init_model", "on_init_end"]
    (loss,) = trainer.actor_rollout_wg.calls
    assert isinstance(loss, ADRPOActorLoss) and (loss.beta0, loss.clip) == (0.05, (-0.02, 0.03))
    assert type(loss.config).__name__ == "FSDPActorConfig" and loss.config.kl_loss_coef == 0.05
    assert loss.config.rollout_n == 4 and loss.config.ppo_micro_batch_size_per_gpu == 2


def test_without_an_adrpo_section_verl_is_unchanged():
    trainer = _trainer(_compose(BASE), [])
    trainer.init()
    assert trainer.actor_rollout_wg.calls == []


@pytest.mark.parametrize("overrides, message", [
    (["actor_rollout_ref.actor.use_kl_loss=False", "+adrpo.beta0=0.05"], "use_kl_loss=True"),
    (["+adrpo.beta0=0"], "beta0 > 0"),
    (["+adrpo.beta=0.05"], "unknown adrpo settings"),
    (["+adrpo.clip=[0.1,-0.1]"], "a_min <= a_max"),
    (["+adrpo.clip=wide"], "clip must be 'auto'"),
])  # fmt: skip
def test_bad_settings_stop_before_any_worker_starts(overrides, message):
    events = []
    trainer = _trainer(_compose([*BASE, *overrides]), events)
    with pytest.raises(ValueError, match=message):
        trainer.init()
    assert events == []


def test_beta0_defaults_to_verls_kl_loss_coef_and_clip_to_auto():
    settings = adrpo_settings(_compose([*BASE, "actor_rollout_ref.actor.kl_loss_coef=0.02", "+adrpo.clip=auto"]))
    assert settings == plugin.ADRPOSettings(0.02, (-0.02, 0.02))
    config = _compose([*BASE, "+adrpo.beta0=0.04", "+adrpo.clip=null"])
    wg = RecordingWorkerGroup()
    assert install_loss(wg, config).clip is None and wg.calls[0].beta0 == 0.04


def test_the_entry_point_is_listed_and_verl_loads_it():
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="verl.plugins") if ep.name == "adrpo"]
    assert ep.value == "adrpo_nb.integrations.verl"
    code = ("import sys, verl; m = sys.modules.get('adrpo_nb.integrations.verl'); "
            "print(m is not None and any(type(f).__name__ == '_TrainerFinder' for f in sys.meta_path))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "True", proc.stderr[-2000:]


# --------------------------------------------------------------------------------------
# the GPU recipe (recipes/verl/run_adrpo_grpo.sh): its command line is a valid verl run
# --------------------------------------------------------------------------------------
#: the overrides scripts/gpu_check.sh adds to the recipe for its three iterations (its VERL_RUN array)
GPU_CHECK = re.search(r"VERL_RUN=\((.*?)\)", (ROOT / "scripts" / "gpu_check.sh").read_text(), re.S).group(1).split()


@pytest.mark.parametrize("env, extra", [
    ({}, []),
    ({"METHOD": "grpo"}, []),
    ({"MODEL": "Qwen/Qwen2.5-1.5B-Instruct", "NGPUS": "8", "LORA_RANK": "32", "CLIP": "[-0.02,0.05]", "BETA0": "0.1"},
     []),
    ({}, GPU_CHECK),
], ids=["adrpo-0.5b-1gpu", "grpo-baseline", "adrpo-1.5b-8gpu-lora", "gpu-check"])  # fmt: skip
def test_the_gpu_recipe_is_a_valid_verl_run(env, extra, monkeypatch):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    if "LORA_RANK" in env:  # verl checks a LoRA rank against vLLM's allowed ranks, in a module that needs vLLM
        stand_in = types.ModuleType("verl.workers.rollout.vllm_rollout.utils")
        stand_in.get_vllm_max_lora_rank = lambda rank: rank if rank in (1, 8, 16, 32, 64, 128, 256, 320, 512) else 1 / 0
        monkeypatch.setitem(sys.modules, stand_in.__name__, stand_in)
    proc = subprocess.run(["bash", "recipes/verl/run_adrpo_grpo.sh", "--print-overrides", *extra], cwd=ROOT, check=True,
                          capture_output=True, text=True, env={**os.environ, **env})  # fmt: skip
    config = _compose(proc.stdout.split())
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    assert config.actor_rollout_ref.rollout.name == "vllm" and config.actor_rollout_ref.actor.strategy == "fsdp"
    assert config.trainer.n_gpus_per_node == int(env.get("NGPUS", 1))
    if extra:
        assert config.trainer.total_training_steps == 3
    settings = adrpo_settings(config)
    if env.get("METHOD") == "grpo":
        assert settings is None and config.actor_rollout_ref.actor.kl_loss_coef == 0.04
        return
    beta0 = float(env.get("BETA0", 0.04))
    clip = (-0.02, 0.05) if "CLIP" in env else (-beta0, beta0)
    assert settings == plugin.ADRPOSettings(beta0, clip)
    wg = RecordingWorkerGroup()
    loss = install_loss(wg, config, settings)
    assert (loss.config.loss_agg_mode, loss.config.kl_loss_type) == ("seq-mean-token-mean", "low_var_kl")
