"""The SD3 experiment for readers: the shapes prompts, the tiny SD3 and its adapter, the evaluation, the guidance
curve (what guidance alone reaches) and the committed long runs.

>>> from adrpo_nb.experiments import sd3
>>> pipe = sd3.load_tiny_pipeline()           # StableDiffusion3Pipeline.from_pretrained("data/checkpoints/sd3_tiny")
>>> adapter = sd3.make_adapter(pipe)           # SD3Adapter: LoRA on the transformer, the shapes prompts
>>> metrics, images = sd3.evaluate_sd3(adapter)  # reward, diversity, W2 on the held-out prompts

The tiny model has the real classes — an ``SD3Transformer2DModel``, an ``AutoencoderKL``, two
``CLIPTextModelWithProjection`` and a ``T5EncoderModel`` with tokenizers built for the shapes vocabulary —
and is loaded with the same ``StableDiffusion3Pipeline.from_pretrained`` as the hub model.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from adrpo_nb.experiments.sd3.pretrain import TINY_ADAPTER
from adrpo_nb.metrics import clip_diversity
from adrpo_nb.models.sd3 import PromptSet, SD3Adapter, load_sd3_pipeline
from adrpo_nb.rewards.images import AttributeBindingReward
from adrpo_nb.stats import mean_interval
from adrpo_nb.tasks.shapes import N_EVAL_PROMPTS, parse_prompt, split_prompts
from adrpo_nb.utils.paths import data_path, read_json
from adrpo_nb.utils.provenance import git_commit, provenance

__all__ = [
    "BINDING",
    "EVAL_IMAGES_PER_PROMPT",
    "EVAL_PROMPTS",
    "EVAL_SEED",
    "EVAL_SEEDS",
    "GUIDANCE_FILE",
    "GUIDANCE_SCALES",
    "REAL_MODEL",
    "TINY_DIR",
    "batch_diversity",
    "evaluate_pretrained",
    "evaluate_over_seeds",
    "evaluate_sd3",
    "guidance_curve",
    "guidance_reward_at",
    "load_drawbench",
    "load_tiny_pipeline",
    "long_runs",
    "make_adapter",
    "orw_official_runs",
    "project_prompts",
    "read_prompt_rows",
    "run_protocol",
    "shapes_prompts",
    "versus_guidance",
]

REAL_MODEL = "stabilityai/stable-diffusion-3-medium-diffusers"
TINY_DIR = ("checkpoints", "sd3_tiny")
EVAL_SEED = 4242  # the evaluation's noise
#: the evaluation's noise seeds for measuring its own noise (the same model, five noise batches); the first is
#: :data:`EVAL_SEED`, so a run's ``final`` is its first entry
EVAL_SEEDS = (4242, 4243, 4244, 4245, 4246)
EVAL_PROMPTS, EVAL_IMAGES_PER_PROMPT = N_EVAL_PROMPTS, 4  # every prompt of the "eval" split, 4 images each
BINDING = AttributeBindingReward()


# ----------------------------------------------------------------------------- prompts
def shapes_prompts(split: str = "train") -> PromptSet:
    """The shapes world's prompts of one split (:func:`adrpo_nb.tasks.shapes.split_prompts`): ``train`` = the
    prompts RL fine-tunes on and the tiny SD3 was pretrained on, ``eval`` = the held-out scenes (both wordings of
    each) every evaluation reads; disjoint by meaning (a mirrored relation is the same scene).
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


# ----------------------------------------------------------------------------- the tiny SD3 and evaluation
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


def evaluate_over_seeds(adapter: SD3Adapter, reward: Callable = BINDING, n_prompts: int = EVAL_PROMPTS,
                        seeds: Sequence[int] = EVAL_SEEDS) -> list[dict[str, Any]]:
    """:func:`evaluate_sd3`'s reward, diversity and W2 gap of one policy under each evaluation noise seed: the
    evaluation's own noise, which a comparison of runs evaluated with one seed cannot see."""
    rows = []
    for seed in seeds:
        metrics, _ = evaluate_sd3(adapter, reward, n_prompts=n_prompts, seed=int(seed))
        rows.append({"eval_seed": int(seed), **{k: metrics[k] for k in ("reward", "diversity", "w2")}})
    return rows


def batch_diversity(group_size: int) -> Callable[..., dict[str, float]]:
    """The trainer's ``metrics_fn``: per-prompt diversity of each training batch (CLIP embeddings when the
    reward gives them, else pixels), for groups of ``group_size`` images of one prompt."""
    def metrics(samples, rewards, info) -> dict[str, float]:
        return {"diversity": clip_diversity(info.get("image_embeds", samples.outputs), group_size)}

    return metrics


# ----------------------------------------------------------------------------- guidance, the free knob
GUIDANCE_FILE = ("results", "sd3_guidance.json")
GUIDANCE_SCALES = (1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.0)


def guidance_curve(scales: Sequence[float] = GUIDANCE_SCALES, pipe=None,
                   eval_seeds: Sequence[int] = EVAL_SEEDS) -> dict[str, Any]:
    """The pretrained model's reward and diversity at each classifier-free guidance scale, no training, under each
    evaluation noise seed.

    Guidance trades diversity for reward by itself; an RL fine-tune at the training scale should be judged
    against this curve as well as against the pretrained point. Same evaluation as every run. ``points`` is the
    curve under :data:`EVAL_SEED` (the noise every run's ``final`` is evaluated with); ``by_eval_seed`` maps each
    seed of ``eval_seeds`` to its curve, and ``mean`` holds the per-scale mean with its 95 % interval over them.
    """
    if not eval_seeds or int(eval_seeds[0]) != EVAL_SEED:
        raise ValueError(f"eval_seeds must start with EVAL_SEED={EVAL_SEED} (the runs' own noise), "
                         f"got eval_seeds={list(eval_seeds)}")  # fmt: skip
    start, commit = time.perf_counter(), git_commit()
    pipe = pipe if pipe is not None else load_tiny_pipeline()
    by_seed: dict[str, list[dict[str, Any]]] = {}
    for seed in eval_seeds:
        by_seed[str(int(seed))] = [{"guidance_scale": float(scale), **evaluate_sd3(
            make_adapter(pipe, guidance_scale=float(scale)), seed=int(seed))[0]} for scale in scales]
    mean = []
    for i, scale in enumerate(scales):
        row: dict[str, Any] = {"guidance_scale": float(scale)}
        for key in ("reward", "diversity"):
            interval = mean_interval([curve[i][key] for curve in by_seed.values()])
            row.update({key: interval.mean, f"{key}_low": interval.low, f"{key}_high": interval.high})
        mean.append(row)
    return {"points": by_seed[str(EVAL_SEED)], "by_eval_seed": by_seed, "mean": mean,
            "eval_seeds": [int(s) for s in eval_seeds],
            "provenance": provenance(time.perf_counter() - start, "cpu", "python -m adrpo_nb.experiments.sd3 guidance",
                                     commit, threads=torch.get_num_threads())}  # fmt: skip


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



# ----------------------------------------------------------------------------- the committed long runs
LONG_RUNS_DIR = ("results", "sd3_g1_long")  # ADRPO and fixed β, 600 iterations on-policy (each made with ``train``)
LONG_BASELINES_FILE = ("results", "sd3_long_baselines_g1.json")  # β = 0, ORW, DPO: ``sweep --grid long-baselines``
ORW_OFFICIAL_DIR = ("results", "sd3_orw_official_g1")  # ORW-CFM-W2 at its official α, on-policy (made with ``train``)
#: config fields a method's own setting may change; every other field (and the adapter, the reward) is the protocol
METHOD_FIELDS = frozenset({"method", "beta0", "clip", "orw_temperature", "seed", "checkpoint_every", "output_dir",
                           "progress"})  # fmt: skip


def run_protocol(result: dict[str, Any]) -> dict[str, Any]:
    """What a run shares with every run it is compared with: its config without :data:`METHOD_FIELDS` (batch,
    iterations, learning rate, shared noise, sampler overrides …), its adapter's sampler settings and its reward."""
    # ``extra`` held the sampler overrides of results made before typed settings: the adapter record has them resolved
    config = {k: v for k, v in result["config"].items() if k not in METHOD_FIELDS and k != "extra"}
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
