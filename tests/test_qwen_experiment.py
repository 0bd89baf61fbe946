"""The countdown experiment's helpers (adrpo_nb.experiments.qwen: run and family): the sweep summary, sample HTML,
run names."""

import pytest

from adrpo_nb.experiments import qwen
from adrpo_nb.experiments.qwen import book_run_config, run_label, samples_html, summarize_sweep


def _run(method, beta0, seed, final, clip="auto"):
    clip = (-beta0, beta0) if clip == "auto" else clip
    return {"config": {"method": method, "beta0": beta0, "seed": seed, "clip": clip}, "final": final}


def _final(accuracy, kl=0.1):
    return {"accuracy": accuracy, "distinct_correct": 1.0, "kl": kl, "entropy": 0.1, "self_bleu": 0.5}


def test_summarize_sweep_groups_by_variant_and_beta0_over_finished_seeds():
    result = {"base": {"accuracy": 0.25, "kl": 0.0, "examples": []}, "runs": [
        _run("adrpo", 0.04, 0, _final(0.4)), _run("adrpo", 0.04, 1, _final(0.6)), _run("adrpo", 0.04, 2, None),
        _run("adrpo", 0.2, 0, _final(0.3)),
        _run("adrpo", 0.04, 0, _final(0.1), clip=None),  # no clip: its own variant, not averaged with ADRPO
        _run("none", 0.0, 0, _final(0.5, kl=0.2)),
    ]}  # fmt: skip
    s = summarize_sweep(result)
    assert s["base"] == {"accuracy": 0.25, "kl": 0.0}
    assert set(s["variants"]) == {"adrpo", "adrpo (no clip)", "none"}
    low, high = s["variants"]["adrpo"]
    assert (low["beta0"], low["seeds"], high["beta0"], high["seeds"]) == (0.04, 2, 0.2, 1)  # the diverged seed left out
    assert low["accuracy"] == pytest.approx(0.5) and low["accuracy_std"] == pytest.approx(0.1)  # population std
    assert s["variants"]["adrpo (no clip)"][0]["accuracy"] == pytest.approx(0.1)
    assert s["diverged"] == 1


def test_samples_html_escapes_completions_and_marks_correct_ones():
    html = samples_html([{"prompt": "4,7,2,9:13", "completions": ["<think>4+9=13</think><answer>4+9</answer>", "x"],
                          "correct": [1, 0]}])  # fmt: skip
    assert "<think>" not in html and "&lt;think&gt;4+9=13&lt;/think&gt;" in html
    assert "✓ &lt;think&gt;" in html and "✗ x" in html and "<b>4,7,2,9:13</b>" in html
    with pytest.raises(ValueError):
        samples_html([{"prompt": "p", "completions": ["a", "b"], "correct": [1]}])  # one mark per completion


def test_run_labels_tell_every_run_of_a_sweep_apart():
    assert run_label("adrpo", 0.04, 1) == "adrpo_b0.04_s1"
    assert run_label("none", 0.5, 2) == "none_s2"  # β0 does not change a β = 0 run
    labels = {run_label("adrpo", 0.04, 0, clip) for clip in ("auto", None, (-0.1, 0.1), (-0.04, 0.1))}
    assert len(labels) == 4 and "adrpo_b0.04_noclip_s0" in labels


def test_book_run_config_is_the_default_config_in_its_own_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    monkeypatch.delenv("ADRPO_SMOKE", raising=False)
    full = book_run_config("adrpo", 0.04)
    assert full.iterations == qwen.default_config().iterations and full.method == "adrpo" and full.beta0 == 0.04
    assert full.output_dir.startswith(str(tmp_path / "book" / "qwen_adrpo_b0.04_s0_it120_"))
    assert book_run_config("adrpo", 0.04).output_dir == full.output_dir  # the same settings find the same run
    assert book_run_config("adrpo", 0.04, learning_rate=1e-4).output_dir != full.output_dir  # other settings don't
    assert "noclip" in book_run_config("adrpo", 0.04, clip=None).output_dir
    monkeypatch.setenv("ADRPO_SMOKE", "1")
    smoke = book_run_config("adrpo", 0.04)
    assert smoke.iterations == qwen.smoke_config(full).iterations and "/book-smoke/" in smoke.output_dir
