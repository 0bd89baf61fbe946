"""Qwen experiments: pretraining the tiny Qwen2, one RL run, the β0 sweep, evaluation, and the real path.

Command line (each prints where it wrote and what it measured)::

    python -m adrpo_nb.experiments.qwen pretrain    # ~1-2 min on 1 CPU core -> runs/pretrain/qwen_tiny_countdown/
    python -m adrpo_nb.experiments.qwen train --method adrpo --beta0 0.04      # one CPU run, ~1-2 min
    python -m adrpo_nb.experiments.qwen sweep             # methods × β0 × seeds -> runs/results/qwen_sweep.json
    python -m adrpo_nb.experiments.qwen evaluate          # the tiny base model's metrics
    # the real path (GPU): Qwen2-0.5B-Instruct + LoRA, the RM-Gemma-2B reward on trl-lib/tldr (or GSM8K)
    python -m adrpo_nb.experiments.qwen train --model qwen2 --task tldr --method adrpo --beta0 0.04

Add ``--smoke`` to any CPU command for a seconds-long version (what CI runs; it writes only under
``runs/*-smoke/``). Nothing is written into ``data/`` unless ``--out`` says so (the committed files:
``pretrain --out data/checkpoints/qwen_tiny_countdown --tokenizer-out data/tokenizers/countdown_char``,
``sweep --out data/results/qwen_sweep.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adrpo_nb.core import effective_beta
from adrpo_nb.experiments.book import book_command, committed_book_result
from adrpo_nb.experiments.qwen.family import (
    countdown_correct,
    countdown_format,
    countdown_rows,
    eval_puzzles,
    load_tiny,
)
from adrpo_nb.experiments.runner import (
    RunRecords,
    book_config,
    check_output,
    default_output,
    finished_result,
    run_folder,
    run_jobs,
    smoke,
    sweep_provenance,
)
from adrpo_nb.metrics import distinct_n, self_bleu
from adrpo_nb.models.causal_lm import CausalLMAdapter
from adrpo_nb.tasks.countdown import Puzzle, parse_answer
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer
from adrpo_nb.utils.checkpoints import weights_sha256
from adrpo_nb.utils.paths import atomic_write_json
from adrpo_nb.utils.provenance import git_commit, portable_paths, provenance
from adrpo_nb.utils.runlock import locks_output_dir
from adrpo_nb.viz.lm import run_variant

__all__ = [
    "CURVE_KEYS",
    "EXTRA_VARIANTS",
    "SWEEP_BETAS",
    "SWEEP_METHODS",
    "book_run",
    "book_run_config",
    "default_config",
    "evaluate_policy",
    "gsm8k_format",
    "make_trainer",
    "real_setup",
    "run_label",
    "run_rl",
    "samples_html",
    "smoke_config",
    "summarize_sweep",
    "sweep",
]

SWEEP_METHODS = ("none", "fixed", "adrpo")
SWEEP_BETAS = (0.04, 0.2, 1.0)
#: variants run beside the grid (every seed): ADRPO unclipped, and ADRPO with a *graded* β_i. With std-scaled
#: advantages (|A| ≈ 1) the default clip (−β0, β0) makes β_i almost binary (0 or 2β0: 0 % strictly between
#: in the committed runs at β0 = 0.04 and 0.2, see viz.lm.run_beta_distribution); unscaled advantages of the
#: 0/1/2 countdown rewards with β0 = 1 keep β_i ∈ [0, 2] and 79 % of it strictly inside (pretrained rollouts)
EXTRA_VARIANTS = (
    {"method": "adrpo", "beta0": 0.04, "clip": None},
    {"method": "adrpo", "beta0": 1.0, "scale_rewards": False},
)
RESULTS_FILE = ("results", "qwen_sweep.json")
REWARD_FUNCS = (countdown_correct, countdown_format)
CURVE_KEYS = (
    "reward", "rewards/countdown_correct/mean", "reward_std", "frac_reward_zero_std", "kl", "entropy",
    "beta_eff/mean", "beta_eff/min", "beta_eff/max", "beta_eff/frac_negative", "diversity/distinct_1",
    "diversity/distinct_2", "diversity/self_bleu", "completions/mean_length", "clip_ratio/region_mean", "grad_norm",
    "loss", "policy_loss",
)  # fmt: skip


def default_config(**overrides: Any) -> GRPOConfig:
    """The CPU run: 120 iterations of 16 prompts × 8 completions, two optimizer steps of 64 per batch, lr 3e-4."""
    base = {"iterations": 120, "prompts_per_iteration": 16, "num_generations": 8, "minibatch_size": 64,
            "learning_rate": 3e-4, "checkpoint_every": 50, "progress": False}  # fmt: skip
    return GRPOConfig(**{**base, **overrides})


def smoke_config(config: GRPOConfig) -> GRPOConfig:
    """The same run, shrunk to seconds: 6 iterations of 4 prompts × 4 completions."""
    return replace(config, iterations=6, prompts_per_iteration=4, num_generations=4, minibatch_size=16,
                   checkpoint_every=3)  # fmt: skip


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_policy(adapter: CausalLMAdapter, puzzles: list[Puzzle] | None = None, samples_per_puzzle: int = 8,
                    seed: int = 0, reference: bool = True) -> dict[str, Any]:  # fmt: skip
    """Held-out metrics of a policy: ``samples_per_puzzle`` completions for each puzzle (default 128 of them).

    ``accuracy`` and ``format`` are sample means; ``reward`` = their sum (the training reward);
    ``distinct_correct`` = distinct correct answers per puzzle (of ``samples_per_puzzle``: the
    diversity that matters here), ``distinct_2``/``self_bleu`` = n-gram diversity within each
    puzzle's group, ``entropy`` = mean token entropy, ``kl`` = token mean of k3 against the
    reference and ``kl_seq`` = per-completion sum (an estimate of the sequence KL).
    """
    puzzles = puzzles or eval_puzzles(128)
    gen = torch.Generator().manual_seed(seed)
    policy = adapter.policy
    was_training = policy.training
    policy.eval()
    rollout = adapter.generate([p.prompt for p in puzzles], samples_per_puzzle, gen,
                               columns={"numbers": [list(p.numbers) for p in puzzles],
                                        "target": [p.target for p in puzzles]})  # fmt: skip
    correct = torch.tensor(countdown_correct(rollout.prompts, rollout.completions, None, **rollout.columns))
    formatted = torch.tensor(countdown_format(rollout.prompts, rollout.completions))
    logp, entropy = adapter.logprobs(rollout, with_entropy=True)
    mask = rollout.completion_mask.float()
    metrics: dict[str, Any] = {
        "accuracy": correct.mean().item(), "format": formatted.mean().item(),
        "reward": (correct + formatted).mean().item(),
        "entropy": ((entropy * mask).sum() / mask.sum()).item(),
        "mean_length": mask.sum(1).mean().item(),
    }  # fmt: skip
    k = samples_per_puzzle
    groups = [list(range(i, i + k)) for i in range(0, len(rollout), k)]
    ids = [row[m.bool()].tolist() for row, m in zip(rollout.completion_ids, rollout.completion_mask, strict=True)]
    metrics["distinct_correct"] = float(np.mean([
        len({parse_answer(rollout.completions[i]) for i in g if correct[i] > 0}) for g in groups]))  # fmt: skip
    metrics["distinct_2"] = float(np.mean([distinct_n([ids[i] for i in g], 2) for g in groups]))
    metrics["self_bleu"] = float(np.mean([self_bleu([ids[i] for i in g]) for g in groups]))
    if reference:
        from adrpo_nb.core import kl_k3

        k3 = kl_k3(logp, adapter.reference_logprobs(rollout)) * mask
        metrics["kl"] = (k3.sum() / mask.sum()).item()
        metrics["kl_seq"] = k3.sum(1).mean().item()
    policy.train(was_training)
    metrics["examples"] = [{"prompt": puzzles[i // k].prompt, "completions": rollout.completions[i : i + k],
                            "correct": correct[i : i + k].int().tolist()}
                           for i in range(0, min(4 * k, len(rollout)), k)]  # fmt: skip
    return metrics


def samples_html(examples: list[dict]) -> str:
    """A small HTML block of example completions (✓ correct, ✗ wrong), for the slider and the chapter."""
    import html

    rows = []
    for ex in examples:
        lines = "".join(f"<div>{'✓' if ok else '✗'} {html.escape(c)}</div>" for c, ok in
                        zip(ex["completions"], ex["correct"], strict=True))  # fmt: skip
        rows.append(f"<div style='margin-bottom:6px'><b>{html.escape(ex['prompt'])}</b>{lines}</div>")
    return "<div style='font-family:monospace;font-size:12px'>" + "".join(rows) + "</div>"


# ----------------------------------------------------------------------------- one RL run
def _metrics_fn(rollout, rewards) -> dict[str, float]:
    return {}


def make_trainer(
    config: GRPOConfig,
    *,
    adapter: CausalLMAdapter | None = None,
    dataset_size: int = 4000,
    callbacks: Sequence[Any] = (),
) -> GRPOTrainer:
    """The trainer :func:`run_rl` (and so :func:`book_run`) trains: the shipped tiny Qwen2 (or ``adapter``) on
    ``dataset_size`` countdown puzzles, rewarded by a correct equation plus the answer format."""
    rows = countdown_rows(dataset_size)
    return GRPOTrainer(adapter or load_tiny(), list(REWARD_FUNCS), rows, config, callbacks=list(callbacks))


@locks_output_dir
def run_rl(config: GRPOConfig, *, eval_every: int = 30, eval_size: int = 128, samples_per_puzzle: int = 8,
           beta_eff_snapshots: Sequence[int] = (), command: str | None = None, callbacks: Sequence[Any] = (),
           dataset_size: int = 4000) -> dict[str, Any]:  # fmt: skip
    """Fine-tune the shipped tiny Qwen2 with ``config`` on countdown and return (and save) a result dict.

    If ``config.output_dir`` holds a finished run's ``result.json`` it is returned as is; an
    interrupted run resumes from its checkpoint. The result has ``config``, ``start`` and ``final``
    (:func:`evaluate_policy` on held-out puzzles), ``evals`` (the same every ``eval_every``
    iterations), ``curve`` (training logs), ``beta_eff`` (per-sample β_eff at the iterations in
    ``beta_eff_snapshots``), ``samples_html`` and ``provenance``.
    """
    out = Path(config.output_dir) if config.output_dir else None
    done = finished_result(config)
    if done is not None:
        return done
    start_time, commit = time.perf_counter(), git_commit()
    adapter = load_tiny()
    puzzles = eval_puzzles(eval_size)
    records = RunRecords(config.output_dir, ("evals", "beta_eff"))  # kept across a resume

    def evaluate(iteration: int) -> None:
        m = evaluate_policy(adapter, puzzles, samples_per_puzzle)
        records.put("evals", iteration, {"iteration": iteration, **{k: v for k, v in m.items() if k != "examples"}})

    def record(trainer: GRPOTrainer, logs: dict) -> None:
        if trainer.iteration in beta_eff_snapshots and trainer.last_advantages is not None:
            beta = effective_beta(config.method, trainer.last_advantages, config.beta0, config.clip)
            records.put("beta_eff", trainer.iteration, [round(b, 5) for b in beta.tolist()])
        if trainer.iteration % eval_every == 0 or trainer.iteration == config.iterations:
            evaluate(trainer.iteration)

    trainer = make_trainer(config, adapter=adapter, dataset_size=dataset_size, callbacks=[record, *callbacks])
    if trainer.load_checkpoint():
        records.resume(trainer.iteration)
    else:
        records.fresh()
        evaluate(0)
    diverged = None
    try:
        history = trainer.train(resume=False)
    except FloatingPointError as err:
        diverged, history = str(err), trainer.history
    final = evaluate_policy(adapter, puzzles, samples_per_puzzle)
    examples = final.pop("examples")
    if not all(math.isfinite(v) for v in final.values()):
        diverged = diverged or "non-finite evaluation metrics"
    stride = max(1, len(history) // 100)
    kept = [h for i, h in enumerate(history) if i % stride == 0 or i == len(history) - 1]
    evals = list(records.get("evals").values())
    result = {
        "config": config.to_dict(),
        "start": evals[0] if evals and evals[0]["iteration"] == 0 else None,
        "final": None if diverged else final,
        "diverged": diverged,
        "evals": evals,
        "curve": {"iteration": [h["iteration"] for h in kept],
                  **{k: [round(h[k], 5) for h in kept] for k in CURVE_KEYS if k in history[0]}},
        "beta_eff": records.get("beta_eff"),
        "examples": examples,
        "samples_html": samples_html(examples),
        "provenance": provenance(time.perf_counter() - start_time, trainer.accelerator.device, command, commit,
                                 threads=torch.get_num_threads()),
    }  # fmt: skip
    result = portable_paths(result)  # what is returned is what the file holds
    if out is not None and trainer.accelerator.is_main_process:
        atomic_write_json(out / "result.json", result)
    return result




def run_label(method: str, beta0: float, seed: int, clip: Any = "auto", scale_rewards: bool = True) -> str:
    """A run's folder name, e.g. ``adrpo_b0.04_s1``, ``adrpo_b0.04_noclip_s0``, ``adrpo_b1_unscaled_s0``
    (``none_s1`` for β = 0)."""
    tag = "" if clip == "auto" else ("_noclip" if clip is None else f"_clip{clip[0]:g},{clip[1]:g}")
    tag += "" if scale_rewards else "_unscaled"
    return f"{method}_b{beta0:g}{tag}_s{seed}" if method != "none" else f"none_s{seed}"


def book_run_config(method: str, beta0: float, *, seed: int = 0, iterations: int | None = None,
                    **overrides: Any) -> GRPOConfig:  # fmt: skip
    """The config :func:`book_run` trains with: :func:`default_config` with ``method``, ``beta0``, ``seed`` and
    ``overrides``, shrunk in smoke mode, writing to ``runs/book[-smoke]/qwen_<name>``."""
    name = run_label(method, beta0, seed, overrides.get("clip", "auto"), overrides.get("scale_rewards", True))
    return book_config(default_config(method=method, beta0=beta0, seed=seed, **overrides), f"qwen_{name}",
                       smoke_config, iterations)  # fmt: skip


def book_run(method: str, beta0: float, *, seed: int = 0, iterations: int | None = None, callbacks: Sequence[Any] = (),
             **overrides: Any) -> dict[str, Any]:  # fmt: skip
    """A chapter's run: the committed ``data/results/book/`` result in full mode (:mod:`adrpo_nb.experiments.book`),
    else ``runs/book[-smoke]/qwen_<name>/result.json`` if present, else trains and saves it.

    Smoke mode (``ADRPO_SMOKE=1``) shrinks it with :func:`smoke_config` and keeps it in its own folder.
    The config is :func:`book_run_config`'s, the trainer :func:`make_trainer`'s.
    """
    cfg = book_run_config(method, beta0, seed=seed, iterations=iterations, **overrides)
    committed = committed_book_result(cfg, smoke())
    if committed is not None:
        return committed
    marks = sorted({1, cfg.iterations // 2, cfg.iterations} - {0})
    return run_rl(cfg, eval_every=max(1, cfg.iterations // 4), eval_size=16 if smoke() else 128,
                  samples_per_puzzle=4 if smoke() else 8, beta_eff_snapshots=marks, callbacks=callbacks,
                  command=book_command("qwen", f"{method!r}, {beta0!r}, iterations={cfg.iterations}"))


# ----------------------------------------------------------------------------- the sweep
def _sweep_job(args: tuple[dict, str, dict]) -> dict[str, Any]:
    config_dict, command, run_kwargs = args
    config = GRPOConfig.from_dict(config_dict)
    it = config.iterations
    snapshots = sorted({1, it // 3, 2 * it // 3, it} - {0}) if config.method == "adrpo" and config.seed == 0 else ()
    return run_rl(config, beta_eff_snapshots=snapshots, command=command, **run_kwargs)


def sweep(methods: Sequence[str] = SWEEP_METHODS, betas: Sequence[float] = SWEEP_BETAS,
          seeds: Sequence[int] = (0, 1, 2), base_config: GRPOConfig | None = None,
          runs_dir: str | Path | None = None, workers: int = 2,
          extra_runs: Sequence[dict] = (), run_kwargs: dict | None = None, log=print) -> dict[str, Any]:  # fmt: skip
    """Run every (method, β0, seed) — ``none`` once per seed — in ``workers`` one-thread processes.

    ``extra_runs`` adds config overrides (e.g. :data:`EXTRA_VARIANTS`: ``{"method": "adrpo", "beta0": 0.04,
    "clip": None}``) run for every seed. Finished runs are skipped and interrupted ones resume.
    """
    start, commit = time.perf_counter(), git_commit()
    base_config = base_config or default_config()
    runs_dir = runs_dir or default_output("qwen_sweep")
    run_kwargs = run_kwargs or {}
    variants = [{"method": m, "beta0": b} for m in methods for b in (betas if m != "none" else (0.0,))]
    jobs = []
    for variant in [*variants, *extra_runs]:
        for seed in seeds:
            cfg = GRPOConfig(**{**base_config.to_dict(), "clip": "auto", **variant, "seed": seed, "progress": False})
            name = run_label(cfg.method, cfg.beta0, seed, variant.get("clip", "auto"), cfg.scale_rewards)
            cfg = replace(cfg, output_dir=run_folder(runs_dir, name, cfg))
            jobs.append((cfg.to_dict(), f"python -m adrpo_nb.experiments.qwen sweep (run {name})", run_kwargs))
    log(f"qwen sweep: {len(jobs)} runs, {workers} workers")
    runs = run_jobs(_sweep_job, jobs, workers, _describe, [Path(j[0]["output_dir"]).name for j in jobs], log)
    base = evaluate_policy(load_tiny(), eval_puzzles(run_kwargs.get("eval_size", 128)))
    base["samples_html"] = samples_html(base.pop("examples"))
    result = {"base": base, "runs": runs}
    result["summary"] = summarize_sweep(result)
    result["provenance"] = sweep_provenance(start, commit, "adrpo_nb.experiments.qwen", workers)
    return result


def _describe(result: dict[str, Any]) -> str:
    final = result["final"]
    if final is None:
        return f"diverged ({result['diverged']})"
    return (f"accuracy {final['accuracy']:.3f}, distinct correct {final['distinct_correct']:.2f}, "
            f"KL {final['kl']:.4f}, entropy {final['entropy']:.3f}, {result['provenance']['seconds']:.0f} s")


def summarize_sweep(result: dict[str, Any], keys: Sequence[str] = ("accuracy", "distinct_correct", "kl", "entropy",
                                                                   "self_bleu")) -> dict[str, Any]:  # fmt: skip
    """Per variant (method, or ADRPO with a non-default clip) and β0: mean and std over seeds of the final ``keys``."""
    table: dict[str, list[dict]] = {}
    for run in result["runs"]:
        if run["final"] is None:
            continue
        table.setdefault(run_variant(run), []).append(run)
    summary: dict[str, Any] = {"base": {k: result["base"][k] for k in keys if k in result["base"]}, "variants": {}}
    for name, runs in table.items():
        rows = []
        for beta0 in sorted({r["config"]["beta0"] for r in runs}):
            group = [r["final"] for r in runs if r["config"]["beta0"] == beta0]
            row = {"beta0": beta0, "seeds": len(group)}
            for k in keys:
                vals = np.array([g[k] for g in group])
                row[k], row[f"{k}_std"] = float(vals.mean()), float(vals.std())
            rows.append(row)
        summary["variants"][name] = rows
    summary["diverged"] = sum(1 for r in result["runs"] if r["final"] is None)
    return summary


# ----------------------------------------------------------------------------- pretraining
def pretrain(out_dir: Path, tokenizer_dir: Path, smoke_run: bool = False, log=print) -> dict[str, Any]:
    """Pretrain the tiny Qwen2 on countdown to a weak accuracy; ``save_pretrained`` it with ``pretrain.json``."""
    from adrpo_nb.experiments.qwen.pretrain import PretrainConfig, pretrain_tiny_qwen

    cfg = PretrainConfig(max_steps=20, eval_every=10, eval_puzzles=32) if smoke_run else PretrainConfig()
    start, commit = time.perf_counter(), git_commit()
    model, tokenizer, report = pretrain_tiny_qwen(cfg, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    tokenizer.save_pretrained(tokenizer_dir)
    adapter = CausalLMAdapter(model, tokenizer, reference="copy", max_new_tokens=24)
    base = evaluate_policy(adapter, eval_puzzles(128), reference=False)
    base.pop("examples")
    report["base_eval"] = base
    log(f"tiny Qwen2 ({report['parameters']:,} parameters): held-out accuracy {base['accuracy']:.3f}, "
        f"distinct correct answers {base['distinct_correct']:.2f}/8, entropy {base['entropy']:.3f}")
    report["provenance"] = provenance(time.perf_counter() - start, "cpu", "python -m adrpo_nb.experiments.qwen pretrain"
                                      + (" --smoke" if smoke_run else ""), commit, threads=torch.get_num_threads())
    report["sha256"] = weights_sha256(out_dir)  # verified on every load
    atomic_write_json(out_dir / "pretrain.json", report)
    return report


# ----------------------------------------------------------------------------- the real path (GPU)
def real_setup(model: str = "qwen2", task: str = "tldr", *, lora_rank: int = 16, max_new_tokens: int | None = None,
               dataset_size: int | None = None) -> tuple[CausalLMAdapter, list, Any]:  # fmt: skip
    """The paper-like set-up: ``(adapter, reward_funcs, dataset)`` for a Qwen model with a fresh LoRA.

    ``model``: ``"qwen2"`` (``Qwen/Qwen2-0.5B-Instruct``), ``"qwen3"`` (``Qwen/Qwen3-0.6B``) or a hub id.
    ``task``: ``"tldr"`` (``trl-lib/tldr`` scored by ``weqweasdas/RM-Gemma-2B``, TRL's GRPO example) or
    ``"gsm8k"`` (``openai/gsm8k``, exact match of the final number plus a format reward).
    Needs the hub (or a local cache) and a GPU for reasonable speed.
    """
    from datasets import load_dataset
    from peft import LoraConfig

    from adrpo_nb.experiments.qwen.family import REAL_MODELS
    from adrpo_nb.models.causal_lm import load_causal_lm
    from adrpo_nb.rewards.text import RewardModelReward, gsm8k_answer_value, gsm8k_correct

    model_id = REAL_MODELS.get(model, model)
    if task not in ("tldr", "gsm8k"):
        raise ValueError(f"task must be 'tldr' or 'gsm8k', got task={task!r}")
    device = "cuda" if torch.cuda.is_available() else None
    dtype = torch.bfloat16 if device == "cuda" else None
    lora = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])  # fmt: skip
    adapter = load_causal_lm(model_id, lora=lora, dtype=dtype, device=device,
                             max_new_tokens=max_new_tokens or (64 if task == "tldr" else 256))  # fmt: skip
    if task == "tldr":
        data = load_dataset("trl-lib/tldr", split="train")
        rewards = [RewardModelReward()]
    else:
        system = ("Solve the problem. Think step by step inside <think>...</think>, then give only the final "
                  "number inside <answer>...</answer>.")  # fmt: skip
        data = load_dataset("openai/gsm8k", "main", split="train").map(lambda row: {
            "prompt": [{"role": "system", "content": system}, {"role": "user", "content": row["question"]}],
            "answer_value": gsm8k_answer_value(row["answer"])})  # fmt: skip
        rewards = [gsm8k_correct, gsm8k_format]
    if dataset_size is not None:
        data = data.select(range(min(dataset_size, len(data))))
    return adapter, rewards, data


def gsm8k_format(prompts, completions, completion_ids=None, **columns) -> list[float]:
    """0.2 when the completion has a ``<think>`` block followed by an ``<answer>`` block."""
    import re

    from adrpo_nb.rewards.text import completion_as_text

    return [0.2 * bool(re.search(r"<think>.*?</think>\s*<answer>.*?</answer>", completion_as_text(c), re.S))
            for c in completions]  # fmt: skip


def run_real(model: str, task: str, config: GRPOConfig) -> list[dict[str, float]]:
    """Train the real path and return its history (logged every iteration; checkpoints in ``config.output_dir``)."""
    adapter, rewards, data = real_setup(model, task)
    return GRPOTrainer(adapter, rewards, data, config).train()


# ----------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m adrpo_nb.experiments.qwen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("pretrain", help="pretrain the tiny Qwen2 on countdown (weak start)")
    pre.add_argument("--out", type=Path, default=None, help="default: runs/pretrain[-smoke]/qwen_tiny_countdown "
                     "(the shipped model: --out data/checkpoints/qwen_tiny_countdown)")
    pre.add_argument("--tokenizer-out", type=Path, default=None, help="the tokenizer alone; default: OUT/tokenizer "
                     "(the shipped one: data/tokenizers/countdown_char)")
    pre.add_argument("--smoke", action="store_true")
    tr = sub.add_parser("train", help="one RL fine-tuning run (tiny model on CPU, or --model for the real path)")
    tr.add_argument("--method", default="adrpo", choices=("adrpo", "fixed", "none"))
    tr.add_argument("--beta0", type=float, default=0.04)
    clip = tr.add_mutually_exclusive_group()
    clip.add_argument("--clip", type=float, nargs=2, default=None, metavar=("A_MIN", "A_MAX"))
    clip.add_argument("--no-clip", action="store_true", help="ADRPO without clipping (β_eff may be negative)")
    tr.add_argument("--iterations", type=int, default=None)
    tr.add_argument("--lr", type=float, default=None)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default=None, help="run folder (checkpoint, history.json, result.json)")
    tr.add_argument("--model", default=None, help="real path: qwen2, qwen3 or a hub id (needs the hub and a GPU)")
    tr.add_argument("--task", default="tldr", choices=("tldr", "gsm8k"))
    tr.add_argument("--smoke", action="store_true")
    sw = sub.add_parser("sweep", help="β0 sweep over methods and seeds, written as one JSON")
    sw.add_argument("--methods", nargs="+", default=list(SWEEP_METHODS))
    sw.add_argument("--betas", type=float, nargs="+", default=list(SWEEP_BETAS))
    sw.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sw.add_argument("--workers", type=int, default=2)
    sw.add_argument("--no-extra", action="store_true",
                    help="skip the extra variants (ADRPO unclipped; ADRPO graded: unscaled A, β0 = 1)")
    sw.add_argument("--runs-dir", default=None, help="default: runs/qwen_sweep[-smoke]")
    sw.add_argument("--out", type=Path, default=None, help="default: runs/results[-smoke]/qwen_sweep.json")
    sw.add_argument("--smoke", action="store_true")
    sub.add_parser("evaluate", help="held-out metrics of the shipped tiny model")
    return p


def _train_command(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {"method": args.method, "beta0": args.beta0, "seed": args.seed,
                                 "output_dir": args.out, "progress": True}  # fmt: skip
    if args.clip is not None or args.no_clip:
        overrides["clip"] = None if args.no_clip else tuple(args.clip)
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    if args.lr is not None:
        overrides["learning_rate"] = args.lr
    if args.model is not None:
        real = {"iterations": 500, "learning_rate": 1e-5, "minibatch_size": 16, "prompts_per_iteration": 8,
                "checkpoint_every": 50}  # fmt: skip
        history = run_real(args.model, args.task, GRPOConfig(**{**real, **overrides}))
        print(json.dumps({k: history[-1][k] for k in ("reward", "kl", "entropy") if k in history[-1]}, indent=1))
        return
    cfg = default_config(**overrides)
    shrink = args.smoke or smoke()
    check_output(args.out, shrink)
    if shrink:
        cfg = smoke_config(cfg)
    result = run_rl(cfg, eval_size=16 if shrink else 128, samples_per_puzzle=4 if shrink else 8)
    if result["final"] is not None:
        print(json.dumps({k: round(v, 4) for k, v in result["final"].items()}, indent=1))
    print(f"{result['provenance']['seconds']} s" + (f"; wrote {args.out}/result.json" if args.out else ""))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "pretrain":
        from adrpo_nb.experiments.qwen.family import TINY_MODEL

        shrink = args.smoke or smoke()
        check_output(args.out, shrink)
        check_output(args.tokenizer_out, shrink, "--tokenizer-out")
        out = args.out or default_output("pretrain", TINY_MODEL[-1], smoke_run=shrink)
        pretrain(out, args.tokenizer_out or out / "tokenizer", smoke_run=shrink)
        print(f"wrote {out}")
    elif args.command == "train":
        _train_command(args)
    elif args.command == "sweep":
        base_cfg = default_config()
        run_kwargs: dict[str, Any] = {}
        shrink = args.smoke or smoke()
        check_output(args.out, shrink)
        check_output(args.runs_dir, shrink, "--runs-dir")
        if shrink:
            base_cfg, run_kwargs = smoke_config(base_cfg), {"eval_size": 16, "samples_per_puzzle": 4, "eval_every": 3}
        extra = [] if args.no_extra else [dict(v) for v in EXTRA_VARIANTS]
        runs = args.runs_dir or default_output("qwen_sweep", smoke_run=shrink)
        out = args.out or default_output("results", RESULTS_FILE[-1], smoke_run=shrink)
        result = sweep(args.methods, args.betas, args.seeds, base_cfg, runs, args.workers, extra, run_kwargs)
        atomic_write_json(out, portable_paths(result))
        for name, rows in result["summary"]["variants"].items():
            for row in rows:
                print(f"{name:>16} β0={row['beta0']:<5g} accuracy {row['accuracy']:.3f} ± {row['accuracy_std']:.3f}, "
                      f"distinct correct {row['distinct_correct']:.2f}, KL {row['kl']:.4f}")
        print(f"wrote {out}")
    elif args.command == "evaluate":
        metrics = evaluate_policy(load_tiny())
        metrics.pop("examples")
        print(json.dumps(metrics, indent=1))
    return 0
