"""Saving and loading weights safely: safetensors files that carry their own architecture config,
atomic writes, and errors that say which file is wrong and how.

A weights file written by :func:`save_module` stores, in the safetensors metadata, the class name
and the constructor arguments of the module, so :func:`load_module` can rebuild it and refuse a
file that belongs to another model ("wrong checkpoint") before any shape error.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from adrpo_nb.utils.paths import DataFileError, atomic_write_bytes, atomic_write_json

__all__ = [
    "CheckpointError",
    "load_module",
    "read_module_config",
    "read_trainer_state",
    "save_module",
    "write_trainer_state",
]

M = TypeVar("M", bound=torch.nn.Module)


class CheckpointError(ValueError):
    """A weights or trainer-state file does not fit what it is loaded into."""


def save_module(module: torch.nn.Module, path: str | os.PathLike, config: dict[str, Any]) -> None:
    """Atomically write ``module``'s weights and its constructor ``config`` to a safetensors file."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    meta = {"class": type(module).__name__, "config": json.dumps(config)}
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
    if "class" not in meta or "config" not in meta:
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
    module = cls(**config)
    state = load_file(str(path))
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path} does not fit {cls.__name__}: missing keys {missing}, unexpected {unexpected}")
    return module


# ----------------------------------------------------------------------------- trainer checkpoints
def write_trainer_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically write a trainer's ``state`` (``torch.save``) and its ``history`` as ``history.json`` beside it."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    atomic_write_json(path.parent / "history.json", state["history"])


def read_trainer_state(path: str | os.PathLike, fmt: str, trainer: str, config: dict[str, Any],
                       resumable: Collection[str] = ()) -> dict[str, Any]:  # fmt: skip
    """Load a trainer checkpoint (``weights_only``) and check it belongs to this run.

    Raises:
        CheckpointError: unreadable file, a ``format`` other than ``fmt`` ("wrong checkpoint", naming
            ``trainer``), or a saved config that differs from ``config`` in a field not in
            ``resumable`` (the message lists each field with both values).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable trainer checkpoint ({err})") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise CheckpointError(f"{path} is not a {trainer} checkpoint: wrong checkpoint")
    saved = state["config"]
    diffs = {k: (saved.get(k), v) for k, v in config.items() if k not in resumable and saved.get(k) != v}
    if diffs:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diffs.items())
        raise CheckpointError(f"{path} was made with another config ({detail}); use a new output_dir")
    return state
