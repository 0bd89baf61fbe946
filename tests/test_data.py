"""MNIST loading: checksums, shapes, and clear errors for missing or corrupt files."""

import gzip
import shutil

import pytest

from adrpo_nb.tasks.mnist import MNIST_FILES, load_mnist, load_mnist_arrays
from adrpo_nb.utils.paths import DataFileError, data_dir


def test_test_split_shapes_and_labels():
    images, labels = load_mnist("test")
    assert images.shape == (10000, 1, 28, 28) and labels.shape == (10000,)
    assert images.min() >= 0 and images.max() <= 1
    assert sorted(labels.unique().tolist()) == list(range(10))


def test_unknown_split():
    with pytest.raises(ValueError, match="split='val'"):
        load_mnist("val")


@pytest.fixture
def mnist_copy(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    for name in MNIST_FILES:
        shutil.copy(data_dir() / "mnist" / name, tmp_path / "mnist" / name)
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path))
    load_mnist_arrays.cache_clear()
    yield tmp_path / "mnist"
    load_mnist_arrays.cache_clear()


def test_missing_file_is_named(mnist_copy):
    (mnist_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte\.gz"):
        load_mnist_arrays("test")


def test_corrupt_file_is_named_with_its_checksum(mnist_copy):
    path = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte.gz.*MD5.*expected 27ae3e4e"):
        load_mnist_arrays("test")


def test_truncated_gzip_is_reported(mnist_copy):
    path = mnist_copy / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataFileError, match=r"corrupt MNIST file .*t10k-images-idx3-ubyte.gz"):
        load_mnist_arrays("test")
