"""Provenance: what made a result (command as a reader types it, commit, device, seconds, versions)."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from adrpo_nb.utils.paths import repository_root

__all__ = [
    "SEAL_KEY",
    "check_seal",
    "command_line",
    "device_description",
    "git_commit",
    "portable_paths",
    "provenance",
    "relativize_record",
    "repo_relative",
    "result_records",
    "seal",
]

_SCRIPT = re.compile(r"python3? (?:\S*/)?adrpo_nb/((?:\w+/)*\w+)\.py")
_ABSOLUTE = re.compile(r"(?<![\w.~-])/[^\s\"',;:=]+")


def _relative_path(path: str) -> str:
    root = str(Path(__file__).resolve().parents[2])
    if path == root or path.startswith(root + "/"):
        return path[len(root) + 1 :] or "."
    for anchor in ("/runs/", "/data/"):
        if anchor in path:
            return path[path.index(anchor) + 1 :]
    if path.startswith("/tmp/"):
        return "runs/" + path[len("/tmp/") :]
    return path


def repo_relative(text: str) -> str:
    """``text`` (a command line or a path) as a reader of the repository can use it: ``python <abs>/adrpo_nb/a/b.py``
    becomes ``python -m adrpo_nb.a.b``, and absolute paths become relative to the repository root (a run folder
    anywhere becomes ``runs/…``, a data file ``data/…``)."""
    text = _SCRIPT.sub(lambda m: "python -m adrpo_nb." + m.group(1).replace("/", ".").removesuffix(".__main__"), text)
    return _ABSOLUTE.sub(lambda m: _relative_path(m.group(0)), text)


def relativize_record(obj: Any, note: str | None = None) -> tuple[Any, int]:
    """Every string in a result record (nested dicts/lists) passed through :func:`repo_relative`; returns the new
    record and how many strings changed. With ``note`` and changes, each ``provenance`` dict gets ``rewritten``."""
    count = 0

    def walk(x: Any) -> Any:
        nonlocal count
        if isinstance(x, str):
            new = repo_relative(x)
            count += new != x
            return new
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, dict):
            out = {k: walk(v) for k, v in x.items()}
            if note and "command" in x and "commit" in x and any(repo_relative(str(v)) != v for v in x.values()):
                out["rewritten"] = note
            return out
        return x

    return walk(obj), count


def portable_paths(obj: Any) -> Any:
    """A result record with every ``output_dir`` made relative to the repository root (:func:`repo_relative`).

    Runs use absolute folders (``runs_dir()`` resolves ``$ADRPO_RUNS`` or the repository's ``runs/``); a result
    or sweep file written with them would carry the path of the machine that made it. Every writer of a result
    file passes its record through this, so a committed file names ``runs/…`` instead. ``output_dir`` is a
    result-neutral field (:func:`adrpo_nb.experiments.runner.finished_result` ignores it), so reuse is unchanged.
    """
    if isinstance(obj, list):
        return [portable_paths(v) for v in obj]
    if isinstance(obj, dict):
        return {k: repo_relative(v) if k == "output_dir" and isinstance(v, str) else portable_paths(v)
                for k, v in obj.items()}  # fmt: skip
    return obj


#: the key of a result file's content hash (:func:`seal`)
SEAL_KEY = "content_sha256"


def _content_sha256(record: dict[str, Any]) -> str:
    import hashlib
    import json

    body = {k: v for k, v in record.items() if k != SEAL_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with :data:`SEAL_KEY`: the sha256 of the rest of its content (canonical JSON), so a result file
    edited by hand (or corrupted) is detected when it is read back (:func:`check_seal`)."""
    return {**{k: v for k, v in record.items() if k != SEAL_KEY}, SEAL_KEY: _content_sha256(record)}


def check_seal(record: Any, path: str | Path) -> None:
    """``ValueError`` naming ``path`` unless ``record`` is a dict whose :data:`SEAL_KEY` (when it has one: files
    written before it were not sealed) matches its content."""
    if not isinstance(record, dict):
        raise ValueError(f"{path} holds a JSON {type(record).__name__}, not a result (an object: config, final, …)")
    stored = record.get(SEAL_KEY)
    if stored is not None and stored != _content_sha256(record):
        raise ValueError(f"{path} was edited or corrupted after it was written: its content no longer matches its "
                         f"{SEAL_KEY} ({str(stored)[:16]}…); regenerate it, or restore it from git")  # fmt: skip


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
        return repo_relative(" ".join(["python", "-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]]))
    return repo_relative(" ".join(["python", *sys.argv]))


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


#: what every committed record must say
PROVENANCE_KEYS = ("command", "commit", "device", "seconds")


def result_records(data_root: Path) -> list[dict[str, Any]]:
    """One row per committed result or shipped model under ``data_root``: ``file`` (relative to ``data_root``'s
    parent), ``command``, ``commit``, ``device``, ``seconds``, ``date``. Reads ``results/**/*.json`` and
    ``checkpoints/*/pretrain.json``, each from its ``provenance``. A file without the
    keys of :data:`PROVENANCE_KEYS` gets a row whose missing keys are ``None``."""
    import json

    rows = []
    results = sorted((data_root / "results").rglob("*.json"))
    files = [*results, *sorted((data_root / "checkpoints").glob("*/pretrain.json"))]
    for path in files:
        prov = json.loads(path.read_text()).get("provenance", {})
        rows.append({"file": path.relative_to(data_root.parent).as_posix(),
                     **{k: prov.get(k) for k in (*PROVENANCE_KEYS, "date")}})  # fmt: skip
    return rows
