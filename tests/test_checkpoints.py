"""safetensors weights with their config: round trip, wrong checkpoint, corrupt file."""

import hashlib
import importlib.machinery
import json
import sys
import types

import pytest
import torch

from adrpo_nb.models.mnist import DigitClassifier, VelocityMLP
from adrpo_nb.utils.checkpoints import CheckpointError, load_module, save_module
from adrpo_nb.utils.paths import DataFileError
from adrpo_nb.utils.provenance import command_line


def test_round_trip(tmp_path):
    model = VelocityMLP(dim=4, width=16, depth=1)
    save_module(model, tmp_path / "v.safetensors", {"dim": 4, "width": 16, "depth": 1})
    loaded = load_module(VelocityMLP, tmp_path / "v.safetensors")
    x, t = torch.randn(3, 4), torch.rand(3)
    assert torch.equal(model(x, t), loaded(x, t))


def test_the_same_weights_give_the_same_bytes(tmp_path):
    """A shipped model's sha256 is reproducible: safetensors writes a metadata map in a random order, so
    save_module must not depend on it (two keys gave two byte strings about half the time)."""
    model = VelocityMLP(dim=4, width=16, depth=1)
    config = {"width": 16, "dim": 4, "depth": 1}
    digests = set()
    for i in range(12):
        save_module(model, tmp_path / f"v{i}.safetensors", config)
        digests.add(hashlib.sha256((tmp_path / f"v{i}.safetensors").read_bytes()).hexdigest())
    assert len(digests) == 1


def test_files_with_the_older_two_key_metadata_still_load(tmp_path):
    from safetensors.torch import save_file

    model = VelocityMLP(dim=4, width=16, depth=1)
    meta = {"class": "VelocityMLP", "config": json.dumps({"dim": 4, "width": 16, "depth": 1})}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "v.safetensors"), meta)
    x, t = torch.randn(3, 4), torch.rand(3)
    assert torch.equal(model(x, t), load_module(VelocityMLP, tmp_path / "v.safetensors")(x, t))


def test_wrong_class_is_refused(tmp_path):
    save_module(VelocityMLP(dim=4, width=16, depth=1), tmp_path / "v.safetensors", {"dim": 4, "width": 16, "depth": 1})
    with pytest.raises(CheckpointError, match="holds a VelocityMLP, not a DigitClassifier"):
        load_module(DigitClassifier, tmp_path / "v.safetensors")


def test_config_that_does_not_fit_the_weights(tmp_path):
    save_module(VelocityMLP(dim=4, width=16, depth=2), tmp_path / "v.safetensors", {"dim": 4, "width": 16, "depth": 1})
    with pytest.raises(CheckpointError, match="unexpected"):
        load_module(VelocityMLP, tmp_path / "v.safetensors")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataFileError, match=r"nothing\.safetensors"):
        load_module(VelocityMLP, tmp_path / "nothing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match=r"bad\.safetensors"):
        load_module(VelocityMLP, tmp_path / "bad.safetensors")


def test_command_line_retypes_a_module_run_with_dash_m(monkeypatch):
    main = types.ModuleType("__main__")
    main.__spec__ = importlib.machinery.ModuleSpec("adrpo_nb.experiments.sd3", None)
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["/somewhere/adrpo_nb/experiments/sd3.py", "train", "--seed", "2"])
    assert command_line() == "python -m adrpo_nb.experiments.sd3 train --seed 2"
    main.__spec__ = None  # a script run by its path: recorded as the module a reader can run from the repository
    assert command_line() == "python -m adrpo_nb.experiments.sd3 train --seed 2"
    monkeypatch.setattr(sys, "argv", ["/somewhere/my_script.py", "--out", "/tmp/exp/run1"])
    assert command_line() == "python /somewhere/my_script.py --out runs/exp/run1"
