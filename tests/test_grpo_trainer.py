"""The causal-LM adapter and GRPOTrainer: log-probs, reference modes, learning, resume, errors."""

import os
import subprocess
import sys

import pytest
import torch

from adrpo_nb.models.causal_lm import CausalLMAdapter, ModelLoadError, load_causal_lm
from adrpo_nb.models.tiny_qwen import build_char_tokenizer, tiny_qwen2
from adrpo_nb.rewards.countdown import countdown_correct, countdown_format
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer
from adrpo_nb.types import LMAdapter, Rollout
from adrpo_nb.utils.checkpoints import CheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

ROWS = [{"prompt": p, "tag": i} for i, p in enumerate(["1,2:3", "4,5:9", "7,1:6", "2,2:4"])]


def _model(seed=0):
    tok = build_char_tokenizer()
    return tiny_qwen2(tok, seed=seed, hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64), tok


def _adapter(seed=0, **kw):
    model, tok = _model(seed)
    kw.setdefault("max_new_tokens", 8)
    return CausalLMAdapter(model, tok, **kw)


def sevens(prompts, completions, completion_ids, **columns):
    """Share of the character 7 in a completion: a reward a random tiny model can learn in seconds."""
    return [c.count("7") / max(1, len(c)) for c in completions]


def _config(tmp_path=None, **kw):
    base = {"iterations": 4, "prompts_per_iteration": 2, "num_generations": 4, "minibatch_size": 8,
            "learning_rate": 1e-3, "progress": False, "output_dir": str(tmp_path) if tmp_path else None,
            "checkpoint_every": 2}  # fmt: skip
    return GRPOConfig(**{**base, **kw})


# ----------------------------------------------------------------------------- the adapter
def test_the_causal_lm_adapter_has_every_member_of_the_lm_adapter_protocol():
    """GRPOTrainer names only the LMAdapter protocol (it imports no model): CausalLMAdapter must provide it all."""
    import inspect

    adapter = _adapter()
    methods = [n for n, v in vars(LMAdapter).items() if inspect.isfunction(v) and not n.startswith("_")]
    assert {"generate", "logprobs", "reference_logprobs", "trainable_state_dict"} <= set(methods)
    for name in [*methods, *LMAdapter.__annotations__]:
        assert hasattr(adapter, name), name
    for name in methods:
        wanted = set(inspect.signature(getattr(LMAdapter, name)).parameters) - {"self"}
        assert wanted <= set(inspect.signature(getattr(adapter, name)).parameters), name


def test_log_probs_are_those_of_the_sampling_distribution():
    adapter = _adapter(temperature=0.7)
    rollout = adapter.generate(["1,2:3", "4,5:9"], 3, torch.Generator().manual_seed(0))
    model = adapter.policy.eval()
    enc = adapter.tokenizer(["1,2:3"], return_tensors="pt")
    with torch.random.fork_rng():
        torch.manual_seed(1)
        out = model.generate(**enc, do_sample=True, max_new_tokens=6, output_scores=True,
                             return_dict_in_generate=True, temperature=0.7, top_k=0, top_p=1.0, pad_token_id=0)
    tokens = out.sequences[:, enc["input_ids"].shape[1] :]
    expected = torch.stack(out.scores, 1).log_softmax(-1).gather(-1, tokens[..., None]).squeeze(-1)
    single = Rollout(prompts=["1,2:3"], prompt_ids=enc["input_ids"], prompt_mask=enc["attention_mask"],
                     completion_ids=tokens, completion_mask=torch.ones_like(tokens), completions=[""])
    logp, _ = adapter.logprobs(single)
    assert torch.allclose(logp, expected, atol=1e-5)
    assert len(rollout) == 6 and rollout.prompts == ["1,2:3"] * 3 + ["4,5:9"] * 3


def test_left_padding_does_not_change_log_probs():
    adapter = _adapter()
    rollout = adapter.generate(["1:1", "1,2,3,4:5"], 2, torch.Generator().manual_seed(0))  # prompts of unequal length
    logp, _ = adapter.logprobs(rollout)
    for i in range(len(rollout)):
        alone = rollout.select(torch.tensor([i]))
        keep = alone.prompt_mask[0].bool()
        alone.prompt_ids, alone.prompt_mask = alone.prompt_ids[:, keep], alone.prompt_mask[:, keep]
        assert torch.allclose(adapter.logprobs(alone)[0], logp[i : i + 1], atol=1e-5)


def test_generation_is_reproducible_and_masks_end_at_eos():
    adapter = _adapter()
    a = adapter.generate(["1,2:3"], 8, torch.Generator().manual_seed(3))
    b = adapter.generate(["1,2:3"], 8, torch.Generator().manual_seed(3))
    assert torch.equal(a.completion_ids, b.completion_ids)
    eos = adapter.tokenizer.eos_token_id
    assert a.truncated.any() and not a.truncated.all()  # both branches below are exercised
    for row, mask, cut in zip(a.completion_ids, a.completion_mask, a.truncated, strict=True):
        n = int(mask.sum())
        assert (row[:n] == eos).sum() == (0 if cut else 1)
        assert cut or row[n - 1] == eos


def test_suppressed_tokens_are_never_sampled_and_have_zero_probability():
    adapter = _adapter()
    banned = adapter.tokenizer.convert_tokens_to_ids(["7", "8", "<think>"])
    adapter.suppress_token_ids = sorted(banned)
    rollout = adapter.generate(["1,2:3"], 16, torch.Generator().manual_seed(0))
    assert not torch.isin(rollout.completion_ids[rollout.completion_mask.bool()], torch.tensor(banned)).any()
    logp, entropy = adapter.logprobs(rollout, with_entropy=True)
    assert torch.isfinite(logp).all() and torch.isfinite(entropy).all()


def test_full_fine_tune_reference_is_a_frozen_copy():
    adapter = _adapter()
    assert adapter.reference_mode == "copy"
    assert not any(p.requires_grad for p in adapter.reference_model.parameters())
    rollout = adapter.generate(["1,2:3"], 4, torch.Generator().manual_seed(0))
    before = adapter.reference_logprobs(rollout)
    with torch.no_grad():
        for p in adapter.policy.parameters():
            p.add_(0.05)
    assert torch.equal(adapter.reference_logprobs(rollout), before)
    assert not torch.allclose(adapter.logprobs(rollout)[0].detach(), before)


def _lora_adapter(reference="auto", fresh=False):
    from peft import LoraConfig, get_peft_model

    model, tok = _model()
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                      init_lora_weights=fresh)  # fmt: skip
    return CausalLMAdapter(get_peft_model(model, lora), tok, max_new_tokens=8, reference=reference), model


def test_auto_reference_of_a_lora_policy_depends_on_whether_the_adapter_is_trained():
    fresh, _ = _lora_adapter(fresh=True)  # LoRA B = 0: the policy is the base model
    assert fresh.reference_mode == "disable_adapter" and "ref" not in fresh.policy.peft_config
    trained, _ = _lora_adapter(fresh=False)  # a non-zero B: disabling it would put the reference elsewhere
    assert trained.reference_mode == "ref_adapter" and "ref" in trained.policy.peft_config
    rollout = trained.generate(["1,2:3"], 4, torch.Generator().manual_seed(0))
    assert torch.allclose(trained.reference_logprobs(rollout), trained.logprobs(rollout)[0].detach(), atol=1e-6)


def test_lora_reference_is_the_base_model_with_adapters_disabled():
    adapter, _ = _lora_adapter(reference="disable_adapter")
    assert adapter.reference_mode == "disable_adapter" and adapter.reference_model is None
    base, tok = _model()  # the same initial weights, without LoRA
    plain = CausalLMAdapter(base, tok, max_new_tokens=8)
    rollout = adapter.generate(["1,2:3"], 4, torch.Generator().manual_seed(0))
    assert torch.allclose(adapter.reference_logprobs(rollout), plain.logprobs(rollout)[0].detach(), atol=1e-6)
    assert not torch.allclose(adapter.logprobs(rollout)[0].detach(), plain.logprobs(rollout)[0].detach())
    trainable = adapter.trainable_state_dict()
    assert trainable and all("lora_" in name for name in trainable)


def test_pretrained_adapter_reference_is_a_frozen_clone():
    adapter, _ = _lora_adapter(reference="ref_adapter")
    rollout = adapter.generate(["1,2:3"], 4, torch.Generator().manual_seed(0))
    policy_logp = adapter.logprobs(rollout)[0].detach()
    assert torch.allclose(adapter.reference_logprobs(rollout), policy_logp, atol=1e-6)  # same adapter weights
    with torch.no_grad():
        for p in adapter.policy.parameters():
            if p.requires_grad:
                p.add_(0.1)
    assert torch.allclose(adapter.reference_logprobs(rollout), policy_logp, atol=1e-6)
    assert not any(".ref." in n for n, p in adapter.policy.named_parameters() if p.requires_grad)


def test_reference_mode_errors():
    with pytest.raises(ValueError, match="reference='disable_adapter' needs a peft model"):
        _adapter(reference="disable_adapter")
    with pytest.raises(ValueError, match="reference='bogus'"):
        _adapter(reference="bogus")


# ----------------------------------------------------------------------------- the trainer
def test_trainer_learns_a_simple_reward():
    adapter = _adapter()
    cfg = _config(iterations=30, prompts_per_iteration=4, num_generations=8, minibatch_size=32, learning_rate=3e-3,
                  method="adrpo", beta0=0.01)  # fmt: skip
    history = GRPOTrainer(adapter, sevens, ROWS, cfg).train()
    first = sum(h["reward"] for h in history[:5]) / 5
    last = sum(h["reward"] for h in history[-5:]) / 5
    assert last > first + 0.25, (first, last)


def test_logs_use_trl_names_plus_beta_eff_and_diversity():
    trainer = GRPOTrainer(_adapter(), [sevens, countdown_format], ROWS, _config(iterations=1))
    logs = trainer.step()
    expected = {"reward", "reward_std", "frac_reward_zero_std", "kl", "entropy", "clip_ratio/low_mean",
                "clip_ratio/high_mean", "clip_ratio/region_mean", "completions/mean_length",
                "completions/clipped_ratio", "rewards/sevens/mean", "rewards/countdown_format/mean",
                "beta_eff/mean", "beta_eff/min", "beta_eff/max", "beta_eff/frac_negative", "diversity/distinct_1",
                "diversity/distinct_2", "diversity/self_bleu", "grad_norm"}  # fmt: skip
    assert expected <= logs.keys()
    assert 0.0 <= logs["beta_eff/min"] <= logs["beta_eff/max"] <= 2 * 0.04 + 1e-7  # the default clip (-β0, β0)


def test_columns_reach_the_rewards_repeated_per_completion():
    seen = {}

    def spy(prompts, completions, completion_ids, tag, **columns):
        seen["prompts"], seen["tag"] = prompts, tag
        assert all(isinstance(ids, list) for ids in completion_ids)
        return [0.0] * len(completions)

    GRPOTrainer(_adapter(), spy, ROWS, _config(iterations=1)).step()
    tags = {r["prompt"]: r["tag"] for r in ROWS}
    assert len(seen["tag"]) == 8 and all(tags[p] == t for p, t in zip(seen["prompts"], seen["tag"], strict=True))
    assert seen["prompts"][0] == seen["prompts"][3] and seen["tag"][:4] == [seen["tag"][0]] * 4


def test_none_means_not_applicable_and_weights_sum_like_trl():
    def half(prompts, completions, completion_ids, **kw):
        return [None if i % 2 else 1.0 for i in range(len(completions))]

    def two(prompts, completions, completion_ids, **kw):
        return [2.0] * len(completions)

    trainer = GRPOTrainer(_adapter(), [half, two], ROWS, _config(iterations=1, reward_weights=[1.0, 0.5]))
    trainer.step()
    assert trainer.last_rewards.tolist() == [2.0, 1.0] * 4


@pytest.mark.parametrize(
    ("reward", "match"),
    [
        (lambda prompts, completions, completion_ids, **kw: [1.0], "returned 1 values for 8 completions"),
        (lambda prompts, completions, completion_ids, **kw: [float("nan")] * 8, r"non-finite value nan at index 0"),
        (lambda prompts, completions, completion_ids, **kw: [None] * 8, "every reward function returned None"),
        (lambda prompts, completions, completion_ids, **kw: ["x"] * 8, "'x' at index 0: not a number"),
    ],
)
def test_bad_rewards_are_reported(reward, match):
    trainer = GRPOTrainer(_adapter(), reward, ROWS, _config(iterations=1))
    with pytest.raises(ValueError, match=match):
        trainer.step()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_generations": 1}, "num_generations must be >= 2"),
        ({"method": "fixed", "clip": (-1, 1)}, "clip is only used by method='adrpo'"),
        ({"method": "orw"}, "method='orw'"),
        ({"loss_type": "bnpo"}, "loss_type='bnpo'"),
        ({"beta0": -1.0}, "beta0=-1.0"),
        ({"clip": "wide"}, "clip='wide'"),
        ({"minibatch_size": 0}, "minibatch_size=0"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _config(**kwargs)


def test_clip_auto_and_none():
    assert _config(method="adrpo", beta0=0.04).clip == (-0.04, 0.04)
    assert _config(method="adrpo", beta0=0.04, clip=None).clip is None
    assert _config(method="fixed").clip is None


def test_dataset_and_prompt_errors():
    with pytest.raises(ValueError, match="need a 'prompt' column"):
        GRPOTrainer(_adapter(), sevens, [{"text": "1:1"}], _config())
    with pytest.raises(ValueError, match="train_dataset is empty"):
        GRPOTrainer(_adapter(), sevens, [], _config())
    with pytest.raises(ValueError, match="encode to no token"):
        _adapter().generate([""], 2, torch.Generator())
    with pytest.raises(TypeError, match="a prompt is a string or a list of chat messages"):
        _adapter().generate([42], 2, torch.Generator())


def _params(adapter):
    return {k: v.clone() for k, v in adapter.policy.state_dict().items()}


def test_resume_is_bit_identical(tmp_path):
    straight = _adapter()
    GRPOTrainer(straight, sevens, ROWS, _config(tmp_path / "a", iterations=4, updates_per_iteration=2,
                                                 minibatch_size=4)).train()  # fmt: skip
    first = _adapter()
    GRPOTrainer(first, sevens, ROWS, _config(tmp_path / "b", iterations=2, updates_per_iteration=2,
                                             minibatch_size=4)).train()  # fmt: skip
    resumed = _adapter()  # a fresh process would start from the same initial weights
    trainer = GRPOTrainer(resumed, sevens, ROWS, _config(tmp_path / "b", iterations=4, updates_per_iteration=2,
                                                         minibatch_size=4))  # fmt: skip
    trainer.train()
    assert trainer.iteration == 4 and len(trainer.history) == 4
    a, b = _params(straight), _params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lora_checkpoint_holds_only_the_adapter(tmp_path):
    adapter, _ = _lora_adapter()
    GRPOTrainer(adapter, sevens, ROWS, _config(tmp_path, iterations=2)).train()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["policy"] and all("lora_" in k for k in state["policy"])
    again, _ = _lora_adapter()
    assert GRPOTrainer(again, sevens, ROWS, _config(tmp_path, iterations=2)).load_checkpoint()
    assert all(torch.equal(v, again.trainable_state_dict()[k]) for k, v in state["policy"].items())


def test_resume_with_another_config_is_refused(tmp_path):
    GRPOTrainer(_adapter(), sevens, ROWS, _config(tmp_path, iterations=2)).train()
    trainer = GRPOTrainer(_adapter(), sevens, ROWS, _config(tmp_path, iterations=2, beta0=0.5))
    with pytest.raises(CheckpointError, match=r"beta0: checkpoint 0.04 vs now 0.5"):
        trainer.load_checkpoint()


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable trainer checkpoint"):
        GRPOTrainer(_adapter(), sevens, ROWS, _config(tmp_path)).load_checkpoint()


# ----------------------------------------------------------------------------- loading
def test_local_folder_loads_with_the_hub_code(tmp_path):
    model, tok = _model()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    adapter = load_causal_lm(tmp_path, max_new_tokens=4)
    assert type(adapter.policy).__name__ == "Qwen2ForCausalLM"
    assert adapter.tokenizer.tokenize("<think>12</think>") == ["<think>", "1", "2", "</think>"]
    assert all(torch.equal(a, b) for a, b in zip(adapter.policy.state_dict().values(), model.state_dict().values(),
                                                 strict=True))  # fmt: skip


@pytest.mark.slow
def test_hub_id_offline_gives_a_clear_error():
    code = ("from adrpo_nb.models.causal_lm import load_causal_lm, ModelLoadError\n"
            "try:\n    load_causal_lm('Qwen/Qwen2-0.5B-Instruct')\n"
            "except ModelLoadError as err:\n    print('CLEAR:', err)\n")  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": os.environ.get("HF_HOME", "/nonexistent-hf-home")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "CLEAR: could not load the model 'Qwen/Qwen2-0.5B-Instruct'" in out.stdout, out.stderr[-2000:]
    assert "HF_HUB_OFFLINE=1" in out.stdout
    assert issubclass(ModelLoadError, OSError)


def test_countdown_rewards_read_the_dataset_columns():
    completions = ["<think>4+9=13</think><answer>4+9</answer>", "<think>x</think><answer>4+4</answer>", "4+9"]
    numbers, target = [[4, 7, 2, 9]] * 3, [13] * 3
    assert countdown_correct(None, completions, None, numbers=numbers, target=target) == [1.0, 0.0, 0.0]
    assert countdown_format(None, completions) == [1.0, 1.0, 0.0]
    assert countdown_correct(None, completions, None) == [None] * 3


# ----------------------------------------------------------------------------- the extension point (audio LLMs)
def test_extra_model_inputs_are_computed_per_prompt_and_reach_generate_and_log_probs():
    """An adapter subclass can add per-prompt model inputs (as an audio LLM's input_features) without
    touching the trainer: here a per-prompt logit bias that makes the model say 7."""
    from transformers import Qwen2ForCausalLM

    class BiasedQwen(Qwen2ForCausalLM):
        def forward(self, input_ids=None, logit_bias=None, **kwargs):
            out = super().forward(input_ids=input_ids, **kwargs)
            if logit_bias is not None:
                out.logits = out.logits + logit_bias[:, None, :]
            return out

    model, tok = _model()
    biased = BiasedQwen(model.config)
    biased.load_state_dict(model.state_dict())
    seven = tok.convert_tokens_to_ids("7")

    class SevenAdapter(CausalLMAdapter):
        calls = 0

        def encode_prompts(self, prompts):
            ids, mask, _ = super().encode_prompts(prompts)
            SevenAdapter.calls += 1
            bias = torch.zeros(len(prompts), len(tok))
            bias[:, seven] = 8.0
            return ids, mask, {"logit_bias": bias}

    adapter = SevenAdapter(biased, tok, max_new_tokens=6)
    rollout = adapter.generate(["1,2:3", "4,5:9"], 4, torch.Generator().manual_seed(0))
    assert rollout.model_inputs["logit_bias"].shape == (8, len(tok)) and SevenAdapter.calls == 1
    assert sum(c.count("7") for c in rollout.completions) > 0.8 * int(rollout.completion_mask.sum())
    with_bias, _ = adapter.logprobs(rollout)
    rollout_plain = Rollout(**{**rollout.__dict__, "model_inputs": {}})
    without, _ = adapter.logprobs(rollout_plain)
    assert (with_bias > without)[rollout.completion_ids == seven].all()  # the forward pass saw the extra input
    trainer = GRPOTrainer(adapter, sevens, ROWS, _config(iterations=1))
    assert trainer.step()["reward"] > 0.8


@pytest.mark.slow
def test_two_processes_train_in_sync(tmp_path):
    """torchrun with 2 CPU processes (gloo): each samples its own prompts, the parameters stay identical."""
    import json
    import shutil
    from pathlib import Path

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    out = tmp_path / "ddp.json"
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", "29519",
           str(Path(__file__).with_name("_ddp_grpo_worker.py")), str(out)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["processes"] == 2
    assert result["checksums"][0] == result["checksums"][1]  # gradients were averaged
    assert result["prompt_hashes"][0] != result["prompt_hashes"][1]  # each process drew its own prompts


def test_grpo_trainer_divides_by_the_configured_std():
    rewards = torch.tensor([0.0, 1.0, 3.0, 1.0, 2.0, 2.0, 5.0, 0.0])
    for std in ("unbiased", "population"):
        trainer = GRPOTrainer.__new__(GRPOTrainer)
        trainer.config = GRPOConfig(method="fixed", beta0=0.1, num_generations=4, advantage_std=std)
        trainer.advantage_fn = None
        adv = trainer._advantages(rewards, None).reshape(2, 4)
        assert torch.allclose(adv.std(1, unbiased=std == "unbiased"), torch.ones(2), atol=1e-3)


@pytest.mark.parametrize(("method", "clip"), [("adrpo", "auto"), ("adrpo", None), ("fixed", "auto"), ("none", "auto")])
def test_last_beta_eff_is_the_coefficient_the_step_used(method, clip):
    from adrpo_nb import effective_beta

    trainer = GRPOTrainer(_adapter(), sevens, ROWS, _config(iterations=1, method=method, clip=clip))
    assert trainer.last_beta_eff is None
    logs = trainer.step()
    cfg, beta = trainer.config, trainer.last_beta_eff
    assert torch.equal(beta, effective_beta(method, trainer.last_advantages, cfg.beta0, cfg.clip))
    assert beta.shape == (8,)
    # one minibatch of the whole batch: the loss's own statistics are those of last_beta_eff
    assert logs["beta_eff/min"] == pytest.approx(beta.min().item(), abs=1e-7)
    assert logs["beta_eff/max"] == pytest.approx(beta.max().item(), abs=1e-7)


@pytest.mark.parametrize("method", ["adrpo", "fixed"])
def test_a_non_finite_advantage_fn_is_refused(method):
    def nan_at_3(rewards, rollout):
        return torch.zeros_like(rewards).index_fill(0, torch.tensor([3]), float("nan"))

    trainer = GRPOTrainer(_adapter(), sevens, ROWS, _config(iterations=1, method=method), advantage_fn=nan_at_3)
    with pytest.raises(ValueError, match=r"advantages must be finite, found nan at index 3"):
        trainer.step()
