"""The claims ledger: one verdict rule, paired per-seed values, and only runs made under today's protocol.

Wrong ledgers these catch: a verdict that ignores the claimed direction or the number of seeds, an unpaired or
mis-paired difference, a claim computed from runs of another base model, a missing file passing as evidence."""

import json
import math
import subprocess

import pytest

from adrpo_nb.experiments import claims
from adrpo_nb.experiments.claims import Claim, difference, evaluate_claim, verdict, versus_base
from adrpo_nb.experiments.family import model_fingerprint
from adrpo_nb.utils.paths import data_path


@pytest.mark.parametrize("args, expected", [
    ((1, 0.02, 0.01, 0.03, 5), "reproduced"),
    ((1, 0.02, 0.01, 0.03, 3), "partly"),          # too few seeds, whatever the interval
    ((1, 0.02, -0.01, 0.05, 5), "partly"),         # right sign, 0 inside
    ((1, -0.02, -0.03, -0.01, 5), "not reproduced"),  # the other side
    ((-1, -0.02, -0.03, -0.01, 5), "reproduced"),  # claimed < 0
    ((-1, 0.02, 0.01, 0.03, 5), "not reproduced"),
    ((-1, -0.02, -0.05, 0.01, 6), "partly"),
])  # fmt: skip
def test_the_verdict_rule(args, expected):
    assert verdict(*args) == expected


def _run(method, seed, reward, fingerprint, **extra):
    return {"config": {"method": method, "beta0": 0.1, "seed": seed, "extra": {}}, "settings": extra,
            "final": {"reward": reward}, "fingerprints": {"base_model": fingerprint}}


def _ledger_root(tmp_path, runs, base_reward=0.5):
    (tmp_path / "sweep.json").write_text(json.dumps({"base": {"reward": base_reward}, "runs": runs}))
    return tmp_path


def _claim(measure, direction=1):
    return Claim("t", "ADRPO beats fixed", "test", "reward diff", family="qwen", files=("sweep.json",),
                 direction=direction, measure=measure)


def test_a_difference_is_paired_by_seed(tmp_path):
    fp = model_fingerprint(data_path(*claims.BASE_MODELS["qwen"]))
    seeds = [0, 1, 2, 3, 4]
    a = [0.70, 0.80, 0.60, 0.75, 0.65]  # large seed effects shared by both methods
    runs = [_run("adrpo", s, a[s] + 0.02 + 0.001 * s, fp) for s in seeds]
    runs += [_run("fixed", s, a[s], fp) for s in reversed(seeds)]  # file order must not matter
    entry = evaluate_claim(_claim(difference("reward", {"method": "adrpo"}, {"method": "fixed"})),
                           _ledger_root(tmp_path, runs))
    assert entry["n_seeds"] == 5 and entry["seeds"] == seeds
    assert entry["estimate"] == pytest.approx(0.022)
    assert entry["verdict"] == "reproduced" and 0 < entry["ci_low"] < 0.022 < entry["ci_high"] < 0.03


def test_a_diverged_seed_leaves_both_sides_and_versus_base_subtracts_the_base(tmp_path):
    fp = model_fingerprint(data_path(*claims.BASE_MODELS["qwen"]))
    runs = [_run("adrpo", s, 0.6 + 0.01 * s, fp) for s in range(5)] + [_run("fixed", s, 0.55, fp) for s in range(5)]
    runs[1]["final"] = None  # adrpo seed 1 diverged
    entry = evaluate_claim(_claim(difference("reward", {"method": "adrpo"}, {"method": "fixed"})),
                           _ledger_root(tmp_path, runs))
    assert entry["seeds"] == [0, 2, 3, 4] and entry["verdict"] == "partly"  # 4 seeds < MIN_SEEDS
    entry = evaluate_claim(_claim(versus_base("reward", {"method": "fixed"}), direction=-1),
                           _ledger_root(tmp_path, runs, base_reward=0.6))
    assert entry["estimate"] == pytest.approx(-0.05) and entry["n_seeds"] == 5
    assert entry["verdict"] == "reproduced"  # claimed < 0, five seeds, a zero-width interval below 0


def test_runs_of_another_base_model_and_missing_files_are_not_evidence(tmp_path):
    runs = [_run(m, s, 0.6, "0123456789ab") for m in ("adrpo", "fixed") for s in range(5)]
    claim = _claim(difference("reward", {"method": "adrpo"}, {"method": "fixed"}))
    entry = evaluate_claim(claim, _ledger_root(tmp_path, runs))
    assert entry["verdict"] == "not tested here" and "another qwen base model" in entry["note"]
    assert entry["estimate"] is None
    entry = evaluate_claim(claim, tmp_path / "nowhere")
    assert entry["verdict"] == "not tested here" and "no result file sweep.json" in entry["note"]


def test_the_ledger_has_unique_ids_valid_verdicts_and_real_files():
    ledger = claims.build()
    ids = [e["id"] for e in ledger["claims"]]
    assert len(ids) == len(set(ids)) and sum(ledger["counts"].values()) == len(ids)
    for entry in ledger["claims"]:
        assert entry["verdict"] in claims.VERDICTS
        if entry["verdict"] != "not tested here":
            assert entry["n_seeds"] >= 2 and entry["ci_low"] <= entry["estimate"] <= entry["ci_high"]
        else:
            assert entry["note"], entry["id"]  # a claim left untested says why
    with pytest.raises(ValueError, match="unique"):
        claims.build(claims.CLAIMS[:1] * 2)


def test_the_mnist_weights_are_unchanged_since_the_sweep_its_claims_read():
    """MNIST runs predate recorded fingerprints; they count only because no weight file of
    data/checkpoints/mnist has changed since the commit the sweep was made at."""
    sweep = json.loads(data_path("results", "mnist_sweep.json").read_text())
    made_at = sweep["provenance"]["commit"].removesuffix("+dirty")
    weights = sorted(p.name for p in data_path("checkpoints", "mnist").glob("*.safetensors"))
    assert weights == ["autoencoder.safetensors", "classifier.safetensors", "flow.safetensors"]
    changed = subprocess.run(["git", "diff", "--name-only", made_at, "HEAD", "--",
                              *(f"data/checkpoints/mnist/{w}" for w in weights)],
                             capture_output=True, text=True, check=True, cwd=data_path().parent).stdout
    assert changed == ""


def _entry(estimate, low, high, direction="> 0", verdict_="partly", id_="x.y"):
    return {"id": id_, "statement": "s", "metric": "m", "direction": direction, "estimate": estimate,
            "ci_low": low, "ci_high": high, "n_seeds": 5, "verdict": verdict_, "note": ""}  # fmt: skip


@pytest.mark.parametrize("estimate, low, high, direction", [
    (0.02, 0.01, 0.03, "> 0"), (0.02, -0.01, 0.05, "> 0"), (-0.02, -0.03, -0.01, "> 0"),
    (-0.02, -0.03, -0.01, "< 0"), (-0.02, -0.05, 0.01, "< 0"), (0.02, 0.01, 0.03, "< 0"),
])  # fmt: skip
def test_the_forest_plot_bar_clears_zero_exactly_when_the_interval_excludes_it_on_the_claimed_side(
        estimate, low, high, direction):  # fmt: skip
    from adrpo_nb.viz.claims import _standardised

    centre, half = _standardised(_entry(estimate, low, high, direction))
    claimed_side = low > 0 if direction == "> 0" else high < 0
    assert half == pytest.approx((high - low) / 2)
    assert (centre - 1 > 1e-12) == claimed_side
    assert (centre > 0) == ((estimate > 0) == (direction == "> 0"))


def test_the_claims_table_and_glue_names_cover_every_claim_of_the_committed_ledger(monkeypatch):
    from adrpo_nb import notebook
    from adrpo_nb.viz import claims as viz

    ledger = json.loads(data_path("results", "claims.json").read_text())
    table = viz.claims_table(ledger)
    assert len(table.cells) == len(ledger["claims"])
    assert table.stack  # a card per claim on a phone: the verdict stays on screen at 390 px
    for row, entry in zip(table.cells, ledger["claims"], strict=True):
        assert row[2].split(" (")[0] == entry["verdict"] and entry["statement"] in row[0]
        assert viz.verdict_reason(entry) in row[2]  # the verdict says why, in the table too
        assert (row[1] == "—") == (entry["estimate"] is None)
    glued = {}
    monkeypatch.setattr(notebook, "glue", lambda name, value, markdown=False: glued.setdefault(name, value))
    monkeypatch.setattr(viz, "glue", notebook.glue)
    viz.glue_claims(ledger)
    names = [viz.glue_name(e["id"]) for e in ledger["claims"]]
    assert len(set(names)) == len(names)  # no two claims share a glue name
    assert all(n in glued and n + "-verdict" in glued and n + "-reason" in glued for n in names)
    assert glued["claims-reproduced"] == ledger["counts"]["reproduced"]
    assert glued["claims-total"] == len(ledger["claims"]) == sum(ledger["counts"].values())


def test_glue_refuses_a_name_the_prose_role_cannot_quote():
    from adrpo_nb.notebook import glue

    for bad in ("", "a b", "a:b", "a`b", 3):
        with pytest.raises(ValueError, match="glue name"):
            glue(bad, 1.0)


def test_beyond_guidance_compares_each_evaluation_with_the_curve_drawn_under_the_same_noise():
    curve = {"by_eval_seed": {
        "1": [{"reward": 0.60, "diversity": 0.60}, {"reward": 0.70, "diversity": 0.40}],
        "2": [{"reward": 0.50, "diversity": 0.60}, {"reward": 0.60, "diversity": 0.40}],
    }}  # fmt: skip
    read = {"curve.json": curve}.__getitem__
    run = {"config": {"method": "adrpo", "beta0": 0.01, "seed": 0, "extra": {}}, "final": {"reward": 0.7},
           "final_by_eval_seed": [{"eval_seed": 1, "reward": 0.70, "diversity": 0.50},   # curve 1 there: 0.65
                                  {"eval_seed": 2, "reward": 0.58, "diversity": 0.50},   # curve 2 there: 0.55
                                  {"eval_seed": 3, "reward": 0.90, "diversity": 0.50},   # no curve: left out
                                  {"eval_seed": 1, "reward": 0.99, "diversity": 0.90}]}  # off the curve: left out
    values = claims.beyond_guidance("curve.json", {"method": "adrpo"})([run], {}, read)
    assert values == {0: pytest.approx((0.05 + 0.03) / 2)}
    run["final_by_eval_seed"] = [{"eval_seed": 3, "reward": 0.9, "diversity": 0.5}]
    with pytest.raises(LookupError, match="no run matching"):
        claims.beyond_guidance("curve.json", {"method": "adrpo"})([run], {}, read)


def _sealed(record: dict) -> str:
    from adrpo_nb.utils.provenance import seal

    return json.dumps(seal(record))


def test_a_claims_reference_file_is_read_under_the_ledgers_root_not_the_repository(tmp_path, monkeypatch):
    """The guidance curve comes from the same root as the runs (a ledger built elsewhere mixes nothing)."""
    monkeypatch.setattr(claims, "check_protocol", lambda family, runs: None)
    run = {"config": {"method": "adrpo", "extra": {}}, "final": {"reward": 0.7},
           "final_by_eval_seed": [{"eval_seed": 1, "reward": 0.70, "diversity": 0.50}]}  # fmt: skip
    runs = [{**run, "config": {**run["config"], "seed": s}} for s in range(2)]
    (tmp_path / "lead.json").write_text(_sealed({"runs": runs}))
    curve = {"by_eval_seed": {"1": [{"reward": 0.50, "diversity": 0.60}, {"reward": 0.60, "diversity": 0.40}]}}
    (tmp_path / "curve.json").write_text(_sealed(curve))
    claim = claims.Claim("t.beyond", "s", "here", "m", family="sd3", files=("lead.json",),
                         references=("curve.json",),
                         measure=claims.beyond_guidance("curve.json", {"method": "adrpo"}))  # fmt: skip
    entry = claims.evaluate_claim(claim, tmp_path)
    assert entry["estimate"] == pytest.approx(0.15) and entry["files"] == ["lead.json", "curve.json"]
    (tmp_path / "curve.json").unlink()
    assert "no result file curve.json" in claims.evaluate_claim(claim, tmp_path)["note"]


def test_a_reference_file_listed_as_a_run_file_is_named(tmp_path):
    (tmp_path / "curve.json").write_text(_sealed({"by_eval_seed": {}}))
    with pytest.raises(ValueError, match=r"curve\.json is neither a sweep"):
        claims.load_runs(["curve.json"], tmp_path)


# ----------------------------------------------------------------------------- the MNIST claims, on synthetic sweeps
def _mnist_run(method, beta0, seed, **final):
    """An MNIST sweep run (no fingerprint: MNIST's base model is unchanged since its unfingerprinted runs)."""
    return {"config": {"method": method, "beta0": beta0, "seed": seed, "extra": {}}, "final": final}


def _mnist_ledger(tmp_path, runs, base):
    (tmp_path / "data" / "results").mkdir(parents=True)
    (tmp_path / "data" / "results" / "mnist_sweep.json").write_text(json.dumps({"base": base, "runs": runs}))
    return tmp_path


def _mnist_claim(claim_id):
    return next(c for c in claims.CLAIMS if c.id == claim_id)


def test_the_fixed_beta_drift_is_a_log_ratio_of_w2_paired_by_seed_at_beta0_0_05(tmp_path):
    """Wrong versions this fails: a mean of W2 differences (one runaway seed decides it), an unpaired or
    mis-paired log ratio (the seeds' W2 differ by orders of magnitude), the other sign, another β0."""
    seeds = range(5)
    none_w2 = [1.0, 10.0, 100.0, 1000.0, 10000.0]  # large seed effects, shared by both methods
    runs = [_mnist_run("none", 0.0, s, w2=none_w2[s], reward=1.0) for s in seeds]
    runs += [_mnist_run("fixed", 0.05, s, w2=none_w2[s] * math.exp(0.5 + 0.01 * s), reward=0.9)
             for s in reversed(seeds)]  # file order must not matter
    runs += [_mnist_run("fixed", 1.0, s, w2=0.01, reward=0.6) for s in seeds]  # another β0: not this claim
    root = _mnist_ledger(tmp_path, runs, {"reward": 0.5, "w2": 0.0})
    entry = evaluate_claim(_mnist_claim("mnist.fixed_drifts"), root)
    assert entry["seeds"] == list(seeds) and entry["direction"] == "> 0"
    assert entry["estimate"] == pytest.approx(0.52)  # the mean log ratio, not a ratio of means
    assert entry["verdict"] == "reproduced" and 0.5 < entry["ci_low"] < entry["ci_high"] < 0.54  # paired: narrow

    # one runaway seed: W2 differences say "farther" (+19.2), the log ratios say "closer" (four seeds at 1/4)
    runs = [_mnist_run("none", 0.0, s, w2=1.0, reward=1.0) for s in seeds]
    runs += [_mnist_run("fixed", 0.05, s, w2=100.0 if s == 4 else 0.25, reward=0.9) for s in seeds]
    entry = evaluate_claim(_mnist_claim("mnist.fixed_drifts"), _mnist_ledger(tmp_path / "tail", runs,
                                                                           {"reward": 0.5}))
    assert entry["estimate"] == pytest.approx((4 * math.log(0.25) + math.log(100.0)) / 5)
    assert entry["verdict"] == "not reproduced"


def test_a_log_ratio_refuses_a_w2_that_is_not_positive():
    runs = [_mnist_run("fixed", 0.05, 0, w2=0.0), _mnist_run("none", 0.0, 0, w2=1.0)]
    with pytest.raises(ValueError, match="must be positive"):
        claims.log_ratio("w2", {"method": "fixed", "beta0": 0.05}, {"method": "none"})(runs, {}, {}.__getitem__)


def test_the_fixed_beta_reward_cost_is_read_at_beta0_1_and_claimed_below_zero(tmp_path):
    runs = [_mnist_run("none", 0.0, s, w2=1.0, reward=1.0) for s in range(5)]
    runs += [_mnist_run("fixed", 1.0, s, w2=0.01, reward=0.6 + 0.01 * s) for s in range(5)]
    runs += [_mnist_run("fixed", 0.05, s, w2=5.0, reward=1.0 + 0.01 * s) for s in range(5)]  # not this claim
    entry = evaluate_claim(_mnist_claim("mnist.fixed_reward_cost"), _mnist_ledger(tmp_path, runs, {"reward": 0.5}))
    assert entry["direction"] == "< 0" and entry["estimate"] == pytest.approx(-0.38)
    assert entry["verdict"] == "reproduced"


def test_the_pairwise_hypervolume_margin_reads_pairwise_distance_against_the_best_of_three_baselines(tmp_path):
    """Per seed, one point per method (reward 0.9 over a base of 0.5): HV = 0.4 × diversity. ORW-CFM-W2 is the
    best baseline on pairwise distance (a margin of +0.4 per seed); wrong versions this fails: even-digit entropy
    (ORW is ahead there: a negative margin), a baseline list without ORW-CFM-W2 (a margin against fixed β of
    about +2.8), seeds unpaired (the seed effect of 1 per seed would widen the interval past 0)."""
    runs = []
    for s in range(5):
        jitter = 0.01 * (s % 2)
        runs += [_mnist_run("adrpo", 0.05, s, reward=0.9, pairwise_distance=10.0 + s + jitter,
                            even_entropy_norm=0.5),
                 _mnist_run("orw", 0.05, s, reward=0.9, pairwise_distance=9.0 + s, even_entropy_norm=0.9),
                 _mnist_run("fixed", 0.05, s, reward=0.9, pairwise_distance=3.0, even_entropy_norm=0.2),
                 _mnist_run("none", 0.0, s, reward=1.0, pairwise_distance=1.0, even_entropy_norm=0.1)]
    root = _mnist_ledger(tmp_path, runs, {"reward": 0.5})
    entry = evaluate_claim(_mnist_claim("mnist.hypervolume_pairwise"), root)
    assert entry["seeds"] == [0, 1, 2, 3, 4] and entry["direction"] == "> 0"
    assert entry["estimate"] == pytest.approx(0.4 * (1 + 0.01 * 2 / 5))
    assert entry["verdict"] == "reproduced" and 0.39 < entry["ci_low"] < entry["ci_high"] < 0.42
    # the entropy claim on the same runs is the other way: the two claims read different measures
    assert evaluate_claim(_mnist_claim("mnist.hypervolume"), root)["verdict"] == "not reproduced"


def _ledger_entry(verdict_, estimate, low, high, n, direction="> 0", note=""):
    return {"id": "x.y", "verdict": verdict_, "estimate": estimate, "ci_low": low, "ci_high": high, "n_seeds": n,
            "direction": direction, "note": note}  # fmt: skip


@pytest.mark.parametrize("entry, reason", [
    (_ledger_entry("reproduced", 0.2, 0.1, 0.3, 5), "excludes 0 on the claimed side, on at least 5 seeds"),
    # partly has two causes; the reason names the ones that apply, and only those
    (_ledger_entry("partly", 0.2, 0.1, 0.3, 3), "excludes 0, but fewer than 5 seeds ran"),
    (_ledger_entry("partly", 0.2, -0.1, 0.5, 5), "the 95 % interval holds 0"),
    (_ledger_entry("partly", -0.2, -0.5, 0.1, 3, "< 0"), "holds 0, and fewer than 5 seeds ran"),
    # not reproduced: noise around the other side is not the same as a resolved effect the other way
    (_ledger_entry("not reproduced", -0.2, -0.5, 0.1, 5), "other way, within the noise: its 95 % interval holds 0"),
    (_ledger_entry("not reproduced", 0.2, 0.1, 0.3, 5, "< 0"), "other way, and its 95 % interval excludes 0"),
    (_ledger_entry("not reproduced", 0.0, -0.1, 0.1, 5), "the estimate is 0"),
    (_ledger_entry("not tested here", None, None, None, 0, note="no result file a.json"), "no result file a.json"),
])  # fmt: skip
def test_the_verdict_reason_is_read_from_the_entrys_numbers(entry, reason):
    from adrpo_nb.viz.claims import claim_reading, verdict_reason

    text = verdict_reason(entry)
    assert reason in text
    # the wrong cause is never named: "holds 0" only when 0 is inside, "seeds ran" only when too few ran
    holds = entry["ci_low"] is not None and entry["ci_low"] <= 0 <= entry["ci_high"] and entry["estimate"] != 0
    assert ("holds 0" in text) == holds
    assert ("seeds ran" in text) == (entry["verdict"] == "partly" and entry["n_seeds"] < claims.MIN_SEEDS)
    reading = claim_reading(entry)
    assert reading.startswith(f"**{entry['verdict']}** (") and text in reading
    assert ("[" in reading) == (entry["estimate"] is not None)  # the interval, for a tested claim


def test_by_verdict_needs_a_text_for_every_verdict():
    from adrpo_nb.viz.claims import by_verdict

    texts = dict(reproduced="r", partly="p", not_reproduced="n", not_tested_here="t")
    assert by_verdict(_ledger_entry("not reproduced", -0.1, -0.2, 0.0, 5), **texts) == "n"
    assert by_verdict(_ledger_entry("not tested here", None, None, None, 0), **texts) == "t"
    with pytest.raises(ValueError, match="a text for each"):
        by_verdict(_ledger_entry("partly", 0.1, -0.1, 0.3, 5), reproduced="r", partly="p")
