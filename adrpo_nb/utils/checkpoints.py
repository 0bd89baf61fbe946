"""Saving and loading weights safely: safetensors files that carry their own architecture config,
atomic writes, checksums, and errors that say which file is wrong and how.

A weights file written by :func:`save_module` stores, in the safetensors metadata, the class name
and the constructor arguments of the module, so :func:`load_module` can rebuild it and refuse a
file that belongs to another model ("wrong checkpoint") before any shape error.

Checksums: a pretrained folder's ``pretrain.json`` holds ``"sha256": {relative path: hex digest}`` of every
file the model is made of — weights, configs, tokenizer, scheduler (written by the pretraining commands;
:func:`record_weights_sha256` adds it to an existing folder, ``python -m adrpo_nb.utils.checkpoints record-sha256
FOLDER``). :func:`load_module` and the model loaders verify it on every load (:func:`verify_recorded_sha256`);
a shipped model (a folder under the data folder) without that map, or with a file the map does not cover, is
refused, and every loaded tensor is checked finite. A
trainer checkpoint (``checkpoint.pt``) carries ``sha256``, the digest of its own content
(:func:`state_digest`), verified on resume.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from adrpo_nb.utils.paths import DataFileError, atomic_write_bytes, atomic_write_json, read_json

__all__ = [
    "CheckpointError",
    "write_pretrain_report",
    "check_module_finite",
    "check_tensors_finite",
    "file_sha256",
    "load_module",
    "read_module_config",
    "read_trainer_state",
    "record_weights_sha256",
    "save_module",
    "state_digest",
    "verify_recorded_sha256",
    "weights_sha256",
    "write_trainer_state",
]

#: weight files (a pretrained folder's ``sha256`` map covers every file, these and the rest)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
PROVENANCE_FILE = "pretrain.json"

M = TypeVar("M", bound=torch.nn.Module)


class CheckpointError(ValueError):
    """A weights or trainer-state file does not fit what it is loaded into."""


#: the one safetensors metadata key :func:`save_module` writes (``{"class": ..., "config": ...}`` as JSON)
MODULE_METADATA_KEY = "adrpo_nb.module"


def save_module(module: torch.nn.Module, path: str | os.PathLike, config: dict[str, Any]) -> None:
    """Atomically write ``module``'s weights and its constructor ``config`` to a safetensors file.

    The metadata is one key (:data:`MODULE_METADATA_KEY`, sorted JSON): safetensors writes a metadata map in
    a random order, so two keys would give the same weights two different sha256."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    meta = {MODULE_METADATA_KEY: json.dumps({"class": type(module).__name__, "config": config}, sort_keys=True)}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def read_module_config(path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """The ``(class name, config)`` stored in a file written by :func:`save_module`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise DataFileError(f"missing weights file: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err})") from None
    if MODULE_METADATA_KEY in meta:
        meta = json.loads(meta[MODULE_METADATA_KEY])
        return meta["class"], meta["config"]
    if "class" not in meta or "config" not in meta:  # files written before the one-key metadata
        raise CheckpointError(f"{path} has no adrpo_nb metadata (class/config): not written by save_module")
    return meta["class"], json.loads(meta["config"])


def load_module(cls: type[M], path: str | os.PathLike) -> M:
    """Rebuild ``cls(**config)`` from a :func:`save_module` file and load its weights (strictly).

    Raises:
        DataFileError: the file is missing.
        CheckpointError: the file is corrupt, was written for another class, or its tensors do
            not match the architecture (the message lists the offending keys).
    """
    path = Path(path)
    name, config = read_module_config(path)
    if name != cls.__name__:
        raise CheckpointError(f"{path} holds a {name}, not a {cls.__name__}: wrong checkpoint")
    verify_recorded_sha256(path.parent, only=[path])
    module = cls(**config)
    state = load_file(str(path))
    check_tensors_finite(state, path)
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path} does not fit {cls.__name__}: missing keys {missing}, unexpected {unexpected}")
    return module


# ----------------------------------------------------------------------------- checksums and finiteness
def check_tensors_finite(tensors: Mapping[str, torch.Tensor], source: str | os.PathLike) -> None:
    """:class:`CheckpointError` naming ``source`` and the tensor if any floating-point tensor holds NaN or inf."""
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{source}: tensor {name!r} has {bad} non-finite value(s) (NaN/inf): corrupt weights")


def check_module_finite(module: torch.nn.Module, source: str | os.PathLike) -> None:
    """:func:`check_tensors_finite` over a loaded module's parameters and buffers."""
    check_tensors_finite(dict(module.state_dict()), source)


def file_sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _model_files(folder: Path) -> list[Path]:
    """Every file of a model folder but its ``pretrain.json`` and hidden files (``.git...``, temporaries)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != PROVENANCE_FILE
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))  # fmt: skip


def weights_sha256(folder: str | os.PathLike) -> dict[str, str]:
    """``{relative path: sha256}`` of every file a model folder is made of (weights, configs, tokenizer, scheduler,
    ...: all but ``pretrain.json`` and hidden files)."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in _model_files(folder)}


def _shipped(folder: Path) -> bool:
    """Whether ``folder`` is inside the data folder (a model this package ships)."""
    from adrpo_nb.utils.paths import data_dir

    data = data_dir().resolve()
    resolved = folder.resolve()
    return resolved == data or data in resolved.parents


def verify_recorded_sha256(folder: str | os.PathLike, only: Collection[str | os.PathLike] | None = None,
                           required: bool | None = None) -> int:  # fmt: skip
    """Check the files of ``folder`` against the ``sha256`` map of its ``pretrain.json`` (all of them, or those in
    ``only``); returns how many were checked. Every file is hashed on every call (no cache that a same-size,
    same-mtime edit would get past).

    ``required`` (default: whether ``folder`` is inside the data folder, i.e. a shipped model): a folder without
    the map, or (checking all) with a file the map does not cover, is an error; otherwise a warning says its files
    are not verified.

    Raises:
        DataFileError: a recorded file is missing.
        CheckpointError: a file's digest differs from the record (the message names the file), or, when
            ``required``, the map is missing or leaves a file out.
    """
    folder = Path(folder)
    required = _shipped(folder) if required is None else required
    record = folder / PROVENANCE_FILE
    recorded = (read_json(record).get("sha256") or {}) if record.exists() else {}
    if not recorded:
        problem = (f"{folder} has no {PROVENANCE_FILE} with a sha256 map of its files, so they cannot be verified "
                   f"(record one: python -m adrpo_nb.utils.checkpoints record-sha256 {folder})")  # fmt: skip
        if required:
            raise CheckpointError(problem)
        warnings.warn(problem, stacklevel=2)
        return 0
    wanted = None if only is None else {Path(p).resolve() for p in only}
    checked = 0
    for rel, expected in recorded.items():
        path = folder / rel
        if wanted is not None and path.resolve() not in wanted:
            continue
        if not path.exists():
            raise DataFileError(f"missing weights file: {path} (listed in {record})")
        actual = file_sha256(path)
        if actual != expected:
            raise CheckpointError(f"{path} is corrupt or was replaced: sha256 {actual[:16]}… differs from "
                                  f"{expected[:16]}… recorded in {record}")  # fmt: skip
        checked += 1
    files = _model_files(folder) if only is None else [Path(x) for x in only]
    root = folder.resolve()
    uncovered = [p for p in files if p.resolve().relative_to(root).as_posix() not in recorded]
    if uncovered:
        problem = (f"{uncovered[0]} is not covered by the sha256 map of {record} ({len(uncovered)} file(s) are not): "
                   "added or edited after the model was recorded? Record it anew if it is trusted")  # fmt: skip
        if required:
            raise CheckpointError(problem)
        warnings.warn(problem, stacklevel=2)
    return checked


def record_weights_sha256(folder: str | os.PathLike) -> dict[str, str]:
    """Write the ``sha256`` map of every file of ``folder`` into its ``pretrain.json`` (an explicit write: the
    files are trusted as they are now) and return it."""
    folder = Path(folder)
    record = folder / PROVENANCE_FILE
    report = read_json(record) if record.exists() else {}
    report["sha256"] = weights_sha256(folder)
    atomic_write_json(record, report)
    return report["sha256"]


def state_digest(state: Any) -> str:
    """A sha256 of a checkpoint's content (tensors by dtype, shape and bytes; other values by ``repr``), in a
    canonical order, so it can be recomputed after loading and compared with the one stored at saving."""
    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, Mapping):
            h.update(b"{")
            for k in sorted(x, key=repr):
                h.update(repr(k).encode())
                feed(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for item in x:
                feed(item)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    feed(state)
    return h.hexdigest()


# ----------------------------------------------------------------------------- trainer checkpoints
def write_trainer_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically write a trainer's ``state`` (``torch.save``, with ``sha256`` = :func:`state_digest` of the rest)
    and its ``history`` as ``history.json`` beside it."""
    path = Path(path)
    state = {k: v for k, v in state.items() if k != "sha256"}
    state["sha256"] = state_digest(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    atomic_write_json(path.parent / "history.json", state["history"])


def read_trainer_state(path: str | os.PathLike, fmt: str, trainer: str, config: dict[str, Any],
                       resumable: Collection[str] = ()) -> dict[str, Any]:  # fmt: skip
    """Load a trainer checkpoint (``weights_only``) and check it belongs to this run.

    Raises:
        CheckpointError: unreadable file, a ``format`` other than ``fmt`` ("wrong checkpoint", naming
            ``trainer``), content that does not match its stored sha256, non-finite weights, or a saved
            config that differs from ``config`` in a field not in ``resumable`` (the message lists each field
            with both values).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable trainer checkpoint ({err})") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise CheckpointError(f"{path} is not a {trainer} checkpoint: wrong checkpoint")
    stored = state.pop("sha256", None)
    if stored is None:
        warnings.warn(f"{path} has no sha256 (written before checksums): its content is not verified", stacklevel=2)
    elif state_digest(state) != stored:
        raise CheckpointError(f"{path} is corrupt: its content does not match the sha256 stored at saving")
    check_tensors_finite(state.get("policy", {}), path)
    saved = state["config"]
    diffs = {k: (saved.get(k), v) for k, v in config.items() if k not in resumable and saved.get(k) != v}
    if diffs:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diffs.items())
        raise CheckpointError(f"{path} was made with another config ({detail}); use a new output_dir")
    return state


def main(argv: list[str] | None = None) -> int:
    """``python -m adrpo_nb.utils.checkpoints record-sha256 FOLDER...``: write the sha256 map of every file of each
    folder into its ``pretrain.json``; ``verify FOLDER...``: check them (a folder without the map fails)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m adrpo_nb.utils.checkpoints", description=main.__doc__)
    p.add_argument("action", choices=("record-sha256", "verify"))
    p.add_argument("folders", nargs="+", type=Path)
    args = p.parse_args(argv)
    for folder in args.folders:
        if args.action == "record-sha256":
            print(f"{folder / PROVENANCE_FILE}: sha256 of {len(record_weights_sha256(folder))} file(s)")
            continue
        try:
            print(f"{folder}: {verify_recorded_sha256(folder, required=True)} file(s) match their sha256")
        except (CheckpointError, DataFileError) as err:
            raise SystemExit(f"python -m adrpo_nb.utils.checkpoints verify: {err}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())


def save_pretrained_model(out_dir: str | Path, model: Any, processor: Any) -> None:
    """Write a pretrained transformers model (safetensors) and its tokenizer or processor into ``out_dir``."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)


def write_pretrain_report(out_dir: str | Path, report: dict[str, Any], *, seconds: float, command: str,
                          commit: str) -> dict[str, Any]:  # fmt: skip
    """Finish a pretrained model's folder: ``report`` gets its provenance (``command`` from the repository root,
    ``commit``, the device, ``seconds``, the thread count) and the sha256 of every file the model is made of
    (verified on every load), and is written atomically as ``pretrain.json``; returns it."""
    from adrpo_nb.utils.provenance import provenance

    report["provenance"] = provenance(seconds, "cpu", command, commit, threads=torch.get_num_threads())
    report["sha256"] = weights_sha256(out_dir)
    atomic_write_json(Path(out_dir) / "pretrain.json", report)
    return report
