"""The command line built from the config's and the settings' fields: every field has its flag, a given value is
used as it is (0 is a value, not "unset"), and what the config refuses is an error naming the flag's field."""

import dataclasses

import pytest

from adrpo_nb.experiments import audio, cli, mnist, qwen, sd3

FAMILIES = [mnist.FAMILY, sd3.FAMILY, qwen.FAMILY, audio.FAMILY]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_every_config_and_settings_field_has_a_flag(family):
    parser = cli.parser(family)
    train = parser._subparsers._group_actions[0].choices["train"]  # argparse keeps subparsers here
    flags = {opt for action in train._actions for opt in action.option_strings}
    skipped = {"output_dir", "progress", "extra"}
    for cls in (family.config_class, family.settings_class):
        for field in dataclasses.fields(cls):
            if field.name not in skipped:
                assert f"--{field.name.replace('_', '-')}" in flags, field.name


def test_a_given_zero_is_a_value_and_refused_by_name(capsys):
    with pytest.raises(SystemExit, match=r"learning_rate must be > 0, got learning_rate=0\.0"):
        cli.main(sd3.FAMILY, ["train", "--smoke", "--lr", "0"])
    with pytest.raises(SystemExit, match=r"iterations must be >= 1, got iterations=0"):
        cli.main(mnist.FAMILY, ["train", "--iterations", "0"])
    args = cli.parser(qwen.FAMILY).parse_args(["train", "--eval-every", "5", "--clip", "0", "0"])
    assert cli.given_fields(args, qwen.FAMILY) == {"eval_every": 5, "clip": (0.0, 0.0)}


def test_old_spellings_are_aliases_of_the_fields():
    args = cli.parser(sd3.FAMILY).parse_args(["train", "--guidance", "1", "--updates", "2", "--group-size", "4",
                                              "--lr", "1e-4", "--scale-advantages"])  # fmt: skip
    assert cli.given_fields(args, sd3.FAMILY) == {"guidance_scale": 1.0, "updates_per_iteration": 2,
                                                  "num_generations": 4, "learning_rate": 1e-4, "scale_rewards": True}


def test_a_sweep_refuses_a_duplicate_seed_and_a_method_outside_its_grid(tmp_path, monkeypatch):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    with pytest.raises(SystemExit, match=r"--seeds lists a seed twice"):
        cli.main(mnist.FAMILY, ["sweep", "--smoke", "--seeds", "0", "0"])
    with pytest.raises(SystemExit, match=r"--betas lists a value twice"):
        cli.main(mnist.FAMILY, ["sweep", "--smoke", "--betas", "0.05", "0.05"])
    with pytest.raises(SystemExit, match=r"--methods \['fixed'\] have no β0 in the 'orw-official' grid"):
        cli.main(sd3.FAMILY, ["sweep", "--smoke", "--grid", "orw-official", "--methods", "fixed"])


@pytest.mark.parametrize("family", [sd3.FAMILY, qwen.FAMILY, audio.FAMILY], ids=lambda f: f.name)
def test_splits_json_prints_the_three_splits_and_no_eval_item_has_a_training_twin(family, capsys):
    import json

    from adrpo_nb.tasks.splits import same_meaning_overlap

    cli.main(family, ["splits", "--json"])
    splits = json.loads(capsys.readouterr().out)
    assert set(splits) == {"pretrain", "rl_train", "eval"} and all(splits.values())
    assert all(isinstance(item, str) for items in splits.values() for item in items)
    assert same_meaning_overlap(family.name, splits) == {"rl_train": 0, "pretrain": 0}
    if family is qwen.FAMILY:  # the lists are the ones the runs read, not a parallel definition
        assert splits["rl_train"] == list(dict.fromkeys(r["prompt"] for r in qwen.countdown_rows(4000)))
    if family is audio.FAMILY:
        from adrpo_nb.experiments.audio import family as audio_family

        assert splits["rl_train"] == [q.sha256 for q in audio_family.dataset("rl_train").questions]
        assert splits["eval"] == [q.sha256 for q in audio_family.eval_questions()]


@pytest.mark.parametrize(("flag", "field"), [("--lr", "learning_rate"), ("--iterations", "iterations"),
                                             ("--updates", "updates_per_iteration"),
                                             ("--num-generations", "num_generations"),
                                             ("--samples", "samples_per_iteration")])  # fmt: skip
def test_each_zero_flag_of_sd3_train_is_refused_by_its_field(flag, field, tmp_path):
    """Before: ``sd3 train --lr 0`` (and ``--iterations 0``, ``--updates 0``, ``--num-generations 0``,
    ``--samples 0``) silently trained with the defaults (``args.lr or default``)."""
    with pytest.raises(SystemExit, match=rf"sd3 train: {field} must be (> 0|>= 1), got {field}=0"):
        cli.main(sd3.FAMILY, ["train", "--smoke", flag, "0", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_a_given_size_is_kept_under_smoke(monkeypatch, capsys):
    """Before: ``--smoke`` replaced given sizes by its own: ``mnist train --smoke --iterations 3 --eval-samples 64``
    trained 8 iterations and evaluated 256 digits, without a word; ``sd3 sweep --grid lead --iterations 300``
    ran the grid's 600."""
    from argparse import Namespace

    trained = []
    monkeypatch.setattr(cli, "run", lambda family, spec, command: trained.append(spec) or {
        "final": {}, "provenance": {"seconds": 0.0}})  # fmt: skip
    cli.main(mnist.FAMILY, ["train", "--smoke", "--iterations", "3", "--eval-samples", "64"])
    cli.main(mnist.FAMILY, ["train", "--smoke"])
    given, default = (s.comparable() for s in trained)
    assert (given["config"]["iterations"], given["settings"]["eval_samples"]) == (3, 64)
    assert (default["config"]["iterations"], default["settings"]["eval_samples"]) == (8, 256)  # the smoke sizes
    assert given["config"]["samples_per_iteration"] == default["config"]["samples_per_iteration"] == 64
    base = sd3.FAMILY.spec()
    lead = Namespace(grid="lead", methods=None, seeds=[0], tuned_from=None, **{f"lead_{m}": 0.01 for m in
                     ("adrpo", "fixed", "orw", "dpo")})  # fmt: skip
    specs, _ = sd3.FAMILY.sweep_specs(Namespace(**vars(lead), iterations=300), base.replace(iterations=300), False)
    assert {s.config.iterations for s in specs} == {300}
    specs, _ = sd3.FAMILY.sweep_specs(lead, base, False)
    assert {s.config.iterations for s in specs} == {600}
