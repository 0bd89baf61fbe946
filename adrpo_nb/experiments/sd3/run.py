"""SD3 experiments: the family's hooks (build, evaluate, record, the sweeps' grids), the real path, the command line.

Command line (``--help`` lists every flag)::

    python -m adrpo_nb.experiments.sd3 pretrain              # the tiny SD3 -> runs/pretrain/sd3_tiny/
    python -m adrpo_nb.experiments.sd3 train --method adrpo --beta0 0.05
    python -m adrpo_nb.experiments.sd3 sweep                # each method's grid × seeds -> runs/results/sd3_sweep.json
    python -m adrpo_nb.experiments.sd3 sweep --grid lead --tuned-from runs/results/sd3_sweep.json  # the long runs
    python -m adrpo_nb.experiments.sd3 evaluate              # the pretrained tiny model's metrics
    python -m adrpo_nb.experiments.sd3 guidance              # reward and diversity per guidance scale

    python -m adrpo_nb.experiments.sd3 train --model stabilityai/stable-diffusion-3-medium-diffusers \\
        --reward clip --prompts drawbench --bf16              # the real path (GPU, hub login)

``--smoke`` shrinks any of them to seconds (and writes only under ``runs/*-smoke/``). Nothing is written into
``data/`` unless ``--out`` says so (the committed files: ``pretrain --out data/checkpoints/sd3_tiny``,
``sweep --guidance 1 --shared-noise --seeds 0 1 2 --workers 2 --runs-dir runs/sd3_sweep_g1 --out
data/results/sd3_sweep_g1.json``, ``sweep --grid lead --tuned-from data/results/sd3_sweep_g1.json --guidance 1
--shared-noise --seeds 0 1 2 3 4 --workers 2 --out data/results/sd3_lead.json``,
``guidance --out data/results/sd3_guidance.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, ClassVar

import torch

from adrpo_nb.experiments import cli, runner
from adrpo_nb.experiments.family import Family, RunSpec, Settings, data_fingerprint, model_fingerprint
from adrpo_nb.experiments.runner import check_output, default_output
from adrpo_nb.experiments.sd3.family import *  # noqa: F403
from adrpo_nb.experiments.sd3.family import (
    BINDING,
    EVAL_IMAGES_PER_PROMPT,
    EVAL_PROMPTS,
    GUIDANCE_FILE,
    TINY_DIR,
    batch_diversity,
    evaluate_over_seeds,
    evaluate_pretrained,
    evaluate_sd3,
    guidance_curve,
    load_drawbench,
    make_adapter,
    project_prompts,
    shapes_prompts,
)
from adrpo_nb.experiments.sd3.family import __all__ as _family
from adrpo_nb.experiments.sd3.pretrain import (
    TINY_ADAPTER,
    TinySD3PretrainConfig,
    build_tiny_pipeline,
    build_tokenizers,
    pretrain,
)
from adrpo_nb.experiments.summaries import describe_result, select_runs, summarize_sweep, tuned_settings
from adrpo_nb.models.sd3 import SD3Adapter, load_sd3_pipeline, save_lora
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.utils.paths import atomic_write_json, data_path, read_json
from adrpo_nb.utils.provenance import portable_paths, seal
from adrpo_nb.utils.validate import ConfigError, check_bool, check_float, check_int
from adrpo_nb.viz.images import png_base64

__all__ = [
    *_family,
    "FAMILY",
    "LEAD_FLAGS",
    "ORW_OFFICIAL_ALPHAS",
    "REAL_PATH_BATCH",
    "RESULTS_FILE_G1",
    "SD3Family",
    "SD3Settings",
    "SWEEP_BETAS",
    "SWEEP_GRIDS",
    "TINY_ADAPTER",
    "TinySD3PretrainConfig",
    "book_run",
    "book_run_config",
    "build_tiny_pipeline",
    "build_tokenizers",
    "default_config",
    "make_trainer",
    "pretrain",
    "run_rl",
    "select_runs",
    "smoke_config",
    "sweep_grid",
]

RESULTS_FILE_G1 = ("results", "sd3_sweep_g1.json")  # the committed sweep: sampled without guidance, shared noise
SWEEP_METHODS = ("none", "fixed", "orw", "dpo", "adrpo")
#: the short-budget grid (150 iterations): the β0 sweep of the Pareto front and every method's tuning grid, with
#: the same compute per setting. ORW-CFM-W2's α spans its authors' recommended α ≥ 1 and below; Diffusion-DPO's β
#: lives on another scale (per-element squared errors): 100 and 1000 barely moved the tiny model, so 10 000 is in
SWEEP_BETAS: dict[str, tuple[float, ...]] = {
    "adrpo": (0.003, 0.01, 0.03),
    "fixed": (0.003, 0.01, 0.03, 0.1),
    "orw": (0.5, 1.0, 5.0),
    "dpo": (100.0, 1000.0, 10000.0),
}
#: ORW-CFM-W2's W2 coefficient α (our β0 for method "orw") at its authors' settings: their README recommends
#: α ≥ 1 (the first sweep ran 0.01 and 0.1, far below); τ stays 0.5, their default
ORW_OFFICIAL_ALPHAS = (0.5, 1.0, 5.0)
#: ORW's α at a larger τ (``--grid orw-tau --orw-temperature τ``): its weights e^{τr} grow with τ (rewards lie in
#: [0, 1]: at τ = 0.5 the best sample weighs 1.6 times the worst, at τ = 8 nearly 3000 times), so the α that
#: balances the W2 term grows with it; the grid spans both regimes
ORW_TAU_ALPHAS = (5.0, 50.0, 500.0)
LONG_ITERATIONS = 600  # the lead: every method at its tuned setting, the long budget
SWEEP_GRIDS = ("default", "orw-official", "orw-tau", "lead")
#: the lead grid's flags: each method's tuned setting
LEAD_FLAGS = {"--adrpo-beta0": "adrpo", "--fixed-beta": "fixed", "--orw-alpha": "orw", "--dpo-beta": "dpo"}
#: the real path's batch (SD3 Medium at 1024² on one GPU): 32 images per iteration, minibatches of 8
REAL_PATH_BATCH = {"samples_per_iteration": 32, "minibatch_size": 8, "updates_per_iteration": 1}
REWARDS = ("binding", "clip")
PROMPT_SETS = {"shapes": shapes_prompts, "project": project_prompts, "drawbench": load_drawbench}


@dataclass
class SD3Settings(Settings):
    """What an SD3 run's result depends on beside the trainer's config.

    Sampler (``None``: the model's default — the tiny path's :data:`TINY_ADAPTER`, or ``SD3Adapter``'s for a hub
    model): ``guidance_scale``, ``sample_steps``, ``timestep_sampling`` (σ density of the updates: ``none`` or
    ``logit_normal``). ``model``: ``None`` for the shipped tiny SD3, else a hub id or folder (the real path) with
    ``prompts`` (``shapes``, ``project``, ``drawbench``), ``reward`` (``binding`` or ``clip``), ``bf16`` frozen
    weights, ``gradient_checkpointing`` and ``decode_batch_size`` (images the VAE decodes at a time; ``None``:
    all at once on the tiny path, 8 for a hub model). ``eval_prompts``: held-out prompts of the final
    evaluation (4 images each); ``snapshots``: iterations at which β_eff and a grid of the batch are recorded.
    """

    guidance_scale: float | None = None
    sample_steps: int | None = None
    timestep_sampling: str | None = None
    model: str | None = None
    prompts: str = "shapes"
    reward: str = "binding"
    bf16: bool = False
    gradient_checkpointing: bool = False
    decode_batch_size: int | None = None
    eval_prompts: int = EVAL_PROMPTS
    snapshots: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.guidance_scale = check_float("guidance_scale", self.guidance_scale, minimum=0.0, optional=True)
        self.sample_steps = check_int("sample_steps", self.sample_steps, minimum=1, optional=True)
        if self.timestep_sampling not in (None, "none", "logit_normal"):
            raise ConfigError(f"timestep_sampling must be 'none' or 'logit_normal', got "
                              f"timestep_sampling={self.timestep_sampling!r}")  # fmt: skip
        if self.prompts not in PROMPT_SETS:
            raise ConfigError(f"prompts must be one of {tuple(PROMPT_SETS)}, got prompts={self.prompts!r}")
        if self.reward not in REWARDS:
            raise ConfigError(f"reward must be one of {REWARDS}, got reward={self.reward!r}")
        self.bf16 = check_bool("bf16", self.bf16)
        self.gradient_checkpointing = check_bool("gradient_checkpointing", self.gradient_checkpointing)
        self.decode_batch_size = check_int("decode_batch_size", self.decode_batch_size, minimum=1, optional=True)
        self.eval_prompts = check_int("eval_prompts", self.eval_prompts, minimum=1)
        self.snapshots = tuple(check_int("snapshots", s, minimum=1) for s in self.snapshots)

    def sampler(self) -> dict[str, Any]:
        """The sampler settings given (the adapter's defaults fill the rest)."""
        names = ("guidance_scale", "sample_steps", "timestep_sampling")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}


def sweep_grid(grid: str, settings: dict[str, float] | None = None) -> dict[str, Any]:
    """The ``(methods, betas, iterations, name)`` of a named sweep of the CLI (``--grid``):

    * ``"default"``: :data:`SWEEP_METHODS` × :data:`SWEEP_BETAS`, 150 iterations: the β0 sweep and the tuning
      grid of every baseline (the same compute per setting);
    * ``"orw-official"``: ORW-CFM-W2 at α ∈ :data:`ORW_OFFICIAL_ALPHAS`, 150 iterations;
    * ``"orw-tau"``: ORW-CFM-W2 at α ∈ :data:`ORW_TAU_ALPHAS`, 150 iterations, at the τ given by
      ``--orw-temperature`` (one file per τ, named by it: ``sd3_orw_tau<τ>``);
    * ``"lead"``: all five methods for :data:`LONG_ITERATIONS` iterations, each at one setting: ``settings``
      maps every method but ``none`` to its β0 (α for ORW, β for Diffusion-DPO), the best of its ``default``
      grid.

    Every grid writes its runs under ``runs/<name>`` and its result to ``runs/results/<name>.json`` unless
    ``--runs-dir`` / ``--out`` name others (e.g. ``--guidance-scale 1 --shared-noise --out
    data/results/sd3_sweep_g1.json`` for the committed one).
    """
    if grid == "default":
        return {"methods": SWEEP_METHODS, "betas": SWEEP_BETAS, "iterations": None, "name": "sd3_sweep"}
    if grid == "orw-official":
        return {"methods": ("orw",), "betas": {"orw": ORW_OFFICIAL_ALPHAS}, "iterations": None,
                "name": "sd3_orw_official"}  # fmt: skip
    if grid == "orw-tau":
        return {"methods": ("orw",), "betas": {"orw": ORW_TAU_ALPHAS}, "iterations": None, "name": "sd3_orw_tau"}
    if grid == "lead":
        missing = [m for m in SWEEP_BETAS if m not in (settings or {})]
        if missing:
            raise ValueError(f"the lead grid needs each method's tuned setting; missing: {missing} "
                             f"(flags {', '.join(LEAD_FLAGS)})")  # fmt: skip
        return {"methods": SWEEP_METHODS, "betas": {m: (float(settings[m]),) for m in SWEEP_BETAS},
                "iterations": LONG_ITERATIONS, "name": "sd3_lead"}  # fmt: skip
    raise ValueError(f"grid must be one of {SWEEP_GRIDS}, got grid={grid!r}")


class SD3Family(Family):
    """A LoRA on the tiny SD3 (or a hub SD3: the real path), rewarded by attribute binding (or CLIP score)."""

    name = "sd3"
    config_class = FlowMatchingRLConfig
    settings_class = SD3Settings
    methods = SWEEP_METHODS
    #: the small path's run: 8 prompts × 8 images per iteration, 4 updates, 150 iterations (≈ 3.5 min on one core);
    #: chosen by short ADRPO probes on a 2-core CPU (K = 4, 32 images and 2 updates barely moved the LoRA; lr 3e-3
    #: drifted)
    defaults: ClassVar = {"num_generations": 8, "samples_per_iteration": 64, "minibatch_size": 64,
                          "updates_per_iteration": 4, "learning_rate": 1e-3, "iterations": 150, "checkpoint_every": 25,
                          "beta0": 0.01}  # fmt: skip
    smoke: ClassVar = {"iterations": 4, "samples_per_iteration": 8, "minibatch_size": 8, "updates_per_iteration": 1,
                       "checkpoint_every": 2, "eval_prompts": 8}  # fmt: skip
    curve_keys = (
        "reward", "reward_std", "frac_reward_zero_std", "diversity", "w2", "beta_eff/mean", "beta_eff/min",
        "beta_eff/max", "beta_eff/frac_negative", "rl_term", "w2_term", "grad_norm", "dpo/implicit_acc",
        "reward/binding/colors", "reward/binding/shapes", "reward/binding/relation",
    )  # fmt: skip
    record_kinds = ("samples_during_training",)
    artifacts = ("lora",)
    book_prefix = "sd3_"
    pretrain_name = TINY_DIR[-1]
    cli_aliases: ClassVar = {
        "learning_rate": ("--lr",), "updates_per_iteration": ("--updates",), "num_generations": ("--group-size",),
        "scale_rewards": ("--scale-advantages",), "guidance_scale": ("--guidance",),
        "samples_per_iteration": ("--samples",),
    }  # fmt: skip

    def legacy_settings(self, result: dict[str, Any]) -> dict[str, Any]:
        recorded = result.get("beta_eff") or result.get("samples_during_training") or {}
        final = result.get("final") or {}
        return {**result["config"].get("extra", {}).get("adapter", {}), "snapshots": sorted(int(i) for i in recorded),
                "eval_prompts": final.get("prompts", EVAL_PROMPTS),
                "reward": "clip" if result.get("reward_fn") == "clip_score" else "binding"}  # fmt: skip

    def book_extras(self, spec: RunSpec) -> dict[str, Any]:
        it = spec.config.iterations
        return {"snapshots": tuple(sorted({1, it // 2, it} - {0}))}

    def make_adapter(self, settings: SD3Settings) -> SD3Adapter:
        """The tiny SD3 with a LoRA over the shapes prompts, or the hub model ``settings.model`` (the real path)."""
        if settings.model is None:
            return make_adapter(prompts=PROMPT_SETS[settings.prompts](), **settings.sampler())
        pipe = load_sd3_pipeline(settings.model, dtype=torch.bfloat16 if settings.bf16 else torch.float32,
                                 device="cuda" if torch.cuda.is_available() else None)  # fmt: skip
        return SD3Adapter(pipe, PROMPT_SETS[settings.prompts](), gradient_checkpointing=settings.gradient_checkpointing,
                          decode_batch_size=settings.decode_batch_size or 8, **settings.sampler())  # fmt: skip

    def reward(self, settings: SD3Settings, device: Any = None) -> Any:
        """The reward ``settings.reward`` names: the binding checks, or CLIP score (the real path's)."""
        if settings.reward == "binding":
            return BINDING
        from adrpo_nb.rewards.images import CLIPScore

        return CLIPScore(device=device)

    def make_trainer(self, spec: RunSpec, *, callbacks: Sequence[Any] = ()) -> FlowMatchingRLTrainer:
        """A LoRA on a freshly loaded SD3 (:meth:`make_adapter`), rewarded by :meth:`reward`, each batch's diversity
        logged."""
        adapter = self.make_adapter(spec.settings)
        reward = self.reward(spec.settings, adapter.device)
        return FlowMatchingRLTrainer(adapter, reward, spec.config, callbacks=list(callbacks),
                                     metrics_fn=batch_diversity(spec.config.num_generations or 1))  # fmt: skip

    def on_iteration(self, trainer: FlowMatchingRLTrainer, spec: RunSpec, records: Any) -> None:
        if trainer.iteration in spec.settings.snapshots:
            grid = png_base64(trainer.last_rollout.outputs[:32], EVAL_IMAGES_PER_PROMPT)
            records.put("samples_during_training", trainer.iteration, grid)

    def evaluate(self, trainer: FlowMatchingRLTrainer, spec: RunSpec, records: Any) -> dict[str, Any]:
        adapter, reward = trainer.adapter, trainer.reward_funcs[0]
        final, images = evaluate_sd3(adapter, reward, n_prompts=spec.settings.eval_prompts)
        sampler = {k: getattr(adapter, k) for k in ("guidance_scale", "sample_steps", "height", "width",
                                                    "timestep_sampling")}  # fmt: skip
        result = {"final": final, "samples_png": png_base64(images[:64], EVAL_IMAGES_PER_PROMPT),
                  "reward_fn": getattr(reward, "__name__", repr(reward)), "adapter": sampler,
                  "samples_during_training": records.get("samples_during_training")}  # fmt: skip
        if spec.settings.model is None:  # the tiny path: the same policy under every evaluation noise seed
            result["final_by_eval_seed"] = evaluate_over_seeds(adapter, reward, spec.settings.eval_prompts)
        return result

    def save_artifacts(self, trainer: FlowMatchingRLTrainer, spec: RunSpec) -> None:
        save_lora(trainer.adapter, Path(spec.config.output_dir) / "lora")

    def fingerprints(self, spec: RunSpec) -> dict[str, Any]:
        s = spec.settings
        if s.model is not None:  # the real path: a hub model, its id in the settings
            return {}
        return {"base_model": model_fingerprint(data_path(*TINY_DIR)), "data": _data(s.prompts, s.eval_prompts)}

    def base_record(self, spec: RunSpec) -> dict[str, Any]:
        adapter = self.make_adapter(spec.settings)
        metrics, images = evaluate_sd3(adapter, n_prompts=spec.settings.eval_prompts)
        record = {**metrics, "samples_png": png_base64(images[:64], EVAL_IMAGES_PER_PROMPT)}
        if spec.settings.model is None:
            record["by_eval_seed"] = evaluate_over_seeds(adapter, n_prompts=spec.settings.eval_prompts)
        return record

    def add_sweep_flags(self, parser: Any) -> None:
        parser.add_argument("--grid", choices=SWEEP_GRIDS, default="default",
                            help="default: every method's β0 grid (150 iterations); orw-official: ORW at "
                                 "α ∈ {0.5, 1, 5}; orw-tau: ORW at α ∈ {5, 50, 500} and the --orw-temperature "
                                 "given; lead: the five methods at their tuned settings for 600 "
                                 "iterations unless --iterations is given (see sweep_grid)")  # fmt: skip
        parser.add_argument("--methods", nargs="+", default=None, choices=SWEEP_METHODS, help="default: the grid's")
        for flag, method in LEAD_FLAGS.items():
            parser.add_argument(flag, type=float, default=None, dest=f"lead_{method}",
                                help=f"{method}'s tuned setting in the lead grid")
        parser.add_argument("--tuned-from", type=Path, default=None,
                            help="the lead grid's settings: each method's best on this sweep file's grid "
                                 "(summaries.tuned_settings), e.g. data/results/sd3_sweep_g1.json")  # fmt: skip

    def sweep_specs(self, args: Any, base: RunSpec, shrink: bool) -> tuple[list[RunSpec], str]:
        chosen = {m: getattr(args, f"lead_{m}") for m in LEAD_FLAGS.values() if getattr(args, f"lead_{m}") is not None}
        if (chosen or args.tuned_from) and args.grid != "lead":
            given = sorted(chosen) or "--tuned-from"
            raise SystemExit(f"settings of {given} are for --grid lead, not --grid {args.grid}")
        if args.tuned_from:
            if chosen:
                raise SystemExit(f"--tuned-from {args.tuned_from} chooses every setting; drop {sorted(chosen)}")
            tuned = tuned_settings(read_json(args.tuned_from), methods=list(LEAD_FLAGS.values()))
            chosen = {m: t["beta0"] for m, t in tuned.items()}
            print(f"lead settings tuned on {args.tuned_from}: {chosen}")
        try:
            grid = sweep_grid(args.grid, chosen)
        except ValueError as err:
            raise SystemExit(str(err)) from None
        if args.grid == "orw-tau":
            if "orw_temperature" not in vars(args):
                raise SystemExit("--grid orw-tau needs --orw-temperature (the τ its α grid runs at)")
            grid["name"] = f"sd3_orw_tau{base.config.orw_temperature:g}"
        if grid["iterations"] and not shrink and "iterations" not in vars(args):  # a given --iterations stays
            base = base.replace(iterations=grid["iterations"])
        methods = args.methods or grid["methods"]
        outside = sorted(set(methods) - set(grid["methods"]) - {"none"})
        if outside:
            raise SystemExit(f"--methods {outside} have no β0 in the {args.grid!r} grid (its methods: "
                             f"{list(grid['methods'])})")  # fmt: skip
        specs = []
        for method in methods:
            betas = grid["betas"].get(method, (0.0,)) if method != "none" else (0.0,)
            specs += self.grid(base, [method], betas[:1] if shrink else betas, args.seeds)
        it = specs[0].config.iterations if specs else 0
        return [s.replace(snapshots=(1, it // 2, it)) if s.config.seed == 0 else s for s in specs], grid["name"]

    def summarize(self, sweep: dict[str, Any]) -> dict[str, Any]:
        return summarize_sweep(sweep, ("diversity",))

    def describe(self, result: dict[str, Any]) -> str:
        return describe_result(result, "diversity")

    def summary_lines(self, sweep: dict[str, Any]) -> list[str]:
        return [f"hypervolume (reward × {key}): { {m: round(v['hypervolume'], 4) for m, v in s['methods'].items()} }; "
                f"ADRPO / best baseline ({s['best_baseline']}) = {s['adrpo_hv_ratio']}"
                for key, s in sweep["summary"]["by_diversity"].items()]  # fmt: skip

    def add_commands(self, sub: Any) -> None:
        super().add_commands(sub)
        gd = sub.add_parser("guidance", help="the pretrained tiny SD3's reward and diversity per guidance scale")
        gd.add_argument("--out", type=Path, default=None, help="default: runs/results/sd3_guidance.json")

    def command(self, args: Any, shrink: bool) -> None:
        if args.command != "guidance":
            return super().command(args, shrink)
        check_output(args.out, shrink)
        out = args.out or default_output("results", GUIDANCE_FILE[-1])
        result = guidance_curve()
        atomic_write_json(out, seal(portable_paths(result)))
        for pt in result["points"]:
            print(f"guidance {pt['guidance_scale']:>4}: reward {pt['reward']:.3f}, diversity {pt['diversity']:.3f}")
        print(f"wrote {out}")

    def pretrain(self, out: Path, smoke_run: bool, args: Any) -> dict[str, Any]:
        return pretrain(out, TinySD3PretrainConfig.smoke() if smoke_run else None, evaluate=evaluate_pretrained)


@lru_cache(maxsize=8)
def _data(prompts: str, eval_prompts: int) -> str:
    """The data fingerprint of a tiny-path run: its RL prompts and its evaluation prompts (the split's version)."""
    return data_fingerprint({"rl_train": PROMPT_SETS[prompts]().prompts,
                             "eval": shapes_prompts("eval").prompts[:eval_prompts]})  # fmt: skip


FAMILY = SD3Family()
make_trainer, run_rl, default_config = FAMILY.make_trainer, partial(runner.run_rl, FAMILY), FAMILY.spec
book_run, book_run_config = runner.bind_book_run(FAMILY)
smoke_config = FAMILY.shrink


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adrpo_nb.experiments.sd3``."""
    return cli.main(FAMILY, argv, __doc__)
