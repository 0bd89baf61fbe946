"""Audio experiments: pretraining the tiny Qwen2-Audio, one RL run, the comparison sweep, and the real path.

Command line (each prints where it wrote and what it measured)::

    python -m adrpo_nb.experiments.audio pretrain      # SFT to a weak start -> runs/pretrain/qwen2_audio_tiny/
    python -m adrpo_nb.experiments.audio train --variant adrpo_cesar --beta0 0.04   # one CPU run
    python -m adrpo_nb.experiments.audio sweep         # variants × seeds, β0/α grids -> runs/results/audio_sweep.json
    # the real path (GPU): Qwen2.5-Omni-7B's thinker (or qwen2_audio) + LoRA on MMAU-style rows you provide as JSONL
    python -m adrpo_nb.experiments.audio train --model omni --rows mmau_train.jsonl --variant adrpo_cesar

The three variants of the chapter are one trainer with two switches: the KL coefficient (``method``:
``fixed`` β0 = GRPO, ``adrpo``) and the reward (``outcome``: accuracy + format, as R1-AQA and
Ke-Omni-R; ``cesar``: plus consistency, keywords and overthinking with weights α).
Add ``--smoke`` to any CPU command for a seconds-long version (what CI runs; it writes only under
``runs/*-smoke/``). Nothing is written into ``data/`` unless ``--out`` says so (the committed files:
``pretrain --out data/checkpoints/qwen2_audio_tiny``, ``sweep --out data/results/audio_sweep.json``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adrpo_nb.core import effective_beta
from adrpo_nb.experiments.audio.family import L_MAX, MAX_NEW_TOKENS, dataset, eval_questions, evaluate, load_tiny
from adrpo_nb.experiments.book import book_command, committed_book_result
from adrpo_nb.experiments.runner import (
    book_config,
    check_output,
    default_output,
    finished_result,
    run_folder,
    run_jobs,
    smoke,
    sweep_provenance,
)
from adrpo_nb.rewards.cesar import CESAR_ALPHAS, cesar_reward_funcs
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer
from adrpo_nb.utils.checkpoints import weights_sha256
from adrpo_nb.utils.paths import atomic_write_json
from adrpo_nb.utils.provenance import git_commit, portable_paths, provenance
from adrpo_nb.utils.runlock import locks_output_dir

__all__ = [
    "BUDGETS",
    "VARIANTS",
    "audio_config",
    "book_run",
    "book_run_config",
    "make_trainer",
    "reward_setup",
    "run_label",
    "run_rl",
    "scaling_slope",
    "smoke_config",
    "summarize_sweep",
    "sweep",
    "sweep_grid",
]

#: the chapter's three variants: (KL method, reward)
VARIANTS = {"grpo_outcome": ("fixed", "outcome"), "grpo_cesar": ("fixed", "cesar"), "adrpo_cesar": ("adrpo", "cesar")}
#: reasoning budgets (think tokens) of the test-time scaling curves; None = up to MAX_NEW_TOKENS
BUDGETS = (0, 4, 8, 16, 32, 64, None)
RESULTS_FILE = ("results", "audio_sweep.json")
CURVE_KEYS = ("reward", "rewards/accuracy_reward/mean", "rewards/overthinking/mean", "rewards/consistency_reward/mean",
              "rewards/keywords/mean", "kl", "entropy", "beta_eff/mean", "completions/mean_length")  # fmt: skip


def audio_config(variant: str = "adrpo_cesar", beta0: float = 0.04, *, process_weight: float = 1.0,
                 **overrides: Any) -> GRPOConfig:  # fmt: skip
    """The CPU run of ``variant``: 100 iterations of 8 prompts × K = 8 completions, one step of 64, lr 3e-4.

    ``process_weight`` scales α3..α5 (consistency, keywords, overthinking) of CESAR's weights
    (5, 1, 1, 1, 1); 0 leaves accuracy and format, i.e. the outcome reward.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got variant={variant!r}")
    if not process_weight >= 0:
        raise ValueError(f"process_weight must be >= 0, got process_weight={process_weight!r}")
    method, rewards = VARIANTS[variant]
    _, weights = reward_setup(rewards, process_weight)
    base = {"method": method, "beta0": beta0, "iterations": 100, "prompts_per_iteration": 8, "num_generations": 8,
            "minibatch_size": 64, "learning_rate": 3e-4, "checkpoint_every": 20, "progress": False,
            "reward_weights": weights, "extra": {"variant": variant, "rewards": rewards,
                                                 "process_weight": process_weight, "l_max": L_MAX}}  # fmt: skip
    return GRPOConfig(**{**base, **overrides})


def reward_setup(rewards: str, process_weight: float = 1.0, l_max: int = L_MAX, tokenizer: Any = None
                 ) -> tuple[list, list[float]]:  # fmt: skip
    """The reward functions and weights: ``outcome`` (accuracy α1 = 5, format α2 = 1) or ``cesar`` (all five);
    think lengths in ``tokenizer``'s tokens (the policy's) when given, else words."""
    if rewards not in ("outcome", "cesar"):
        raise ValueError(f"rewards must be 'outcome' or 'cesar', got rewards={rewards!r}")
    a = CESAR_ALPHAS
    alphas = (a[0], a[1], *(process_weight * x for x in a[2:]))
    return cesar_reward_funcs(alphas, l_max=l_max, outcome_only=rewards == "outcome", tokenizer=tokenizer)


def smoke_config(config: GRPOConfig) -> GRPOConfig:
    """The same run, shrunk to seconds: 3 iterations of 2 prompts × 4 completions."""
    return replace(config, iterations=3, prompts_per_iteration=2, num_generations=4, minibatch_size=8,
                   checkpoint_every=3)  # fmt: skip


def _scaling(adapter, questions, budgets: Sequence[int | None], seed: int) -> tuple[list[dict[str, Any]], list[dict]]:
    """One :func:`~adrpo_nb.audio.evaluate` per budget: the curve, and the unlimited budget's examples."""
    points, examples = [], []
    for budget in budgets:
        m = evaluate(adapter, questions, budget=budget, seed=seed)
        points.append({"budget": budget if budget is not None else MAX_NEW_TOKENS,
                       **{k: round(v, 4) for k, v in m.items() if isinstance(v, float)}})  # fmt: skip
        if budget is None:
            points[-1]["by_length"], examples = m["by_length"], m["examples"]
    return points, examples


def scaling_slope(points: list[dict[str, Any]], x: str = "think_length") -> float:
    """Least-squares slope of accuracy (percentage points) per reasoning token over a test-time scaling curve."""
    xs, ys = np.array([p[x] for p in points], float), np.array([100 * p["accuracy"] for p in points], float)
    if len(xs) < 2 or np.ptp(xs) == 0:
        return 0.0
    return float(np.polyfit(xs, ys, 1)[0])


def make_trainer(config: GRPOConfig, *, adapter: Any = None, callbacks: Sequence[Any] = ()) -> GRPOTrainer:
    """The trainer :func:`run_rl` (and so :func:`book_run`) trains: the shipped tiny Qwen2-Audio (or
    ``adapter``) on the synthetic audio questions' train split, with the reward functions
    ``config.extra`` names (:func:`reward_setup`: CESAR's five, or the outcome pair) weighted by
    ``config.reward_weights``, think lengths counted in the policy's tokens."""
    adapter = adapter or load_tiny()
    extra = config.extra
    rewards, weight, l_max = extra.get("rewards", "cesar"), extra.get("process_weight", 1.0), extra.get("l_max", L_MAX)
    funcs, _ = reward_setup(rewards, weight, l_max, tokenizer=adapter.tokenizer)
    return GRPOTrainer(adapter, funcs, dataset("train"), config, callbacks=list(callbacks))


@locks_output_dir
def run_rl(config: GRPOConfig, *, eval_size: int = 400, budgets: Sequence[int | None] = BUDGETS,
           command: str | None = None, callbacks: Sequence[Any] = ()) -> dict[str, Any]:  # fmt: skip
    """Fine-tune the shipped tiny Qwen2-Audio with ``config`` and return (and save) a result dict.

    A finished run's ``result.json`` in ``config.output_dir`` is returned as is; an interrupted run
    resumes. The result has ``config``, ``final`` (evaluation without a budget), ``scaling`` (the
    same at each reasoning budget), ``slope`` (accuracy points per reasoning token), ``curve``
    (training logs), ``beta_eff`` (per-sample β_eff of the last iteration), ``examples`` and ``provenance``.
    """
    if None not in budgets:
        raise ValueError(f"budgets must include None (the unlimited budget the final metrics come from), got {budgets}")
    out = Path(config.output_dir) if config.output_dir else None
    done = finished_result(config)
    if done is not None:
        return done
    start_time, commit = time.perf_counter(), git_commit()
    adapter = load_tiny()
    trainer = make_trainer(config, adapter=adapter, callbacks=callbacks)
    history = trainer.train()
    adapter.policy.eval()
    questions = eval_questions(eval_size)
    scaling, examples = _scaling(adapter, questions, budgets, seed=config.seed + 1)
    final = next(p for p in scaling if p["budget"] == MAX_NEW_TOKENS)
    stride = max(1, len(history) // 60)
    kept = [h for i, h in enumerate(history) if i % stride == 0 or i == len(history) - 1]
    last_adv = trainer.last_advantages
    result = {
        "config": config.to_dict(),
        "final": final,
        "scaling": scaling,
        "slope": round(scaling_slope(scaling), 5),
        "curve": {"iteration": [h["iteration"] for h in kept],
                  **{k: [round(h[k], 5) for h in kept] for k in CURVE_KEYS if k in history[0]}},
        "beta_eff": [] if last_adv is None else
                    [round(b, 5) for b in effective_beta(config.method, last_adv, config.beta0, config.clip).tolist()],
        "examples": examples,
        "provenance": provenance(time.perf_counter() - start_time, trainer.accelerator.device, command, commit,
                                 threads=torch.get_num_threads()),
    }  # fmt: skip
    result = portable_paths(result)  # what is returned is what the file holds
    if out is not None and trainer.accelerator.is_main_process:
        atomic_write_json(out / "result.json", result)
    return result


def run_label(variant: str, beta0: float, seed: int, process_weight: float = 1.0) -> str:
    """A run's folder name, e.g. ``adrpo_cesar_b0.04_s1`` (``_w0.5`` when α3..α5 are scaled)."""
    return f"{variant}_b{beta0:g}" + (f"_w{process_weight:g}" if process_weight != 1.0 else "") + f"_s{seed}"


def book_run_config(variant: str, beta0: float = 0.04, *, seed: int = 0, iterations: int | None = None,
                    **overrides: Any) -> GRPOConfig:  # fmt: skip
    """The config :func:`book_run` trains with: :func:`audio_config` of ``variant`` with ``beta0``, ``seed`` and
    ``overrides``, shrunk in smoke mode, writing to ``runs/book[-smoke]/audio_<name>``."""
    return book_config(audio_config(variant, beta0, seed=seed, **overrides), f"audio_{run_label(variant, beta0, seed)}",
                       smoke_config, iterations)  # fmt: skip


def book_run(variant: str, beta0: float = 0.04, *, seed: int = 0, iterations: int | None = None,
             **overrides: Any) -> dict[str, Any]:  # fmt: skip
    """A chapter's run: the committed ``data/results/book/`` result in full mode (:mod:`adrpo_nb.experiments.book`),
    else ``runs/book[-smoke]/audio_<name>/result.json`` if present, else trains and saves it.

    The config is :func:`book_run_config`'s, the trainer :func:`make_trainer`'s."""
    cfg = book_run_config(variant, beta0, seed=seed, iterations=iterations, **overrides)
    committed = committed_book_result(cfg, smoke())
    if committed is not None:
        return committed
    return run_rl(cfg, eval_size=10 if smoke() else 400, budgets=(4, None) if smoke() else BUDGETS,
                  command=book_command("audio", f"{variant!r}, {beta0!r}, iterations={cfg.iterations}"))


# ----------------------------------------------------------------------------- the sweep
def _sweep_job(args: tuple[dict, str, dict]) -> dict[str, Any]:
    config_dict, command, run_kwargs = args
    return run_rl(GRPOConfig.from_dict(config_dict), command=command, **run_kwargs)


def sweep_grid(seeds: Sequence[int] = (0, 1, 2), betas: Sequence[float] = (0.01, 0.1),
               process_weights: Sequence[float] = (0.0, 0.5, 2.0)) -> list[tuple[str, float, float, int]]:  # fmt: skip
    """``(variant, β0, process_weight, seed)`` of the sweep: the three variants at β0 = 0.04 for every seed,
    then, on seed 0, ADRPO and GRPO with CESAR at the other ``betas`` (β0 slider) and ADRPO at other
    ``process_weights`` (α slider)."""
    grid = [(v, 0.04, 1.0, s) for v in VARIANTS for s in seeds]
    grid += [(v, b, 1.0, 0) for v in ("adrpo_cesar", "grpo_cesar") for b in betas]
    grid += [("adrpo_cesar", 0.04, w, 0) for w in process_weights]
    return grid


def sweep(grid: Sequence[tuple[str, float, float, int]] | None = None, *, runs_dir: str | Path | None = None,
          workers: int = 2, shrink: bool = False, log=print) -> dict[str, Any]:  # fmt: skip
    """Run every point of ``grid`` (default :func:`sweep_grid`) in one-thread worker processes; finished runs
    are skipped and interrupted ones resume. Returns ``{"base", "runs", "summary", "provenance"}``."""
    start, commit = time.perf_counter(), git_commit()
    grid = list(grid or sweep_grid())
    runs_dir = runs_dir or default_output("audio_sweep", smoke_run=shrink)
    jobs, names = [], []
    run_kwargs = {"eval_size": 10, "budgets": (4, None)} if shrink else {}
    for variant, beta0, weight, seed in grid:
        cfg = audio_config(variant, beta0, process_weight=weight, seed=seed)
        cfg = smoke_config(cfg) if shrink else cfg
        name = run_label(variant, beta0, seed, weight)
        cfg = replace(cfg, output_dir=run_folder(runs_dir, name, cfg))
        jobs.append((cfg.to_dict(), f"python -m adrpo_nb.experiments.audio sweep (run {name})", run_kwargs))
        names.append(name)
    log(f"audio sweep: {len(jobs)} runs, {workers} workers")
    runs = run_jobs(_sweep_job, jobs, workers, _describe, names, log)
    base_adapter = load_tiny()
    base_budgets = run_kwargs.get("budgets", BUDGETS)
    scaling, _ = _scaling(base_adapter, eval_questions(run_kwargs.get("eval_size", 400)), base_budgets, seed=1)
    base = {"final": scaling[-1], "scaling": scaling, "slope": round(scaling_slope(scaling), 5)}
    result = {"base": base, "runs": runs}
    result["summary"] = summarize_sweep(result)
    result["provenance"] = sweep_provenance(start, commit, "adrpo_nb.experiments.audio", workers)
    return result


def _describe(result: dict[str, Any]) -> str:
    f = result["final"]
    return (f"accuracy {f['accuracy']:.3f}, think {f['think_length']:.1f} words, slope {result['slope']:+.4f}, "
            f"{result['provenance']['seconds']:.0f} s")  # fmt: skip


def summarize_sweep(result: dict[str, Any], keys: Sequence[str] = ("accuracy", "format", "think_length",
                    "consistency", "keywords", "overthinking")) -> dict[str, Any]:  # fmt: skip
    """Mean ± std over seeds of each (variant, β0, process weight): final metrics, slope, and the scaling curve."""
    groups: dict[tuple, list[dict]] = {}
    for run in result["runs"]:
        extra = run["config"]["extra"]
        groups.setdefault((extra["variant"], run["config"]["beta0"], extra["process_weight"]), []).append(run)
    rows = []
    for (variant, beta0, weight), runs in sorted(groups.items()):
        row: dict[str, Any] = {"variant": variant, "beta0": beta0, "process_weight": weight, "seeds": len(runs)}
        for key in keys:
            values = [r["final"][key] for r in runs]
            row[key], row[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
        row["slope"], row["slope_std"] = float(np.mean([r["slope"] for r in runs])), float(np.std([r["slope"]
                                                                                                   for r in runs]))
        row["kl"] = float(np.mean([r["curve"]["kl"][-1] for r in runs if "kl" in r["curve"]] or [float("nan")]))
        budgets = [p["budget"] for p in runs[0]["scaling"]]
        row["scaling"] = {"budget": budgets, "accuracy": [float(np.mean([r["scaling"][i]["accuracy"] for r in runs]))
                                                          for i in range(len(budgets))]}  # fmt: skip
        rows.append(row)
    return {"rows": rows}


# ----------------------------------------------------------------------------- pretraining
def pretrain(out_dir: Path, smoke_run: bool = False, log=print) -> dict[str, Any]:
    """SFT the tiny Qwen2-Audio to a weak start; ``save_pretrained`` it (model + processor) with ``pretrain.json``."""
    from adrpo_nb.experiments.audio.pretrain import AudioPretrainConfig, pretrain_tiny_audio

    cfg = AudioPretrainConfig(max_steps=4, eval_every=2, eval_questions=4) if smoke_run else AudioPretrainConfig()
    start, commit = time.perf_counter(), git_commit()
    model, processor, report = pretrain_tiny_audio(cfg, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    report["provenance"] = provenance(time.perf_counter() - start, "cpu", "python -m adrpo_nb.experiments.audio "
                                      "pretrain" + (" --smoke" if smoke_run else ""), commit,
                                      threads=torch.get_num_threads())  # fmt: skip
    report["sha256"] = weights_sha256(out_dir)  # verified on every load
    atomic_write_json(out_dir / "pretrain.json", report)
    return report


# ----------------------------------------------------------------------------- the real path (GPU)
def real_setup(model: str = "omni", *, lora_rank: int = 16, max_new_tokens: int = 256, device: Any = None):
    """``AudioLMAdapter`` for the real path: Qwen2.5-Omni-7B's thinker (``"omni"``) or Qwen2-Audio-7B-Instruct
    (``"qwen2_audio"``) in bf16 with LoRA on the language model.

    Needs the hub (≈ 16 GB download) and a GPU: ≈ 40 GB of VRAM for K = 8 completions of 256 tokens
    with gradient checkpointing off (an A100/H100 80 GB; an estimate, not measured here).
    """
    from peft import LoraConfig

    from adrpo_nb.experiments.audio.family import REAL_MODELS
    from adrpo_nb.models.audio_lm import AUDIO_LORA_TARGETS, load_audio_lm

    model_id = REAL_MODELS.get(model, model)
    lora = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0, target_modules=AUDIO_LORA_TARGETS)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return load_audio_lm(model_id, lora=lora, dtype=torch.bfloat16 if device == "cuda" else None, device=device,
                         max_new_tokens=max_new_tokens)  # fmt: skip


def mmau_rows(path: str | Path) -> list[dict]:
    """GRPO rows from an MMAU-style JSONL file: one object per line with ``audio_path`` (a 16 kHz WAV; other
    rates are refused by the adapter), ``question``, ``choices`` (list) and ``answer`` (the correct choice text).

    MMAU test-mini is distributed by its authors (github.com/Sakshi113/MMAU: ``mmau-test-mini.json`` and the
    audio archive); convert it to this layout once.
    """
    from adrpo_nb.tasks.audio_qa import read_wav

    rows = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        missing = {"audio_path", "question", "choices", "answer"} - set(item)
        if missing:
            raise ValueError(f"{path}: a row lacks {sorted(missing)}: {line[:200]}")
        text = f"{item['question']} choose one of : {' , '.join(item['choices'])} ."
        prompt = [{"role": "user", "content": [{"type": "audio", "audio": read_wav(item["audio_path"]),
                                                "sampling_rate": 16000}, {"type": "text", "text": text}]}]  # fmt: skip
        rows.append({"prompt": prompt, "answer": item["answer"], "choices": item["choices"],
                     "question": item["question"]})  # fmt: skip
    return rows


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m adrpo_nb.experiments.audio", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("pretrain", help="SFT the tiny Qwen2-Audio on the synthetic benchmark (weak start)")
    pre.add_argument("--out", type=Path, default=None, help="default: runs/pretrain[-smoke]/qwen2_audio_tiny "
                     "(the shipped model: --out data/checkpoints/qwen2_audio_tiny)")
    pre.add_argument("--smoke", action="store_true")
    tr = sub.add_parser("train", help="one RL run (tiny model on CPU, or --model for the real path)")
    tr.add_argument("--variant", default="adrpo_cesar", choices=sorted(VARIANTS))
    tr.add_argument("--beta0", type=float, default=0.04)
    tr.add_argument("--process-weight", type=float, default=1.0)
    tr.add_argument("--iterations", type=int, default=None)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default=None, help="run folder (checkpoint, result.json)")
    tr.add_argument("--model", default=None, help="real path: omni, qwen2_audio or a hub id (needs the hub and a GPU)")
    tr.add_argument("--rows", default=None, help="real path: MMAU-style JSONL (see mmau_rows)")
    tr.add_argument("--smoke", action="store_true")
    sw = sub.add_parser("sweep", help="variants × seeds, β0 and α grids, written as one JSON")
    sw.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sw.add_argument("--workers", type=int, default=2)
    sw.add_argument("--runs-dir", default=None, help="default: runs/audio_sweep[-smoke]")
    sw.add_argument("--out", type=Path, default=None, help="default: runs/results[-smoke]/audio_sweep.json")
    sw.add_argument("--smoke", action="store_true")
    return p


def _train(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {"seed": args.seed, "output_dir": args.out, "progress": True}
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    cfg = audio_config(args.variant, args.beta0, process_weight=args.process_weight, **overrides)
    if args.model is not None:
        if not args.rows:
            raise SystemExit("the real path needs --rows (an MMAU-style JSONL: adrpo_nb.experiments.audio.mmau_rows)")
        adapter = real_setup(args.model)
        funcs, weights = reward_setup(VARIANTS[args.variant][1], args.process_weight, l_max=256,
                                      tokenizer=adapter.tokenizer)  # fmt: skip
        cfg = replace(cfg, reward_weights=weights, learning_rate=1e-5, minibatch_size=8, iterations=args.iterations
                      or 500, extra={**cfg.extra, "l_max": 256})  # fmt: skip
        history = GRPOTrainer(adapter, funcs, mmau_rows(args.rows), cfg).train()
        print(json.dumps({k: history[-1][k] for k in ("reward", "kl", "entropy") if k in history[-1]}, indent=1))
        return
    shrink = args.smoke or smoke()
    check_output(args.out, shrink)
    cfg = smoke_config(cfg) if shrink else cfg
    result = run_rl(cfg, eval_size=10 if shrink else 400, budgets=(4, None) if shrink else BUDGETS)
    print(json.dumps({k: v for k, v in result["final"].items()}, indent=1))
    print(f"slope {result['slope']:+.4f} accuracy points per reasoning token; {result['provenance']['seconds']} s")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "pretrain":
        from adrpo_nb.experiments.audio.family import TINY_MODEL

        shrink = args.smoke or smoke()
        check_output(args.out, shrink)
        out = args.out or default_output("pretrain", TINY_MODEL[-1], smoke_run=shrink)
        pretrain(out, smoke_run=shrink)
        print(f"wrote {out}")
    elif args.command == "train":
        _train(args)
    elif args.command == "sweep":
        shrink = args.smoke or smoke()
        check_output(args.out, shrink)
        check_output(args.runs_dir, shrink, "--runs-dir")
        out = args.out or default_output("results", RESULTS_FILE[-1], smoke_run=shrink)
        result = sweep(sweep_grid(args.seeds), runs_dir=args.runs_dir, workers=args.workers, shrink=shrink)
        atomic_write_json(out, portable_paths(result))
        for row in result["summary"]["rows"]:
            print(f"{row['variant']:>13} β0={row['beta0']:<5g} w={row['process_weight']:<4g} accuracy "
                  f"{row['accuracy']:.3f} ± {row['accuracy_std']:.3f}, think {row['think_length']:.1f}, "
                  f"slope {row['slope']:+.4f}")  # fmt: skip
        print(f"wrote {out}")
    return 0
