"""ADRPOGRPOTrainer against stock trl.GRPOTrainer, offline, on a tiny local Qwen2."""

import pytest
import torch

pytest.importorskip("trl")
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from adrpo_nb import adaptive_beta, grpo_loss
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


def _trainer(cls, path, tmp_path, name, args_kw=None, **kw):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    data = Dataset.from_list([{"prompt": p} for p in PROMPTS])
    return cls(model=str(path), reward_funcs=sevens, args=_args(tmp_path, name, **(args_kw or {})), train_dataset=data,
               processing_class=tok, **kw)  # fmt: skip


def _batch(trainer):
    rows = [{"prompt": p} for p in PROMPTS[:2] for _ in range(4)]  # TRL's layout: each prompt num_generations times
    torch.manual_seed(0)
    return trainer._generate_and_score_completions(rows)


def test_zero_clip_equals_stock_trl_grpo(tiny_path, tmp_path):
    stock = _trainer(GRPOTrainer, tiny_path, tmp_path, "stock", {"beta": 0.04})
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "ours", {"beta": 0.04}, method="adrpo", clip=(0.0, 0.0))
    inputs = _batch(stock)
    assert inputs["ref_per_token_logps"] is not None and inputs["advantages"].abs().max() > 0
    loss_stock = stock._compute_loss(stock.model, inputs)
    loss_ours = ours._compute_loss(ours.model, inputs)
    assert abs(loss_stock.item() - loss_ours.item()) < 1e-6
    for loss_type in ("dapo", "dr_grpo"):
        stock.loss_type = ours.loss_type = loss_type
        inputs.setdefault("num_items_in_batch", inputs["completion_mask"].sum())
        a, b = stock._compute_loss(stock.model, inputs), ours._compute_loss(ours.model, inputs)
        assert abs(a.item() - b.item()) < 1e-6


def test_per_sample_beta_matches_the_package_loss(tiny_path, tmp_path):
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "ours", {"beta": 0.3}, method="adrpo", clip=None)
    inputs = _batch(ours)
    loss = ours._compute_loss(ours.model, inputs)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    logp, _, _ = ours._get_per_token_logps_and_entropies(ours.model, ids, mask, inputs["completion_ids"].shape[1])
    expected, stats = grpo_loss(logp, logp.detach(), inputs["ref_per_token_logps"], inputs["advantages"],
                                inputs["completion_mask"], method="adrpo", beta0=0.3, eps_clip=ours.epsilon_low)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    beta = adaptive_beta(inputs["advantages"], 0.3)
    logged = ours._metrics["train" if ours.model.training else "eval"]
    assert logged["beta_eff/min"][-1] == pytest.approx(beta.min().item(), abs=1e-6)
    assert logged["beta_eff/frac_negative"][-1] == pytest.approx(stats["beta_eff/frac_negative"])
    assert logged["kl"][-1] == pytest.approx(stats["kl"], abs=1e-6)


def test_reference_is_built_even_at_beta0_zero(tiny_path, tmp_path):
    stock = _trainer(GRPOTrainer, tiny_path, tmp_path, "stock", {"beta": 0.0})
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "ours", {"beta": 0.0}, method="adrpo")
    assert stock.ref_model is None  # TRL's trap: no reference at beta = 0
    assert ours.ref_model is not None and ours.args.beta == 0.0
    assert isinstance(ours.beta, PerSampleBeta) and ours.beta.clip == (0.0, 0.0)
    inputs = _batch(ours)
    assert inputs["ref_per_token_logps"] is not None
    assert torch.isfinite(ours._compute_loss(ours.model, inputs))
    none = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "none", {"beta": 0.5}, method="none")
    assert none.ref_model is None and none.beta == 0.0


def test_pretrained_peft_adapter_gets_a_ref_clone(tiny_path, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_path),
                           LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))  # fmt: skip
    trainer = ADRPOGRPOTrainer(model=model, reward_funcs=sevens, args=_args(tmp_path, "peft", beta=0.0),
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
