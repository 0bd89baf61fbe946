"""Audio experiments: the family's hooks (build, evaluate with reasoning budgets, the sweep's grid) and its command
line. Pretraining the tiny Qwen2-Audio is in pretrain.py, the real path in real.py.

Command line (each prints where it wrote and what it measured; ``--help`` lists every flag)::

    python -m adrpo_nb.experiments.audio pretrain      # SFT to a weak start -> runs/pretrain/qwen2_audio_tiny/
    python -m adrpo_nb.experiments.audio train --variant adrpo_cesar --beta0 0.04   # one CPU run
    python -m adrpo_nb.experiments.audio sweep         # variants × seeds, β0/w grids -> runs/results/audio_sweep.json
    # the real path (GPU): Qwen2.5-Omni-7B's thinker (or qwen2_audio) + LoRA on MMAU-style rows you provide as JSONL
    python -m adrpo_nb.experiments.audio train --model omni --rows mmau_train.jsonl --variant adrpo_cesar

The three variants of the chapter are one trainer with two switches: the KL coefficient (``method``:
``fixed`` β0 = GRPO, ``adrpo``) and the reward (``rewards``: ``outcome`` = accuracy + format, as R1-AQA and
Ke-Omni-R; ``cesar`` = plus consistency, keywords and overthinking with weights λ: the book's letters for
``CESAR_ALPHAS``).
Add ``--smoke`` to any CPU command for a seconds-long version (what CI runs; it writes only under
``runs/*-smoke/``). Nothing is written into ``data/`` unless ``--out`` says so (the committed files:
``pretrain --out data/checkpoints/qwen2_audio_tiny``, ``sweep --out data/results/audio_sweep.json``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from adrpo_nb.experiments import cli, runner
from adrpo_nb.experiments.audio.family import (
    L_MAX,
    MAX_NEW_TOKENS,
    dataset,
    eval_questions,
    evaluate,
    load_tiny,
    tiny_model_path,
)
from adrpo_nb.experiments.audio.pretrain import pretrain
from adrpo_nb.experiments.audio.real import mmau_rows, real_setup
from adrpo_nb.experiments.family import Family, RunSpec, Settings, data_fingerprint, model_fingerprint
from adrpo_nb.rewards.cesar import CESAR_ALPHAS, cesar_reward_funcs
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer
from adrpo_nb.utils.validate import ConfigError, check_float, check_int
from adrpo_nb.viz.audio import run_settings

__all__ = [
    "AudioFamily",
    "AudioSettings",
    "BUDGETS",
    "FAMILY",
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
    "sweep_grid",
]

#: the chapter's three variants: (KL method, reward)
VARIANTS = {"grpo_outcome": ("fixed", "outcome"), "grpo_cesar": ("fixed", "cesar"), "adrpo_cesar": ("adrpo", "cesar")}
#: reasoning budgets (think tokens) of the test-time scaling curves; None = up to MAX_NEW_TOKENS
BUDGETS = (0, 4, 8, 16, 32, 64, None)
CURVE_KEYS = ("reward", "rewards/accuracy_reward/mean", "rewards/overthinking/mean", "rewards/consistency_reward/mean",
              "rewards/keywords/mean", "kl", "entropy", "beta_eff/mean", "completions/mean_length")  # fmt: skip


@dataclass
class AudioSettings(Settings):
    """What an audio run's result depends on beside the trainer's config: the reward (``rewards``: ``outcome`` or
    ``cesar``; ``process_weight`` w scales CESAR's λ_cons, λ_kw, λ_len; ``l_max``: the overthinking term's length),
    the evaluation (``eval_size`` held-out questions at each reasoning ``budgets``; ``None`` = unlimited, which the
    final metrics come from) and β_eff recorded at ``snapshots``."""

    rewards: str = "cesar"
    process_weight: float = 1.0
    l_max: int = L_MAX
    eval_size: int = 400
    budgets: tuple[int | None, ...] = BUDGETS
    snapshots: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.rewards not in ("outcome", "cesar"):
            raise ConfigError(f"rewards must be 'outcome' or 'cesar', got rewards={self.rewards!r}")
        self.process_weight = check_float("process_weight", self.process_weight, minimum=0.0)
        self.l_max = check_int("l_max", self.l_max, minimum=1)
        self.eval_size = check_int("eval_size", self.eval_size, minimum=1)
        self.budgets = tuple(None if b is None else check_int("budgets", b, minimum=0) for b in self.budgets)
        if None not in self.budgets:
            raise ConfigError(f"budgets must include None (the unlimited budget the final metrics come from), got "
                              f"budgets={self.budgets}")  # fmt: skip
        self.snapshots = tuple(check_int("snapshots", s, minimum=1) for s in self.snapshots)



def reward_setup(rewards: str, process_weight: float = 1.0, l_max: int = L_MAX, tokenizer: Any = None
                 ) -> tuple[list, list[float]]:  # fmt: skip
    """The reward functions and weights: ``outcome`` (accuracy λ_acc = 5, format λ_fmt = 1) or ``cesar`` (all five);
    think lengths in ``tokenizer``'s tokens (the policy's) when given, else words."""
    if rewards not in ("outcome", "cesar"):
        raise ValueError(f"rewards must be 'outcome' or 'cesar', got rewards={rewards!r}")
    a = CESAR_ALPHAS
    alphas = (a[0], a[1], *(process_weight * x for x in a[2:]))
    return cesar_reward_funcs(alphas, l_max=l_max, outcome_only=rewards == "outcome", tokenizer=tokenizer)


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



def variant_fields(variant: str) -> dict[str, str]:
    """``{"method", "rewards"}`` of one of the chapter's :data:`VARIANTS`."""
    if variant not in VARIANTS:
        raise ConfigError(f"variant must be one of {sorted(VARIANTS)}, got variant={variant!r}")
    method, rewards = VARIANTS[variant]
    return {"method": method, "rewards": rewards}


def run_label(variant: str, beta0: float, seed: int, process_weight: float = 1.0) -> str:
    """A run's folder name, e.g. ``adrpo_cesar_b0.04_s1`` (``_w0.5`` when λ_cons, λ_kw, λ_len are scaled)."""
    return f"{variant}_b{beta0:g}" + (f"_w{process_weight:g}" if process_weight != 1.0 else "") + f"_s{seed}"


class AudioFamily(Family):
    """The shipped tiny Qwen2-Audio on the synthetic audio questions, rewarded by CESAR's terms or the outcome."""

    name = "audio"
    config_class = GRPOConfig
    settings_class = AudioSettings
    methods = ("adrpo", "fixed", "none")
    #: the CPU run: 100 iterations of 8 prompts × K = 8 completions, one step of 64, lr 3e-4
    defaults: ClassVar = {"beta0": 0.04, "iterations": 100, "prompts_per_iteration": 8, "num_generations": 8,
                          "minibatch_size": 64, "learning_rate": 3e-4, "checkpoint_every": 20, "progress": False}
    smoke: ClassVar = {"iterations": 3, "prompts_per_iteration": 2, "num_generations": 4, "minibatch_size": 8,
                       "checkpoint_every": 3, "eval_size": 10, "budgets": (4, None)}  # fmt: skip
    curve_keys = CURVE_KEYS
    book_prefix = "audio_"
    pretrain_name = "qwen2_audio_tiny"
    spec_aliases = ("variant",)

    def spec(self, **fields: Any) -> RunSpec:
        """The default run with ``fields``; ``variant=`` names the chapter's (method, rewards) pair, and the reward
        weights follow ``rewards`` and ``process_weight`` unless ``reward_weights`` is given."""
        if "variant" in fields:
            fields = {**variant_fields(fields.pop("variant")), **fields}
        spec = super().spec(**fields)
        if "reward_weights" in fields:
            return spec
        _, weights = reward_setup(spec.settings.rewards, spec.settings.process_weight)
        return spec.replace(reward_weights=weights)

    def book_fields(self, variant: str, beta0: float) -> dict[str, Any]:
        return {**variant_fields(variant), "beta0": beta0}

    def label(self, spec: RunSpec) -> str:
        s, c = spec.settings, spec.config
        return run_label(run_settings({"config": c.to_dict(), "settings": s.to_dict()})["variant"], c.beta0, c.seed,
                         s.process_weight)  # fmt: skip

    def legacy_settings(self, result: dict[str, Any]) -> dict[str, Any]:
        extra = dict(result["config"].get("extra", {}))
        budgets = [None if p["budget"] == MAX_NEW_TOKENS else p["budget"] for p in result.get("scaling", [])]
        return {"rewards": extra.get("rewards", "cesar"), "process_weight": extra.get("process_weight", 1.0),
                "l_max": extra.get("l_max", L_MAX), "budgets": budgets or BUDGETS,
                "snapshots": [result["config"]["iterations"]] if result.get("beta_eff") else []}  # fmt: skip

    def book_extras(self, spec: RunSpec) -> dict[str, Any]:
        return {"snapshots": (spec.config.iterations,)}

    def make_trainer(self, spec: RunSpec, *, callbacks: Sequence[Any] = ()) -> GRPOTrainer:
        """The shipped tiny Qwen2-Audio on the train split's questions, with the reward functions the settings
        name (:func:`reward_setup`) weighted by ``config.reward_weights``, think lengths in the policy's tokens."""
        adapter, s = load_tiny(), spec.settings
        funcs, _ = reward_setup(s.rewards, s.process_weight, s.l_max, tokenizer=adapter.tokenizer)
        return GRPOTrainer(adapter, funcs, dataset("rl_train"), spec.config, callbacks=list(callbacks))

    def evaluate(self, trainer: GRPOTrainer, spec: RunSpec, records: Any) -> dict[str, Any]:
        trainer.adapter.policy.eval()
        questions = eval_questions(spec.settings.eval_size)
        scaling, examples = _scaling(trainer.adapter, questions, spec.settings.budgets, seed=spec.config.seed + 1)
        final = next(p for p in scaling if p["budget"] == MAX_NEW_TOKENS)
        return {"final": final, "scaling": scaling, "slope": round(scaling_slope(scaling), 5), "examples": examples}

    def fingerprints(self, spec: RunSpec) -> dict[str, Any]:
        return {"base_model": model_fingerprint(tiny_model_path()), "data": _data(spec.settings.eval_size)}

    def base_record(self, spec: RunSpec) -> dict[str, Any]:
        scaling, _ = _scaling(load_tiny(), eval_questions(spec.settings.eval_size), spec.settings.budgets, seed=1)
        return {"final": scaling[-1], "scaling": scaling, "slope": round(scaling_slope(scaling), 5)}

    def add_sweep_flags(self, parser: Any) -> None:
        pass  # the grid is the chapter's (sweep_grid); --seeds picks its seeds

    def sweep_specs(self, args: Any, base: RunSpec, shrink: bool) -> tuple[list[RunSpec], str]:
        specs = [base.replace(**variant_fields(v), beta0=b, process_weight=w, seed=s)
                 for v, b, w, s in sweep_grid(args.seeds)]  # fmt: skip
        return [s.replace(reward_weights=reward_setup(s.settings.rewards, s.settings.process_weight)[1])
                for s in specs], "audio_sweep"  # fmt: skip

    def summarize(self, sweep: dict[str, Any]) -> dict[str, Any]:
        return summarize_sweep(sweep)

    def describe(self, result: dict[str, Any]) -> str:
        return _describe(result)

    def summary_lines(self, sweep: dict[str, Any]) -> list[str]:
        return [f"{row['variant']:>13} β0={row['beta0']:<5g} w={row['process_weight']:<4g} accuracy "
                f"{row['accuracy']:.3f} ± {row['accuracy_std']:.3f}, think {row['think_length']:.1f}, "
                f"slope {row['slope']:+.4f}" for row in sweep["summary"]["rows"]]  # fmt: skip

    def add_train_flags(self, parser: Any) -> None:
        parser.add_argument("--variant", default=argparse.SUPPRESS, choices=sorted(VARIANTS),
                            help="the chapter's (method, rewards) pair; default adrpo_cesar")
        parser.add_argument("--model", default=None, help="real path: omni, qwen2_audio or a hub id (hub and GPU)")
        parser.add_argument("--rows", default=None, help="real path: MMAU-style JSONL (see mmau_rows)")

    def train_elsewhere(self, args: Any, spec: RunSpec) -> bool:
        if args.model is None:
            return False
        if not args.rows:
            raise SystemExit("the real path needs --rows (an MMAU-style JSONL: adrpo_nb.experiments.audio.mmau_rows)")
        adapter = real_setup(args.model)
        funcs, weights = reward_setup(spec.settings.rewards, spec.settings.process_weight, l_max=256,
                                      tokenizer=adapter.tokenizer)  # fmt: skip
        config = spec.replace(reward_weights=weights, learning_rate=1e-5, minibatch_size=8,
                              iterations=getattr(args, "iterations", 500)).config  # fmt: skip
        history = GRPOTrainer(adapter, funcs, mmau_rows(args.rows), config).train()
        print(json.dumps({k: history[-1][k] for k in ("reward", "kl", "entropy") if k in history[-1]}, indent=1))
        return True

    def pretrain(self, out: Path, smoke_run: bool, args: Any) -> dict[str, Any]:
        return pretrain(out, smoke_run=smoke_run)


@lru_cache(maxsize=8)
def _data(eval_size: int) -> str:
    """The data fingerprint of a run: its RL questions and its evaluation questions (the split's version)."""
    from adrpo_nb.tasks.audio_qa import split_questions

    def rows(questions: Sequence[Any]) -> list[dict]:
        return [{**q.to_row(), "sha256": q.sha256} for q in questions]

    return data_fingerprint({"rl_train": rows(split_questions("rl_train")), "eval": rows(eval_questions(eval_size))})


FAMILY = AudioFamily()
make_trainer, run_rl, smoke_config = FAMILY.make_trainer, partial(runner.run_rl, FAMILY), FAMILY.shrink
book_run_config = partial(runner.book_run_config, FAMILY)


def book_run(variant: str, beta0: float = 0.04, *, seed: int = 0, iterations: int | None = None,
             callbacks: Sequence[Any] = (), **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A chapter's run of ``variant`` (:func:`~adrpo_nb.experiments.runner.book_run`: the committed result, else the
    finished run, else it trains)."""
    return runner.book_run(FAMILY, variant, beta0, seed=seed, iterations=iterations, callbacks=callbacks, **fields)


def audio_config(variant: str = "adrpo_cesar", beta0: float = 0.04, **fields: Any) -> RunSpec:
    """The CPU run of ``variant`` with ``beta0`` and ``fields`` (config or settings fields, e.g. ``process_weight``)."""
    return FAMILY.spec(variant=variant, beta0=beta0, **fields)


def sweep_grid(seeds: Sequence[int] = (0, 1, 2), betas: Sequence[float] = (0.01, 0.1),
               process_weights: Sequence[float] = (0.0, 0.5, 2.0)) -> list[tuple[str, float, float, int]]:  # fmt: skip
    """``(variant, β0, process_weight, seed)`` of the sweep: the three variants at β0 = 0.04 for every seed,
    then, on seed 0, ADRPO and GRPO with CESAR at the other ``betas`` (β0 slider) and ADRPO at other
    ``process_weights`` (the process-weight slider)."""
    grid = [(v, 0.04, 1.0, s) for v in VARIANTS for s in seeds]
    grid += [(v, b, 1.0, 0) for v in ("adrpo_cesar", "grpo_cesar") for b in betas]
    grid += [("adrpo_cesar", 0.04, w, 0) for w in process_weights]
    return grid


# ----------------------------------------------------------------------------- the sweep's summary
def _describe(result: dict[str, Any]) -> str:
    f = result["final"]
    return (f"accuracy {f['accuracy']:.3f}, think {f['think_length']:.1f} words, slope {result['slope']:+.4f}, "
            f"{result['provenance']['seconds']:.0f} s")  # fmt: skip


def summarize_sweep(result: dict[str, Any], keys: Sequence[str] = ("accuracy", "format", "think_length",
                    "consistency", "keywords", "overthinking")) -> dict[str, Any]:  # fmt: skip
    """Mean ± std over seeds of each (variant, β0, process weight): final metrics, slope, and the scaling curve."""
    groups: dict[tuple, list[dict]] = {}
    for run in result["runs"]:
        settings = run_settings(run)
        groups.setdefault((settings["variant"], run["config"]["beta0"], settings["process_weight"]), []).append(run)
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adrpo_nb.experiments.audio``."""
    return cli.main(FAMILY, argv, __doc__)
