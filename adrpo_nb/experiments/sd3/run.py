"""SD3 experiments: prompts, evaluation, one RL run, the sweeps, the guidance curve and the CLI (the tiny model and its
pretraining are in :mod:`adrpo_nb.experiments.sd3.pretrain`).

Command line::

    python -m adrpo_nb.experiments.sd3 pretrain              # the tiny SD3 -> runs/pretrain/sd3_tiny/
    python -m adrpo_nb.experiments.sd3 train --method adrpo --beta0 0.05
    python -m adrpo_nb.experiments.sd3 sweep                 # methods × β0 × seeds -> runs/results/sd3_sweep.json
    python -m adrpo_nb.experiments.sd3 evaluate              # the pretrained tiny model's metrics

    python -m adrpo_nb.experiments.sd3 train --model stabilityai/stable-diffusion-3-medium-diffusers \\
        --reward clip --prompts drawbench                     # the real path (GPU, hub login)

``--smoke`` shrinks any of them to seconds (and writes only under ``runs/*-smoke/``). Nothing is written into
``data/`` unless ``--out`` says so (the committed files: ``pretrain --out data/checkpoints/sd3_tiny``,
``sweep --guidance 1 --shared-noise --out data/results/sd3_sweep_g1.json``,
``guidance --out data/results/sd3_guidance.json``).
The tiny model has the real classes — an ``SD3Transformer2DModel``, an ``AutoencoderKL``, two
``CLIPTextModelWithProjection`` and a ``T5EncoderModel`` with tokenizers built for the shapes vocabulary —
and is loaded with the same ``StableDiffusion3Pipeline.from_pretrained`` as the hub model.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from adrpo_nb.experiments.book import book_command, committed_book_result
from adrpo_nb.experiments.runner import (
    book_config,
    check_output,
    default_output,
    describe_result,
    finished_result,
    run_flow_experiment,
    run_folder,
    run_jobs,
    run_name,
    select_runs,
    smoke,
    summarize_sweep,
    sweep_provenance,
)
from adrpo_nb.experiments.sd3.pretrain import (
    TINY_ADAPTER,
    TinySD3PretrainConfig,
    build_tiny_pipeline,
    build_tokenizers,
    pretrain,
)
from adrpo_nb.metrics import clip_diversity
from adrpo_nb.models.sd3 import PromptSet, SD3Adapter, load_sd3_pipeline
from adrpo_nb.rewards.images import AttributeBindingReward
from adrpo_nb.tasks.shapes import N_EVAL_PROMPTS, parse_prompt, split_prompts
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.utils.paths import atomic_write_json, data_path, read_json
from adrpo_nb.utils.provenance import git_commit, portable_paths, provenance
from adrpo_nb.utils.runlock import locks_output_dir
from adrpo_nb.viz.images import png_base64

__all__ = [
    "BINDING",
    "GUIDANCE_FILE",
    "REAL_MODEL",
    "REAL_PATH_BATCH",
    "RESULTS_FILE_G1",
    "ORW_OFFICIAL_ALPHAS",
    "SWEEP_BETAS",
    "SWEEP_GRIDS",
    "TINY_ADAPTER",
    "evaluate_pretrained",
    "TINY_DIR",
    "batch_diversity",
    "book_run",
    "book_run_config",
    "build_tiny_pipeline",
    "build_tokenizers",
    "default_config",
    "evaluate_sd3",
    "guidance_curve",
    "guidance_reward_at",
    "versus_guidance",
    "load_drawbench",
    "load_tiny_pipeline",
    "long_runs",
    "make_adapter",
    "make_trainer",
    "orw_official_runs",
    "pretrain",
    "run_protocol",
    "project_prompts",
    "run_rl",
    "select_runs",
    "shapes_prompts",
    "smoke_config",
    "sweep",
    "sweep_grid",
    "TinySD3PretrainConfig",
]

REAL_MODEL = "stabilityai/stable-diffusion-3-medium-diffusers"
TINY_DIR = ("checkpoints", "sd3_tiny")
RESULTS_FILE_G1 = ("results", "sd3_sweep_g1.json")  # the committed sweep: sampled without guidance, shared noise
EVAL_SEED = 4242  # the evaluation's noise
EVAL_PROMPTS, EVAL_IMAGES_PER_PROMPT = N_EVAL_PROMPTS, 4  # every prompt of the "eval" split, 4 images each
#: sampler/LoRA settings of the small path (the real path: SD3Adapter's defaults, 1024 px, 28 steps)
SWEEP_METHODS = ("none", "fixed", "orw", "dpo", "adrpo")
SWEEP_BETAS: dict[str, tuple[float, ...]] = {
    "adrpo": (0.003, 0.01, 0.03),
    "fixed": (0.01, 0.1),
    "orw": (0.01, 0.1),
    "dpo": (100.0, 1000.0),  # DPO's β lives on another scale (per-element squared errors)
}
DIVERSITY_KEYS = ("diversity",)
#: ORW-CFM-W2's W2 coefficient α (our β0 for method "orw") at its authors' settings: their README recommends
#: α ≥ 1 (the committed sweep ran 0.01 and 0.1, far below); τ stays 0.5, their default
ORW_OFFICIAL_ALPHAS = (0.5, 1.0, 5.0)
LONG_ITERATIONS = 600  # the long on-policy runs (sd3_g1_long/ and the long-baselines grid)


def sweep_grid(grid: str, orw_alpha: float = 1.0, dpo_beta: float = 1000.0) -> dict[str, Any]:
    """The ``(methods, betas, iterations, name)`` of a named sweep of the CLI (``--grid``):

    * ``"default"``: :data:`SWEEP_METHODS` × :data:`SWEEP_BETAS`, 150 iterations (the committed sweeps);
    * ``"orw-official"``: ORW-CFM-W2 at α ∈ :data:`ORW_OFFICIAL_ALPHAS`, 150 iterations;
    * ``"long-baselines"``: β = 0, ORW (α = ``orw_alpha``, the best of ``orw-official``) and Diffusion-DPO
      (β = ``dpo_beta``) for :data:`LONG_ITERATIONS` iterations, beside the committed 600-iteration ADRPO
      and fixed-β runs.

    Every grid writes its runs under ``runs/<name>`` and its result to ``runs/results/<name>.json`` unless
    ``--runs-dir`` / ``--out`` name others (e.g. ``--guidance 1 --shared-noise --out
    data/results/sd3_sweep_g1.json`` for the committed one).
    """
    if grid == "default":
        return {"methods": SWEEP_METHODS, "betas": SWEEP_BETAS, "iterations": None,
                "name": "sd3_sweep"}  # fmt: skip
    if grid == "orw-official":
        return {"methods": ("orw",), "betas": {"orw": ORW_OFFICIAL_ALPHAS}, "iterations": None,
                "name": "sd3_orw_official"}  # fmt: skip
    if grid == "long-baselines":
        return {"methods": ("none", "orw", "dpo"), "betas": {"orw": (float(orw_alpha),), "dpo": (float(dpo_beta),)},
                "iterations": LONG_ITERATIONS, "name": "sd3_long_baselines"}  # fmt: skip
    raise ValueError(f"grid must be one of {SWEEP_GRIDS}, got grid={grid!r}")


SWEEP_GRIDS = ("default", "orw-official", "long-baselines")
#: the real path's batch (SD3 Medium at 1024² on one GPU): 32 images per iteration, minibatches of 8
REAL_PATH_BATCH = {"samples_per_iteration": 32, "minibatch_size": 8, "updates_per_iteration": 1}
BINDING = AttributeBindingReward()
CURVE_KEYS = (
    "reward", "reward_std", "frac_reward_zero_std", "diversity", "w2", "beta_eff/mean", "beta_eff/min",
    "beta_eff/max", "beta_eff/frac_negative", "rl_term", "w2_term", "grad_norm", "dpo/implicit_acc",
    "reward/binding/colors", "reward/binding/shapes", "reward/binding/relation",
)  # fmt: skip


# ----------------------------------------------------------------------------- the tiny SD3
def shapes_prompts(split: str = "train") -> PromptSet:
    """The shapes world's prompts of one split (:func:`adrpo_nb.tasks.shapes.split_prompts`): ``train`` = the
    384 prompts RL fine-tunes on, ``eval`` = the 48 held-out prompts every evaluation reads; disjoint.

    Results committed before this split (``data/results/sd3_*``) were evaluated on the same 48 prompts but
    fine-tuned on all 432, so their "held-out" prompts were RL training prompts too. The tiny SD3 was
    pretrained on all 432 either way.
    """
    prompts = split_prompts(split)
    return PromptSet(prompts, [parse_prompt(p) for p in prompts])


def project_prompts() -> PromptSet:
    """``data/prompts/drawbench_style.jsonl``: prompts written for this project in DrawBench's categories."""
    return read_prompt_rows(data_path("prompts", "drawbench_style.jsonl"))


def read_prompt_rows(path: str | Path) -> PromptSet:
    """A prompt list in JSONL (one ``{"prompt": str, "category": str}`` a line, blank lines skipped); a bad line
    is a ``ValueError`` naming the file and the line number."""
    prompts, meta = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not valid JSON ({err.msg}): {line[:120]!r}") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
            raise ValueError(f"{path}:{number}: a row needs a non-empty string 'prompt', got {line[:120]!r}")
        if not isinstance(row.get("category"), str):
            raise ValueError(f"{path}:{number}: a row needs a string 'category', got {line[:120]!r}")
        prompts.append(row["prompt"])
        meta.append({"category": row["category"]})
    if not prompts:
        raise ValueError(f"{path} holds no prompts")
    return PromptSet(prompts, meta)


def load_drawbench(split: str = "train") -> PromptSet:
    """DrawBench (Saharia et al., 2022) from the hub through ``datasets`` (``sayakpaul/drawbench``): the real path."""
    try:
        from datasets import load_dataset

        ds = load_dataset("sayakpaul/drawbench", split=split)
    except Exception as err:
        raise OSError(
            f"could not load DrawBench from the hub ({type(err).__name__}: {err}). It needs network access and "
            "the `datasets` package; offline, use project_prompts() (data/prompts/drawbench_style.jsonl)."
        ) from None
    return PromptSet(list(ds["Prompts"]), [{"category": c} for c in ds["Category"]])


# ----------------------------------------------------------------------------- evaluation
def load_tiny_pipeline():
    """The shipped tiny SD3 (``data/checkpoints/sd3_tiny``), loaded like any hub model."""
    return load_sd3_pipeline(data_path(*TINY_DIR))


def make_adapter(pipe=None, prompts: PromptSet | None = None, **overrides) -> SD3Adapter:
    """The small path's adapter (tiny SD3 + LoRA + the shapes prompts) with :data:`TINY_ADAPTER` settings."""
    return SD3Adapter(pipe if pipe is not None else load_tiny_pipeline(), prompts or shapes_prompts("train"),
                      **{**TINY_ADAPTER, **overrides})  # fmt: skip


@torch.no_grad()
def evaluate_sd3(
    adapter: SD3Adapter,
    reward: Callable = BINDING,
    prompts: PromptSet | None = None,
    n_prompts: int = EVAL_PROMPTS,
    per_prompt: int = EVAL_IMAGES_PER_PROMPT,
    seed: int = EVAL_SEED,
) -> tuple[dict[str, Any], torch.Tensor]:
    """Reward (and its components), per-prompt diversity and W2 gap of the adapter's current policy.

    One fixed noise batch (``seed``) over fixed prompts, ``per_prompt`` images each. ``diversity`` is
    ClipDiversity (mean pairwise 1 − cos per prompt) of the images' pixels on the small path, of
    ``info["image_embeds"]`` when the reward provides them (CLIP). ``w2`` is the mean squared
    difference of the policy's and the reference's velocities on interpolants of these samples.
    """
    prompts = prompts or shapes_prompts("eval")
    gen = torch.Generator().manual_seed(seed)
    chosen = prompts.prompts[:n_prompts]
    metas = prompts.metadata[:n_prompts]
    batch = adapter.generate([p for p in chosen for _ in range(per_prompt)], gen,
                             [m for m in metas for _ in range(per_prompt)])  # fmt: skip
    scores, info = reward(batch.outputs, batch.prompts, batch.metadata)
    features = info.get("image_embeds", batch.outputs)
    noise, t = adapter.draw_noise_and_time(batch.latents, gen)
    x_t, _ = adapter.interpolate(batch.latents, noise, t)
    gap = (adapter.velocity(x_t, t, batch.conditioning).float()
           - adapter.reference_velocity(x_t, t, batch.conditioning).float()).pow(2).mean().item()  # fmt: skip
    metrics = {
        "reward": scores.mean().item(),
        "reward_std": scores.std(unbiased=False).item(),
        **{name: torch.as_tensor(v).float().mean().item() for name, v in info.get("components", {}).items()},
        "diversity": clip_diversity(features, per_prompt),
        "w2": gap,
        "prompts": n_prompts,
        "images_per_prompt": per_prompt,
    }
    return metrics, batch.outputs


def evaluate_pretrained(model_dir: Path, quick: bool = False) -> dict[str, Any]:
    """The held-out metrics of a pretrained tiny SD3 folder (what ``pretrain.json`` records as ``base_model``)."""
    metrics, _ = evaluate_sd3(make_adapter(load_sd3_pipeline(model_dir)), n_prompts=8 if quick else EVAL_PROMPTS)
    return metrics


def batch_diversity(group_size: int) -> Callable[..., dict[str, float]]:
    """The trainer's ``metrics_fn``: per-prompt diversity of each training batch (CLIP embeddings when the
    reward gives them, else pixels), for groups of ``group_size`` images of one prompt."""
    def metrics(samples, rewards, info) -> dict[str, float]:
        return {"diversity": clip_diversity(info.get("image_embeds", samples.outputs), group_size)}

    return metrics


# ----------------------------------------------------------------------------- one RL run
def default_config(**overrides) -> FlowMatchingRLConfig:
    """The small path's run: 8 prompts × 8 images per iteration, 4 updates, 150 iterations (≈ 3.5 min on one core).

    Chosen by short ADRPO probes on a 2-core CPU (README, "The SD3 experiment"): with K = 4 images per
    prompt, 32 images and 2 updates per iteration the LoRA barely moved; a learning rate of 3e-3 drifted
    (reward and diversity fell).
    """
    base = {"num_generations": 8, "samples_per_iteration": 64, "minibatch_size": 64, "updates_per_iteration": 4,
            "learning_rate": 1e-3, "iterations": 150, "checkpoint_every": 25, "beta0": 0.01}  # fmt: skip
    return FlowMatchingRLConfig(**{**base, **overrides})


def smoke_config(config: FlowMatchingRLConfig) -> FlowMatchingRLConfig:
    """The same run shrunk to seconds: 4 iterations of one prompt × 8 images, one update each."""
    return replace(config, iterations=4, samples_per_iteration=8, minibatch_size=8, updates_per_iteration=1,
                   checkpoint_every=2)  # fmt: skip


def make_trainer(
    config: FlowMatchingRLConfig,
    *,
    adapter: SD3Adapter | None = None,
    reward: Callable = BINDING,
    callbacks: Sequence[Any] = (),
) -> FlowMatchingRLTrainer:
    """The trainer :func:`run_rl` (and so :func:`book_run`) trains: a LoRA on a freshly loaded tiny SD3 over
    the shapes prompts (:func:`make_adapter` with ``config.extra["adapter"]`` as overrides), or ``adapter``;
    rewarded by the attribute-binding checks, with each batch's diversity logged."""
    adapter = adapter or make_adapter(**config.extra.get("adapter", {}))
    metrics_fn = batch_diversity(config.num_generations or 1)
    return FlowMatchingRLTrainer(adapter, reward, config, metrics_fn=metrics_fn, callbacks=list(callbacks))


@locks_output_dir
def run_rl(
    config: FlowMatchingRLConfig,
    *,
    adapter: SD3Adapter | None = None,
    reward: Callable = BINDING,
    snapshots: Sequence[int] = (),
    eval_prompts: int = EVAL_PROMPTS,
    command: str | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Fine-tune (LoRA) the tiny SD3 — or any ``adapter`` — with ``config``; return and save the result dict.

    Without ``adapter``, the tiny SD3's is made with ``config.extra["adapter"]`` as overrides of
    :data:`TINY_ADAPTER` (e.g. ``{"guidance_scale": 1.0}``), so a config says how its images were sampled.
    A finished run's ``result.json`` in ``config.output_dir`` is returned as is; an interrupted one
    resumes from its checkpoint. The LoRA is saved next to it with diffusers' ``save_lora_weights``.
    """
    done = finished_result(config)
    if done is not None:
        return done
    commit = git_commit()
    adapter = adapter or make_adapter(**config.extra.get("adapter", {}))
    trainer = make_trainer(config, adapter=adapter, reward=reward, callbacks=callbacks)
    result = run_flow_experiment(
        trainer, lambda policy: evaluate_sd3(adapter, reward, n_prompts=eval_prompts), curve_keys=CURVE_KEYS,
        snapshots=snapshots, command=command, commit=commit,
        extra={"reward_fn": getattr(reward, "__name__", repr(reward)), "adapter": _adapter_settings(adapter)},
        nrow=EVAL_IMAGES_PER_PROMPT,
    )  # fmt: skip
    if config.output_dir and trainer.accelerator.is_main_process:
        from adrpo_nb.models.sd3 import save_lora

        save_lora(adapter, Path(config.output_dir) / "lora")
    return result


def _adapter_settings(adapter: SD3Adapter) -> dict[str, Any]:
    keys = ("guidance_scale", "sample_steps", "height", "width", "timestep_sampling")
    return {k: getattr(adapter, k) for k in keys}


def book_run_config(method: str, beta0: float, *, iterations: int | None = None, seed: int = 0,
                    **overrides: Any) -> FlowMatchingRLConfig:  # fmt: skip
    """The config :func:`book_run` trains with: :func:`default_config` with ``method``, ``beta0``, ``seed`` and
    ``overrides``, shrunk in smoke mode, writing to ``runs/book[-smoke]/sd3_<name>``."""
    return book_config(default_config(method=method, beta0=beta0, seed=seed, **overrides),
                       f"sd3_{run_name(method, beta0, seed)}", smoke_config, iterations)  # fmt: skip


def book_run(method: str, beta0: float, *, iterations: int | None = None, seed: int = 0,
             callbacks: Sequence[Any] = (), **overrides: Any) -> dict[str, Any]:  # fmt: skip
    """A chapter's run: the committed ``data/results/book/`` result in full mode (:mod:`adrpo_nb.experiments.book`),
    else ``runs/book[-smoke]/sd3_<name>/result.json`` if present, else trains and saves it.

    The config is :func:`book_run_config`'s, the trainer :func:`make_trainer`'s."""
    cfg = book_run_config(method, beta0, iterations=iterations, seed=seed, **overrides)
    committed = committed_book_result(cfg, smoke())
    if committed is not None:
        return committed
    marks = sorted({1, cfg.iterations // 2, cfg.iterations} - {0})
    return run_rl(cfg, snapshots=marks, eval_prompts=8 if smoke() else EVAL_PROMPTS, callbacks=callbacks,
                  command=book_command("sd3", f"{method!r}, {beta0!r}, iterations={cfg.iterations}"))


# ----------------------------------------------------------------------------- the sweep
def _sweep_job(args: tuple[dict, str]) -> dict[str, Any]:
    config_dict, command = args
    config_dict = {**config_dict, "clip": tuple(config_dict["clip"]) if config_dict["clip"] else None}
    config = FlowMatchingRLConfig(**config_dict)
    snapshots = (1, config.iterations // 2, config.iterations) if config.seed == 0 else ()
    return run_rl(config, snapshots=snapshots, command=command)


def sweep(
    methods: Sequence[str] = SWEEP_METHODS,
    betas: dict[str, Sequence[float]] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    base_config: FlowMatchingRLConfig | None = None,
    runs_dir: str | Path | None = None,
    workers: int = 2,
    log=print,
) -> dict[str, Any]:
    """Every (method, β0, seed) of the small path — β grids per method (:data:`SWEEP_BETAS`) — and the summary.

    ``base_config.extra["adapter"]`` (adapter overrides, e.g. the guidance scale) applies to every run
    and to the pretrained model's evaluation.
    """
    start, commit = time.perf_counter(), git_commit()
    betas = betas or SWEEP_BETAS
    base_config = base_config or default_config(progress=False)
    runs_dir = runs_dir or default_output("sd3_sweep")
    adapter_overrides = base_config.extra.get("adapter", {})
    jobs, names = [], []
    for method in methods:
        for beta0 in betas.get(method, (0.0,)) if method != "none" else (0.0,):
            for seed in seeds:
                name = run_name(method, beta0, seed)
                cfg = replace(base_config, method=method, beta0=beta0, seed=seed, progress=False)
                cfg = replace(cfg, output_dir=run_folder(runs_dir, name, cfg))
                jobs.append((cfg.to_dict(), f"python -m adrpo_nb.experiments.sd3 sweep (run {name})"))
                names.append(name)
    log(f"sweep: {len(jobs)} runs in {workers} worker(s), results under {runs_dir}")
    runs = run_jobs(_sweep_job, jobs, workers, partial(describe_result, diversity_key="diversity"), names, log)
    base_metrics, base_images = evaluate_sd3(make_adapter(**adapter_overrides))
    base_metrics["samples_png"] = png_base64(base_images[:64], EVAL_IMAGES_PER_PROMPT)
    result = {"base": base_metrics, "runs": runs}
    result["summary"] = summarize_sweep(result, DIVERSITY_KEYS)
    result["provenance"] = sweep_provenance(start, commit, "adrpo_nb.experiments.sd3", workers)
    return result


# ----------------------------------------------------------------------------- guidance, the free knob
GUIDANCE_FILE = ("results", "sd3_guidance.json")
GUIDANCE_SCALES = (1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.0)


def guidance_curve(scales: Sequence[float] = GUIDANCE_SCALES, pipe=None) -> dict[str, Any]:
    """The pretrained model's reward and diversity at each classifier-free guidance scale, no training.

    Guidance trades diversity for reward by itself; an RL fine-tune at the training scale should be
    judged against this curve as well as against the pretrained point. Same evaluation as every run.
    """
    start, commit = time.perf_counter(), git_commit()
    pipe = pipe if pipe is not None else load_tiny_pipeline()
    points = []
    for scale in scales:
        metrics, _ = evaluate_sd3(make_adapter(pipe, guidance_scale=float(scale)))
        points.append({"guidance_scale": float(scale), **metrics})
    return {"points": points, "provenance": provenance(time.perf_counter() - start, "cpu",
            "python -m adrpo_nb.experiments.sd3 guidance", commit, threads=torch.get_num_threads())}  # fmt: skip


def guidance_reward_at(curve: dict, diversity: float, diversity_key: str = "diversity") -> float | None:
    """The best reward the pretrained model reaches by guidance alone at ``diversity``: linear interpolation
    along the guidance curve (:func:`guidance_curve`'s result) between consecutive scales, the highest where
    several segments reach that diversity; ``None`` outside the curve's range of diversities."""
    pts = curve["points"]
    best = None
    for a, b in itertools.pairwise(pts):
        lo, hi = sorted((a[diversity_key], b[diversity_key]))
        if not lo <= diversity <= hi:
            continue
        span = b[diversity_key] - a[diversity_key]
        frac = 0.0 if span == 0 else (diversity - a[diversity_key]) / span
        reward = a["reward"] + frac * (b["reward"] - a["reward"])
        best = reward if best is None else max(best, reward)
    return best


def versus_guidance(curve: dict, reward: float, diversity: float, diversity_key: str = "diversity") -> str:
    """A run's reward against guidance alone at its diversity (:func:`guidance_reward_at`), as the book writes it:
    ``"guidance alone reaches 0.721 at that diversity (+0.018)"``, or that the diversity is outside the curve."""
    by_guidance = guidance_reward_at(curve, diversity, diversity_key)
    if by_guidance is None:
        return "outside the guidance curve's range of diversity"
    return f"guidance alone reaches {by_guidance:.3f} at that diversity ({reward - by_guidance:+.3f})"


LONG_RUNS_DIR = ("results", "sd3_g1_long")  # ADRPO and fixed β, 600 iterations on-policy (each made with ``train``)
LONG_BASELINES_FILE = ("results", "sd3_long_baselines_g1.json")  # β = 0, ORW, DPO: ``sweep --grid long-baselines``
ORW_OFFICIAL_DIR = ("results", "sd3_orw_official_g1")  # ORW-CFM-W2 at its official α, on-policy (made with ``train``)
#: config fields a method's own setting may change; every other field (and the adapter, the reward) is the protocol
METHOD_FIELDS = frozenset({"method", "beta0", "clip", "orw_temperature", "seed", "checkpoint_every", "output_dir",
                           "progress"})  # fmt: skip


def run_protocol(result: dict[str, Any]) -> dict[str, Any]:
    """What a run shares with every run it is compared with: its config without :data:`METHOD_FIELDS` (batch,
    iterations, learning rate, shared noise, sampler overrides …), its adapter's sampler settings and its reward."""
    config = {k: v for k, v in result["config"].items() if k not in METHOD_FIELDS}
    return {"config": config, "adapter": result.get("adapter"), "reward_fn": result.get("reward_fn")}


def long_runs() -> dict[tuple[str, int], dict[str, Any]]:
    """The committed 600-iteration on-policy runs (guidance 1, shared noise, held-out prompts), keyed by
    ``(method, seed)``: ADRPO and fixed β from ``data/results/sd3_g1_long/`` and, once committed, β = 0,
    ORW-CFM-W2 and Diffusion-DPO from ``data/results/sd3_long_baselines_g1.json``.

    Raises ``ValueError`` naming the run if two runs share a ``(method, seed)`` or if a run's
    :func:`run_protocol` differs from the first run's, so that the table compares like with like."""
    results = [read_json(p) for p in sorted(data_path(*LONG_RUNS_DIR).glob("*.json"))]
    baselines = data_path(*LONG_BASELINES_FILE, must_exist=False)
    if baselines.exists():
        results += read_json(baselines)["runs"]
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for result in results:
        key = (result["config"]["method"], result["config"]["seed"])
        if key in runs:
            raise ValueError(f"two long runs of method={key[0]!r}, seed={key[1]!r}: "
                             f"{runs[key]['config']['output_dir']} and {result['config']['output_dir']}")  # fmt: skip
        if runs:
            first = next(iter(runs.values()))
            if run_protocol(result) != run_protocol(first):
                diff = _protocol_diff(run_protocol(first), run_protocol(result))
                raise ValueError(f"long run {result['config']['output_dir']} differs from "
                                 f"{first['config']['output_dir']} outside the method's own settings: "
                                 f"{diff}")  # fmt: skip
        runs[key] = result
    return runs


def _protocol_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The ``part.field`` entries in which two :func:`run_protocol` results differ, with both values."""
    def flat(protocol: dict[str, Any]) -> dict[str, Any]:
        return {f"{part}.{k}": v for part, d in protocol.items()
                for k, v in (d.items() if isinstance(d, dict) else [("", d)])}  # fmt: skip

    fa, fb = flat(a), flat(b)
    return {k: (fa.get(k), fb.get(k)) for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)}


def orw_official_runs() -> list[dict[str, Any]]:
    """The committed ORW-CFM-W2 runs at the official α (``data/results/sd3_orw_official_g1/*.json``, each made by
    ``train --method orw --beta0 α --shared-noise --guidance 1``), sorted by α and seed; ``[]`` if none."""
    folder = data_path(*ORW_OFFICIAL_DIR)
    runs = [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.exists() else []
    return sorted(runs, key=lambda r: (r["config"]["beta0"], r["config"]["seed"]))


# ----------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m adrpo_nb.experiments.sd3", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("pretrain", help="build and pretrain the tiny SD3")
    pre.add_argument("--out", type=Path, default=None,
                     help="default: runs/pretrain[-smoke]/sd3_tiny (the shipped one: data/checkpoints/sd3_tiny)")
    pre.add_argument("--smoke", action="store_true")
    tr = sub.add_parser("train", help="one RL fine-tuning run (LoRA)")
    tr.add_argument("--method", default="adrpo", choices=SWEEP_METHODS)
    tr.add_argument("--beta0", type=float, default=0.01)
    tr.add_argument("--clip", type=float, nargs=2, default=None, metavar=("A_MIN", "A_MAX"))
    tr.add_argument("--iterations", type=int, default=None)
    tr.add_argument("--num-generations", "--group-size", dest="num_generations", type=int, default=None,
                    help="images per prompt (K)")
    tr.add_argument("--samples", type=int, default=None, help="images per iteration (prompts × K)")
    tr.add_argument("--timestep-sampling", choices=("none", "logit_normal"), default=None,
                    help="σ density of the updates (default: the adapter's)")
    tr.add_argument("--updates", type=int, default=None, help="optimizer steps per batch of samples")
    tr.add_argument("--lr", type=float, default=None, help="learning rate (default: the small path's)")
    tr.add_argument("--scale-rewards", "--scale-advantages", dest="scale_rewards", action="store_true",
                    help="GRPO-style: divide A by the group's std")
    tr.add_argument("--shared-noise", action="store_true", help="one (t, noise) per group in each update")
    tr.add_argument("--guidance", type=float, default=None, help="CFG scale of sampling (default: the adapter's)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--model", default=None, help=f"a hub id (e.g. {REAL_MODEL}) or folder; default: the tiny SD3")
    tr.add_argument("--reward", choices=("binding", "clip"), default="binding")
    tr.add_argument("--prompts", choices=("shapes", "project", "drawbench"), default="shapes")
    tr.add_argument("--bf16", action="store_true", help="load the frozen weights in bfloat16 (GPU)")
    tr.add_argument("--gradient-checkpointing", action="store_true")
    tr.add_argument("--decode-batch-size", type=int, default=8,
                    help="images the VAE decodes at a time on the real path (--model; default 8)")
    tr.add_argument("--out", default=None)
    tr.add_argument("--smoke", action="store_true")
    sw = sub.add_parser("sweep", help="methods × β0 × seeds on the small path, written as one JSON")
    sw.add_argument("--grid", choices=SWEEP_GRIDS, default="default",
                    help="default: every method's β0 grid; orw-official: ORW at α ∈ {0.5, 1, 5}; long-baselines: "
                         "β = 0, ORW and Diffusion-DPO for 600 iterations (see sweep_grid)")  # fmt: skip
    sw.add_argument("--methods", nargs="+", default=None, help="default: the grid's")
    sw.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sw.add_argument("--workers", type=int, default=2)
    sw.add_argument("--orw-alpha", type=float, default=1.0, help="ORW's α in the long-baselines grid")
    sw.add_argument("--dpo-beta", type=float, default=1000.0, help="Diffusion-DPO's β in the long-baselines grid")
    sw.add_argument("--runs-dir", default=None, help="default: runs/<grid name>[-smoke]")
    sw.add_argument("--out", type=Path, default=None, help="default: runs/results[-smoke]/<grid name>.json")
    sw.add_argument("--guidance", type=float, default=None, help="CFG scale of sampling (default: the adapter's)")
    sw.add_argument("--shared-noise", action="store_true", help="one (t, noise) per group in each update")
    sw.add_argument("--smoke", action="store_true")
    sub.add_parser("evaluate", help="metrics of the shipped tiny SD3")
    gd = sub.add_parser("guidance", help="the pretrained tiny SD3's reward and diversity per guidance scale")
    gd.add_argument("--out", type=Path, default=None, help="default: runs/results/sd3_guidance.json")
    return p


def _train_from_args(args) -> dict[str, Any]:
    cfg = default_config(method=args.method, beta0=args.beta0, seed=args.seed, output_dir=args.out,
                         clip=tuple(args.clip) if args.clip else None)  # fmt: skip
    if args.model is not None:  # a large model: 4 prompts × 8 images, optimizer steps of 8 images
        cfg = replace(cfg, **REAL_PATH_BATCH)
    if args.iterations:
        cfg = replace(cfg, iterations=args.iterations)
    if args.lr:
        cfg = replace(cfg, learning_rate=args.lr)
    if args.updates:
        cfg = replace(cfg, updates_per_iteration=args.updates)
    if args.num_generations:
        cfg = replace(cfg, num_generations=args.num_generations)
    if args.samples:
        cfg = replace(cfg, samples_per_iteration=args.samples, minibatch_size=args.samples)
    if args.scale_rewards:
        cfg = replace(cfg, scale_rewards=True)
    if args.shared_noise:
        cfg = replace(cfg, shared_noise=True)
    if args.smoke or smoke():
        cfg = smoke_config(cfg)
    check_output(args.out, args.smoke or smoke())
    adapter_overrides = {"timestep_sampling": args.timestep_sampling} if args.timestep_sampling else {}
    if args.guidance is not None:
        adapter_overrides["guidance_scale"] = args.guidance
    if adapter_overrides:  # recorded in the config: a run resumes only with the same sampler
        cfg = replace(cfg, extra={**cfg.extra, "adapter": adapter_overrides})
    if args.model is None:
        return run_rl(cfg, eval_prompts=8 if args.smoke or smoke() else EVAL_PROMPTS)
    # the real path: the same adapter and trainer with the hub model, its prompts and CLIP score
    from adrpo_nb.rewards.images import CLIPScore

    pipe = load_sd3_pipeline(args.model, dtype=torch.bfloat16 if args.bf16 else torch.float32,
                             device="cuda" if torch.cuda.is_available() else None)  # fmt: skip
    prompts = {"shapes": shapes_prompts, "project": project_prompts, "drawbench": load_drawbench}[args.prompts]()
    adapter = SD3Adapter(pipe, prompts, gradient_checkpointing=args.gradient_checkpointing,
                         decode_batch_size=args.decode_batch_size, **adapter_overrides)  # fmt: skip
    reward = CLIPScore(device=pipe.device) if args.reward == "clip" else AttributeBindingReward()
    return run_rl(cfg, adapter=adapter, reward=reward)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    shrink = getattr(args, "smoke", False) or smoke()
    if args.command == "pretrain":
        check_output(args.out, shrink)
        out = args.out or default_output("pretrain", TINY_DIR[-1], smoke_run=shrink)
        pretrain(out, TinySD3PretrainConfig.smoke() if shrink else None, evaluate=evaluate_pretrained)
    elif args.command == "train":
        result = _train_from_args(args)
        if result["final"] is not None:
            print(json.dumps({k: v for k, v in result["final"].items() if isinstance(v, float)}, indent=1))
        print(f"{result['provenance']['seconds']} s" + (f"; wrote {args.out}" if args.out else ""))
    elif args.command == "sweep":
        grid = sweep_grid(args.grid, args.orw_alpha, args.dpo_beta)
        base_cfg = default_config(progress=False, shared_noise=args.shared_noise)
        if grid["iterations"]:
            base_cfg = replace(base_cfg, iterations=grid["iterations"])
        if args.guidance is not None:
            base_cfg = replace(base_cfg, extra={"adapter": {"guidance_scale": args.guidance}})
        if shrink:
            base_cfg = smoke_config(base_cfg)
        check_output(args.out, shrink)
        check_output(args.runs_dir, shrink, "--runs-dir")
        betas = {m: v[:1] for m, v in grid["betas"].items()} if shrink else grid["betas"]
        runs = args.runs_dir or default_output(grid["name"], smoke_run=shrink)
        out = args.out or default_output("results", f"{grid['name']}.json", smoke_run=shrink)
        result = sweep(args.methods or grid["methods"], betas, args.seeds, base_cfg, runs, args.workers)
        atomic_write_json(out, portable_paths(result))
        for key, s in result["summary"]["by_diversity"].items():
            hv = {m: round(v["hypervolume"], 4) for m, v in s["methods"].items()}
            print(f"hypervolume (reward × {key}): {hv}; ADRPO / best baseline ({s['best_baseline']}) = "
                  f"{s['adrpo_hv_ratio']}")  # fmt: skip
        print(f"wrote {out}")
    elif args.command == "guidance":
        out = args.out or default_output(*GUIDANCE_FILE)
        result = guidance_curve()
        out = args.out or default_output("results", GUIDANCE_FILE[-1])
        atomic_write_json(out, portable_paths(result))
        for pt in result["points"]:
            print(f"guidance {pt['guidance_scale']:>4}: reward {pt['reward']:.3f}, diversity {pt['diversity']:.3f}")
        print(f"wrote {out}")
    elif args.command == "evaluate":
        metrics, _ = evaluate_sd3(make_adapter())
        print(json.dumps(metrics, indent=1))
    return 0
