"""Where the repository's ``data/`` folder is, checksums, and loaders that fail loudly.

Every file this package reads from ``data/`` goes through here, so a missing or corrupt file is
reported once, clearly, with its path and what was expected, instead of as a shape error later.
Set ``ADRPO_DATA=/some/folder`` to use another data folder (e.g. on Colab with a Drive copy).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DataFileError",
    "data_dir",
    "data_path",
    "runs_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "read_json",
    "load_mnist_arrays",
    "MNIST_FILES",
]


class DataFileError(FileNotFoundError):
    """A file under ``data/`` is missing, truncated or does not match its checksum."""


def data_dir() -> Path:
    """The data folder: ``$ADRPO_DATA`` if set, else ``<repo>/data`` next to the package."""
    env = os.environ.get("ADRPO_DATA")
    return Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[1] / "data"


def runs_dir() -> Path:
    """Where runs write checkpoints and results: ``$ADRPO_RUNS`` if set, else ``<repo>/runs`` (git-ignored)."""
    env = os.environ.get("ADRPO_RUNS")
    return Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[1] / "runs"


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


# --------------------------------------------------------------------------------------
# MNIST (original IDX files, gzip-compressed, from data/mnist/)
# --------------------------------------------------------------------------------------
#: file name -> (MD5 of the *uncompressed* IDX bytes, number of records); from data/mnist/README.md
MNIST_FILES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte.gz": ("6bbc9ace898e44ae57da46a324031adb", 60000),
    "train-labels-idx1-ubyte.gz": ("a25bea736e30d166cdddb491f175f624", 60000),
    "t10k-images-idx3-ubyte.gz": ("2646ac647ad5339dbf082846283269ea", 10000),
    "t10k-labels-idx1-ubyte.gz": ("27ae3e4e09519cfbb04c329615203637", 10000),
}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def _read_idx(name: str) -> np.ndarray:
    path = data_path("mnist", name)
    expected_md5, records = MNIST_FILES[name]
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as err:
        raise DataFileError(f"corrupt MNIST file {path}: not a readable gzip file ({err})") from None
    digest = hashlib.md5(raw).hexdigest()
    if digest != expected_md5:
        raise DataFileError(
            f"corrupt MNIST file {path}: MD5 of its uncompressed bytes is {digest}, expected {expected_md5}"
        )
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if dims[0] != records:
        raise DataFileError(f"MNIST file {path} holds {dims[0]} records, expected {records}")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=2)
def load_mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 28, 28], labels uint8 [N])`` of ``split`` in ``{"train", "test"}``, checksum-verified."""
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got split={split!r}")
    prefix = _SPLIT_PREFIX[split]
    images = _read_idx(f"{prefix}-images-idx3-ubyte.gz")
    labels = _read_idx(f"{prefix}-labels-idx1-ubyte.gz")
    return images, labels
