"""What every trainer shares: the accelerator and optimizer, atomic checkpoints, the run loop, per-iteration
random generators and how per-step statistics are merged into one iteration's logs.

A family trainer (:class:`~adrpo_nb.trainers.flow_matching.FlowMatchingRLTrainer`,
:class:`~adrpo_nb.trainers.grpo.GRPOTrainer`) subclasses :class:`RLTrainer` and writes only what is its
own: :meth:`RLTrainer.step` (sample, score, advantages, updates) and how its trainable weights are read and
written. Both configs subclass :class:`RLConfig`: the fields they share (the method and its β0 and clip, the
group advantages, the loop's ``iterations``, ``seed``, ``checkpoint_every``, ``output_dir``, ``progress``, ...),
checked once at construction, and :meth:`RLConfig.to_dict` / :meth:`RLConfig.from_dict`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from adrpo_nb.core import METHODS, check_adrpo_beta0, check_advantage_std, check_beta0, resolve_clip
from adrpo_nb.utils.checkpoints import CheckpointError, read_trainer_state, write_trainer_state
from adrpo_nb.utils.runlock import run_lock
from adrpo_nb.utils.validate import (
    ConfigError,
    check_bool,
    check_choice,
    check_float,
    check_float_list,
    check_int,
    check_json_safe,
    check_optional_path,
    check_seed,
    plain,
)

__all__ = [
    "OPTIMIZERS",
    "RLConfig",
    "RLTrainer",
    "check_state_fits",
    "config_from_dict",
    "iteration_generator",
    "make_optimizer",
    "merge_step_stats",
    "reward_list",
]

OPTIMIZERS = ("adam", "adamw", "adam8bit")


def iteration_generator(seed: int, iteration: int, process: int = 0) -> torch.Generator:
    """A CPU generator for one iteration of one process, independent of everything that ran before."""
    state = np.random.SeedSequence([seed, iteration, process]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0] % (2**63 - 1)))


def make_optimizer(name: str, params: list[torch.nn.Parameter], lr: float, weight_decay: float | None = None
                   ) -> torch.optim.Optimizer:  # fmt: skip
    """``adam``/``adamw`` from torch; ``adam8bit`` from bitsandbytes (8-bit optimizer states, CUDA only).

    ``weight_decay=None`` keeps each optimizer's own default (AdamW: 0.01, Adam: 0).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got optimizer={name!r}")
    kwargs = {} if weight_decay is None else {"weight_decay": weight_decay}
    if name == "adam8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ImportError("optimizer='adam8bit' needs bitsandbytes (pip install bitsandbytes) and a GPU") from None
        return bnb.optim.Adam8bit(params, lr=lr, **kwargs)
    return (torch.optim.AdamW if name == "adamw" else torch.optim.Adam)(params, lr=lr, **kwargs)


def merge_step_stats(stats: Sequence[dict[str, float]]) -> dict[str, float]:
    """One iteration's logs from its optimizer steps' statistics: ``beta_eff/min`` the minimum, ``beta_eff/max``
    the maximum, every other key the mean (over the steps that logged it)."""
    out: dict[str, float] = {}
    for key in dict.fromkeys(k for s in stats for k in s):
        values = [s[key] for s in stats if key in s]
        out[key] = min(values) if key == "beta_eff/min" else max(values) if key == "beta_eff/max" else float(
            np.mean(values))  # fmt: skip
    return out


def reward_list(reward_funcs: Any, weights: Sequence[float] | None) -> tuple[list[Callable], list[float]]:
    """``(functions, weights)`` from one reward callable or a list of them, and ``weights`` (one per function,
    default 1 each); errors name what is wrong."""
    funcs = list(reward_funcs) if isinstance(reward_funcs, (list, tuple)) else [reward_funcs]
    if not funcs or not all(callable(f) for f in funcs):
        raise ValueError(f"reward_funcs must be a callable or a non-empty list of callables, got {reward_funcs!r}")
    weights = list(weights) if weights is not None else [1.0] * len(funcs)
    if len(weights) != len(funcs):
        raise ValueError(f"reward_weights has {len(weights)} entries for {len(funcs)} reward functions")
    return funcs, [float(w) for w in weights]


def config_from_dict(cls: type, d: dict[str, Any], renamed: dict[str, str] | None = None) -> Any:
    """Build the dataclass ``cls`` from a dict made by its ``to_dict`` (a JSON round trip turns the clip pair
    into a list). ``renamed`` maps field names of earlier versions to today's (result files keep their
    configs as written); an unknown field is an error naming it."""
    d = dict(d)
    for old, new in (renamed or {}).items():
        if old in d and new not in d:
            d[new] = d.pop(old)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}; its fields are {sorted(names)}")
    if isinstance(d.get("clip"), list):
        d["clip"] = tuple(d["clip"])
    return cls(**d)


C = TypeVar("C", bound="RLConfig")


@dataclass
class RLConfig:
    """The settings both trainers share, checked once here (numpy scalars become Python numbers; errors name the
    field), and how a config is saved (:meth:`to_dict`) and read back (:meth:`from_dict`).

    :class:`~adrpo_nb.trainers.flow_matching.FlowMatchingRLConfig` and :class:`~adrpo_nb.trainers.grpo.GRPOConfig`
    add their own fields and restate the shared ones whose defaults are theirs. ``method`` is one of the
    subclass's :attr:`METHODS`; ``beta0`` is checked here once for the whole run (the trainers call their loss
    with ``validate=False``); ``clip`` may be ``"auto"`` (``(-beta0, beta0)`` for ``adrpo``, see
    :func:`~adrpo_nb.core.resolve_clip`) and is stored resolved.
    """

    method: str = "adrpo"
    beta0: float = 0.05
    clip: Any = None  # (a_min, a_max), None, or "auto" = (-beta0, beta0) for adrpo
    num_generations: int | None = None  # samples per prompt (TRL's name)
    scale_rewards: bool = False  # divide advantages by the group std (GRPO; TRL's name)
    #: the group std of scale_rewards: "unbiased" (K − 1, TRL's) or "population" (K, results before this field)
    advantage_std: str = "unbiased"
    iterations: int = 300
    updates_per_iteration: int = 4  # passes over each batch (TRL's num_iterations, μ)
    minibatch_size: int = 256
    learning_rate: float = 3e-4
    max_grad_norm: float | None = 1.0
    reward_weights: list[float] | None = None  # one per reward function (default 1 each)
    seed: int = 0
    checkpoint_every: int = 25
    output_dir: str | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, saved with the run (e.g. task name)

    #: the methods ``method`` may name
    METHODS: ClassVar[tuple[str, ...]] = METHODS
    #: fields that may differ between a checkpoint and the run that resumes it
    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]] = ("iterations", "checkpoint_every", "output_dir", "progress")
    #: field names of earlier versions (result files keep them), read by :meth:`from_dict`
    RENAMED: ClassVar[types.MappingProxyType] = types.MappingProxyType({})
    #: values of fields added later, for configs saved before them (committed results): what those runs used
    LEGACY_DEFAULTS: ClassVar[types.MappingProxyType] = types.MappingProxyType({"advantage_std": "population"})

    def __post_init__(self) -> None:
        """Check and normalise the shared fields; a subclass checks its own after calling this."""
        self.method = check_choice("method", self.method, self.METHODS)
        self.beta0 = check_beta0(plain(self.beta0))
        check_adrpo_beta0(self.method, self.beta0)
        check_advantage_std(self.advantage_std)
        self.clip = resolve_clip(plain(self.clip), self.method, self.beta0)
        for name in ("scale_rewards", "progress"):
            setattr(self, name, check_bool(name, getattr(self, name)))
        for name in ("iterations", "updates_per_iteration", "minibatch_size", "checkpoint_every"):
            setattr(self, name, check_int(name, getattr(self, name), minimum=1))
        self.seed = check_seed("seed", self.seed)
        self.learning_rate = check_float("learning_rate", self.learning_rate, positive=True)
        self.max_grad_norm = check_float("max_grad_norm", self.max_grad_norm, positive=True, optional=True)
        self.reward_weights = check_float_list("reward_weights", self.reward_weights, optional=True)
        self.output_dir = check_optional_path("output_dir", self.output_dir)
        self.extra = check_json_safe("extra", self.extra)
        if not isinstance(self.extra, dict):
            raise ConfigError(f"extra must be a dict, got extra={self.extra!r}")

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-ready values (the clip pair as a list)."""
        d = dataclasses.asdict(self)
        d["clip"] = list(self.clip) if self.clip is not None else None
        return d

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """The inverse of :meth:`to_dict` (a JSON round trip turns the clip pair into a list); also reads configs
        saved under earlier field names (:attr:`RENAMED`) and gives a config saved before a field existed the
        value those runs used (:attr:`LEGACY_DEFAULTS`)."""
        return config_from_dict(cls, {**cls.LEGACY_DEFAULTS, **d}, cls.RENAMED)


class RLTrainer:
    """The loop every trainer shares. Subclasses set :attr:`CHECKPOINT_FORMAT` and :attr:`PROGRESS_KEYS` and
    implement :meth:`step`, :meth:`trainable_state_dict` and :meth:`load_trainable_state_dict`.

    Attributes after each iteration (for callbacks): ``iteration``, ``history`` (one log dict per
    iteration), ``last_rollout`` (the samples / completions), ``last_rewards``, ``last_advantages`` and
    ``last_beta_eff``: the per-sample divergence coefficients β_i the iteration's loss used, a 1-D float tensor
    in the batch's order (that of ``last_rewards`` and ``last_advantages``), equal to
    ``effective_beta(config.method, last_advantages, config.beta0, config.clip)``; ``None`` where the method
    has no per-sample coefficient (``dpo``).
    """

    CHECKPOINT_FORMAT: ClassVar[str] = ""
    PROGRESS_KEYS: ClassVar[tuple[str, ...]] = ("reward",)

    def __init__(self, adapter: Any, config: Any, *, callbacks: Sequence[Callable] = (), accelerator: Any = None,
                 optimizer: str = "adam", weight_decay: float | None = None):  # fmt: skip
        from accelerate import Accelerator

        self.config = config
        self.callbacks = list(callbacks)
        self.accelerator = accelerator or Accelerator()
        self.adapter = adapter.to(self.accelerator.device)
        params = [p for p in adapter.policy.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the adapter's policy has no trainable parameters")
        opt = make_optimizer(optimizer, params, config.learning_rate, weight_decay)
        self.adapter.policy, self.optimizer = self.accelerator.prepare(adapter.policy, opt)
        self.iteration = 0
        self.history: list[dict[str, float]] = []
        self.last_rollout: Any = None
        self.last_rewards: torch.Tensor | None = None
        self.last_advantages: torch.Tensor | None = None
        self.last_beta_eff: torch.Tensor | None = None

    # ------------------------------------------------------------------ what a subclass provides
    def step(self) -> dict[str, float]:
        """Run one iteration and return its logs."""
        raise NotImplementedError

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The trained weights a checkpoint keeps (CPU tensors)."""
        raise NotImplementedError

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor], path: Path) -> None:
        """Copy ``state`` into the trained weights; :class:`CheckpointError` naming ``path`` if it does not fit."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    @property
    def output_dir(self) -> Path | None:
        return Path(self.config.output_dir) if self.config.output_dir else None

    @property
    def checkpoint_path(self) -> Path | None:
        return self.output_dir / "checkpoint.pt" if self.output_dir else None

    def save_checkpoint(self) -> None:
        """Atomically write trainable weights, optimizer, iteration, history and config to ``checkpoint.pt``."""
        if self.checkpoint_path is None or not self.accelerator.is_main_process:
            return
        state = {
            "format": self.CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "policy": self.trainable_state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
        }
        write_trainer_state(self.checkpoint_path, state)

    def load_checkpoint(self, path: str | Path | None = None) -> bool:
        """Resume from ``path`` (default ``output_dir/checkpoint.pt``); returns False if there is none.

        Raises:
            CheckpointError: not a checkpoint of this trainer, made with another config (the message lists
                the fields that differ), or weights that do not fit this policy.
        """
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None or not path.exists():
            return False
        state = read_trainer_state(path, self.CHECKPOINT_FORMAT, type(self).__name__, self.config.to_dict(),
                                   self.config.RESUMABLE_CHANGES)  # fmt: skip
        self.load_trainable_state_dict(state["policy"], path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.history = list(state["history"])
        return True

    # ------------------------------------------------------------------ the loop
    def train(self, resume: bool = True) -> list[dict[str, float]]:
        """Run until ``config.iterations``; resumes from ``output_dir`` if a checkpoint is there.

        ``output_dir`` is locked for the run (:func:`~adrpo_nb.utils.runlock.run_lock`): a second run on the
        same folder gets a ``RunLockError`` instead of overwriting this one's checkpoints.
        """
        with run_lock(self.output_dir):
            return self._train(resume)

    def _train(self, resume: bool) -> list[dict[str, float]]:
        if resume:
            self.load_checkpoint()
        cfg = self.config
        bar = tqdm(total=cfg.iterations, initial=self.iteration, desc=f"{cfg.method} β0={cfg.beta0:g}",
                   disable=not (cfg.progress and self.accelerator.is_main_process), leave=False)  # fmt: skip
        while self.iteration < cfg.iterations:
            logs = self.step()
            bar.update(1)
            bar.set_postfix({k: f"{logs[k]:.3g}" for k in self.PROGRESS_KEYS if k in logs})
            for callback in self.callbacks:  # before the checkpoint: what a callback records at this iteration is
                callback(self, logs)  # saved before the checkpoint says it is done (a kill between: it is replayed)
            if self.iteration % cfg.checkpoint_every == 0 or self.iteration == cfg.iterations:
                self.save_checkpoint()
        bar.close()
        return self.history


def check_state_fits(state: dict[str, torch.Tensor], params: dict[str, torch.Tensor], path: Path) -> None:
    """:class:`CheckpointError` naming ``path`` unless ``state`` has exactly the keys and shapes of ``params``."""
    if state.keys() != params.keys():
        missing = sorted(params.keys() - state.keys())[:5]
        extra = sorted(state.keys() - params.keys())[:5]
        raise CheckpointError(f"{path} does not fit this policy: missing {missing}, unexpected {extra}")
    for name, param in params.items():
        if param.shape != state[name].shape:
            raise CheckpointError(f"{path}: {name} has shape {tuple(state[name].shape)}, "
                                  f"the policy's is {tuple(param.shape)}")  # fmt: skip
