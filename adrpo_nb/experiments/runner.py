"""The one runner every family uses: run a spec, the book's runs, sweeps with provenance, smoke mode.

:func:`run` trains a :class:`~adrpo_nb.experiments.family.RunSpec` of a
:class:`~adrpo_nb.experiments.family.Family` and returns its *result*: a dict with ``family``, ``config``,
``settings``, ``fingerprints``, ``final`` (evaluation metrics, ``None`` if the run diverged), ``diverged``,
``curve`` (training logs every few iterations), ``beta_eff`` (per-sample β_eff at the snapshot iterations), what
the family records and evaluates, and ``provenance``. It holds the run folder's lock, returns a finished run's
``result.json`` only when it was made with the same spec (and fingerprints), and resumes an interrupted one
from its checkpoint with what it recorded so far (:class:`RunRecords`).

:func:`book_run` is a chapter's run ("load the committed result if present, else train"); :func:`sweep` runs
many specs in one-thread worker processes and writes one file with the pretrained model's metrics, the runs,
the family's summary and the sweep's provenance.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import torch

from adrpo_nb.experiments.committed import book_command, committed_book_result
from adrpo_nb.experiments.family import Family, RunSpec
from adrpo_nb.utils.paths import atomic_write_json, data_dir, read_json, runs_dir
from adrpo_nb.utils.provenance import check_seal, git_commit, portable_paths, provenance, seal
from adrpo_nb.utils.runlock import run_lock

__all__ = [
    "RUN_FILE",
    "RunRecords",
    "artifact_sha256",
    "bind_book_run",
    "book_run",
    "book_run_config",
    "book_spec",
    "check_output",
    "default_output",
    "finished_result",
    "run",
    "run_jobs",
    "run_rl",
    "smoke",
    "sweep",
    "sweep_provenance",
]


def smoke() -> bool:
    """True when ``ADRPO_SMOKE=1``: every chapter and CLI shrinks its sizes, the code stays the same."""
    return os.environ.get("ADRPO_SMOKE") == "1"


def default_output(*parts: str, smoke_run: bool = False) -> Path:
    """Where a command writes when no ``--out`` is given: ``runs/<parts>`` (``$ADRPO_RUNS``), the first part with
    ``-smoke`` for a smoke run. Nothing is written into ``data/`` unless ``--out`` says so."""
    first, *rest = parts
    return runs_dir().joinpath(first + ("-smoke" if smoke_run else ""), *rest)


def check_output(path: str | Path | None, smoke_run: bool, what: str = "--out") -> None:
    """A smoke run never writes into the data folder (it would replace committed models or results)."""
    if path is None or not smoke_run:
        return
    resolved, data = Path(path).expanduser().resolve(), data_dir().resolve()
    if resolved == data or data in resolved.parents:
        raise SystemExit(f"{what} {path} is inside the data folder {data}: a smoke run writes only under "
                         f"{runs_dir()} (drop --smoke to remake committed files, or choose another {what})")


# ----------------------------------------------------------------------------- one run
def finished_result(family: Family, spec: RunSpec) -> dict[str, Any] | None:
    """The ``result.json`` of a finished run in ``spec.config.output_dir`` if it was made with this spec, else ``None``.

    Reused only when the saved config and settings equal ``spec``'s (the result-neutral fields aside), the
    recorded fingerprints (base model, data split) equal today's and the file's content hash holds (a result
    edited by hand is refused). A finished run with fewer ``iterations`` gives ``None``: training resumes from its
    checkpoint; so does a run whose artefacts (:attr:`~adrpo_nb.experiments.family.Family.artifacts`, e.g. SD3's
    LoRA) are missing or changed: they are re-derived from its final checkpoint. Any other difference is a
    ``ValueError`` naming each differing field with both values (a result never stands in for another run's).
    """
    path = Path(spec.config.output_dir) / "result.json" if spec.config.output_dir else None
    if path is None or not path.exists():
        return None
    result = read_json(path)
    check_seal(result, path)
    diffs = _differences(family, result, spec, path)
    if not diffs:
        return None if _changed_artifacts(family, Path(spec.config.output_dir), result) else result
    if diffs.keys() == {"config.iterations"} and result["config"]["iterations"] < spec.config.iterations:
        return None  # a longer run: resume from the checkpoint
    detail = ", ".join(f"{k}: result {a!r} vs now {b!r}" for k, (a, b) in diffs.items())
    raise ValueError(f"{path} is the result of another run ({detail}){_FINGERPRINT_HINT * ('fingerprints' in diffs)}; "
                     "use another output folder (only more iterations continue a finished run)")  # fmt: skip


_FINGERPRINT_HINT = (" — another base model or data split (fingerprints None: made before the base model and the "
                     "data split were recorded)")  # fmt: skip


def _differences(family: Family, record: dict[str, Any], spec: RunSpec, path: Path) -> dict[str, tuple[Any, Any]]:
    """What differs between the run a record (``result.json`` or ``run.json``) was made by and ``spec``: every
    config and settings field, and the fingerprints (a record without them differs unless the family has none)."""
    try:
        saved = family.spec_from_result(record)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} holds no readable config and settings ({err}); use another output folder") from None
    diffs = saved.differences(spec)
    recorded, now = record.get("fingerprints"), family.fingerprints(spec)
    if recorded != now and not (recorded is None and not now):
        diffs["fingerprints"] = (recorded, now)
    return diffs


def artifact_sha256(folder: Path, names: Sequence[str]) -> dict[str, str]:
    """``{path relative to folder: sha256}`` of every file of the artefacts ``names`` (files or folders) in
    ``folder``."""
    from adrpo_nb.utils.checkpoints import file_sha256

    files = []
    for name in names:
        target = folder / name
        files += sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target] * target.exists()
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in files}


def _changed_artifacts(family: Family, folder: Path, result: dict[str, Any]) -> list[str]:
    """The artefacts of a finished run that are missing or differ from the sha256 its result recorded (a result
    written before they were recorded: those missing)."""
    recorded = result.get("artifacts")
    if recorded is None:
        return [name for name in family.artifacts if not (folder / name).exists()]
    actual = artifact_sha256(folder, family.artifacts)
    return sorted(k for k in recorded.keys() | actual.keys() if recorded.get(k) != actual.get(k)) or \
        [name for name in family.artifacts if not (folder / name).exists()]  # fmt: skip


class RunRecords:
    """What a run records at chosen iterations (evaluations, β_eff, sample grids), kept beside its checkpoint.

    The trainer's checkpoint holds the weights, the optimizer and the training logs; the experiments also
    record things at a few iterations, which a resumed run would otherwise lose (an evaluation at iteration
    30 of a run interrupted at 70 and resumed from its checkpoint at 60). Each :meth:`put` rewrites
    ``records.json`` in ``output_dir`` atomically; :meth:`resume` reloads the records up to the iteration the
    checkpoint resumes from (later ones are recorded again as those iterations are replayed), :meth:`fresh`
    drops a previous attempt's. Without ``output_dir`` nothing is written.

    Args:
        output_dir: the run folder (``None``: in memory only).
        kinds: the names of the records, e.g. ``("evals", "beta_eff")``; each maps ``str(iteration)`` to a value.
    """

    FILE = "records.json"

    def __init__(self, output_dir: str | Path | None, kinds: Sequence[str]):
        self.path = Path(output_dir) / self.FILE if output_dir else None
        self.data: dict[str, dict[str, Any]] = {k: {} for k in kinds}

    def fresh(self) -> RunRecords:
        """Start empty (a run from scratch), removing a previous attempt's file."""
        self.data = {k: {} for k in self.data}
        if self.path is not None and self.path.exists():
            self.path.unlink()
        return self

    def resume(self, iteration: int) -> RunRecords:
        """Reload the records of iterations ``<= iteration`` (the checkpoint's) from a previous attempt."""
        stored = read_json(self.path) if self.path is not None and self.path.exists() else {}
        if not isinstance(stored, dict) or not all(isinstance(v, dict) for v in stored.values()):
            raise ValueError(f"{self.path} holds a JSON {type(stored).__name__}, not records ({{kind: {{iteration: "
                             f"value}}}} for kinds {sorted(self.data)}): delete it and the checkpoint to start over")
        for kind in self.data:
            self.data[kind] = {i: v for i, v in stored.get(kind, {}).items() if int(i) <= iteration}
        return self

    def put(self, kind: str, iteration: int, value: Any) -> None:
        """Record ``value`` under ``kind`` at ``iteration`` and save."""
        if kind not in self.data:
            raise KeyError(f"no record kind {kind!r}; the kinds are {sorted(self.data)}")
        self.data[kind][str(int(iteration))] = value
        if self.path is not None:
            atomic_write_json(self.path, self.data)

    def get(self, kind: str) -> dict[str, Any]:
        """``{str(iteration): value}`` of ``kind``, in iteration order."""
        return dict(sorted(self.data[kind].items(), key=lambda kv: int(kv[0])))


def _curve(history: list[dict[str, float]], keys: Sequence[str], points: int) -> dict[str, list]:
    stride = max(1, len(history) // points)
    kept = [h for i, h in enumerate(history) if i % stride == 0 or i == len(history) - 1]
    return {"iteration": [h["iteration"] for h in kept],
            **{k: [round(h[k], 5) for h in kept] for k in keys if kept and k in kept[0]}}  # fmt: skip


def _finite(metrics: dict[str, Any]) -> bool:
    return all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))


def run(family: Family, spec: RunSpec, *, command: str | None = None, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train ``spec`` (resuming from a checkpoint), evaluate the policy, save and return the result dict.

    A finished run with the same spec is returned as it is (:func:`finished_result`). A run that diverges
    (``FloatingPointError``, or non-finite evaluation metrics) is recorded with ``final = None`` and the
    reason, so a sweep never stops on it. At ``settings.snapshots`` the per-sample β_eff is recorded.
    """
    with run_lock(spec.config.output_dir):
        done = finished_result(family, spec)
        if done is not None:
            return done
        return _train_and_evaluate(family, spec, command, callbacks)


RUN_FILE = "run.json"  # what an interrupted run was started with: its spec and fingerprints (checked on resume)


def _check_resume(family: Family, spec: RunSpec, folder: Path) -> None:
    """Refuse to resume a checkpoint in ``folder`` that another run made: another reward, evaluation, base model or
    data split (its ``run.json``; a finished run's ``result.json`` when there is none); more iterations are fine."""
    path = next((folder / f for f in (RUN_FILE, "result.json") if (folder / f).exists()), None)
    if path is None:
        raise ValueError(f"{folder}/checkpoint.pt has no {RUN_FILE} beside it (made before runs recorded their "
                         "settings and base model), so what it was trained with cannot be checked; delete the "
                         "checkpoint to start over, or use another output folder")  # fmt: skip
    record = read_json(path)
    check_seal(record, path)
    diffs = {k: v for k, v in _differences(family, record, spec, path).items() if k != "config.iterations"}
    if diffs:
        detail = ", ".join(f"{k}: checkpoint's {a!r} vs now {b!r}" for k, (a, b) in diffs.items())
        raise ValueError(f"{folder}/checkpoint.pt was made by another run ({detail}); it cannot resume this one: "
                         "use another output folder")  # fmt: skip


def _train_and_evaluate(family: Family, spec: RunSpec, command: str | None, callbacks: Sequence[Any]) -> dict:
    start, commit, config = time.perf_counter(), git_commit(), spec.config
    folder = Path(config.output_dir) if config.output_dir else None
    records = RunRecords(config.output_dir, ("beta_eff", *family.record_kinds))
    snapshots = set(getattr(spec.settings, "snapshots", ()))

    def record(trainer: Any, logs: dict) -> None:
        if trainer.iteration in snapshots and trainer.last_beta_eff is not None:  # the β_i the iteration's loss used
            records.put("beta_eff", trainer.iteration, [round(b, 5) for b in trainer.last_beta_eff.tolist()])
        family.on_iteration(trainer, spec, records)

    if folder is not None and (folder / "checkpoint.pt").exists():
        _check_resume(family, spec, folder)
    trainer = family.make_trainer(spec, callbacks=[record, *callbacks])
    main = trainer.accelerator.is_main_process
    if trainer.load_checkpoint():
        records.resume(trainer.iteration)
    else:
        records.fresh()
    if folder is not None and main:  # before any checkpoint of this run
        identity = {"family": family.name, **spec.to_dict(), "fingerprints": family.fingerprints(spec)}
        atomic_write_json(folder / RUN_FILE, seal(portable_paths(identity)))
    if trainer.iteration == 0:
        family.on_start(trainer, spec, records)
    diverged = None
    try:
        history = trainer.train(resume=False)
    except FloatingPointError as err:  # e.g. fixed β with a small β0: record it, don't lose the sweep
        diverged, history = str(err), trainer.history
    evaluation = family.evaluate(trainer, spec, records)
    final = evaluation.pop("final")
    if not _finite(final):
        diverged = diverged or "non-finite evaluation metrics"
    result = {
        "family": family.name, "config": config.to_dict(), "settings": spec.settings.to_dict(),
        "fingerprints": family.fingerprints(spec), "final": None if diverged else final, "diverged": diverged,
        "curve": _curve(history, family.curve_keys, family.curve_points), **evaluation,
        "beta_eff": records.get("beta_eff"),
        "provenance": provenance(time.perf_counter() - start, trainer.accelerator.device, command, commit,
                                 threads=torch.get_num_threads()),
    }  # fmt: skip
    if folder is not None and main:
        family.save_artifacts(trainer, spec)  # before result.json: a finished result always has its artefacts
        result["artifacts"] = artifact_sha256(folder, family.artifacts)
    result = seal(portable_paths(result))  # what is returned is what the file holds
    if folder is not None and main:
        atomic_write_json(folder / "result.json", result)
    return result


# ----------------------------------------------------------------------------- the book's runs
def book_spec(family: Family, spec: RunSpec) -> RunSpec:
    """A chapter's run: ``spec`` shrunk in smoke mode, its ``output_dir`` at
    ``runs/book[-smoke]/<prefix><label>_it<N>_<digest>``: the digest of every setting, so a run with other settings
    (an exercise's learning rate, say) never reads a finished run's result, and a smoke result never stands in
    for a full one."""
    if smoke():
        spec = family.shrink(spec)
    spec = spec.replace(**family.book_extras(spec))
    name = f"{family.book_prefix}{family.label(spec)}_it{spec.config.iterations}_{spec.digest()}"
    return spec.replace(output_dir=str(runs_dir() / ("book-smoke" if smoke() else "book") / name))


def book_run_config(family: Family, method: str, beta0: float, *, seed: int = 0, iterations: int | None = None,
                    **fields: Any) -> RunSpec:  # fmt: skip
    """The spec :func:`book_run` trains: the family's default run with these fields, shrunk in smoke mode, writing
    to ``runs/book[-smoke]/<prefix><label>_it<N>_<digest>`` (:func:`book_spec`)."""
    spec = family.spec(**family.book_fields(method, beta0), seed=seed, **fields)
    return book_spec(family, spec.replace(iterations=iterations) if iterations is not None else spec)


def book_run(family: Family, method: str, beta0: float, *, seed: int = 0, iterations: int | None = None,
             callbacks: Sequence[Any] = (), **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A chapter's run, the way the book makes it: the committed result when there is one, else it trains.

    In order: in a full build, the result committed in ``data/results/book/`` whose settings equal this
    run's (:func:`~adrpo_nb.experiments.committed.committed_book_result`; a committed file made with other
    settings is an error, never reused); else the finished run under ``runs/book/`` (``runs/book-smoke/``
    with ``ADRPO_SMOKE=1``, which also shrinks the run); else it trains the run (:func:`book_run_config`'s
    spec, the family's ``make_trainer``) and saves it there. ``ADRPO_RETRAIN=1`` skips the committed results.

    Each family module binds ``family``, e.g. ``adrpo_nb.experiments.mnist.book_run("adrpo", 0.05)`` (chapter
    3's run) or ``adrpo_nb.experiments.qwen.book_run("fixed", 0.04, seed=1)``.

    Args:
        family: the experiment family (bound by the family modules' ``book_run``).
        method: one of the family's methods (``"adrpo"``, ``"fixed"``, ``"none"``, ...).
        beta0: β0 of the run (0 for ``"none"``).
        seed: the run's seed.
        iterations: the number of iterations, if not the family's (smoke mode shrinks either).
        callbacks: ``cb(trainer, logs)`` after each iteration, when it trains.
        **fields: any other config or settings field of the family, by name (e.g. ``learning_rate=1e-4``).

    Returns:
        The result: ``config`` (the trainer's config as a dict), ``final`` (the final evaluation's metrics),
        ``curve`` (metrics over iterations), the family's samples and ``provenance`` (command, commit,
        device, seconds, date).
    """
    spec = book_run_config(family, method, beta0, seed=seed, iterations=iterations, **fields)
    committed = committed_book_result(family, spec, smoke())
    if committed is not None:
        return committed
    shown = [repr(method), repr(beta0), *([f"seed={seed}"] if seed else []),
             *(f"{k}={v!r}" for k, v in fields.items()), f"iterations={spec.config.iterations}"]  # fmt: skip
    return run(family, spec, command=book_command(family.name, ", ".join(shown)), callbacks=callbacks)


def bind_book_run(family: Family) -> tuple[Any, Any]:
    """``(book_run, book_run_config)`` of one family: :func:`book_run` and :func:`book_run_config` with
    ``family`` bound, documented as such (what each family module exports)."""
    run_fn, config_fn = partial(book_run, family), partial(book_run_config, family)
    run_fn.__doc__ = (f"{family.name}'s chapter run: :func:`adrpo_nb.experiments.runner.book_run` with its family "
                      f"bound (the committed result when there is one, else it trains).")  # fmt: skip
    config_fn.__doc__ = (f"The spec ``book_run`` of {family.name} trains: "
                         f":func:`adrpo_nb.experiments.runner.book_run_config` with its family bound.")  # fmt: skip
    return run_fn, config_fn


def run_rl(family: Family, spec: Any, *, command: str | None = None, callbacks: Sequence[Any] = (), **fields: Any
           ) -> dict[str, Any]:  # fmt: skip
    """:func:`run` for ``spec`` (a :class:`RunSpec`, or a bare trainer config with the family's default settings)
    with ``fields`` (config or settings fields, by name) changed."""
    if not isinstance(spec, RunSpec):
        spec = RunSpec(spec, family.settings_class())
    return run(family, spec.replace(**fields) if fields else spec, command=command, callbacks=callbacks)


# ----------------------------------------------------------------------------- sweeps
def _one_thread() -> None:
    torch.set_num_threads(1)


def run_jobs(job: Callable[[Any], dict], jobs: Sequence[Any], workers: int, describe: Callable[[dict], str],
             names: Sequence[str], log=print) -> list[dict]:  # fmt: skip
    """``[job(j) for j in jobs]`` in ``workers`` spawned processes of one thread each, logging each as it ends.

    ``job`` must be importable (module level) for the worker processes.
    """
    results = []
    if workers <= 1:
        for name, j in zip(names, jobs, strict=True):
            results.append(job(j))
            log(f"  done {name}: {describe(results[-1])}")
        return results
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_one_thread) as pool:
        for name, result in zip(names, pool.map(job, jobs), strict=True):
            results.append(result)
            log(f"  done {name}: {describe(result)}")
    return results


def family_of(module: str) -> Family:
    """The ``FAMILY`` of an importable family module (what a worker process looks up)."""
    return importlib.import_module(module).FAMILY


def _sweep_job(job: tuple[str, dict, str], family: Family | None = None) -> dict[str, Any]:
    """One run of a sweep: in a worker process the family is looked up by its module; in-process (one worker) it
    is the caller's object, so a family defined in a notebook or a script's ``__main__`` sweeps too."""
    module, spec_dict, command = job
    family = family or family_of(module)
    spec = RunSpec(family.config_class.from_dict(spec_dict["config"]),
                   family.settings_class.from_dict(spec_dict["settings"]))  # fmt: skip
    return run(family, spec, command=command)


def sweep_provenance(start: float, commit: str, module: str, workers: int) -> dict[str, Any]:
    """Provenance of a whole sweep (the invocation's wall time; each run keeps its own)."""
    return provenance(
        time.perf_counter() - start, "cpu",
        " ".join([f"python -m {module}", *sys.argv[1:]]) if sys.argv else None,
        commit, workers=workers, note="seconds is this invocation's wall time; each run's own provenance has its time",
    )  # fmt: skip


def sweep(family: Family, specs: Sequence[RunSpec], *, base: RunSpec, runs_dir: str | Path, workers: int = 2,
          log=print) -> dict[str, Any]:  # fmt: skip
    """Run every spec (each in ``<runs_dir>/<label>_<digest>``) in ``workers`` one-thread processes, evaluate the
    pretrained model as ``base``'s runs are, and return ``{"base", "runs", "summary", "provenance"}``.

    Finished runs are read back and interrupted ones resume, so a sweep can be stopped and rerun. Two specs
    that are the same run (a seed or a β0 listed twice) are refused before anything trains.
    """
    start, commit = time.perf_counter(), git_commit()
    specs = [s.replace(output_dir=str(Path(runs_dir) / f"{family.label(s)}_{s.digest()}"), progress=False)
             for s in specs]  # fmt: skip
    folders = [s.config.output_dir for s in specs]
    twice = sorted({Path(f).name for f in folders if folders.count(f) > 1})
    if twice:
        raise ValueError(f"the sweep lists the same run more than once: {twice} (a duplicate seed or β0?)")
    module = type(family).__module__
    jobs = [(module, s.to_dict(), f"python -m adrpo_nb.experiments.{family.name} sweep (run {family.label(s)})")
            for s in specs]  # fmt: skip
    log(f"{family.name} sweep: {len(jobs)} runs in {workers} worker(s), results under {runs_dir}")
    job = partial(_sweep_job, family=family) if workers <= 1 else _sweep_job
    runs = run_jobs(job, jobs, workers, family.describe, [Path(f).name for f in folders], log)
    result = {"base": family.base_record(base), "runs": runs}
    result["summary"] = family.summarize(result)
    result["provenance"] = sweep_provenance(start, commit, f"adrpo_nb.experiments.{family.name}", workers)
    return seal(portable_paths(result))  # an edit by hand of the written file is detected on reading
