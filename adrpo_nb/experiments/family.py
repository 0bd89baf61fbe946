"""What a model family must say — and only that. The runner (:mod:`adrpo_nb.experiments.runner`) does the rest.

A run is a :class:`RunSpec`: the trainer's config (:class:`~adrpo_nb.trainers.FlowMatchingRLConfig` or
:class:`~adrpo_nb.trainers.GRPOConfig`) and the family's typed :class:`Settings` — everything else that changes
the result (the reward, the sampler, the evaluation, the β_eff snapshots). Both are validated dataclasses: an
unknown or misspelt field is an error naming it and its value, never a silently ignored key.

A :class:`Family` says how to build the trainer for a spec, how to evaluate the trained policy, what it
records during training, how its runs are named and summarised, and how a result file made before settings
existed reads (:meth:`Family.legacy_settings`). One runner then owns what every family shares: run a spec
(locked, resumable, reused only when equal), the book's runs, sweeps with provenance, and one command line
built from the config's and the settings' fields (:mod:`adrpo_nb.experiments.cli`).

A fifth family is a subclass with a handful of methods (chapter 7 writes one).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from adrpo_nb.core import resolve_clip
from adrpo_nb.utils.validate import ConfigError

__all__ = ["RESULT_NEUTRAL", "Family", "RunSpec", "Settings", "data_fingerprint", "field_types", "model_fingerprint"]

#: config fields that never change a run's result (where it is written, the progress bar, how often it checkpoints)
RESULT_NEUTRAL = ("output_dir", "progress", "checkpoint_every")


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type hints of a dataclass's fields (``from __future__ import annotations`` makes them strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def model_fingerprint(folder: Path) -> str:
    """12 hex digits identifying a shipped pretrained folder: a sha256 over the checksums of its weight files
    (``*.safetensors``) that its ``pretrain.json`` records, so a re-pretrained model is another. The other files
    the map covers (configs, tokenizer) are verified on every load; they are left out here so that covering more
    of them (as the integrity check did) does not make the same weights another model."""
    from adrpo_nb.utils.paths import read_json

    recorded = read_json(Path(folder) / "pretrain.json").get("sha256") or {}
    weights = {name: sha for name, sha in recorded.items() if name.endswith(".safetensors")}
    if not weights:
        raise ValueError(f"{folder}/pretrain.json records no sha256 of its weights: cannot identify the model")
    return hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest()[:12]


def data_fingerprint(items: Any) -> str:
    """12 hex digits identifying the data a run reads (``{"rl_train": [...], "eval": [...]}`` as JSON): the task's
    split version, so a result made on another split (e.g. before the split by meaning) is another run's."""
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _is_tuple_field(hint: Any) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple


class Settings:
    """Base of a family's typed run settings: a ``@dataclass`` subclass whose fields change a run's result but are
    not the trainer's (the reward, the sampler, the evaluation). Subclasses validate in ``__post_init__``.

    :meth:`from_dict` refuses unknown keys (naming the key, its value and the fields there are); tuples come
    back as tuples after a JSON round trip. :attr:`LEGACY` maps field names of earlier versions to today's.
    """

    LEGACY: ClassVar[Mapping[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Settings:
        """Build the settings from ``d`` (a :meth:`to_dict` or keyword fields); unknown keys are refused."""
        d = {cls.LEGACY.get(k, k): v for k, v in d.items()}
        types = field_types(cls)
        unknown = {k: v for k, v in d.items() if k not in types}
        if unknown:
            name, value = next(iter(unknown.items()))
            raise ConfigError(f"{cls.__name__} has no field {name!r} (got {name}={value!r}); "
                              f"its fields are {sorted(types)}")  # fmt: skip
        d = {k: tuple(v) if _is_tuple_field(types[k]) and isinstance(v, list) else v for k, v in d.items()}
        return cls(**d)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (validated like :meth:`from_dict`)."""
        return self.from_dict({**dataclasses.asdict(self), **changes})


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """What defines a run: the trainer's ``config`` and the family's ``settings``.

    :meth:`replace` takes fields of either by name (``spec.replace(learning_rate=1e-4, guidance_scale=1.0)``);
    a name that is in neither is an error listing both sets of fields.
    """

    config: Any
    settings: Settings

    def __getattr__(self, name: str) -> Any:
        """Read a field of the config or the settings by its name (``spec.iterations``, ``spec.eval_size``)."""
        if name.startswith("__"):
            raise AttributeError(name)
        for part in (self.config, self.settings):
            if any(f.name == name for f in dataclasses.fields(part)):
                return getattr(part, name)
        raise AttributeError(f"{type(self.config).__name__} and {type(self.settings).__name__} have no field {name!r}")

    def replace(self, **fields: Any) -> RunSpec:
        """A copy with ``fields`` changed, each routed to the config or the settings by its name."""
        config_fields = {f.name for f in dataclasses.fields(self.config)}
        settings_fields = {f.name for f in dataclasses.fields(self.settings)}
        unknown = sorted(set(fields) - config_fields - settings_fields - set(self.settings.LEGACY))
        if unknown:
            raise ConfigError(
                f"no field {unknown[0]!r} (got {unknown[0]}={fields[unknown[0]]!r}) in {type(self.config).__name__} "
                f"or {type(self.settings).__name__}; config fields: {sorted(config_fields)}; settings fields: "
                f"{sorted(settings_fields)}"
            )
        config = {k: v for k, v in fields.items() if k in config_fields}
        settings = {k: v for k, v in fields.items() if k not in config_fields}
        if {"method", "beta0"} & config.keys() and "clip" not in config and self._clip_is_default():
            config["clip"] = self._default_clip()  # re-resolved for the new method and β0 (e.g. "auto")
        new_config = dataclasses.replace(self.config, **config) if config else self.config
        return RunSpec(new_config, self.settings.replace(**settings) if settings else self.settings)

    def _default_clip(self) -> Any:
        default = next((f.default for f in dataclasses.fields(self.config) if f.name == "clip"), None)
        return None if default is dataclasses.MISSING else default

    def _clip_is_default(self) -> bool:
        """Whether the config's clip is what its field's default resolves to for its method and β0."""
        if not hasattr(self.config, "clip"):
            return False
        return self.config.clip == resolve_clip(self._default_clip(), self.config.method, self.config.beta0)

    def to_dict(self) -> dict[str, Any]:
        """``{"config": ..., "settings": ...}`` as JSON-ready values."""
        return {"config": self.config.to_dict(), "settings": self.settings.to_dict()}

    def comparable(self) -> dict[str, Any]:
        """What decides whether two runs are the same: every field but :data:`RESULT_NEUTRAL`."""
        d = self.to_dict()
        d["config"] = {k: v for k, v in d["config"].items() if k not in RESULT_NEUTRAL}
        return d

    def digest(self, exclude: Sequence[str] = ()) -> str:
        """8 hex digits of a sha1 over :meth:`comparable` (and without the config fields in ``exclude``)."""
        d = self.comparable()
        d["config"] = {k: v for k, v in d["config"].items() if k not in exclude}
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def differences(self, other: RunSpec) -> dict[str, tuple[Any, Any]]:
        """``{"config.field" | "settings.field": (self's value, other's value)}`` for every field that differs."""
        a, b = self.comparable(), other.comparable()
        return {f"{part}.{k}": (a[part].get(k), b[part].get(k)) for part in ("config", "settings")
                for k in sorted(a[part].keys() | b[part].keys()) if a[part].get(k) != b[part].get(k)}  # fmt: skip


class Family:
    """A model family: what differs from the others. Subclass it, set the class attributes and write the hooks.

    Class attributes:
        name: the family's name (``python -m adrpo_nb.experiments.<name>``).
        config_class / settings_class: the trainer's config dataclass and the family's :class:`Settings`.
        methods: the values of ``method`` the family runs.
        defaults: the family's default run, as config overrides of ``config_class``'s defaults.
        smoke: config and settings fields of the smoke-sized run (``ADRPO_SMOKE=1`` / ``--smoke``).
        curve_keys / curve_points: the training logs a result keeps, and about how many points of each.
        record_kinds: what :meth:`on_iteration` records beside β_eff (kept across a resume; :meth:`evaluate`
            puts them in the result).
        book_prefix: the book's run folders start with it (``"sd3_"``).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = object
    settings_class: ClassVar[type[Settings]] = Settings
    methods: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[Mapping[str, Any]] = {}
    smoke: ClassVar[Mapping[str, Any]] = {}
    curve_keys: ClassVar[tuple[str, ...]] = ()
    curve_points: ClassVar[int] = 60
    record_kinds: ClassVar[tuple[str, ...]] = ()
    book_prefix: ClassVar[str] = ""
    #: what :meth:`save_artifacts` writes under the run folder (files or folders, e.g. ``("lora",)``): a result
    #: records their sha256, and a finished run whose artefacts are missing or changed is re-derived
    artifacts: ClassVar[tuple[str, ...]] = ()
    #: names :meth:`spec` takes beside the fields (e.g. audio's ``variant``, a (method, rewards) pair)
    spec_aliases: ClassVar[tuple[str, ...]] = ()
    #: whether a result that recorded no fingerprints (made before they were recorded) may stand for today's run:
    #: only when the family's base model and data have not changed since (MNIST); a committed book result of
    #: another family without fingerprints is refused
    unfingerprinted_results_valid: ClassVar[bool] = False
    #: old command-line spellings of fields: ``{"learning_rate": ("--lr",)}``
    cli_aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    # ------------------------------------------------------------------ specs
    def spec(self, **fields: Any) -> RunSpec:
        """The family's default run with ``fields`` (config or settings fields, by name) changed."""
        base = RunSpec(self.config_class(**self.defaults), self.settings_class())
        return base.replace(**fields) if fields else base

    def shrink(self, spec: RunSpec, keep: Sequence[str] = ()) -> RunSpec:
        """The same run at smoke size (:attr:`smoke`), but for the fields named in ``keep`` (those given on the
        command line)."""
        return spec.replace(**{k: v for k, v in self.smoke.items() if k not in keep})

    def spec_from_result(self, result: Mapping[str, Any]) -> RunSpec:
        """The spec a result file was made with; files made before settings existed read through
        :meth:`legacy_settings`."""
        config = dict(result["config"])
        if "settings" in result:
            settings = result["settings"]
        else:
            settings = self.legacy_settings(result)
            config["extra"] = {}  # what the settings took from it
        return RunSpec(self.config_class.from_dict(config), self.settings_class.from_dict(settings))

    def legacy_settings(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The settings of a result file made before settings were recorded (default: the defaults)."""
        return {}

    def label(self, spec: RunSpec) -> str:
        """The run's folder name without the settings digest, e.g. ``adrpo_b0.05_s1`` (``none_s1`` for β = 0)."""
        c = spec.config
        return f"{c.method}_b{c.beta0:g}_s{c.seed}" if c.method != "none" else f"none_s{c.seed}"

    def book_fields(self, method: str, beta0: float) -> dict[str, Any]:
        """The fields of ``book_run(method, beta0, ...)``'s positional arguments."""
        return {"method": method, "beta0": beta0}

    def book_extras(self, spec: RunSpec) -> dict[str, Any]:
        """Fields a book run sets once its size is known (e.g. snapshots at fractions of its iterations)."""
        return {}

    # ------------------------------------------------------------------ training and evaluation
    def make_trainer(self, spec: RunSpec, *, callbacks: Sequence[Any] = ()) -> Any:
        """The trainer of ``spec``, ready to train (nothing written)."""
        raise NotImplementedError

    def on_start(self, trainer: Any, spec: RunSpec, records: Any) -> None:
        """Called once before a run trains from scratch (e.g. evaluate at iteration 0)."""

    def on_iteration(self, trainer: Any, spec: RunSpec, records: Any) -> None:
        """Called after every iteration: record what the family keeps (:attr:`record_kinds`)."""

    def evaluate(self, trainer: Any, spec: RunSpec, records: Any) -> dict[str, Any]:
        """The trained policy's evaluation: ``{"final": metrics, ...result keys of the family}``."""
        raise NotImplementedError

    def save_artifacts(self, trainer: Any, spec: RunSpec) -> None:
        """Write what the run leaves beside its result (e.g. a LoRA), before ``result.json``."""

    def fingerprints(self, spec: RunSpec) -> dict[str, Any]:
        """What the result depends on outside the spec: ``{"base_model": model_fingerprint(...), "data":
        data_fingerprint(...)}`` — compared on reuse and on resume (a result without them is another run's)."""
        return {}

    # ------------------------------------------------------------------ sweeps
    def base_record(self, spec: RunSpec) -> dict[str, Any]:
        """The pretrained model's metrics, evaluated as ``spec``'s runs are (a sweep's ``base``)."""
        raise NotImplementedError

    def summarize(self, sweep: dict[str, Any]) -> dict[str, Any]:
        """A sweep's summary (means over seeds, fronts, …)."""
        return {}

    def describe(self, result: dict[str, Any]) -> str:
        """One log line for a finished run."""
        final = result["final"]
        if final is None:
            return f"diverged ({result['diverged']})"
        shown = {k: v for k, v in final.items() if isinstance(v, float)}
        return ", ".join(f"{k} {v:.3f}" for k, v in list(shown.items())[:4]) + \
            f", {result['provenance']['seconds']:.0f} s"  # fmt: skip

    # ------------------------------------------------------------------ sweeps' grid (the command line's default)
    #: the default sweep: these methods × :attr:`sweep_betas` (β = 0 once) × seeds
    sweep_methods: ClassVar[tuple[str, ...]] = ()
    sweep_betas: ClassVar[tuple[float, ...]] = ()

    def grid(self, base: RunSpec, methods: Sequence[str], betas: Sequence[float], seeds: Sequence[int]
             ) -> list[RunSpec]:  # fmt: skip
        """``base`` at every (method, β0, seed) — ``none`` once per seed (β0 does not enter it)."""
        return [base.replace(method=m, beta0=b, seed=s) for m in methods
                for b in (betas if m != "none" else (0.0,)) for s in seeds]  # fmt: skip

    def add_sweep_flags(self, parser: Any) -> None:
        """Flags of ``sweep`` beyond the fields (default: ``--methods`` and ``--betas``)."""
        parser.add_argument("--methods", nargs="+", default=list(self.sweep_methods), choices=self.methods)
        parser.add_argument("--betas", type=float, nargs="+", default=list(self.sweep_betas))

    def sweep_specs(self, args: Any, base: RunSpec, shrink: bool) -> tuple[list[RunSpec], str]:
        """The specs of ``sweep`` and the sweep's name (its default folder and file name)."""
        if len(set(args.betas)) != len(args.betas):
            raise SystemExit(f"--betas lists a value twice: {args.betas}")
        return self.grid(base, args.methods, args.betas, args.seeds), f"{self.name}_sweep"

    def summary_lines(self, sweep: dict[str, Any]) -> list[str]:
        """What ``sweep`` prints when it ends."""
        return []

    # ------------------------------------------------------------------ command line hooks
    #: the folder name of ``pretrain``'s default output (``runs/pretrain/<it>``)
    pretrain_name: ClassVar[str] = ""

    def add_train_flags(self, parser: Any) -> None:
        """Flags of ``train`` beyond the fields (e.g. a real path's model)."""

    def train_elsewhere(self, args: Any, spec: RunSpec) -> bool:
        """Handle ``train`` outside the runner (a real path that has no evaluation here) and return True."""
        return False

    def add_commands(self, sub: Any) -> None:
        """The family's own commands; the default adds ``pretrain`` (``--out``, ``--smoke`` and
        :meth:`add_pretrain_flags`)."""
        pre = sub.add_parser("pretrain", help=f"pretrain the shipped {self.name} model(s)")
        pre.add_argument("--out", type=Path, default=None,
                         help=f"default: runs/pretrain[-smoke]/{self.pretrain_name} (the shipped one: data/...)")
        pre.add_argument("--smoke", action="store_true")
        self.add_pretrain_flags(pre)

    def add_pretrain_flags(self, parser: Any) -> None:
        """Flags of ``pretrain`` beyond ``--out`` and ``--smoke``."""

    def command(self, args: Any, shrink: bool) -> None:
        """Run one of the family's own commands (:meth:`add_commands`; ``pretrain`` is the command line's)."""
        raise SystemExit(f"unknown command {args.command!r}")

    def pretrain(self, out: Path, smoke_run: bool, args: Any) -> dict[str, Any]:
        """Pretrain the family's small model(s) into ``out``."""
        raise NotImplementedError
