"""The claims ledger: every headline claim of the book, its interval over seeds and a verdict, from the result files.

``python -m adrpo_nb.experiments.claims build --out data/results/claims.json`` writes the ledger the book's
"What reproduces" page renders and the chapters word their conclusions from (without ``--out`` it writes
``runs/results/claims.json``: no command writes into ``data/`` unless told to). Each entry:

* ``id``, ``statement`` (what is claimed, in the words the book may use if it holds), ``source`` (the paper's
  claim it tests, or the chapter that makes it), ``metric`` (the per-seed quantity), ``files``;
* ``estimate``, ``ci_low``, ``ci_high``, ``n_seeds``: the mean of the per-seed values and its two-sided 95 %
  Student-t interval (sample std; :mod:`adrpo_nb.stats`). A comparison of two methods is paired: the
  per-seed value is method A's metric minus method B's on the same seed;
* ``verdict``, by one rule (:func:`verdict`): **reproduced** when the interval excludes 0 on the claimed side
  and at least :data:`MIN_SEEDS` seeds ran; **not reproduced** when the estimate lies on the other side or at 0;
  **partly** otherwise (the right sign, but the interval holds 0 or too few seeds ran); **not tested here**
  in three cases, and the entry's ``note`` says which: the claim has no measure in this repository (the
  paper's real-size results), a file it reads does not exist (its runs have not been made), or its runs were
  made with another base model than the one shipped (the fingerprint each run recorded differs from today's).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adrpo_nb.experiments.family import model_fingerprint
from adrpo_nb.experiments.runner import check_output, default_output
from adrpo_nb.metrics import hypervolume_2d
from adrpo_nb.stats import MIN_SEEDS, VERDICTS, mean_interval, verdict  # the rule, on an interval (re-exported here)
from adrpo_nb.utils.paths import atomic_write_json, data_path, repository_root
from adrpo_nb.utils.provenance import check_seal, provenance, seal

__all__ = ["CLAIMS", "LONG_REASONING_WORDS", "MIN_SEEDS", "VERDICTS", "Claim", "build", "evaluate_claim", "verdict"]

#: the shipped base model of each family (its fingerprint must equal the one a run recorded)
BASE_MODELS = {
    "mnist": ("checkpoints", "mnist"),
    "sd3": ("checkpoints", "sd3_tiny"),
    "qwen": ("checkpoints", "qwen_tiny_countdown"),
    "audio": ("checkpoints", "qwen2_audio_tiny"),
}
#: families whose runs made before fingerprints were recorded still count: their base model has not changed
#: since (``tests/test_claims.py`` checks it with git)
UNCHANGED_SINCE_UNFINGERPRINTED_RUNS = ("mnist",)

Runs = list[dict[str, Any]]
#: reads a sealed reference file (not a run file: a guidance curve) under the ledger's root
Reader = Callable[[str], dict[str, Any]]
Measure = Callable[[Runs, dict[str, Any], Reader], dict[int, float]]


@dataclass(frozen=True)
class Claim:
    """One claim: what is said, where, and how its per-seed values are computed from its files."""

    id: str
    statement: str
    source: str
    metric: str
    family: str | None = None
    files: tuple[str, ...] = ()  #: the run files (sweeps or single results)
    references: tuple[str, ...] = ()  #: other files the measure reads (through its reader)
    direction: int = 1  #: +1: the claim is that the metric is > 0; -1: < 0
    measure: Measure | None = None  #: (runs, base metrics, reader) -> {seed: value}; None: not testable here
    note: str = ""


class NotUnderProtocol(Exception):
    """The runs were made under another protocol (base model) than today's."""


# ----------------------------------------------------------------------------- reading the runs
def run_fields(run: dict[str, Any]) -> dict[str, Any]:
    """Everything a run was made with, flat: config, typed settings, and the legacy ``config.extra``."""
    config = dict(run["config"])
    extra = config.pop("extra", None) or {}
    return {**extra.get("adapter", {}), **{k: v for k, v in extra.items() if k != "adapter"}, **config,
            **(run.get("settings") or {})}  # fmt: skip


def load_runs(files: Sequence[str], root: Path) -> tuple[Runs, dict[str, Any]]:
    """The runs in ``files`` (sweep files with ``runs`` or single ``result.json`` files; folders: every
    ``*.json`` in them) and the base model's metrics (the first sweep file's ``base``)."""
    runs: Runs = []
    base: dict[str, Any] = {}
    for name in files:
        path = root / name
        if not path.exists():
            raise FileNotFoundError(name)
        for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
            result = json.loads(file.read_text())
            check_seal(result, file)
            if "runs" in result:
                runs += result["runs"]
                if not base and "base" in result:
                    base = result["base"].get("final", result["base"])
            elif "config" in result:
                runs.append(result)
            else:
                raise ValueError(f"{file} is neither a sweep (no 'runs') nor a run (no 'config'): a file a "
                                 "measure reads beside the runs belongs in the claim's references")
    return runs, base


def read_reference(name: str, root: Path) -> dict[str, Any]:
    """A sealed reference file (``name`` under ``root``) that a measure reads beside the runs."""
    path = root / name
    if not path.exists():
        raise FileNotFoundError(name)
    record = json.loads(path.read_text())
    check_seal(record, path)
    return record


def _reader(claim: Claim, references: dict[str, dict[str, Any]]) -> Reader:
    def read(name: str) -> dict[str, Any]:
        if name not in references:
            raise KeyError(f"claim {claim.id!r} reads {name!r}, which is not in its references {claim.references}")
        return references[name]

    return read


def check_protocol(family: str, runs: Runs) -> None:
    """Raise :class:`NotUnderProtocol` unless every run was made with the shipped base model of ``family``."""
    today = model_fingerprint(data_path(*BASE_MODELS[family]))
    for run in runs:
        recorded = (run.get("fingerprints") or {}).get("base_model")
        if recorded is None and family in UNCHANGED_SINCE_UNFINGERPRINTED_RUNS:
            continue
        if recorded != today:
            raise NotUnderProtocol(f"made with another {family} base model than the one shipped (recorded "
                                   f"{recorded or 'no fingerprint'}): a run made before the split by meaning")


def pick(runs: Runs, **fields: Any) -> dict[int, dict[str, Any]]:
    """The runs whose fields (:func:`run_fields`) equal ``fields``, by seed; a seed twice is an error."""
    out: dict[int, dict[str, Any]] = {}
    for run in runs:
        have = run_fields(run)
        if all(_same(have.get(k), v) for k, v in fields.items()):
            seed = have["seed"]
            if seed in out:
                raise ValueError(f"two runs match {fields} with seed {seed}")
            out[seed] = run
    if not out:
        raise LookupError(f"no run matches {fields}")
    return out


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(have, (int, float)):
        return math.isclose(have, want, rel_tol=1e-9)
    if isinstance(want, tuple):
        return have is not None and list(have) == list(want)
    return have == want


def _finished(runs: dict[int, dict]) -> dict[int, dict]:
    return {s: r for s, r in runs.items() if r.get("final") is not None}


# ----------------------------------------------------------------------------- measures
def difference(metric: str, a: dict[str, Any], b: dict[str, Any]) -> Measure:
    """Per seed: ``metric`` of the run matching ``a`` minus that of the run matching ``b`` (paired by seed;
    a seed that diverged on either side or ran on one side only is left out, and the entry's ``n_seeds`` and
    ``note`` say so)."""

    def measure(runs: Runs, base: dict[str, Any], read: Reader) -> dict[int, float]:
        first, second = _finished(pick(runs, **a)), _finished(pick(runs, **b))
        return {s: first[s]["final"][metric] - second[s]["final"][metric] for s in sorted(set(first) & set(second))}

    return measure


def versus_base(metric: str, a: dict[str, Any]) -> Measure:
    """Per seed: ``metric`` of the run matching ``a`` minus the pretrained model's (the sweep's ``base``)."""

    def measure(runs: Runs, base: dict[str, Any], read: Reader) -> dict[int, float]:
        return {s: r["final"][metric] - base[metric] for s, r in sorted(_finished(pick(runs, **a)).items())}

    return measure


def hypervolume_margin(diversity: str, methods: Sequence[str]) -> Measure:
    """Per seed: ADRPO's hypervolume on the (reward, ``diversity``) plane over its β0 grid minus that of the
    baseline with the largest mean hypervolume (reference point: the base model's reward, diversity 0)."""

    def per_seed(runs: Runs, method: str, base: dict[str, Any]) -> dict[int, float]:
        out: dict[int, list] = {}
        for run in runs:
            f = run_fields(run)
            if f["method"] == method and run.get("final") is not None:
                out.setdefault(f["seed"], []).append((run["final"]["reward"], run["final"][diversity]))
        return {s: hypervolume_2d(points, (base["reward"], 0.0)) for s, points in out.items()}

    def measure(runs: Runs, base: dict[str, Any], read: Reader) -> dict[int, float]:
        adrpo = per_seed(runs, "adrpo", base)
        baselines = {m: per_seed(runs, m, base) for m in methods}
        best = max(baselines, key=lambda m: sum(baselines[m].values()) / len(baselines[m]))
        return {s: adrpo[s] - baselines[best][s] for s in sorted(set(adrpo) & set(baselines[best]))}

    return measure


def log_ratio(metric: str, a: dict[str, Any], b: dict[str, Any]) -> Measure:
    """Per seed: ``log(metric of a) − log(metric of b)``, paired by seed as :func:`difference` pairs them, for a
    positive, heavy-tailed metric (W2): one runaway seed moves a mean of differences by its size, a mean of log
    ratios by its order of magnitude. A value that is not positive is an error (it has no logarithm)."""

    def measure(runs: Runs, base: dict[str, Any], read: Reader) -> dict[int, float]:
        first, second = _finished(pick(runs, **a)), _finished(pick(runs, **b))
        out = {}
        for s in sorted(set(first) & set(second)):
            x, y = first[s]["final"][metric], second[s]["final"][metric]
            if x <= 0 or y <= 0:
                raise ValueError(f"log ratio of {metric}: seed {s} has {x} and {y}; both must be positive")
            out[s] = math.log(x) - math.log(y)
        return out

    return measure


# ----------------------------------------------------------------------------- the claims
def _mnist() -> list[Claim]:
    files = ("data/results/mnist_sweep.json",)
    c = dict(family="mnist", files=files)
    adrpo, none = {"method": "adrpo", "beta0": 0.05}, {"method": "none"}
    baselines = ("none", "fixed", "orw")  # the baselines chapter 3 draws beside ADRPO
    return [
        Claim("mnist.collapse", "Without a regulariser (β = 0), the fine-tuned model loses even digits: its "
              "even-digit entropy falls below the pretrained model's.", "chapter 2; paper §1 (mode collapse)",
              "even_entropy_norm(β = 0) − even_entropy_norm(pretrained)", direction=-1,
              measure=versus_base("even_entropy_norm", none), **c),
        Claim("mnist.adrpo_keeps_digits", "At β0 = 0.05, ADRPO keeps more even digits than β = 0.",
              "chapter 3", "even_entropy_norm(ADRPO, β0 = 0.05) − even_entropy_norm(β = 0)",
              measure=difference("even_entropy_norm", adrpo, none), **c),
        Claim("mnist.adrpo_w2", "At β0 = 0.05, ADRPO stays closer to the pretrained model (W2) than β = 0.",
              "chapter 3", "W2(ADRPO, β0 = 0.05) − W2(β = 0)", direction=-1,
              measure=difference("w2", adrpo, none), **c),
        Claim("mnist.hypervolume", "Over the β0 sweep, ADRPO's reward–diversity front has a larger hypervolume "
              "than the best baseline's (even-digit entropy).", "chapter 3; paper §5 (Pareto front)",
              "HV(ADRPO) − HV(best of β = 0, fixed β, ORW-CFM-W2), per seed",
              measure=hypervolume_margin("even_entropy_norm", baselines), **c),
        Claim("mnist.hypervolume_pairwise", "Over the β0 sweep, ADRPO's reward–diversity front has a larger "
              "hypervolume than the best baseline's (pairwise distance in the classifier's feature space).",
              "chapter 3; paper §5 (Pareto front)",
              "HV(ADRPO) − HV(best of β = 0, fixed β, ORW-CFM-W2), per seed, on (reward, pairwise distance)",
              measure=hypervolume_margin("pairwise_distance", baselines), **c),
        # the fixed-β dilemma of chapter 2, one horn each: a small fixed β0 runs away, a large one costs reward
        Claim("mnist.fixed_drifts", "At β0 = 0.05, fixed β ends farther from the pretrained model (W2) than "
              "β = 0.", "chapter 2 (the fixed-β dilemma); paper §1",
              "log W2(fixed β, β0 = 0.05) − log W2(β = 0), per seed (W2's seeds differ by orders of magnitude)",
              measure=log_ratio("w2", {"method": "fixed", "beta0": 0.05}, none), **c),
        Claim("mnist.fixed_reward_cost", "At β0 = 1, fixed β's reward is lower than β = 0's.",
              "chapter 2 (the fixed-β dilemma); paper §1", "reward(fixed β, β0 = 1) − reward(β = 0)", direction=-1,
              measure=difference("reward", {"method": "fixed", "beta0": 1.0}, none), **c),
    ]


def beyond_guidance(curve_file: str, a: dict[str, Any]) -> Measure:
    """Per seed: the run's reward minus the reward guidance alone reaches at the run's diversity
    (:func:`~adrpo_nb.experiments.sd3.guidance_reward_at`), averaged over the evaluation noise seeds that the
    run's ``final_by_eval_seed`` and the curve's ``by_eval_seed`` share: each run is compared with the curve
    drawn under the same noise. An evaluation seed at which the run's diversity lies outside the curve's range
    is left out; a seed with none left is dropped."""
    from adrpo_nb.experiments.sd3.family import guidance_reward_at

    def measure(runs: Runs, base: dict[str, Any], read: Reader) -> dict[int, float]:
        curves = read(curve_file)["by_eval_seed"]
        out = {}
        for seed, run in sorted(_finished(pick(runs, **a)).items()):
            margins = []
            for row in run.get("final_by_eval_seed") or []:
                curve = curves.get(str(row["eval_seed"]))
                on_curve = None if curve is None else guidance_reward_at({"points": curve}, row["diversity"])
                if on_curve is not None:
                    margins.append(row["reward"] - on_curve)
            if margins:
                out[seed] = sum(margins) / len(margins)
        if not out:
            raise LookupError(f"no run matching {a} has evaluations under the curve's noise seeds ({curve_file})")
        return out

    return measure


SD3_LEAD = "data/results/sd3_lead.json"  # the five methods at their tuned settings, 600 iterations, 5 seeds
SD3_SWEEP = "data/results/sd3_sweep_g1.json"  # every method's grid at 150 iterations: the tuning and the front
SD3_GUIDANCE = "data/results/sd3_guidance.json"


def _sd3() -> list[Claim]:
    c = dict(family="sd3", files=(SD3_LEAD,))
    adrpo = {"method": "adrpo"}
    out = [Claim(f"sd3.adrpo_vs_{name}", f"After the long budget, ADRPO's held-out reward is higher than {label}'s, "
                 "each at its tuned setting.", "chapter 4; paper §5.1 (SD3: ADRPO above its baselines)",
                 f"reward(ADRPO) − reward({label}), 600 iterations", measure=difference("reward", adrpo, fields), **c)
           for name, label, fields in (("fixed", "fixed β", {"method": "fixed"}), ("none", "β = 0", {"method": "none"}),
                                       ("orw", "ORW-CFM-W2", {"method": "orw"}),
                                       ("dpo", "Diffusion-DPO", {"method": "dpo"}))]  # fmt: skip
    out.append(Claim("sd3.adrpo_diversity_vs_none", "After the long budget, ADRPO's held-out images are more diverse "
                     "than β = 0's.", "chapter 4; paper §1 (mode collapse)",
                     "diversity(ADRPO) − diversity(β = 0), 600 iterations",
                     measure=difference("diversity", adrpo, {"method": "none"}), **c))
    out.append(Claim("sd3.adrpo_gain", "ADRPO raises the held-out reward of the pretrained tiny SD3.", "chapter 4",
                     "reward(ADRPO) − reward(pretrained), 600 iterations", measure=versus_base("reward", adrpo), **c))
    out.append(Claim("sd3.beyond_guidance", "ADRPO ends beyond what classifier-free guidance alone reaches at the "
                     "same diversity.", "chapter 4",
                     "reward(ADRPO) − guidance curve's reward at ADRPO's diversity, per run averaged over the "
                     "evaluation noise seeds, each against the curve drawn with the same noise",
                     measure=beyond_guidance(SD3_GUIDANCE, adrpo), family="sd3", files=(SD3_LEAD,),
                     references=(SD3_GUIDANCE,)))
    out.append(Claim("sd3.hypervolume", "Over the short-budget grid, ADRPO's reward–diversity front has a larger "
                     "hypervolume than the best baseline's.", "chapter 4; paper §5 (Pareto front)",
                     "HV(ADRPO) − HV(best of β = 0, fixed β, ORW-CFM-W2, Diffusion-DPO), per seed, 150 iterations",
                     measure=hypervolume_margin("diversity", ("none", "fixed", "orw", "dpo")), family="sd3",
                     files=(SD3_SWEEP,)))
    return out


def _qwen() -> list[Claim]:
    c = dict(family="qwen", files=("data/results/qwen_sweep.json",))
    out = []
    for beta0 in (0.04, 0.2, 1.0):
        adrpo = {"method": "adrpo", "beta0": beta0, "clip": (-beta0, beta0), "scale_rewards": True}
        fixed = {"method": "fixed", "beta0": beta0, "scale_rewards": True}
        b = f"{beta0:g}"
        out += [
            Claim(f"qwen.kl_b{b}", f"At β0 = {b}, ADRPO ends closer to the reference (KL per token) than fixed β.",
                  "chapter 5; paper §5.2 (less divergence at equal β0)", f"KL(ADRPO) − KL(fixed β), β0 = {b}",
                  direction=-1, measure=difference("kl", adrpo, fixed), **c),
            Claim(f"qwen.accuracy_b{b}", f"At β0 = {b}, ADRPO's held-out accuracy is higher than fixed β's.",
                  "chapter 5; paper §5.2", f"accuracy(ADRPO) − accuracy(fixed β), β0 = {b}",
                  measure=difference("accuracy", adrpo, fixed), **c),
            Claim(f"qwen.distinct_b{b}", f"At β0 = {b}, ADRPO keeps more distinct correct answers per puzzle than "
                  "fixed β.", "chapter 5; paper §5.2 (diversity)",
                  f"distinct_correct(ADRPO) − distinct_correct(fixed β), β0 = {b}",
                  measure=difference("distinct_correct", adrpo, fixed), **c),
        ]
    out += [
        Claim("qwen.none_collapses", "Without a regulariser (β = 0), answer diversity falls below the pretrained "
              "model's.", "chapter 5", "distinct_correct(β = 0) − distinct_correct(pretrained)", direction=-1,
              measure=versus_base("distinct_correct", {"method": "none"}), **c),
        Claim("qwen.adrpo_gain", "ADRPO (β0 = 0.04) raises the held-out accuracy of the pretrained tiny Qwen2.",
              "chapter 5", "accuracy(ADRPO, β0 = 0.04) − accuracy(pretrained)",
              measure=versus_base("accuracy", {"method": "adrpo", "beta0": 0.04, "clip": (-0.04, 0.04)}), **c),
        # the clip's variant: the same runs' settings but clip=None (A unclipped inside β_eff), same seeds
        Claim("qwen.noclip_accuracy", "At β0 = 0.04, ADRPO without the clip on A (inside β_eff) ends with a lower "
              "held-out accuracy than ADRPO with it.", "chapter 5 (§5.5, the sweep's variants)",
              "accuracy(ADRPO without the clip, β0 = 0.04) − accuracy(ADRPO, β0 = 0.04)", direction=-1,
              measure=difference("accuracy", {"method": "adrpo", "beta0": 0.04, "clip": None, "scale_rewards": True},
                                 {"method": "adrpo", "beta0": 0.04, "clip": (-0.04, 0.04), "scale_rewards": True}),
              **c),
    ]
    return out


# the audio family's own measures: a value computed from the whole run, not one key of its ``final``
RunValue = Callable[[dict[str, Any]], float]


def run_difference(value: RunValue, a: dict[str, Any], b: dict[str, Any]) -> Measure:
    """Per seed: ``value(run)`` of the run matching ``a`` minus that of the run matching ``b``, paired by seed as
    :func:`difference` is (for a value that is not a key of ``final``: the mean of a training curve's tail)."""

    def measure(runs: Runs, base: dict[str, Any], read: Reader) -> dict[int, float]:
        first, second = _finished(pick(runs, **a)), _finished(pick(runs, **b))
        return {s: value(first[s]) - value(second[s]) for s in sorted(set(first) & set(second))}

    return measure


def final_versus_base(value: RunValue, a: dict[str, Any]) -> Measure:
    """Per seed: ``value`` of the ``final`` of the run matching ``a`` minus ``value`` of the pretrained model's
    (the sweep's ``base``), as :func:`versus_base` is for a value computed from several keys of ``final``."""

    def measure(runs: Runs, base: dict[str, Any], read: Reader) -> dict[int, float]:
        return {s: value(r["final"]) - value(base) for s, r in sorted(_finished(pick(runs, **a)).items())}

    return measure


def share_reasoning_at_least(words: int) -> RunValue:
    """The share of a final evaluation's held-out completions whose own reasoning (no budget) is at least ``words``
    words long, from its ``by_length`` bins; a bin that straddles ``words`` is an error (it cannot be split)."""

    def share(final: dict[str, Any]) -> float:
        bins = final["by_length"]
        if any(b["from"] < words < b["to"] for b in bins):
            raise ValueError(f"a length bin straddles {words} words: {[(b['from'], b['to']) for b in bins]}")
        return sum(b["count"] for b in bins if b["from"] >= words) / sum(b["count"] for b in bins)

    return share


#: chapter 6's "long" reasoning: the bin of Figure 7 that starts here (words)
LONG_REASONING_WORDS = 60


def _audio() -> list[Claim]:
    from adrpo_nb.viz.audio import KL_WINDOW, training_kl  # the KL chapter 6 reports, over the same window

    c = dict(family="audio", files=("data/results/audio_sweep.json",))
    main = {"beta0": 0.04, "process_weight": 1.0}
    adrpo = {**main, "method": "adrpo", "rewards": "cesar"}
    grpo_cesar = {**main, "method": "fixed", "rewards": "cesar"}
    grpo_outcome = {**main, "method": "fixed", "rewards": "outcome"}
    variants = (("outcome", "GRPO with the outcome reward", "GRPO, outcome reward", grpo_outcome),
                ("grpo_cesar", "GRPO + CESAR", "GRPO + CESAR", grpo_cesar))
    long_share = share_reasoning_at_least(LONG_REASONING_WORDS)
    words = LONG_REASONING_WORDS
    more = [
        Claim(f"audio.{short}_gain", f"{name} raises the held-out accuracy of the pretrained tiny Qwen2-Audio.",
              "chapter 6", f"accuracy({label}) − accuracy(pretrained)", measure=versus_base("accuracy", fields), **c)
        for short, name, label, fields in variants
    ]
    more += [
        Claim(f"audio.{short}_shorter_reasoning", f"{name} shortens the reasoning of the pretrained model.",
              "chapter 6 (the built-in overthinking)", f"think_length({label}) − think_length(pretrained)",
              direction=-1, measure=versus_base("think_length", fields), **c)
        for short, name, label, fields in variants
    ]
    more += [
        Claim(f"audio.{short}_fewer_long", f"{name} makes reasoning of {words} words or more rarer than in the "
              "pretrained model's completions.", "chapter 6 (the built-in overthinking)",
              f"share of held-out completions reasoning ≥ {words} words ({label}) − the pretrained model's share",
              direction=-1, measure=final_versus_base(long_share, fields), **c)
        for short, name, label, fields in (("adrpo", "ADRPO + CESAR", "ADRPO + CESAR", adrpo), *variants)
    ]
    more += [
        Claim("audio.adrpo_kl", "With CESAR's rewards, ADRPO ends closer to the reference (KL per token) than GRPO "
              "(fixed β).", "chapter 6; paper §5.2–5.3 (less divergence at equal β0)",
              f"KL(ADRPO + CESAR) − KL(GRPO + CESAR), each the mean batch KL per token (k3) of the last "
              f"{KL_WINDOW} training iterations", direction=-1,
              measure=run_difference(training_kl, adrpo, grpo_cesar), **c),
        Claim("audio.cesar_consistency", "CESAR raises the consistency term over the outcome reward.", "chapter 6",
              "consistency(GRPO + CESAR) − consistency(GRPO, outcome reward)",
              measure=difference("consistency", grpo_cesar, grpo_outcome), **c),
    ]
    return [
        Claim("audio.adrpo_vs_grpo", "With CESAR's rewards, ADRPO's held-out accuracy is higher than GRPO's "
              "(fixed β).", "chapter 6; paper §5.3 (ADRPO + CESAR above GRPO + CESAR)",
              "accuracy(ADRPO + CESAR) − accuracy(GRPO + CESAR)", measure=difference("accuracy", adrpo, grpo_cesar),
              **c),
        Claim("audio.cesar_vs_outcome", "CESAR's process rewards raise held-out accuracy over the outcome reward.",
              "chapter 6; CESAR (process rewards)", "accuracy(GRPO + CESAR) − accuracy(GRPO, outcome reward)",
              measure=difference("accuracy", grpo_cesar, grpo_outcome), **c),
        Claim("audio.cesar_keywords", "CESAR raises the keyword (structure) term over the outcome reward.",
              "chapter 6", "keywords(GRPO + CESAR) − keywords(GRPO, outcome reward)",
              measure=difference("keywords", grpo_cesar, grpo_outcome), **c),
        Claim("audio.adrpo_gain", "ADRPO + CESAR raises the held-out accuracy of the pretrained tiny Qwen2-Audio.",
              "chapter 6", "accuracy(ADRPO + CESAR) − accuracy(pretrained)",
              measure=versus_base("accuracy", adrpo), **c),
        Claim("audio.shorter_reasoning", "ADRPO + CESAR shortens the reasoning of the pretrained model.",
              "chapter 6 (the built-in overthinking)", "think_length(ADRPO + CESAR) − think_length(pretrained)",
              direction=-1, measure=versus_base("think_length", adrpo), **c),
        *more,
    ]


def _paper_only() -> list[Claim]:
    why = "a real-size result of the paper: the real paths run the same code on a GPU, which no session here had"
    return [
        Claim("paper.sd3_medium", "SD3-medium fine-tuned with ADRPO (2 B parameters) beats much larger models "
              "on attribute binding, semantic consistency and artistic style.", "paper §5.1", "GenEval-style scores",
              note=why),
        Claim("paper.llm_reasoning", "ADRPO on Qwen2/Qwen3 improves reasoning over GRPO with fixed KL.",
              "paper §5.2", "task accuracy", note=why),
        Claim("paper.omni_mmau", "ADRPO + CESAR on Qwen2.5-Omni-7B improves audio reasoning (MMAU) and restores "
              "positive test-time scaling.", "paper §5.3", "MMAU accuracy, scaling slope", note=why),
    ]


CLAIMS: tuple[Claim, ...] = (*_mnist(), *_sd3(), *_qwen(), *_audio(), *_paper_only())


# ----------------------------------------------------------------------------- evaluation
def evaluate_claim(claim: Claim, root: Path | None = None) -> dict[str, Any]:
    """The ledger entry of ``claim`` (its files read under ``root``, default: the repository)."""
    root = root or repository_root() or Path.cwd()
    entry: dict[str, Any] = {"id": claim.id, "statement": claim.statement, "source": claim.source,
                             "metric": claim.metric, "direction": "> 0" if claim.direction > 0 else "< 0",
                             "estimate": None, "ci_low": None, "ci_high": None, "n_seeds": 0,
                             "verdict": "not tested here", "files": [*claim.files, *claim.references],
                             "note": claim.note}  # fmt: skip
    if claim.measure is None:
        return entry
    try:
        runs, base = load_runs(claim.files, root)
        check_protocol(claim.family, runs)
        references = {name: read_reference(name, root) for name in claim.references}
    except FileNotFoundError as err:
        entry["note"] = f"no result file {err.args[0]} (its runs have not been made)"
        return entry
    except NotUnderProtocol as err:
        entry["note"] = str(err)
        return entry
    values = claim.measure(runs, base, _reader(claim, references))
    interval = mean_interval(list(values.values()))
    entry.update(estimate=interval.mean, ci_low=interval.low, ci_high=interval.high, n_seeds=interval.n,
                 seeds=sorted(values), interval="95 % Student t, sample std",
                 verdict=verdict(claim.direction, interval.mean, interval.low, interval.high, interval.n))
    if interval.n < MIN_SEEDS and entry["verdict"] == "partly":
        entry["note"] = (entry["note"] + " " if entry["note"] else "") + f"{interval.n} seeds (< {MIN_SEEDS})"
    return entry


def build(claims: Sequence[Claim] = CLAIMS, root: Path | None = None) -> dict[str, Any]:
    """The ledger: ``{"claims": [entry, ...], "rule": ..., "provenance": ...}``."""
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"claim ids must be unique, got {sorted({i for i in ids if ids.count(i) > 1})}")
    entries = [evaluate_claim(c, root) for c in claims]
    rule = (f"reproduced: the 95 % interval excludes 0 on the claimed side, on >= {MIN_SEEDS} seeds; not reproduced: "
            "the estimate lies on the other side or at 0; partly: otherwise; not tested here: no measure in this "
            "repository (a real-size result of the paper), no result file (its runs have not been made), or runs made "
            "with another base model than the one shipped (the entry's note says which)")  # fmt: skip
    return {"claims": entries, "rule": rule,
            "counts": {v: sum(e["verdict"] == v for e in entries) for v in VERDICTS}}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adrpo_nb.experiments.claims", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the ledger from the result files")
    b.add_argument("--out", type=Path, default=None, help="default: runs/results/claims.json "
                   "(the committed ledger: --out data/results/claims.json)")
    args = parser.parse_args(argv)
    check_output(args.out, False)
    out = args.out or default_output("results", "claims.json")
    ledger = build()
    ledger["provenance"] = provenance(0.0, "cpu", "python -m adrpo_nb.experiments.claims build"
                                      + (f" --out {args.out}" if args.out else ""))
    atomic_write_json(out, seal(ledger))
    for e in ledger["claims"]:
        est = "" if e["estimate"] is None else f" {e['estimate']:+.4f} [{e['ci_low']:+.4f}, {e['ci_high']:+.4f}]"
        print(f"{e['id']:<26} {e['verdict']:<16}{est} n={e['n_seeds']}")
    print(f"{ledger['counts']}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
