"""ADRPOGRPOTrainer against stock trl.GRPOTrainer, offline, on a tiny local Qwen2."""

import dataclasses
import inspect
import itertools
import re

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


# ---- parity with TRL's own loss, for every loss_type TRL has ------------------------------------------------------


def _trl_loss_types():
    """The ``loss_type`` values TRL's ``GRPOConfig`` documents (its field help: "Supported values are 'grpo', ...")."""
    field = next(f for f in dataclasses.fields(GRPOConfig) if f.name == "loss_type")
    listed = re.search(r"Supported values are (.*?)\. ", field.metadata["help"])
    assert listed, "GRPOConfig.loss_type's help no longer lists its values"
    return re.findall(r"'(\w+)'", listed.group(1))


LOSS_TYPES = _trl_loss_types()
# what some loss types need to be built (TRL refuses luspo at the default importance_sampling_level="token")
LOSS_TYPE_ARGS = {"luspo": {"importance_sampling_level": "sequence"}}
# further options of TRL's loss around the KL line, each with loss_type grpo unless it names one
EXTRAS = {
    "kl_without_ratio": {"use_bias_correction_kl": False},  # TRL's default multiplies the KL by the ratio
    "sequence_level_ratio": {"importance_sampling_level": "sequence"},
    "two_sided_clip": {"delta": 1.5},
    "off_policy_mask": {"off_policy_mask_threshold": 0.05},
    "entropy_bonus_and_mask": {"entropy_coef": 0.01, "top_entropy_quantile": 0.5},
    "vllm_is_ratio": {},  # TRL's vLLM importance-sampling factor: vLLM is not on CPU, see _loss_inputs
}


def test_every_trl_loss_type_is_covered():
    """The documented list is the list ``_compute_loss`` branches on: a loss type TRL adds fails here first."""
    source = inspect.getsource(GRPOTrainer._compute_loss)
    tested = re.findall(r"self\.loss_type (?:==|!=|in) (\[[^\]]*\]|\"\w+\")", source)
    assert set(LOSS_TYPES) == set(re.findall(r'"(\w+)"', " ".join(tested)))
    assert len(LOSS_TYPES) == 8  # trl 1.16: grpo dr_grpo dapo bnpo cispo sapo luspo vespo


def _loss_inputs(trainer, vllm=False):
    """A real generated batch, with a reference moved away from the policy (the KL term is large) and "old"
    log-probs moved away from it too (ratios ≠ 1, so clipping, cispo's, sapo's and vespo's weights all act)."""
    _perturb_reference(trainer)
    inputs = _batch(trainer)
    logp = _policy_logps(trainer, inputs).detach()
    gen = torch.Generator().manual_seed(2)
    inputs["old_per_token_logps"] = logp + 0.3 * torch.randn(logp.shape, generator=gen)
    inputs["num_items_in_batch"] = inputs["completion_mask"].sum()
    if vllm:
        inputs["importance_sampling_ratio"] = 0.5 + torch.rand(logp.shape, generator=gen)
    assert inputs["advantages"].abs().max() > 0.5
    return inputs


def _grads(model):
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("case", LOSS_TYPES + list(EXTRAS))
def test_constant_beta_is_trls_loss_bit_for_bit(tiny_path, tmp_path, case):
    """β_i ≡ β0 (ADRPO with clip (0, 0), and method="fixed") gives stock TRL's loss and gradients exactly
    (torch.equal): the subclass only swaps the coefficient of TRL's KL line."""
    loss_type = case if case in LOSS_TYPES else "grpo"
    kw = {"beta": 0.04, "loss_type": loss_type, **LOSS_TYPE_ARGS.get(loss_type, {}), **EXTRAS.get(case, {})}
    trainers = [_trainer(GRPOTrainer, tiny_path, tmp_path, "stock", kw),
                _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "adrpo", kw, method="adrpo", clip=(0.0, 0.0)),
                _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "fixed", kw, method="fixed")]  # fmt: skip
    assert isinstance(trainers[1].beta, PerSampleBeta)
    inputs = _loss_inputs(trainers[0], vllm=case == "vllm_is_ratio")
    for t in trainers:
        # vLLM does not run on CPU: the batch came from TRL's own generation, and the loss is told it came from vLLM
        # (the flags _compute_loss reads; it then multiplies the policy term by inputs["importance_sampling_ratio"])
        t.use_vllm = t.vllm_importance_sampling_correction = case == "vllm_is_ratio"
    results = []
    for t in trainers:
        loss = t._compute_loss(t.model, inputs)
        loss.backward()
        results.append((loss.detach(), _grads(t.model), t._metrics["train" if t.model.training else "eval"]["kl"][-1]))
    (loss0, grads0, kl0) = results[0]
    assert kl0 > 0.05 and loss0.isfinite()  # the KL term is in play
    for loss, grads, kl in results[1:]:
        assert torch.equal(loss, loss0)
        assert len(grads) == len(grads0) > 0 and all(torch.equal(a, b) for a, b in zip(grads, grads0, strict=True))
        assert kl == kl0


def _reduce(loss_type, x, mask, inputs, max_completion_length):
    """TRL 1.16's reduction of a per-token term for each loss_type, written out (one process, no accumulation)."""
    if loss_type in ("grpo", "sapo"):
        return ((x * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        return (x * mask).sum() / (x.shape[0] * max_completion_length)
    if loss_type in ("cispo", "dapo", "vespo"):
        return (x * mask).sum() / inputs["num_items_in_batch"].clamp(min=1.0)
    if loss_type == "luspo":
        return (x * mask).sum(-1).mean()
    raise AssertionError(f"no reduction written for loss_type {loss_type!r}")


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_per_sample_beta_changes_only_the_kl_coefficient(tiny_path, tmp_path, loss_type):
    """ADRPO's loss minus TRL's at β0 is exactly the KL term with coefficient β_i − β0 = −A_i (clip None), reduced
    the loss type's way: the policy term, the ratios and the reduction are TRL's, untouched."""
    kw = {"beta": 0.3, "loss_type": loss_type, **LOSS_TYPE_ARGS.get(loss_type, {})}
    stock = _trainer(GRPOTrainer, tiny_path, tmp_path, "stock", kw)
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "adrpo", kw, method="adrpo", clip=None)
    inputs = _loss_inputs(stock)
    difference = ours._compute_loss(ours.model, inputs) - stock._compute_loss(stock.model, inputs)
    logp, mask = _policy_logps(stock, inputs).detach(), inputs["completion_mask"].float()
    kl = kl_k3(logp, inputs["ref_per_token_logps"])
    assert stock.args.use_bias_correction_kl  # TRL's default: the KL term is k3 times the importance ratio
    log_ratio = logp - inputs["old_per_token_logps"]
    if stock.importance_sampling_level == "sequence":
        log_ratio = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0))[:, None]
    kl = kl * torch.exp(log_ratio)
    expected = _reduce(loss_type, -inputs["advantages"][:, None] * kl, mask, inputs, stock.max_completion_length)
    assert abs(expected.item()) > 1e-3  # the per-sample coefficients move the loss
    assert difference.item() == pytest.approx(expected.item(), abs=1e-6)


# ---- during training, each step's β comes from that step's rows ---------------------------------------------------

BETA0, CLIP = 0.3, (-1.0, 1.0)  # wide clip: β_i takes many values, so a β from other rows changes the loss


def _record_losses(trainer):
    """Wrap the trainer's ``_compute_loss``: keep, per call, the batch TRL passed, the policy's per-token
    log-probs TRL computed in it, and the loss it returned."""
    records, compute, logps = [], trainer._compute_loss, trainer._get_per_token_logps_and_entropies

    def spy(model, inputs):
        seen = []

        def logps_spy(*args, **kw):
            out = logps(*args, **kw)
            seen.append(out[0].detach())
            return out

        trainer._get_per_token_logps_and_entropies = logps_spy
        try:
            loss = compute(model, inputs)
        finally:
            del trainer._get_per_token_logps_and_entropies
        kept = {k: v.detach().clone() for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        records.append({"inputs": kept, "logp": seen[0], "loss": loss.detach()})
        return loss

    trainer._compute_loss = spy
    return records


def _recomputed_loss(record, beta, eps=0.2):
    """TRL's "grpo" loss from the recorded batch, written out with per-row ``beta``: the clipped policy term
    plus β_i · k3 · ratio (TRL's default bias-corrected KL), averaged per completion, then over completions."""
    inputs, logp = record["inputs"], record["logp"]
    adv, ref, mask = inputs["advantages"][:, None], inputs["ref_per_token_logps"], inputs["completion_mask"].float()
    ratio = torch.exp(logp - inputs.get("old_per_token_logps", logp))
    policy = -torch.min(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv)
    diff = ref - logp
    per_token = policy + beta[:, None] * (torch.exp(diff) - diff - 1) * ratio
    return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


def _beta_errors(records):
    """Per loss call: |TRL's loss − the loss recomputed with β_i = β0 − clip(A_i) of THAT call's rows|."""
    return [abs(r["loss"].item() - _recomputed_loss(r, BETA0 - r["inputs"]["advantages"].clamp(*CLIP)).item())
            for r in records]  # fmt: skip


def _check_beta_follows_the_rows(records):
    errors = _beta_errors(records)
    assert max(errors) < 1e-6, f"the loss is not the one with each row's own beta_i: errors {errors}"


def _train_recorded(tiny_path, tmp_path, name):
    """Four optimizer steps of real TRL training: two generation batches of 16 completions, each shuffled by TRL
    and cut into two micro-batches of 8 (steps_per_generation=2), with a reference far from the policy."""
    trainer = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, name,
                       {"beta": BETA0, "max_steps": 4, "steps_per_generation": 2, "learning_rate": 1e-3},
                       method="adrpo", clip=CLIP)  # fmt: skip
    _perturb_reference(trainer)
    records = _record_losses(trainer)
    trainer.train()
    return trainer, records


def test_each_training_step_uses_its_own_rows_beta(tiny_path, tmp_path):
    trainer, records = _train_recorded(tiny_path, tmp_path, "rows")
    assert len(records) == 4
    _check_beta_follows_the_rows(records)
    # the check has power on this run: the batches differ, and β from other rows would move each loss
    advantages = [r["inputs"]["advantages"] for r in records]
    assert all(not torch.equal(a, b) for a, b in itertools.pairwise(advantages))
    for r, other in zip(records, records[1:] + records[:1], strict=True):
        stale = BETA0 - other["inputs"]["advantages"].clamp(*CLIP)
        rolled = BETA0 - r["inputs"]["advantages"].roll(1).clamp(*CLIP)
        for wrong in (stale, rolled):
            assert abs(r["loss"].item() - _recomputed_loss(r, wrong).item()) > 1e-4
    logged = [e["beta_eff/mean"] for e in trainer.state.log_history if "beta_eff/mean" in e]
    expected = [(BETA0 - a.clamp(*CLIP)).mean().item() for a in advantages]
    assert logged == pytest.approx(expected, abs=1e-6)


# Wrong integrations the check above must catch. Each replaces ADRPOGRPOTrainer._compute_loss (and, for the last,
# the generation step); TRL's own loss then runs with the β they set.


def _stale(self, model, inputs):
    """β computed on the first batch and reused for every later one."""
    if self.beta.values is None:
        self.beta.set_advantages(inputs["advantages"])
    return GRPOTrainer._compute_loss(self, model, inputs)


def _rolled(self, model, inputs):
    """β from the neighbouring row of the same batch (advantages permuted within the batch)."""
    self.beta.set_advantages(inputs["advantages"].roll(1))
    return GRPOTrainer._compute_loss(self, model, inputs)


def _generated(self, generation_batch):
    out = GRPOTrainer._generate_and_score_completions(self, generation_batch)
    self._mutant_advantages, self._mutant_next = out["advantages"].clone(), 0
    return out


def _before_shuffle(self, model, inputs):
    """β computed for the whole generation batch as generated, then sliced in order: it ignores that TRL shuffles
    the generation batch before cutting it into micro-batches (rows from across the batch)."""
    n = inputs["advantages"].shape[0]
    self.beta.set_advantages(self._mutant_advantages[self._mutant_next : self._mutant_next + n])
    self._mutant_next += n
    return GRPOTrainer._compute_loss(self, model, inputs)


MUTANTS = {"stale": (_stale, None), "rolled": (_rolled, None), "before_shuffle": (_before_shuffle, _generated)}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_the_check_catches_a_stale_or_misaligned_beta(tiny_path, tmp_path, monkeypatch, mutant):
    compute, generate = MUTANTS[mutant]
    monkeypatch.setattr(ADRPOGRPOTrainer, "_compute_loss", compute)
    if generate is not None:
        monkeypatch.setattr(ADRPOGRPOTrainer, "_generate_and_score_completions", generate)
    _, records = _train_recorded(tiny_path, tmp_path, mutant)
    assert len(records) == 4
    with pytest.raises(AssertionError, match="each row's own beta_i"):
        _check_beta_follows_the_rows(records)
    errors = _beta_errors(records)
    if mutant == "stale":  # right on the batch it was computed for, wrong on every later one
        assert errors[0] < 1e-6 and min(errors[1:]) > 1e-4
    else:
        assert min(errors) > 1e-4


@pytest.mark.parametrize("bias_correction", [False, True])
def test_gradients_are_the_package_losss_without_trls_kl_ratio(tiny_path, tmp_path, bias_correction):
    """The module's note: TRL's default use_bias_correction_kl=True multiplies the KL by the ratio, which is 1 on
    policy but not in the gradient; with it off, TRL's gradients are :func:`adrpo_nb.grpo_loss`'s."""
    kw = {"beta": 0.3, "use_bias_correction_kl": bias_correction}
    ours = _trainer(ADRPOGRPOTrainer, tiny_path, tmp_path, "ours", kw, method="adrpo", clip=None)
    _perturb_reference(ours)
    inputs = _batch(ours)
    ours._compute_loss(ours.model, inputs).backward()
    trl_grads = _grads(ours.model)
    ours.model.zero_grad()
    logp = _policy_logps(ours, inputs)
    loss, _ = grpo_loss(logp, logp.detach(), inputs["ref_per_token_logps"], inputs["advantages"],
                        inputs["completion_mask"], method="adrpo", beta0=0.3, eps_clip=ours.epsilon_low)  # fmt: skip
    loss.backward()
    same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(trl_grads, _grads(ours.model), strict=True))
    assert same is not bias_correction
