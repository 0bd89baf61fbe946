"""MNIST: the original IDX files in ``data/mnist/`` (gzip), checksum-verified on load.

>>> from adrpo_nb.tasks.mnist import load_mnist
>>> images, labels = load_mnist("test")          # float [N, 1, 28, 28] in [0, 1], long [N]
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache

import numpy as np
import torch

from adrpo_nb.utils.paths import DataFileError, data_path

__all__ = ["MNIST_FILES", "load_mnist", "load_mnist_arrays"]

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


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """``(images float [N, 1, 28, 28] in [0, 1], labels long [N])`` from the checksum-verified IDX files."""
    images, labels = load_mnist_arrays(split)
    return torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1), torch.from_numpy(labels.copy()).long()
