"""The full book reads committed full-size runs only when their settings equal the chapter's request."""

import json

import pytest

from adrpo_nb import FlowMatchingRLConfig
from adrpo_nb.experiments.book import collect_book_results, committed_book_result
from adrpo_nb.experiments.runner import book_config


def _committed(tmp_path, monkeypatch, config, **changes):
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path / "data"))
    folder = tmp_path / "data" / "results" / "book"
    folder.mkdir(parents=True)
    saved = {**config.to_dict(), **changes}
    (folder / f"{config.output_dir.rsplit('/', 1)[-1]}.json").write_text(json.dumps({"config": saved, "final": 1}))


@pytest.fixture
def cfg(monkeypatch, tmp_path):
    monkeypatch.delenv("ADRPO_SMOKE", raising=False)
    monkeypatch.delenv("ADRPO_RETRAIN", raising=False)
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path / "runs"))
    return book_config(FlowMatchingRLConfig(method="adrpo", beta0=0.05), "adrpo_b0.05_s0", lambda c: c)


def test_a_committed_run_with_the_same_settings_is_read(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg, output_dir="/elsewhere/runs/x", progress=False)
    assert committed_book_result(cfg, smoke=False)["final"] == 1


def test_other_settings_are_an_error_naming_the_field(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg, learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"learning_rate: committed 0\.001 vs requested 0\.0003"):
        committed_book_result(cfg, smoke=False)


def test_smoke_and_retrain_never_read_committed_runs(cfg, tmp_path, monkeypatch):
    _committed(tmp_path, monkeypatch, cfg)
    assert committed_book_result(cfg, smoke=True) is None
    monkeypatch.setenv("ADRPO_RETRAIN", "1")
    assert committed_book_result(cfg, smoke=False) is None


def test_missing_file_means_train(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path / "nothing"))
    assert committed_book_result(cfg, smoke=False) is None


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
