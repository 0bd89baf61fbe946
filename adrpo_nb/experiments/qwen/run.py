"""Qwen experiments: the family's hooks (build, evaluate during and after training, the sweep's grid) and its command
line. Evaluation of the tiny model is in family.py, pretraining in pretrain.py, the real path in real.py.

Command line (each prints where it wrote and what it measured; ``--help`` lists every flag)::

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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from adrpo_nb.experiments import cli, runner
from adrpo_nb.experiments.family import Family, RunSpec, Settings, data_fingerprint, model_fingerprint
from adrpo_nb.experiments.qwen.family import (
    countdown_correct,
    countdown_format,
    countdown_rows,
    eval_puzzles,
    evaluate_policy,
    load_tiny,
    samples_html,
    tiny_model_path,
)
from adrpo_nb.experiments.qwen.pretrain import pretrain
from adrpo_nb.experiments.qwen.real import gsm8k_format as gsm8k_format  # realsize.py imports it from here
from adrpo_nb.experiments.qwen.real import run_real
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer
from adrpo_nb.utils.validate import check_int
from adrpo_nb.viz.lm import run_variant

__all__ = [
    "CURVE_KEYS",
    "EXTRA_VARIANTS",
    "FAMILY",
    "QwenFamily",
    "QwenSettings",
    "SWEEP_BETAS",
    "SWEEP_METHODS",
    "book_run",
    "book_run_config",
    "default_config",
    "make_trainer",
    "run_label",
    "run_rl",
    "smoke_config",
    "summarize_sweep",
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
REWARD_FUNCS = (countdown_correct, countdown_format)
CURVE_KEYS = (
    "reward", "rewards/countdown_correct/mean", "reward_std", "frac_reward_zero_std", "kl", "entropy",
    "beta_eff/mean", "beta_eff/min", "beta_eff/max", "beta_eff/frac_negative", "diversity/distinct_1",
    "diversity/distinct_2", "diversity/self_bleu", "completions/mean_length", "clip_ratio/region_mean", "grad_norm",
    "loss", "policy_loss",
)  # fmt: skip


@dataclass
class QwenSettings(Settings):
    """What a countdown run's result depends on beside the trainer's config: ``dataset_size`` RL rows, an
    evaluation every ``eval_every`` iterations on ``eval_size`` held-out puzzles × ``samples_per_puzzle``
    completions, and β_eff recorded at ``snapshots``."""

    eval_every: int = 30
    eval_size: int = 128
    samples_per_puzzle: int = 8
    dataset_size: int = 4000
    snapshots: tuple[int, ...] = ()

    LEGACY: ClassVar = {"beta_eff_snapshots": "snapshots"}

    def __post_init__(self) -> None:
        for name in ("eval_every", "eval_size", "dataset_size"):
            setattr(self, name, check_int(name, getattr(self, name), minimum=1))
        self.samples_per_puzzle = check_int("samples_per_puzzle", self.samples_per_puzzle, minimum=2)
        self.snapshots = tuple(check_int("snapshots", s, minimum=1) for s in self.snapshots)


# ----------------------------------------------------------------------------- the family
def run_label(method: str, beta0: float, seed: int, clip: Any = "auto", scale_rewards: bool = True) -> str:
    """A run's folder name, e.g. ``adrpo_b0.04_s1``, ``adrpo_b0.04_noclip_s0``, ``adrpo_b1_unscaled_s0``
    (``none_s1`` for β = 0)."""
    tag = "" if clip == "auto" else ("_noclip" if clip is None else f"_clip{clip[0]:g},{clip[1]:g}")
    tag += "" if scale_rewards else "_unscaled"
    return f"{method}_b{beta0:g}{tag}_s{seed}" if method != "none" else f"none_s{seed}"


class QwenFamily(Family):
    """The shipped tiny Qwen2 on countdown puzzles, rewarded by a correct equation plus the answer format."""

    name = "qwen"
    config_class = GRPOConfig
    settings_class = QwenSettings
    methods = SWEEP_METHODS
    #: the CPU run: 120 iterations of 16 prompts × 8 completions, two optimizer steps of 64 per batch, lr 3e-4
    defaults: ClassVar = {"iterations": 120, "prompts_per_iteration": 16, "num_generations": 8, "minibatch_size": 64,
                          "learning_rate": 3e-4, "checkpoint_every": 50, "progress": False}  # fmt: skip
    smoke: ClassVar = {"iterations": 6, "prompts_per_iteration": 4, "num_generations": 4, "minibatch_size": 16,
                       "checkpoint_every": 3, "eval_size": 16, "samples_per_puzzle": 4, "eval_every": 3}  # fmt: skip
    curve_keys, curve_points = CURVE_KEYS, 100
    record_kinds = ("evals",)
    book_prefix = "qwen_"
    pretrain_name = "qwen_tiny_countdown"
    cli_aliases: ClassVar = {"learning_rate": ("--lr",)}
    sweep_methods, sweep_betas = SWEEP_METHODS, SWEEP_BETAS

    def label(self, spec: RunSpec) -> str:
        c = spec.config
        clip = "auto" if c.clip == (None if c.method != "adrpo" else (-c.beta0, c.beta0)) else c.clip
        return run_label(c.method, c.beta0, c.seed, clip, c.scale_rewards)

    def legacy_settings(self, result: dict[str, Any]) -> dict[str, Any]:
        steps = [e["iteration"] for e in result.get("evals", [])]
        return {"snapshots": sorted(int(i) for i in result.get("beta_eff") or {}),
                "eval_every": steps[1] - steps[0] if len(steps) > 2 else QwenSettings.eval_every}

    def book_extras(self, spec: RunSpec) -> dict[str, Any]:
        it = spec.config.iterations
        return {"snapshots": tuple(sorted({1, it // 2, it} - {0})), "eval_every": max(1, it // 4)}

    def make_trainer(self, spec: RunSpec, *, callbacks: Sequence[Any] = ()) -> GRPOTrainer:
        """The shipped tiny Qwen2 on ``dataset_size`` countdown puzzles, rewarded by a correct equation plus the
        answer format."""
        rows = countdown_rows(spec.settings.dataset_size)
        return GRPOTrainer(load_tiny(), list(REWARD_FUNCS), rows, spec.config, callbacks=list(callbacks))

    def _evaluate_into(self, trainer: GRPOTrainer, spec: RunSpec, records: Any) -> None:
        s = spec.settings
        m = evaluate_policy(trainer.adapter, eval_puzzles(s.eval_size), s.samples_per_puzzle)
        records.put("evals", trainer.iteration, {"iteration": trainer.iteration,
                                                 **{k: v for k, v in m.items() if k != "examples"}})  # fmt: skip

    def on_start(self, trainer: GRPOTrainer, spec: RunSpec, records: Any) -> None:
        self._evaluate_into(trainer, spec, records)

    def on_iteration(self, trainer: GRPOTrainer, spec: RunSpec, records: Any) -> None:
        if trainer.iteration % spec.settings.eval_every == 0 or trainer.iteration == spec.config.iterations:
            self._evaluate_into(trainer, spec, records)

    def evaluate(self, trainer: GRPOTrainer, spec: RunSpec, records: Any) -> dict[str, Any]:
        s = spec.settings
        final = evaluate_policy(trainer.adapter, eval_puzzles(s.eval_size), s.samples_per_puzzle)
        examples, evals = final.pop("examples"), list(records.get("evals").values())
        return {"final": final, "start": evals[0] if evals and evals[0]["iteration"] == 0 else None, "evals": evals,
                "examples": examples, "samples_html": samples_html(examples)}  # fmt: skip

    def fingerprints(self, spec: RunSpec) -> dict[str, Any]:
        s = spec.settings
        return {"base_model": model_fingerprint(tiny_model_path()), "data": _data(s.dataset_size, s.eval_size)}

    def base_record(self, spec: RunSpec) -> dict[str, Any]:
        s = spec.settings
        base = evaluate_policy(load_tiny(), eval_puzzles(s.eval_size), s.samples_per_puzzle)
        base["samples_html"] = samples_html(base.pop("examples"))
        return base

    def add_sweep_flags(self, parser: Any) -> None:
        super().add_sweep_flags(parser)
        parser.add_argument("--no-extra", action="store_true",
                            help="skip the extra variants (ADRPO unclipped; ADRPO graded: unscaled A, β0 = 1)")

    def sweep_specs(self, args: Any, base: RunSpec, shrink: bool) -> tuple[list[RunSpec], str]:
        specs, name = super().sweep_specs(args, base, shrink)
        for variant in () if args.no_extra else EXTRA_VARIANTS:
            specs += [base.replace(**variant, seed=seed) for seed in args.seeds]
        it = base.config.iterations
        marks = tuple(sorted({1, it // 3, 2 * it // 3, it} - {0}))
        return [s.replace(snapshots=marks) if s.config.method == "adrpo" and s.config.seed == 0 else s
                for s in specs], name  # fmt: skip

    def summarize(self, sweep: dict[str, Any]) -> dict[str, Any]:
        return summarize_sweep(sweep)

    def describe(self, result: dict[str, Any]) -> str:
        return _describe(result)

    def summary_lines(self, sweep: dict[str, Any]) -> list[str]:
        return [f"{name:>16} β0={row['beta0']:<5g} accuracy {row['accuracy']:.3f} ± {row['accuracy_std']:.3f}, "
                f"distinct correct {row['distinct_correct']:.2f}, KL {row['kl']:.4f}"
                for name, rows in sweep["summary"]["variants"].items() for row in rows]  # fmt: skip

    def add_train_flags(self, parser: Any) -> None:
        parser.add_argument("--model", default=None, help="real path: qwen2, qwen3 or a hub id (the hub and a GPU)")
        parser.add_argument("--task", default="tldr", choices=("tldr", "gsm8k"), help="real path's task")

    def train_elsewhere(self, args: Any, spec: RunSpec) -> bool:
        if args.model is None:
            return False
        real = {"iterations": 500, "learning_rate": 1e-5, "minibatch_size": 16, "prompts_per_iteration": 8,
                "checkpoint_every": 50}  # fmt: skip
        given = {k: v for k, v in vars(args).items() if k in real}
        history = run_real(args.model, args.task, spec.replace(**{**real, **given}).config)
        print(json.dumps({k: history[-1][k] for k in ("reward", "kl", "entropy") if k in history[-1]}, indent=1))
        return True

    def add_pretrain_flags(self, parser: Any) -> None:
        parser.add_argument("--tokenizer-out", type=Path, default=None, help="the tokenizer alone; default: "
                            "OUT/tokenizer (the shipped one: data/tokenizers/countdown_char)")  # fmt: skip

    def pretrain(self, out: Path, smoke_run: bool, args: Any) -> dict[str, Any]:
        from adrpo_nb.experiments.runner import check_output

        check_output(args.tokenizer_out, smoke_run, "--tokenizer-out")
        return pretrain(out, args.tokenizer_out or out / "tokenizer", smoke_run=smoke_run)


@lru_cache(maxsize=8)
def _data(dataset_size: int, eval_size: int) -> str:
    """The data fingerprint of a run: its RL rows and its evaluation puzzles (the split's version)."""
    return data_fingerprint({"rl_train": [r["prompt"] for r in countdown_rows(dataset_size)],
                             "eval": [p.prompt for p in eval_puzzles(eval_size)]})  # fmt: skip


FAMILY = QwenFamily()
make_trainer, run_rl, default_config = FAMILY.make_trainer, partial(runner.run_rl, FAMILY), FAMILY.spec
book_run, book_run_config = runner.bind_book_run(FAMILY)
smoke_config = FAMILY.shrink


# ----------------------------------------------------------------------------- the sweep's summary
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adrpo_nb.experiments.qwen``."""
    return cli.main(FAMILY, argv, __doc__)
