"""ADRPOGRPOTrainer against stock trl.GRPOTrainer, offline, on a tiny local Qwen2."""

import pytest
import torch

pytest.importorskip("trl")
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from adrpo_nb import adaptive_beta, grpo_loss, kl_k3
from adrpo_nb.integrations.trl import ADRPOGRPOTrainer, PerSampleBeta
from adrpo_nb.models.tiny_qwen import build_char_tokenizer, tiny_qwen2

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

PROMPTS = ["1,2:3", "4,5:9", "7,1:6", "2,2:4"]


def sevens(prompts, completions, completion_ids=None, **kw):
    return [c.count("7") / max(1, len(c)) + 0.1 * c.count("+") for c in completions]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_qwen2")
    tok = build_char_tokenizer()
    tiny_qwen2(tok, seed=0, hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _args(tmp_path, name, **kw):
    base = {"output_dir": str(tmp_path / name), "per_device_train_batch_size": 8, "num_generations": 4,
            "max_completion_length": 8, "report_to": [], "use_cpu": True, "max_steps": 1, "logging_steps": 1,
            "save_strategy": "no", "seed": 0, "bf16": False, "loss_type": "grpo", "temperature": 1.0}  # fmt: skip
    return GRPOConfig(**{**base, **kw})


def _tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _trainer(cls, path, tmp_path, name, args_kw=None, **kw):
    tok = _tokenizer(path)
    data = Dataset.from_list([{"prompt": p} for p in PROMPTS])
    return cls(model=str(path), reward_funcs=sevens, args=_args(tmp_path, name, **(args_kw or {})), train_dataset=data,
               processing_class=tok, **kw)  # fmt: skip


def _batch(trainer):
    rows = [{"prompt": p} for p in PROMPTS[:2] for _ in range(4)]  # TRL's layout: each prompt num_generations times
    torch.manual_seed(0)
    return trainer._generate_and_score_completions(rows)


def _perturb_reference(trainer, scale=0.5):
    """Move the reference away from the policy (seeded), so the KL term, and each sample's β_i, matter."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in trainer.ref_model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))


def _policy_logps(trainer, inputs):
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    logp, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, inputs["completion_ids"].shape[1])
    return logp


def _by_hand(logp, ref, adv, mask, beta):
    """TRL's "grpo" loss at ratio 1, written out: per token −A_i + β_i·k3, k3 = e^(ref−logp) − (ref−logp) − 1;
    mean over each completion's tokens, then over completions."""
    diff = ref - logp
    k3 = torch.exp(diff) - diff - 1
    per_token = -adv[:, None] + beta[:, None] * k3
    return ((per_token * mask).sum(1) / mask.sum(1)).mean()


def test_zero_clip_equals_stock_trl_grpo(tiny_path, tmp_path):
    stock = _trainer(GRPOTrainer, tiny_path, tmp_path, "stock", {"beta": 0.04})
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "ours", {"beta": 0.04}, method="adrpo", clip=(0.0, 0.0))
    _perturb_reference(stock)
    inputs = _batch(stock)
    assert inputs["ref_per_token_logps"] is not None and inputs["advantages"].abs().max() > 0
    logp = _policy_logps(stock, inputs).detach()
    mask = inputs["completion_mask"].float()
    kl = kl_k3(logp, inputs["ref_per_token_logps"])
    assert (kl * mask).sum() / mask.sum() > 0.05  # the reference differs: the KL term is in the loss
    loss_stock = stock._compute_loss(stock.model, inputs)
    loss_ours = ours._compute_loss(ours.model, inputs)
    assert abs(loss_stock.item() - loss_ours.item()) < 1e-6
    no_kl = _by_hand(logp, inputs["ref_per_token_logps"], inputs["advantages"], mask, torch.zeros(8))
    assert abs(loss_stock.item() - no_kl.item()) > 1e-3  # ... and it moves the loss
    for loss_type in ("dapo", "dr_grpo"):
        stock.loss_type = ours.loss_type = loss_type
        inputs.setdefault("num_items_in_batch", inputs["completion_mask"].sum())
        a, b = stock._compute_loss(stock.model, inputs), ours._compute_loss(ours.model, inputs)
        assert abs(a.item() - b.item()) < 1e-6


def test_per_sample_beta_matches_the_package_loss(tiny_path, tmp_path):
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "ours", {"beta": 0.3}, method="adrpo", clip=None)
    _perturb_reference(ours)
    inputs = _batch(ours)
    adv, ref, mask = inputs["advantages"], inputs["ref_per_token_logps"], inputs["completion_mask"].float()
    loss = ours._compute_loss(ours.model, inputs)
    logp = _policy_logps(ours, inputs)
    expected, stats = grpo_loss(logp, logp.detach(), ref, adv, inputs["completion_mask"], method="adrpo", beta0=0.3,
                                eps_clip=ours.epsilon_low)  # fmt: skip
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    # an independent computation: β_i = β0 − A_i (no clip) written by hand, and the same loss with one scalar β0
    per_sample = _by_hand(logp.detach(), ref, adv, mask, 0.3 - adv)
    scalar = _by_hand(logp.detach(), ref, adv, mask, torch.full_like(adv, 0.3))
    assert loss.item() == pytest.approx(per_sample.item(), abs=1e-6)
    assert abs(per_sample.item() - scalar.item()) > 1e-3  # a scalar-β trainer would fail the line above
    beta = adaptive_beta(adv, 0.3)
    logged = ours._metrics["train" if ours.model.training else "eval"]
    assert logged["beta_eff/min"][-1] == pytest.approx(beta.min().item(), abs=1e-6)
    assert logged["beta_eff/max"][-1] == pytest.approx(beta.max().item(), abs=1e-6)
    assert logged["beta_eff/frac_negative"][-1] == pytest.approx(stats["beta_eff/frac_negative"])
    assert logged["kl"][-1] == pytest.approx(stats["kl"], abs=1e-6)


def test_adrpo_at_beta0_zero_is_refused(tiny_path, tmp_path):
    with pytest.raises(ValueError, match="beta0"):  # TRL's GRPOConfig.beta defaults to 0.0
        _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "zero", {"beta": 0.0}, method="adrpo")
    with pytest.raises(ValueError, match="beta0"):
        _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "zero2", {"beta": 0.04}, method="adrpo", beta0=0.0)


def test_adrpo_builds_a_reference_and_none_does_not(tiny_path, tmp_path):
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "ours", {"beta": 0.04}, method="adrpo")
    assert ours.ref_model is not None and ours.args.beta == 0.04
    assert isinstance(ours.beta, PerSampleBeta) and ours.beta.clip == (-0.04, 0.04)
    none = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "none", {"beta": 0.5}, method="none")
    assert none.ref_model is None and none.beta == 0.0 and none.args.beta == 0.0


def test_the_callers_args_are_not_changed(tiny_path, tmp_path):
    """Issue 24: method="none" used to set the caller's args.beta = 0.0, so a later "fixed" trainer on the same
    args trained with β = 0 (and an "adrpo" one was refused for beta0 = 0)."""
    args = _args(tmp_path, "shared", beta=0.5)
    data, tok = Dataset.from_list([{"prompt": p} for p in PROMPTS]), _tokenizer(tiny_path)
    none = ADRPOGRPOTrainer(str(tiny_path), sevens, args, train_dataset=data, processing_class=tok, method="none")
    assert args.beta == 0.5  # today's code: 0.0
    assert none.args.beta == 0.0 and none.ref_model is None
    fixed = ADRPOGRPOTrainer(str(tiny_path), sevens, args, train_dataset=data, processing_class=tok, method="fixed")
    assert fixed.beta == 0.5 and fixed.args.beta == 0.5 and fixed.ref_model is not None
    adrpo = ADRPOGRPOTrainer(str(tiny_path), sevens, args, train_dataset=data, processing_class=tok, method="adrpo")
    assert adrpo.beta.beta0 == 0.5 and args.beta == 0.5


def test_pretrained_peft_adapter_gets_a_ref_clone(tiny_path, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_path),
                           LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))  # fmt: skip
    trainer = ADRPOGRPOTrainer(model=model, reward_funcs=sevens, args=_args(tmp_path, "peft", beta=0.04),
                               train_dataset=Dataset.from_list([{"prompt": p} for p in PROMPTS]),
                               processing_class=AutoTokenizer.from_pretrained(tiny_path), method="adrpo")  # fmt: skip
    assert "ref" in trainer.model.peft_config  # the reference is the starting adapter, not the bare base model


def test_training_runs_and_logs_beta_eff(tiny_path, tmp_path):
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "train", {"beta": 0.04, "max_steps": 2})
    ours.train()
    logged = {k for entry in ours.state.log_history for k in entry}
    assert {"beta_eff/mean", "beta_eff/min", "beta_eff/max", "beta_eff/frac_negative", "kl", "reward"} <= logged


def test_errors(tiny_path, tmp_path):
    with pytest.raises(ValueError, match="clip is only used by method='adrpo'"):
        _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "e1", method="fixed", clip=(-1, 1))
    with pytest.raises(ValueError, match="method='orw'"):
        _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "e2", method="orw")
    beta = PerSampleBeta(0.1, None)
    with pytest.raises(RuntimeError, match="before set_advantages"):
        beta * torch.ones(2, 3)
    beta.set_advantages(torch.zeros(3))
    with pytest.raises(ValueError, match="3 rows"):
        beta * torch.ones(2, 3)
    with pytest.raises(ValueError, match="one advantage per completion"):
        beta.set_advantages(torch.zeros(2, 3))
