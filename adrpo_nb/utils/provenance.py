"""Provenance: what made a result (command as a reader types it, commit, device, seconds, versions)."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from typing import Any

import torch

from adrpo_nb.utils.paths import repository_root

__all__ = ["command_line", "device_description", "git_commit", "provenance"]


def git_commit(short: bool = False) -> str:
    """The repository's HEAD commit, or ``"unknown"``; with ``+dirty`` if tracked files have changes or the
    package folder has untracked files (code that ran but is in no commit). ``"unknown"`` for an installed
    wheel too: its site-packages may sit inside some other git repository, whose commit says nothing here."""
    root = repository_root()
    if root is None:
        return "unknown"
    try:
        args = ["git", "rev-parse", "--short" if short else "--verify", "HEAD"]
        sha = subprocess.run(args, cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        checks = (["git", "status", "--porcelain", "--untracked-files=no"],
                  ["git", "status", "--porcelain", "--untracked-files=all", "--", "adrpo_nb"])  # fmt: skip
        dirty = "".join(subprocess.run(c, cwd=root, capture_output=True, text=True).stdout.strip() for c in checks)
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def device_description(device: torch.device | str | None = None) -> str:
    """A human line for where a run ran, e.g. ``"cpu (2 threads, x86_64)"`` or the GPU name."""
    device = torch.device(device or "cpu")
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"


def command_line() -> str:
    """The command that started this process as a reader would type it again: ``python -m package.module
    args`` for a module run with ``-m`` (whose ``sys.argv[0]`` is the absolute path of its file)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return " ".join(["python", "-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]])
    return " ".join(["python", *sys.argv])


def provenance(
    seconds: float,
    device: torch.device | str | None = None,
    command: str | None = None,
    commit: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What made a result: command line, commit, device, wall seconds, versions, date; plus ``extra``.

    Pass ``commit`` taken when the work *started* (:func:`git_commit`): the code that ran is the
    code of that moment, whatever happened to the tree while it ran.
    """
    return {
        "command": command if command is not None else command_line(),
        "commit": commit if commit is not None else git_commit(),
        "device": device_description(device),
        "seconds": round(float(seconds), 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        **extra,
    }
