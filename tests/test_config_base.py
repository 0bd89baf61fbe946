"""RLConfig, the one base of both trainer configs: the shared fields, their checks, and every committed result's
config read back through it."""

import dataclasses
import json
from pathlib import Path

import pytest

from adrpo_nb import FlowMatchingRLConfig, GRPOConfig
from adrpo_nb.trainers.base import RLConfig

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results"


def _configs(node, where):
    """Every ``"config"`` dict of a trainer (it has ``method`` and ``beta0``) inside a result file."""
    if isinstance(node, dict):
        config = node.get("config")
        if isinstance(config, dict) and {"method", "beta0"} <= config.keys():
            yield where, config
        for key, value in node.items():
            yield from _configs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _configs(value, f"{where}[{i}]")


def _committed_configs():
    return [(f"{path.relative_to(RESULTS)}{where}", config) for path in sorted(RESULTS.rglob("*.json"))
            for where, config in _configs(json.loads(path.read_text()), "")]  # fmt: skip


def test_every_committed_result_config_reads_back_through_from_dict():
    found = _committed_configs()
    assert len(found) > 100  # the sweeps and the book's runs of every chapter
    kinds = set()
    for where, saved in found:
        cls = GRPOConfig if "prompts_per_iteration" in saved else FlowMatchingRLConfig
        kinds.add(cls)
        config = cls.from_dict(saved)
        again = config.to_dict()
        assert cls.from_dict(again) == config, where
        for key, value in saved.items():  # every value as written (under today's name), the clip pair as a list
            key = cls.RENAMED.get(key, key)
            assert again[key] == value or (key == "clip" and value == "auto"), (where, key, again[key], value)
    assert kinds == {FlowMatchingRLConfig, GRPOConfig}


def test_both_configs_share_one_base():
    shared = [f.name for f in dataclasses.fields(RLConfig)]
    for cls in (FlowMatchingRLConfig, GRPOConfig):
        assert issubclass(cls, RLConfig)
        assert [f.name for f in dataclasses.fields(cls)][: len(shared)] == shared
        assert not {"to_dict", "from_dict"} & set(vars(cls))  # defined once, in the base
    # each keeps its own defaults for the shared fields
    assert (FlowMatchingRLConfig().beta0, GRPOConfig().beta0) == (0.05, 0.04)
    assert (FlowMatchingRLConfig().clip, GRPOConfig().clip) == (None, (-0.04, 0.04))
    assert (FlowMatchingRLConfig().num_generations, GRPOConfig().num_generations) == (None, 8)
    assert (FlowMatchingRLConfig().iterations, GRPOConfig().iterations) == (300, 200)


@pytest.mark.parametrize("cls", [FlowMatchingRLConfig, GRPOConfig])
@pytest.mark.parametrize(("kwargs", "match"), [({"beta0": -1.0}, "beta0=-1.0"), ({"method": "ppo"}, "method='ppo'"),
                                               ({"seed": -1}, "seed must be >= 0"),
                                               ({"extra": [1]}, "extra must be a dict")])  # fmt: skip
def test_the_shared_checks_run_for_both(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_a_result_saved_under_earlier_names_still_reads():
    old = {**FlowMatchingRLConfig(num_generations=4, samples_per_iteration=16).to_dict()}
    old["group_size"], old["scale_advantages"] = old.pop("num_generations"), old.pop("scale_rewards")
    del old["advantage_std"]
    config = FlowMatchingRLConfig.from_dict(old)
    assert (config.num_generations, config.advantage_std) == (4, "population")
    with pytest.raises(ValueError, match=r"has no field\(s\) \['bogus'\]"):
        GRPOConfig.from_dict({"bogus": 1})
