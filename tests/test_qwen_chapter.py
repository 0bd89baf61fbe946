"""Chapter 5 (``book/chapters/05_qwen_grpo.ipynb``): its β0 slider averages one setting per point, and the code a
reader copies from its Markdown (the TRL snippet, the install line) runs as written. Nothing here trains."""

import ast
import builtins
import json
import re
from pathlib import Path

import numpy as np
import pytest

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "chapters" / "05_qwen_grpo.ipynb"


def _run(method, beta0, seed, accuracy, clip="default", scale=True):
    clip = (-beta0, beta0) if clip == "default" else clip
    return {"config": {"method": method, "beta0": beta0, "clip": clip if method == "adrpo" else None,
                       "scale_rewards": scale, "seed": seed, "output_dir": f"runs/{method}_{seed}_{clip}"},
            "settings": {"eval_size": 128, "snapshots": [1, 40] if seed == 0 else []},
            "final": {"accuracy": accuracy, "distinct_correct": 1.5, "kl": 0.1}}  # fmt: skip


def _sweep():
    """ADRPO at β0 = 0.04 with its clip (accuracy 0.5) and without it (0.3): same method, same β0."""
    runs = [_run("adrpo", 0.04, s, 0.5) for s in range(3)] + [_run("adrpo", 0.04, s, 0.3, clip=None) for s in range(3)]
    runs += [_run("fixed", 0.04, s, 0.45) for s in range(3)]
    return {"runs": runs, "base": {"accuracy": 0.3, "distinct_correct": 1.6, "kl": 0.0}}


def test_the_slider_refuses_to_pool_two_settings_at_one_beta0():
    """Before: the slider averaged the clipped and the unclipped ADRPO runs at β0 = 0.04 into one point."""
    from adrpo_nb.viz import BetaSlider, slider_entries

    with pytest.raises(ValueError, match=r"differ in config\.clip"):
        slider_entries(_sweep(), "distinct_correct", distance_key="kl", reward_key="accuracy")
    with pytest.raises(ValueError, match="pool"):
        BetaSlider(_sweep(), diversity_key="distinct_correct", distance_key="kl", reward_key="accuracy")


def test_the_chapters_slider_shows_the_main_runs_only():
    from adrpo_nb.viz.lm import beta_slider, main_runs

    slider = beta_slider(_sweep())
    (adrpo,) = slider.entries["adrpo"]
    assert adrpo["seeds"] == 3 and adrpo["reward"] == pytest.approx(0.5)
    assert len(main_runs(_sweep())["runs"]) == 6


def test_the_committed_sweeps_slider_matches_its_table():
    """Before: the slider showed ADRPO at β0 = 0.04 with the mean of the main and the unclipped runs, where the
    chapter's table showed the main runs' mean."""
    from adrpo_nb.notebook import load_result
    from adrpo_nb.viz.lm import beta_slider, setting_runs

    sweep = load_result("results", "qwen_sweep.json")
    slider = beta_slider(sweep)
    for method, entries in slider.entries.items():
        for e in entries:
            runs = setting_runs(sweep, method, e["beta0"])
            assert e["seeds"] == len(runs)
            assert e["reward"] == pytest.approx(np.mean([r["final"]["accuracy"] for r in runs]))
    summary = {e["beta0"]: e for e in sweep["summary"]["variants"]["adrpo"]}
    for e in slider.entries["adrpo"]:
        assert e["reward"] == pytest.approx(summary[e["beta0"]]["accuracy"])


def test_a_single_run_on_the_slider_is_one_seed_not_a_mean_of_one():
    from adrpo_nb.viz.lm import beta_slider
    from adrpo_nb.viz.slider import seeds_text

    slider = beta_slider(_sweep())
    slider.add_run(_run("adrpo", 0.1, 0, 0.4))
    (one,) = [e for e in slider.entries["adrpo"] if e["beta0"] == 0.1]
    assert slider._caption(one).endswith("(1 seed)")
    assert seeds_text(1) == "1 seed" and seeds_text(5) == "mean of 5 seeds"
    page = slider.static_html()
    assert "1 seed" in page and "mean of 1 seeds" not in page
def _markdown() -> str:
    nb = json.loads(CHAPTER.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def _unbound_names(source: str) -> set[str]:
    """Names a snippet reads that it neither imports, assigns nor gets from builtins."""
    tree = ast.parse(source)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def test_the_python_snippets_import_what_they_use():
    """Before: the TRL snippet used load_dataset and LoraConfig without importing them."""
    snippets = re.findall(r"```python\n(.*?)```", _markdown(), flags=re.S)
    assert snippets, "the chapter shows its TRL snippet in a ```python block"
    for snippet in snippets:
        assert not _unbound_names(snippet), f"the snippet uses {sorted(_unbound_names(snippet))} unimported"


def test_the_install_lines_install_from_the_repository():
    """Before: ``pip install "adrpo-nb[trl]"``, which needs a PyPI release that does not exist."""
    from adrpo_nb.notebook import REPOSITORY

    lines = [line for line in _markdown().splitlines() if "pip install" in line]
    assert lines
    for line in lines:
        assert f'@ git+https://github.com/{REPOSITORY}"' in line, line
