"""The full book reads committed full-size runs only when their settings equal the chapter's request."""

import json

import pytest

from adrpo_nb.experiments import mnist
from adrpo_nb.experiments.book import collect_book_results, committed_book_result

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


def test_smoke_and_retrain_never_read_committed_runs(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg)
    assert committed_book_result(FAMILY, cfg, smoke=True) is None
    monkeypatch.setenv("ADRPO_RETRAIN", "1")
    assert committed_book_result(FAMILY, cfg, smoke=False) is None


def test_missing_file_means_train(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path / "nothing"))
    assert committed_book_result(FAMILY, cfg, smoke=False) is None


def test_collect_copies_finished_runs_with_relative_paths(tmp_path):
    run = tmp_path / "runs" / "book" / "adrpo_b0.05_s0_it300_abcd1234"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"config": {"output_dir": "/work/x/runs/book/a"}, "provenance": {
        "command": "adrpo_nb.experiments.mnist.book_run('adrpo', 0.05, iterations=300)"}}))
    (tmp_path / "runs" / "book" / "unfinished").mkdir()
    written = collect_book_results(tmp_path / "out", tmp_path / "runs" / "book")
    assert [p.name for p in written] == ["adrpo_b0.05_s0_it300_abcd1234.json"]
    record = json.loads(written[0].read_text())
    assert record["config"]["output_dir"] == "runs/book/a"
    assert record["provenance"]["command"] == ('python -c "from adrpo_nb.experiments.mnist import book_run; '
                                               "book_run('adrpo', 0.05, iterations=300)\"")
