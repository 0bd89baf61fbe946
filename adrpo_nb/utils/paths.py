"""Where the repository's ``data/`` folder is, checksums, and loaders that fail loudly.

Every file this package reads from ``data/`` goes through here, so a missing or corrupt file is
reported once, clearly, with its path and what was expected, instead of as a shape error later.
Set ``ADRPO_DATA=/some/folder`` to use another data folder (e.g. on Colab with a Drive copy).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "DataFileError",
    "data_dir",
    "data_path",
    "runs_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "read_json",
]


class DataFileError(FileNotFoundError):
    """A file under ``data/`` is missing, truncated or does not match its checksum."""


def data_dir() -> Path:
    """The data folder: ``$ADRPO_DATA`` if set, else ``<repo>/data`` next to the package."""
    env = os.environ.get("ADRPO_DATA")
    return Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[2] / "data"


def runs_dir() -> Path:
    """Where runs write checkpoints and results: ``$ADRPO_RUNS`` if set, else ``<repo>/runs`` (git-ignored)."""
    env = os.environ.get("ADRPO_RUNS")
    return Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[2] / "runs"


def data_path(*parts: str, must_exist: bool = True) -> Path:
    """Path of a file under the data folder; raises :class:`DataFileError` if it must exist and does not."""
    path = data_dir().joinpath(*parts)
    if must_exist and not path.exists():
        raise DataFileError(
            f"missing data file: {path}. It ships with the repository (git clone the whole repo, "
            f"or set ADRPO_DATA to a folder that holds {'/'.join(parts)})."
        )
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
