"""Each family's ``book_run`` trains what ``make_trainer`` builds from ``book_run_config``: the trainer a
chapter shows (chapters 3–6 call both) is the one its runs use."""

import importlib

import pytest

from adrpo_nb.trainers import FlowMatchingRLTrainer, GRPOTrainer

FAMILIES = {  # family: (book_run arguments, trainer class)
    "mnist": (("adrpo", 0.05), FlowMatchingRLTrainer),
    "sd3": (("adrpo", 0.01), FlowMatchingRLTrainer),
    "qwen": (("adrpo", 0.04), GRPOTrainer),
    "audio": (("adrpo_cesar", 0.04), GRPOTrainer),
}


class Built(Exception):
    """Raised by the stand-in make_trainer, carrying the config it was given (so nothing trains)."""


@pytest.mark.parametrize("family", FAMILIES)
def test_book_run_builds_its_trainer_with_make_trainer_and_book_run_config(family, monkeypatch, tmp_path):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))  # no finished run to load
    monkeypatch.setenv("ADRPO_SMOKE", "1")
    run = importlib.import_module(f"adrpo_nb.experiments.{family}.run")
    args, _ = FAMILIES[family]

    def stand_in(config, *a, **kw):
        raise Built(config)

    monkeypatch.setattr(run.FAMILY, "make_trainer", stand_in)
    with pytest.raises(Built) as built:
        run.book_run(*args, seed=1)
    assert built.value.args[0] == run.book_run_config(*args, seed=1)


@pytest.mark.parametrize("family", ["mnist", "qwen"])
def test_make_trainer_builds_without_training(family, monkeypatch, tmp_path):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    monkeypatch.setenv("ADRPO_SMOKE", "1")
    run = importlib.import_module(f"adrpo_nb.experiments.{family}.run")
    args, cls = FAMILIES[family]
    config = run.book_run_config(*args)
    trainer = run.make_trainer(config)
    assert type(trainer) is cls and trainer.config is config.config and trainer.iteration == 0 and not trainer.history
    assert not (tmp_path / "book-smoke").exists()  # building writes nothing


def test_no_experiment_recomputes_the_beta_the_trainer_used():
    """The records' β_eff is the trainer's ``last_beta_eff`` (what the loss used), never recomputed from the
    advantages with a rule that could drift from the trainer's."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "adrpo_nb" / "experiments"
    used = {f"{path.relative_to(root)}:{node.lineno}" for path in root.rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Name | ast.Attribute | ast.alias)
            and getattr(node, "id", getattr(node, "attr", getattr(node, "name", None))) in {"effective_beta",
                                                                                           "adaptive_beta"}}
    assert not used, f"experiments recompute β_eff: {sorted(used)}"
