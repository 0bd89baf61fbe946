"""The full book reads committed full-size runs only when their settings equal the chapter's request."""

import json
import shutil

import pytest

from adrpo_nb.experiments import mnist
from adrpo_nb.experiments.book import collect_book_results, committed_book_result
from adrpo_nb.experiments.book import main as book_main
from adrpo_nb.utils.provenance import check_seal, seal

FAMILY = mnist.FAMILY


def _committed(tmp_path, monkeypatch, spec, settings=None, fingerprints=None, **changes):
    data = tmp_path / "data"
    folder = data / "results" / "book"
    folder.mkdir(parents=True)
    saved = {"config": {**spec.config.to_dict(), **changes},
             "settings": {**spec.settings.to_dict(), **(settings or {})}, "final": 1}
    if fingerprints is not None:
        saved["fingerprints"] = fingerprints
    (folder / f"{spec.config.output_dir.rsplit('/', 1)[-1]}.json").write_text(json.dumps(saved))
    real = FAMILY.fingerprints(spec)  # of the shipped model, before the data folder moves
    monkeypatch.setattr(FAMILY, "fingerprints", lambda spec: real)
    monkeypatch.setenv("ADRPO_DATA", str(data))


@pytest.fixture
def cfg(monkeypatch, tmp_path):
    monkeypatch.delenv("ADRPO_SMOKE", raising=False)
    monkeypatch.delenv("ADRPO_RETRAIN", raising=False)
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path / "runs"))
    return mnist.book_run_config("adrpo", 0.05)


def test_a_committed_run_with_the_same_settings_is_read(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg, output_dir="/elsewhere/runs/x", progress=False)
    assert committed_book_result(FAMILY, cfg, smoke=False)["final"] == 1


def test_other_settings_are_an_error_naming_the_field(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg, learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"learning_rate: committed 0\.001 vs requested 0\.0003"):
        committed_book_result(FAMILY, cfg, smoke=False)


def test_other_family_settings_are_an_error_naming_the_field(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg, settings={"eval_samples": 256})
    with pytest.raises(ValueError, match=r"settings\.eval_samples: committed 256 vs requested 1024"):
        committed_book_result(FAMILY, cfg, smoke=False)


def test_a_result_of_another_base_model_is_an_error(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg, fingerprints={"base_model": "0123456789ab"})
    with pytest.raises(ValueError, match=r"fingerprints: committed \{'base_model': '0123456789ab'\}"):
        committed_book_result(FAMILY, cfg, smoke=False)


def test_a_result_without_fingerprints_stands_only_where_the_base_model_never_changed(cfg, tmp_path, monkeypatch):
    """Before: a committed audio run made with the old base model (no fingerprints recorded) was read as today's."""
    _committed(tmp_path, monkeypatch, cfg)  # no fingerprints: MNIST's models are unchanged since, so it stands
    assert committed_book_result(FAMILY, cfg, smoke=False)["final"] == 1
    monkeypatch.setattr(FAMILY, "unfingerprinted_results_valid", False)  # a family whose base model changed
    with pytest.raises(ValueError, match=r"fingerprints: committed None vs requested \{'base_model'"):
        committed_book_result(FAMILY, cfg, smoke=False)


def test_only_mnist_results_stand_without_fingerprints_in_the_book_and_in_the_ledger():
    import importlib

    from adrpo_nb.experiments import claims

    for name in ("mnist", "sd3", "qwen", "audio"):
        family = importlib.import_module(f"adrpo_nb.experiments.{name}").FAMILY
        assert family.unfingerprinted_results_valid == (name in claims.UNCHANGED_SINCE_UNFINGERPRINTED_RUNS)


def test_smoke_and_retrain_never_read_committed_runs(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg)
    assert committed_book_result(FAMILY, cfg, smoke=True) is None
    monkeypatch.setenv("ADRPO_RETRAIN", "1")
    assert committed_book_result(FAMILY, cfg, smoke=False) is None


def test_missing_file_means_train(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path / "nothing"))
    assert committed_book_result(FAMILY, cfg, smoke=False) is None


def _finished_run(folder, spec, **changes):
    folder.mkdir(parents=True)
    record = {"family": "mnist", **spec.to_dict(), "fingerprints": FAMILY.fingerprints(spec), "final": 1,
              "provenance": {"command": "adrpo_nb.experiments.mnist.book_run('adrpo', 0.05, iterations=300)"},
              **changes}  # fmt: skip
    record["config"]["output_dir"] = "/work/x/runs/book/a"
    (folder / "result.json").write_text(json.dumps(seal(record) if "content_sha256" not in changes else record))


def test_collect_copies_finished_runs_with_relative_paths(cfg, tmp_path):
    _finished_run(tmp_path / "runs" / "book" / "adrpo_b0.05_s0_it300_abcd1234", cfg)
    (tmp_path / "runs" / "book" / "unfinished").mkdir()
    written = collect_book_results(tmp_path / "out", tmp_path / "runs" / "book")
    assert [p.name for p in written] == ["adrpo_b0.05_s0_it300_abcd1234.json"]
    record = json.loads(written[0].read_text())
    assert record["config"]["output_dir"] == "runs/book/a"
    assert record["provenance"]["command"] == ('python -c "from adrpo_nb.experiments.mnist import book_run; '
                                               "book_run('adrpo', 0.05, iterations=300)\"")
    check_seal(record, written[0])  # sealed anew after its paths changed


def test_collect_refuses_a_typo_a_stale_run_and_an_edited_one(cfg, tmp_path):
    """Before: --runs <typo> collected nothing and exited 0; a run made with another base model or data split (or
    before they were recorded) was committed as it was; so was a result edited by hand."""
    with pytest.raises(SystemExit, match=r"no book runs folder .*runs/bok \(a typo in --runs\?\)"):
        book_main(["collect", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs" / "bok")])
    runs = tmp_path / "runs" / "book"
    _finished_run(runs / "adrpo_b0.05_s0_it300_stale", cfg, fingerprints=None)
    with pytest.raises(ValueError, match=r"stale/result\.json: fingerprints None vs today's \{'base_model'"):
        collect_book_results(tmp_path / "out", runs)
    assert not (tmp_path / "out").exists()  # nothing written
    shutil.rmtree(runs)
    _finished_run(runs / "adrpo_b0.05_s0_it300_edited", cfg, content_sha256="0" * 64)
    with pytest.raises(ValueError, match=r"edited/result\.json was edited or corrupted"):
        collect_book_results(tmp_path / "out", runs)


def test_a_committed_result_edited_by_hand_is_detected(cfg, tmp_path, monkeypatch):
    """Before: a digit edited in a committed result was read as the run's result. ``book seal`` adds the content
    hash to committed files that have none (how data/results/book got theirs); an edit after it is refused."""
    _committed(tmp_path, monkeypatch, cfg)
    folder = tmp_path / "data" / "results" / "book"
    assert book_main(["seal", "--out", str(folder)]) == 0
    assert committed_book_result(FAMILY, cfg, smoke=False)["final"] == 1
    (path,) = folder.glob("*.json")
    path.write_text(path.read_text().replace('"final": 1', '"final": 2'))
    with pytest.raises(ValueError, match=r"was edited or corrupted after it was written"):
        committed_book_result(FAMILY, cfg, smoke=False)
