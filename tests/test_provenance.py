"""Provenance records commands a reader can type again: no absolute path of the machine that made a result."""

import re
from pathlib import Path

import pytest

from adrpo_nb.utils.provenance import command_line, relativize_record, repo_relative

ROOT = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp|root|home|Users|private|var/folders)/[^\s\"',;]+")


@pytest.mark.parametrize(("text", "expected"), [
    ("python /x/merge/adrpo_nb/experiments/sd3.py train --out /tmp/long/a_s0",
     "python -m adrpo_nb.experiments.sd3 train --out runs/long/a_s0"),
    ("python -m adrpo_nb.experiments.sd3 sweep --runs-dir /work/sweep/runs/sd3_sweep",
     "python -m adrpo_nb.experiments.sd3 sweep --runs-dir runs/sd3_sweep"),
    (str(ROOT / "data" / "results" / "x.json"), "data/results/x.json"),
    ("python -m adrpo_nb.experiments.mnist sweep --workers 2",
     "python -m adrpo_nb.experiments.mnist sweep --workers 2"),
])
def test_repo_relative_rewrites_machine_paths(text, expected):
    assert repo_relative(text) == expected


def test_relativize_record_notes_the_rewrite_in_the_provenance():
    record = {"config": {"output_dir": "/work/a/runs/r1"},
              "provenance": {"command": "python /w/adrpo_nb/bench.py", "commit": "abc"}}
    new, changed = relativize_record(record, note="rewritten")
    assert changed == 2
    assert new["config"]["output_dir"] == "runs/r1"
    assert new["provenance"] == {"command": "python -m adrpo_nb.bench", "commit": "abc", "rewritten": "rewritten"}


def test_command_line_is_repo_relative(monkeypatch):
    monkeypatch.setattr("sys.argv", [str(ROOT / "adrpo_nb" / "bench.py"), "--out", str(ROOT / "runs" / "x")])
    monkeypatch.setitem(__import__("sys").modules, "__main__", type("M", (), {"__spec__": None})())
    assert command_line() == "python -m adrpo_nb.bench --out runs/x"


def _shipped_text_files():
    files = [ROOT / "README.md", *sorted((ROOT / "book").glob("**/*.ipynb")), *sorted((ROOT / "book").glob("*.md"))]
    files += [p for p in sorted((ROOT / "data").rglob("*")) if p.suffix in (".json", ".md", ".txt", ".jsonl")]
    return [p for p in files if "_build" not in p.parts]


def test_no_machine_path_in_data_readme_or_book():
    offenders = []
    for path in _shipped_text_files():
        for match in MACHINE_PATH.finditer(path.read_text(errors="replace")):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert not offenders, "absolute machine paths:\n" + "\n".join(offenders[:20])


def test_every_committed_result_and_model_says_what_made_it():
    from adrpo_nb.utils.paths import data_dir
    from adrpo_nb.utils.provenance import PROVENANCE_KEYS, result_records

    rows = result_records(data_dir())
    assert len(rows) >= 20
    incomplete = [r["file"] for r in rows if any(r[k] in (None, "") for k in PROVENANCE_KEYS)]
    assert not incomplete, f"results without command/commit/device/seconds: {incomplete}"
    assert all(r["command"].startswith("python") for r in rows)


def test_portable_paths_makes_every_output_dir_relative_and_leaves_other_text_alone():
    from adrpo_nb.utils.paths import repository_root
    from adrpo_nb.utils.provenance import portable_paths

    root = repository_root()
    sweep = {"runs": [{"config": {"output_dir": f"{root}/runs/qwen_sweep/none_s0_ab12", "beta0": 0.04},
                       "samples_html": "<div>a/b</div>"}],
             "config": {"output_dir": "/scratch/someone/runs/x"}, "note": f"made in {root}"}  # fmt: skip
    out = portable_paths(sweep)
    assert out["runs"][0]["config"]["output_dir"] == "runs/qwen_sweep/none_s0_ab12"
    assert out["config"]["output_dir"] == "runs/x"
    assert out["runs"][0]["samples_html"] == "<div>a/b</div>" and out["note"] == sweep["note"]  # only output_dir
    assert sweep["runs"][0]["config"]["output_dir"].startswith(str(root))  # the input is not modified


def test_every_committed_result_file_is_sealed_and_a_hand_edit_is_refused_on_reading(tmp_path, monkeypatch):
    """Every JSON under data/results carries its content hash; load_result refuses a file edited after it was
    written (before: a digit edited in a committed sweep file was read as the result)."""
    import json

    from adrpo_nb import notebook
    from adrpo_nb.utils.paths import data_dir
    from adrpo_nb.utils.provenance import SEAL_KEY, check_seal

    files = sorted(data_dir().joinpath("results").rglob("*.json"))
    assert files
    for path in files:
        record = json.loads(path.read_text())
        assert SEAL_KEY in record, f"{path} is not sealed (python -m adrpo_nb.experiments.book seal --out <folder>)"
        check_seal(record, path)
    record = json.loads(data_dir().joinpath("results", "qwen_sweep.json").read_text())
    record["runs"][0]["final"]["accuracy"] += 0.1
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "qwen_sweep.json").write_text(json.dumps(record))
    monkeypatch.setattr(notebook, "data_path", lambda *parts: tmp_path.joinpath(*parts))
    with pytest.raises(ValueError, match=r"qwen_sweep.json was edited or corrupted"):
        notebook.load_result("results", "qwen_sweep.json")
