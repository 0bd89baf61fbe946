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


# ----------------------------------------------------------------------------- chapters 5 and 6's own claims
# Each test evaluates the ledger's own Claim (claims.CLAIMS) on a small synthetic sweep written where the claim reads
# its file, with seed effects that both sides of a pairing share: an unpaired (or mis-paired) comparison, the wrong
# sign, setting, method, metric or window gives another estimate or verdict than the one asserted.
SEEDS = [0, 1, 2, 3, 4]
SEED_EFFECT = [0.00, 0.30, -0.20, 0.25, -0.10]  # large next to the differences: pairing matters


def _ledger_claim(claim_id):
    return next(c for c in claims.CLAIMS if c.id == claim_id)


def _write_sweep(root, name, runs, base):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"base": base, "runs": runs}))
    return root


def _qwen_run(method, beta0, seed, accuracy, clip=None, scale=True):
    fp = model_fingerprint(data_path(*claims.BASE_MODELS["qwen"]))
    return {"config": {"method": method, "beta0": beta0, "clip": clip, "scale_rewards": scale, "seed": seed,
                       "extra": {}}, "final": {"accuracy": accuracy}, "fingerprints": {"base_model": fp}}  # fmt: skip


def test_qwen_noclip_accuracy_pairs_the_unclipped_and_clipped_adrpo_runs_at_beta0_0_04(tmp_path):
    drop = [0.05, 0.06, 0.04, 0.05, 0.05]  # what removing the clip costs, per seed
    runs = [_qwen_run("adrpo", 0.04, s, 0.5 + SEED_EFFECT[s], clip=[-0.04, 0.04]) for s in SEEDS]
    runs += [_qwen_run("adrpo", 0.04, s, 0.5 + SEED_EFFECT[s] - drop[s]) for s in reversed(SEEDS)]
    # other settings that a wrong selection would pick up: fixed β, unclipped at another β0, unscaled A
    runs += [_qwen_run("fixed", 0.04, s, 0.2) for s in SEEDS]
    runs += [_qwen_run("adrpo", 0.2, s, 0.9) for s in SEEDS]
    runs += [_qwen_run("adrpo", 0.04, s, 0.1, clip=[-0.04, 0.04], scale=False) for s in SEEDS]
    root = _write_sweep(tmp_path, "data/results/qwen_sweep.json", runs, {"accuracy": 0.3})
    entry = evaluate_claim(_ledger_claim("qwen.noclip_accuracy"), root)
    assert entry["seeds"] == SEEDS and entry["direction"] == "< 0"
    assert entry["estimate"] == pytest.approx(-0.05)
    # paired, the interval is narrow and below 0; unpaired, the seed effects would put 0 inside it
    assert entry["verdict"] == "reproduced" and -0.07 < entry["ci_low"] < entry["ci_high"] < -0.03


AUDIO_BINS = ((0, 20), (20, 40), (40, 60), (60, 10000))


def _audio_final(accuracy, think, consistency, counts):
    bins = [{"from": a, "to": b, "count": n, "accuracy": 0.5} for (a, b), n in zip(AUDIO_BINS, counts, strict=True)]
    return {"accuracy": accuracy, "think_length": think, "consistency": consistency, "keywords": 0.5,
            "by_length": bins}


def _audio_run(method, rewards, seed, final, kl, beta0=0.04, weight=1.0):
    fp = model_fingerprint(data_path(*claims.BASE_MODELS["audio"]))
    return {"config": {"method": method, "beta0": beta0, "seed": seed, "extra": {}},
            "settings": {"rewards": rewards, "process_weight": weight}, "final": final, "curve": {"kl": kl},
            "fingerprints": {"base_model": fp}}  # fmt: skip


#: per variant: (accuracy gain, think length, consistency, length-bin counts, KL curve before the seed effect)
AUDIO_VARIANTS = {
    ("fixed", "outcome"): (0.05, 30.0, 1.0, (40, 30, 20, 10), [0.1] * 100),
    ("fixed", "cesar"): (0.10, 25.0, 1.3, (50, 30, 15, 5), [0.1] * 90 + [0.3] * 9 + [0.2]),
    ("adrpo", "cesar"): (0.20, 20.0, 1.5, (60, 25, 13, 2), [0.5] * 90 + [0.1] * 9 + [0.9]),
}
AUDIO_BASE = _audio_final(0.6, 45.0, 1.1, (10, 10, 10, 70))  # 70 % of its completions reason for 60 words or more


def _audio_root(tmp_path):
    runs = []
    for (method, rewards), (gain, think, cons, counts, kl) in AUDIO_VARIANTS.items():
        for s in SEEDS:
            e = SEED_EFFECT[s]
            shifted = (counts[0] + 10 * s, *counts[1:])  # seeds differ in their share of long completions
            final = _audio_final(0.6 + gain + e / 10, think + 10 * e, cons + e, shifted)
            runs.append(_audio_run(method, rewards, s, final, [k + e for k in kl]))
    # the one-seed grids (other β0, other process weights) that a selection must leave out
    wild = _audio_final(0.0, 99.0, 0.0, (0, 0, 0, 10))
    runs += [_audio_run("adrpo", "cesar", 0, wild, [9.0] * 100, beta0=b, weight=w)
             for b, w in ((0.01, 1.0), (0.04, 0.0), (0.04, 2.0))]
    return _write_sweep(tmp_path, "data/results/audio_sweep.json", runs, AUDIO_BASE)


def _per_seed_mean(f):
    return sum(f(s, SEED_EFFECT[s]) for s in SEEDS) / len(SEEDS)


@pytest.mark.parametrize("claim_id, variant", [
    ("audio.outcome_gain", ("fixed", "outcome")), ("audio.grpo_cesar_gain", ("fixed", "cesar")),
    ("audio.adrpo_gain", ("adrpo", "cesar")),
])  # fmt: skip
def test_audio_accuracy_gains_of_each_variant_over_the_pretrained_model(tmp_path, claim_id, variant):
    entry = evaluate_claim(_ledger_claim(claim_id), _audio_root(tmp_path))
    gain = AUDIO_VARIANTS[variant][0]
    assert entry["estimate"] == pytest.approx(_per_seed_mean(lambda s, e: gain + e / 10))
    assert entry["n_seeds"] == 5 and entry["direction"] == "> 0" and entry["verdict"] == "reproduced"


@pytest.mark.parametrize("claim_id, variant", [
    ("audio.outcome_shorter_reasoning", ("fixed", "outcome")),
    ("audio.grpo_cesar_shorter_reasoning", ("fixed", "cesar")), ("audio.shorter_reasoning", ("adrpo", "cesar")),
])  # fmt: skip
def test_audio_reasoning_length_of_each_variant_against_the_pretrained_model(tmp_path, claim_id, variant):
    entry = evaluate_claim(_ledger_claim(claim_id), _audio_root(tmp_path))
    think = AUDIO_VARIANTS[variant][1]
    assert entry["estimate"] == pytest.approx(_per_seed_mean(lambda s, e: think + 10 * e - 45.0))
    assert entry["direction"] == "< 0" and entry["verdict"] == "reproduced"


@pytest.mark.parametrize("claim_id, variant", [
    ("audio.outcome_fewer_long", ("fixed", "outcome")), ("audio.grpo_cesar_fewer_long", ("fixed", "cesar")),
    ("audio.adrpo_fewer_long", ("adrpo", "cesar")),
])  # fmt: skip
def test_audio_share_of_long_reasoning_is_the_bins_from_60_words_against_the_pretrained_share(
        tmp_path, claim_id, variant):  # fmt: skip
    entry = evaluate_claim(_ledger_claim(claim_id), _audio_root(tmp_path))
    counts = AUDIO_VARIANTS[variant][3]

    def long_share(s, e):  # the last bin (60 words or more) of seed s; the pretrained model's: 70 of 100
        return counts[3] / (sum(counts) + 10 * s) - 0.7

    assert entry["estimate"] == pytest.approx(_per_seed_mean(long_share))  # not the bins from 40, nor counts
    assert entry["direction"] == "< 0" and entry["verdict"] == "reproduced"


def test_a_length_bin_across_the_threshold_cannot_be_split():
    share = claims.share_reasoning_at_least(60)
    assert share({"by_length": [{"from": 0, "to": 60, "count": 3}, {"from": 60, "to": 99, "count": 1}]}) == 0.25
    with pytest.raises(ValueError, match="straddles 60"):
        share({"by_length": [{"from": 0, "to": 50, "count": 3}, {"from": 50, "to": 99, "count": 1}]})


def test_audio_kl_compares_the_mean_of_the_last_ten_iterations_paired_by_seed(tmp_path):
    """ADRPO's curve: 0.5 for 90 iterations, then 0.1 and a last 0.9; GRPO + CESAR's: 0.1, then 0.3 and a last
    0.2. Over the last ten iterations ADRPO is lower (0.18 − 0.29); over the whole run, at the last iteration or
    over the last five it is higher or nearly equal: only the chapter's window gives −0.11."""
    entry = evaluate_claim(_ledger_claim("audio.adrpo_kl"), _audio_root(tmp_path))
    assert entry["direction"] == "< 0" and entry["estimate"] == pytest.approx(0.18 - 0.29)
    # paired, the seed effects cancel: every seed's difference is the same, the interval has no width
    assert entry["verdict"] == "reproduced" and entry["ci_high"] - entry["ci_low"] == pytest.approx(0, abs=1e-12)
    assert "last 10 training iterations" in entry["metric"]


def test_audio_consistency_compares_grpo_cesar_with_the_outcome_reward(tmp_path):
    entry = evaluate_claim(_ledger_claim("audio.cesar_consistency"), _audio_root(tmp_path))
    assert entry["estimate"] == pytest.approx(1.3 - 1.0)  # not ADRPO's 1.5, not the keyword term
    assert entry["direction"] == "> 0" and entry["verdict"] == "reproduced"
    assert entry["ci_high"] - entry["ci_low"] == pytest.approx(0, abs=1e-12)  # paired: the seed effects cancel


# ----------------------------------------------------------------------------- a verdict's reason, in words
def _tested(estimate, low, high, n=5, direction="> 0"):
    sign = 1 if direction == "> 0" else -1
    return {**_entry(estimate, low, high, direction), "n_seeds": n, "statement": "ADRPO beats fixed β.",
            "verdict": verdict(sign, estimate, low, high, n)}  # fmt: skip


@pytest.mark.parametrize("args, reason", [
    ((0.02, 0.01, 0.03), "the 95 % interval excludes 0 on the claimed side, on at least 5 seeds"),
    ((0.02, -0.01, 0.05), "the 95 % interval holds 0"),
    ((0.02, 0.01, 0.03, 3), "the 95 % interval excludes 0, but fewer than 5 seeds ran"),
    ((0.02, -0.01, 0.05, 3), "the 95 % interval holds 0, and fewer than 5 seeds ran"),
    ((-0.02, -0.05, 0.01), "the estimate points the other way, within the noise: its 95 % interval holds 0"),
    ((-0.02, -0.03, -0.01), "the estimate points the other way, and its 95 % interval excludes 0 on that side"),
    ((0.0, -0.01, 0.01), "the estimate is 0"),
    # claimed < 0: the same cases mirrored
    ((-0.02, -0.03, -0.01, 5, "< 0"), "the 95 % interval excludes 0 on the claimed side, on at least 5 seeds"),
    ((-0.02, -0.05, 0.01, 5, "< 0"), "the 95 % interval holds 0"),
    ((0.02, 0.01, 0.03, 5, "< 0"), "the estimate points the other way, and its 95 % interval excludes 0 on that side"),
    ((0.02, -0.01, 0.05, 5, "< 0"), "the estimate points the other way, within the noise: its 95 % interval holds 0"),
])  # fmt: skip
def test_the_reason_for_a_verdict_names_the_rule_that_gave_it(args, reason):
    """A partly verdict is never worded as 'not reproduced', an interval holding 0 never as a difference, a
    difference the other way never as 'holds 0'."""
    from adrpo_nb.viz.claims import claim_conclusion, verdict_reason

    entry = _tested(*args)
    assert verdict_reason(entry) == reason
    assert claim_conclusion(entry).endswith(f"({entry['verdict']}: {reason})")


def test_a_conclusion_uses_the_wording_of_its_verdict_or_says_what_the_ledger_says():
    from adrpo_nb.viz.claims import claim_conclusion, interval_holds_zero

    words = dict(reproduced="**ADRPO wins**", partly="**ADRPO may win**", not_reproduced="**ADRPO does not win**")
    assert claim_conclusion(_tested(0.02, 0.01, 0.03), **words).startswith("**ADRPO wins** (reproduced: the 95 %")
    assert claim_conclusion(_tested(0.02, -0.01, 0.05), **words).startswith("**ADRPO may win** (partly: ")
    no = claim_conclusion(_tested(-0.02, -0.03, -0.01), **words, reason=False)
    assert no == "**ADRPO does not win** (not reproduced)"
    # no wording for a verdict: the statement itself only when reproduced
    assert claim_conclusion(_tested(0.02, 0.01, 0.03), reason=False) == "ADRPO beats fixed β (reproduced)"
    assert claim_conclusion(_tested(0.02, -0.01, 0.05), reproduced="**ADRPO wins**", reason=False) == \
        "Not established here: “ADRPO beats fixed β” (partly)"
    untested = {**_entry(None, None, None), "statement": "s.", "verdict": "not tested here", "note": "no file"}
    assert claim_conclusion(untested) == "Not tested here: “s” (not tested here: no file)"
    assert interval_holds_zero(_tested(0.02, -0.01, 0.05)) and not interval_holds_zero(_tested(0.02, 0.01, 0.03))
    with pytest.raises(ValueError, match="not tested here"):
        interval_holds_zero(untested)


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
