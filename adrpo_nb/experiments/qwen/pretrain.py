"""Pretraining of the tiny Qwen2 on worked countdown solutions, stopped early at a *weak* accuracy.

Supervised fine-tuning on ``prompt → <think>…</think><answer>…</answer><|endoftext|>`` where the
answer is a uniformly drawn correct one (so the model learns the format and a spread of answers,
not one per prompt). Training stops at the first evaluation whose sampled accuracy (temperature 1,
the distribution RL starts from) reaches ``target_accuracy``: RL must have room to improve.

The puzzles are the training side of the split by meaning (:func:`adrpo_nb.tasks.countdown.pretraining_examples`):
none has the digits (in any order) and target of a held-out puzzle. The accuracy curve is measured on the held-out
puzzles (:func:`adrpo_nb.tasks.countdown.eval_puzzles`), the first ``eval_puzzles`` of them.

:func:`pretrain` is ``python -m adrpo_nb.experiments.qwen pretrain``: it trains, evaluates the result
(:func:`~adrpo_nb.experiments.qwen.family.evaluate_policy`) and saves it with ``pretrain.json``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from adrpo_nb.experiments.qwen.family import evaluate_accuracy, evaluate_policy
from adrpo_nb.tasks.countdown import eval_puzzles, pretraining_examples, worked_solution
from adrpo_nb.utils.checkpoints import save_pretrained_model, write_pretrain_report
from adrpo_nb.utils.provenance import git_commit
from adrpo_nb.utils.validate import validate_numbers

__all__ = ["PretrainConfig", "evaluate_accuracy", "pretrain", "pretrain_tiny_qwen", "sft_batch"]


@dataclass
class PretrainConfig:
    """Sizes of the tiny model and of its supervised pretraining."""

    hidden_size: int = 96
    layers: int = 3
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 256
    batch_size: int = 64
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    max_steps: int = 4000
    eval_every: int = 50
    eval_puzzles: int = 256  # the first this many held-out puzzles (countdown.eval_puzzles)
    target_accuracy: float = 0.3  # stop at the first evaluation at or above this sampled accuracy
    seed: int = 1234

    def __post_init__(self) -> None:
        """Types and ranges of every field (numpy scalars converted); errors name the field."""
        validate_numbers(self, positive_ints=("hidden_size", "layers", "heads", "kv_heads", "intermediate_size",
                                              "batch_size", "max_steps", "eval_every", "eval_puzzles"),
                         nonnegative_ints=("warmup_steps",), positive_floats=("learning_rate",),
                         fractions=("target_accuracy",), seeds=("seed",))  # fmt: skip


def sft_batch(tokenizer, rng: random.Random, batch_size: int) -> dict[str, torch.Tensor]:
    """A batch of ``prompt + worked solution + <|endoftext|>`` (the next ``batch_size`` examples of
    :func:`~adrpo_nb.tasks.countdown.pretraining_examples`: training side only); the loss sees only the
    completion tokens."""
    rows, labels = [], []
    for puzzle, answer in pretraining_examples(rng, batch_size):
        prompt = tokenizer(puzzle.prompt, add_special_tokens=False)["input_ids"]
        completion = tokenizer(worked_solution(answer), add_special_tokens=False)["input_ids"]
        completion = [*completion, tokenizer.eos_token_id]
        rows.append(prompt + completion)
        labels.append([-100] * len(prompt) + completion)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    lab = torch.tensor([r + [-100] * (width - len(r)) for r in labels])
    mask = (torch.arange(width)[None, :] < torch.tensor([len(r) for r in rows])[:, None]).long()
    return {"input_ids": ids, "attention_mask": mask, "labels": lab}


def pretrain_tiny_qwen(cfg: PretrainConfig, log: Callable[[str], None] = print):
    """Train from scratch until the sampled accuracy reaches ``cfg.target_accuracy``.

    Returns ``(model, tokenizer, report)``.
    """
    from adrpo_nb.models.causal_lm import CausalLMAdapter
    from adrpo_nb.models.tiny_qwen import build_char_tokenizer, tiny_qwen2

    tokenizer = build_char_tokenizer()
    model = tiny_qwen2(tokenizer, seed=cfg.seed, hidden_size=cfg.hidden_size, layers=cfg.layers, heads=cfg.heads,
                       kv_heads=cfg.kv_heads, intermediate_size=cfg.intermediate_size)  # fmt: skip
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup_steps))
    rng = random.Random(cfg.seed)
    held_out = eval_puzzles(cfg.eval_puzzles)
    adapter = CausalLMAdapter(model, tokenizer, reference="copy", max_new_tokens=24)
    adapter.reference_model = None  # evaluation only: no reference needed
    curve, start, losses = [], time.perf_counter(), []
    for step in range(1, cfg.max_steps + 1):
        loss = model(**sft_batch(tokenizer, rng, cfg.batch_size)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % cfg.eval_every == 0:
            metrics = evaluate_accuracy(adapter, held_out, seed=step)
            point = {"step": step, "loss": sum(losses) / len(losses), **metrics,
                     "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
            losses = []
            curve.append(point)
            log(f"step {step}: loss {point['loss']:.3f}, sampled accuracy {metrics['accuracy']:.3f}, "
                f"format {metrics['format']:.3f} ({point['seconds']:.0f} s)")  # fmt: skip
            if metrics["accuracy"] >= cfg.target_accuracy:
                break
    model.eval()
    parameters = sum(p.numel() for p in model.parameters())
    report = {"config": asdict(cfg), "steps": curve[-1]["step"] if curve else 0, "parameters": parameters,
              "final": curve[-1] if curve else None, "curve": curve,
              "tokens_per_step": cfg.batch_size, "note": "accuracy = one sample per eval puzzle at temperature 1",
              "data": {"pretrain": "countdown.pretraining_examples (training side), seed = config.seed, "
                                   "steps x batch_size examples",
                       "eval": "countdown.eval_puzzles(config.eval_puzzles)"}}
    if not curve or not math.isfinite(curve[-1]["loss"]):
        raise FloatingPointError("pretraining did not produce a finite loss")
    return model, tokenizer, report


# ----------------------------------------------------------------------------- the command
def pretrain(out_dir: Path, tokenizer_dir: Path, smoke_run: bool = False, log=print) -> dict[str, Any]:
    """Pretrain the tiny Qwen2 on countdown to a weak accuracy; ``save_pretrained`` it with ``pretrain.json``."""
    from adrpo_nb.models.causal_lm import CausalLMAdapter

    cfg = PretrainConfig(max_steps=20, eval_every=10, eval_puzzles=32) if smoke_run else PretrainConfig()
    start, commit = time.perf_counter(), git_commit()
    model, tokenizer, report = pretrain_tiny_qwen(cfg, log)
    save_pretrained_model(out_dir, model, tokenizer)
    tokenizer.save_pretrained(tokenizer_dir)
    adapter = CausalLMAdapter(model, tokenizer, reference="copy", max_new_tokens=24)
    base = evaluate_policy(adapter, eval_puzzles(128), reference=False)
    base.pop("examples")
    report["base_eval"] = base
    log(f"tiny Qwen2 ({report['parameters']:,} parameters): held-out accuracy {base['accuracy']:.3f}, "
        f"distinct correct answers {base['distinct_correct']:.2f}/8, entropy {base['entropy']:.3f}")
    command = "python -m adrpo_nb.experiments.qwen pretrain" + (" --smoke" if smoke_run else "")
    return write_pretrain_report(out_dir, report, seconds=time.perf_counter() - start, command=command, commit=commit)
