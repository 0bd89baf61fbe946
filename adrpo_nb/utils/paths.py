"""Where the data folder and the runs folder are, atomic writes, and loaders that fail loudly.

Every file this package reads from ``data/`` goes through here, so a missing or corrupt file is
reported once, clearly, with its path and what was expected, instead of as a shape error later.

The data folder (:func:`data_dir`) is the first of: ``$ADRPO_DATA``; the repository's ``data/`` next to
the package (a clone or an editable install); the package ``adrpo_nb_data`` that a wheel installs (the
same folder minus ``data/mnist`` and ``data/results``). Runs write under :func:`runs_dir`: ``$ADRPO_RUNS``,
else ``<repo>/runs`` in a clone, else ``./runs`` of the current directory (never into site-packages).
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "DataFileError",
    "data_dir",
    "data_path",
    "repository_root",
    "runs_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "read_json",
]


class DataFileError(FileNotFoundError):
    """A file under ``data/`` is missing, truncated or does not match its checksum."""


def repository_root() -> Path | None:
    """The source tree this package runs from (a clone or an editable install), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "data").is_dir() else None


def _installed_data() -> Path | None:
    """The folder of the installed package ``adrpo_nb_data`` (the wheel's copy of ``data/``), if there is one."""
    spec = importlib.util.find_spec("adrpo_nb_data")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]).resolve() if locations else None


def data_dir() -> Path:
    """The data folder: ``$ADRPO_DATA``, else the repository's ``data/``, else the installed ``adrpo_nb_data``."""
    env = os.environ.get("ADRPO_DATA")
    if env:
        return Path(env).expanduser().resolve()
    repo = repository_root()
    if repo is not None:
        return repo / "data"
    return _installed_data() or Path(__file__).resolve().parents[2] / "data"


def runs_dir() -> Path:
    """Where runs write checkpoints and results: ``$ADRPO_RUNS``, else ``<repo>/runs`` (git-ignored) in a clone,
    else ``./runs`` under the current directory (an installed package never writes into site-packages)."""
    env = os.environ.get("ADRPO_RUNS")
    if env:
        return Path(env).expanduser().resolve()
    repo = repository_root()
    return repo / "runs" if repo is not None else Path.cwd().resolve() / "runs"


def data_path(*parts: str, must_exist: bool = True) -> Path:
    """Path of a file under the data folder; raises :class:`DataFileError` if it must exist and does not."""
    path = data_dir().joinpath(*parts)
    if must_exist and not path.exists():
        name = "/".join(parts)
        if os.environ.get("ADRPO_DATA"):
            hint = f"ADRPO_DATA={os.environ['ADRPO_DATA']} is the data folder; it has no {name}."
        elif repository_root() is not None:
            hint = f"It ships with the repository (git clone all of it, or set ADRPO_DATA to a folder with {name})."
        else:
            hint = ("The installed package adrpo_nb_data holds the small models, tokenizers and task data, not "
                    "data/mnist or data/results: git clone the repository and set ADRPO_DATA=<clone>/data.")
        raise DataFileError(f"missing data file: {path}. {hint}")
    return path


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in the error if it is missing or not valid JSON."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"missing JSON file: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataFileError(f"{path} is not valid JSON ({err})") from None
