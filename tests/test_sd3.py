"""SD3: the adapter against diffusers' conventions, the LoRA reference, the rewards, DPO, and the real path's errors."""

import copy
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from adrpo_nb import diffusion_dpo_loss
from adrpo_nb.experiments import sd3 as exp
from adrpo_nb.metrics import clip_diversity
from adrpo_nb.models.sd3 import PromptSet, SD3Adapter, load_lora, load_sd3_pipeline, save_lora
from adrpo_nb.rewards.images import AttributeBindingReward, CLIPScore, WeightedReward, binding_checks
from adrpo_nb.tasks.shapes import Scene, parse_prompt, random_scene, render
from adrpo_nb.trainers.flow_matching import FlowMatchingRLTrainer, preference_pairs
from adrpo_nb.utils.paths import data_path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A randomly initialised tiny SD3 saved with save_pretrained (fast; the adapter tests need no training)."""
    path = tmp_path_factory.mktemp("sd3") / "tiny"
    exp.build_tiny_pipeline(seed=1).save_pretrained(path)
    return path


def _adapter(tiny_dir, **kw):
    return exp.make_adapter(load_sd3_pipeline(tiny_dir), **kw)


def _randomize_lora(adapter, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in adapter.transformer.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


# ----------------------------------------------------------------------------- the shapes reward
def test_binding_reward_on_renders():
    rng = np.random.default_rng(0)
    scenes = [random_scene(rng) for _ in range(64)]
    scores, info = AttributeBindingReward()(torch.stack([render(s) for s in scenes]), [s.prompt for s in scenes])
    assert scores.shape == (64,) and scores.mean() > 0.97
    assert set(info["components"]) == {"binding/colors", "binding/shapes", "binding/relation", "binding/all"}


def test_binding_checks_catch_each_error():
    scene = Scene("red", "circle", "above", "blue", "square", pos1=(16, 8), pos2=(16, 24))
    assert binding_checks(render(scene), scene.metadata()) == dict.fromkeys(
        ("color1", "color2", "shape1", "shape2", "relation"), 1.0)
    wrong_relation = replace(scene, relation="below")
    assert binding_checks(render(scene), wrong_relation.metadata())["relation"] == 0.0
    swapped_shapes = Scene("red", "square", "above", "blue", "circle")
    checks = binding_checks(render(scene), swapped_shapes.metadata())
    assert checks["shape1"] == 0.0 and checks["shape2"] == 0.0 and checks["color1"] == 1.0
    missing = binding_checks(render(scene), Scene("green", "circle", "above", "blue", "square").metadata())
    assert missing["color1"] == 0.0 and missing["relation"] == 0.0


def test_prompt_errors_name_the_prompt():
    with pytest.raises(ValueError, match="a purple circle"):
        parse_prompt("a purple circle above a blue square")
    with pytest.raises(ValueError, match="shape"):
        AttributeBindingReward()(torch.zeros(1, 3, 32, 32), ["a red dog above a blue square"])
    with pytest.raises(ValueError, match=r"shape \(2, 32, 32\)"):
        AttributeBindingReward()(torch.zeros(2, 32, 32), ["a", "b"])


def test_weighted_reward_and_clip_diversity():
    imgs = torch.stack([render(random_scene(np.random.default_rng(i))) for i in range(4)])
    prompts = [random_scene(np.random.default_rng(i)).prompt for i in range(4)]
    combo = WeightedReward({"binding": (AttributeBindingReward(), 2.0), "half": (AttributeBindingReward(), 0.5)})
    total, info = combo(imgs, prompts)
    assert torch.allclose(total, 2.5 * info["components"]["binding"])
    assert "binding/binding/relation" in info["components"]
    assert clip_diversity(imgs[:1].repeat(4, 1, 1, 1), 4) == pytest.approx(0.0, abs=1e-9)
    assert clip_diversity(imgs, 4) > 0.1
    with pytest.raises(ValueError, match="group_size=3"):
        clip_diversity(imgs, 3)


# ----------------------------------------------------------------------------- held-out prompts
def test_train_and_eval_prompts_are_disjoint_by_construction():
    from adrpo_nb.tasks.shapes import all_prompts, split_prompts

    train, held_out = exp.shapes_prompts("train").prompts, exp.shapes_prompts("eval").prompts
    assert len(held_out) == exp.EVAL_PROMPTS == 48 and len(train) == 432 - 48
    assert not set(train) & set(held_out) and sorted(train + held_out) == sorted(all_prompts())
    assert split_prompts("eval") == held_out  # deterministic: the same split on every call
    with pytest.raises(ValueError, match="split='test'"):
        split_prompts("test")


class _Stop(Exception):
    pass


def test_evaluation_reads_only_eval_prompts_and_training_only_train_prompts(monkeypatch):
    seen = []

    class Recorder:
        def generate(self, prompts, gen, metadata):
            seen.extend(prompts)
            raise _Stop

    with pytest.raises(_Stop):
        exp.evaluate_sd3(Recorder())
    assert set(seen) == set(exp.shapes_prompts("eval").prompts)
    made = {}
    monkeypatch.setattr(exp.family, "SD3Adapter", lambda pipe, prompts, **kw: made.setdefault("prompts", prompts))
    exp.make_adapter(pipe=object())
    assert not set(made["prompts"].prompts) & set(seen)  # RL samples its prompts from the train split only


# ----------------------------------------------------------------------------- the adapter
def test_disabled_lora_reference_equals_the_base_model_exactly(tiny_dir):
    base = copy.deepcopy(load_sd3_pipeline(tiny_dir).transformer)
    adapter = _adapter(tiny_dir)
    _randomize_lora(adapter)
    cond = adapter.conditioning(["a red circle above a blue square"] * 2)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([300.0, 800.0])
    with torch.no_grad():
        expected = base(hidden_states=x, timestep=t, encoder_hidden_states=cond.embeds,
                        pooled_projections=cond.pooled).sample  # fmt: skip
        policy = adapter.velocity(x, t, cond)
    assert torch.equal(adapter.reference_velocity(x, t, cond), expected)
    assert not torch.allclose(policy, expected)  # the LoRA is on for the policy ...
    assert torch.equal(adapter.velocity(x, t, cond), policy)  # ... and back on after the reference pass


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_sigma_and_timestep_convention_match_diffusers_training_script(tiny_dir, shift):
    """Re-does the lines of diffusers' train_dreambooth_lora_sd3.py and compares with the adapter."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.training_utils import compute_density_for_timestep_sampling

    pipe = load_sd3_pipeline(tiny_dir)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    adapter = exp.make_adapter(pipe)
    x0 = torch.randn(6, 4, 8, 8)
    noise, t = adapter.draw_noise_and_time(x0, torch.Generator().manual_seed(3))
    x_t, u = adapter.interpolate(x0, noise, t)
    # the script: u ~ density, indices = u * T, timesteps = scheduler.timesteps[indices], sigmas looked up
    ref_sched = FlowMatchEulerDiscreteScheduler(shift=shift)
    gen = torch.Generator().manual_seed(3)
    density = compute_density_for_timestep_sampling("none", 6, 0.0, 1.0, 1.29, generator=gen)
    timesteps = ref_sched.timesteps[(density * ref_sched.config.num_train_timesteps).long()]
    step = [(ref_sched.timesteps == s).nonzero().item() for s in timesteps]
    sigmas = ref_sched.sigmas[step].view(-1, 1, 1, 1)
    assert torch.equal(t, timesteps)
    assert torch.allclose(x_t, (1.0 - sigmas) * x0 + sigmas * noise, atol=1e-6)
    assert torch.equal(u, noise - x0)
    # and the same point as the scheduler's own forward noising
    assert torch.allclose(x_t, ref_sched.scale_noise(x0, timesteps, noise), atol=1e-6)


def test_sampling_groups_and_the_prompt_cache(tiny_dir, monkeypatch):
    adapter = _adapter(tiny_dir, sample_steps=2)
    calls = []
    original = adapter._encode
    monkeypatch.setattr(adapter, "_encode", lambda prompts: calls.append(list(prompts)) or original(prompts))
    batch = adapter.sample(8, torch.Generator().manual_seed(0), group_size=4)
    assert batch.outputs.shape == (8, 3, 32, 32) and batch.outputs.min() >= 0 and batch.outputs.max() <= 1
    assert batch.prompts[:4] == [batch.prompts[0]] * 4 and batch.prompts[4:] == [batch.prompts[4]] * 4
    assert batch.metadata[0] == parse_prompt(batch.prompts[0])
    encoded = sum(len(c) for c in calls)
    assert encoded == len(adapter.prompts) + 1  # the whole prompt set (and the empty prompt), once
    adapter.sample(8, torch.Generator().manual_seed(1), group_size=4)
    adapter.conditioning(["a blue square below a red triangle", "not in the set"])
    assert sum(len(c) for c in calls) == encoded + 1 and calls[-1] == ["not in the set"]
    with pytest.raises(ValueError, match="group_size=3"):
        adapter.sample(8, torch.Generator(), group_size=3)


def test_lora_save_and_load_round_trip(tiny_dir, tmp_path):
    adapter = _adapter(tiny_dir)
    _randomize_lora(adapter, seed=5)
    save_lora(adapter, tmp_path / "lora")
    fresh = load_lora(load_sd3_pipeline(tiny_dir), tmp_path / "lora")
    cond = adapter.conditioning(["a green triangle to the left of a red circle"])
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([500.0])
    with torch.no_grad():
        loaded = fresh.transformer(hidden_states=x, timestep=t, encoder_hidden_states=cond.embeds,
                                   pooled_projections=cond.pooled).sample  # fmt: skip
        assert torch.allclose(loaded, adapter.velocity(x, t, cond), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="no LoRA"):
        load_lora(fresh, tmp_path)


def _brightness(outputs, prompts, metadata):
    """A tie-breaker reward: mean pixel value (continuous, so every group has a best and a worst image)."""
    return outputs.float().mean(dim=(1, 2, 3)), {}


@pytest.mark.parametrize("method", ["adrpo", "fixed", "none", "orw", "dpo"])
def test_every_method_trains_the_lora_only(tiny_dir, method):
    adapter = _adapter(tiny_dir, sample_steps=2)
    frozen = {n: p.detach().clone() for n, p in adapter.transformer.named_parameters() if "lora" not in n}
    cfg = exp.smoke_config(exp.default_config(method=method, beta0=100.0 if method == "dpo" else 0.05, progress=False))
    cfg = cfg.replace(iterations=2, reward_weights=[1.0, 1e-3]).config
    history = FlowMatchingRLTrainer(adapter, [exp.BINDING, _brightness], cfg).train()
    assert len(history) == 2 and "reward/binding/relation" in history[-1]
    if method == "dpo":  # the brightness tie-breaker gives every group a (best, worst) pair to learn from
        assert all(h["dpo/pairs"] == cfg.samples_per_iteration // cfg.num_generations for h in history)
    assert all(torch.equal(p, frozen[n]) for n, p in adapter.transformer.named_parameters() if "lora" not in n)
    lora_b = [p for n, p in adapter.transformer.named_parameters() if "lora_B" in n]
    assert any(p.abs().sum() > 0 for p in lora_b)  # every method, DPO included, moved the LoRA


@pytest.mark.slow
def test_lora_run_resumes_bit_identically(tiny_dir, tmp_path):
    cfg = exp.smoke_config(exp.default_config(progress=False)).replace(iterations=3, checkpoint_every=1).config
    straight = _adapter(tiny_dir, sample_steps=2)
    FlowMatchingRLTrainer(straight, exp.BINDING, replace(cfg, output_dir=str(tmp_path / "a"))).train()
    first = _adapter(tiny_dir, sample_steps=2)
    FlowMatchingRLTrainer(first, exp.BINDING, replace(cfg, iterations=2, output_dir=str(tmp_path / "b"))).train()
    resumed = _adapter(tiny_dir, sample_steps=2)
    FlowMatchingRLTrainer(resumed, exp.BINDING, replace(cfg, output_dir=str(tmp_path / "b"))).train()
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["policy"]
    assert state and all("lora" in k for k in state)  # only the adapter's weights are checkpointed
    a = dict(straight.transformer.named_parameters())
    assert all(torch.equal(a[n], p) for n, p in resumed.transformer.named_parameters() if "lora" in n)


# ----------------------------------------------------------------------------- Diffusion-DPO
def test_dpo_loss_identities():
    g = torch.Generator().manual_seed(0)
    v_w, v_l, u_w, u_l = (torch.randn(3, 4, 2, 2, generator=g) for _ in range(4))
    loss, _ = diffusion_dpo_loss(v_w, v_l, v_w, v_l, u_w, u_l, beta=100.0)
    assert loss.item() == pytest.approx(math.log(2))  # policy = reference: no preference yet
    v_w = v_w.clone().requires_grad_(True)
    v_l = v_l.clone().requires_grad_(True)
    loss, _ = diffusion_dpo_loss(v_w, v_l, v_w.detach(), v_l.detach(), u_w, u_l, beta=100.0)
    gw, gl = torch.autograd.grad(loss, (v_w, v_l))
    # descent moves the winner toward its target and the loser away from its own
    assert (v_w - 0.01 * gw - u_w).norm() < (v_w - u_w).norm()
    assert (v_l - 0.01 * gl - u_l).norm() > (v_l - u_l).norm()
    with pytest.raises(ValueError, match="one shape"):
        diffusion_dpo_loss(v_w, v_l[:2], v_w, v_l, u_w, u_l, beta=1.0)
    with pytest.raises(ValueError, match=r"beta0=-1\.0"):
        diffusion_dpo_loss(v_w, v_l, v_w, v_l, u_w, u_l, beta=-1.0)


def test_preference_pairs_pick_best_and_worst_and_skip_ties():
    rewards = torch.tensor([0.2, 0.9, 0.5, 0.1, 0.5, 0.5, 0.5, 0.5])
    assert preference_pairs(rewards, 4).tolist() == [[1, 3]]


# ----------------------------------------------------------------------------- the real path, offline
def test_real_path_errors_are_clear_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="huggingface-cli login"):
        load_sd3_pipeline(exp.REAL_MODEL)
    with pytest.raises(OSError, match="project_prompts"):
        exp.load_drawbench()
    with pytest.raises(OSError, match="AttributeBindingReward"):
        CLIPScore("openai/clip-vit-large-patch14")


def test_clip_score_with_a_tiny_clip():
    from transformers import CLIPConfig, CLIPModel

    from adrpo_nb.experiments.sd3 import build_tokenizers

    tokenizer, _ = build_tokenizers()
    config = CLIPConfig(text_config={"vocab_size": len(tokenizer), "hidden_size": 16, "intermediate_size": 32,
                                     "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 16},
                        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
                        projection_dim=8)  # fmt: skip
    reward = CLIPScore(model=CLIPModel(config), tokenizer=tokenizer)
    scores, info = reward(torch.rand(3, 3, 48, 40), ["a red circle above a blue square"] * 3)
    assert scores.shape == (3,) and scores.abs().max() <= 100
    assert torch.allclose(info["image_embeds"].norm(dim=1), torch.ones(3), atol=1e-5)


def test_project_prompts_cover_drawbench_categories():
    prompts = exp.project_prompts()
    assert len(prompts) == 40
    assert {m["category"] for m in prompts.metadata} == {"Colors", "Counting", "Positional", "Text", "Styles"}
    with pytest.raises(ValueError, match="metadata"):
        PromptSet(["a"], [{}, {}])


def test_sd3_adapter_rejects_unknown_timestep_sampling(tiny_dir):
    with pytest.raises(ValueError, match="timestep_sampling"):
        SD3Adapter(load_sd3_pipeline(tiny_dir), ["a red circle above a blue square"], timestep_sampling="cosine")


@pytest.mark.slow
def test_guidance_trades_diversity_for_reward_as_the_committed_curve_says():
    """data/results/sd3_guidance.json is what guidance_curve computes from the shipped tiny SD3."""
    committed = json.loads(data_path(*exp.GUIDANCE_FILE).read_text())
    assert committed["eval_seeds"] == list(exp.EVAL_SEEDS) and len(exp.EVAL_SEEDS) >= 5
    curve = exp.guidance_curve((1.0, 4.0), eval_seeds=exp.EVAL_SEEDS[:2])
    for seed in map(str, exp.EVAL_SEEDS[:2]):
        saved = {p["guidance_scale"]: p for p in committed["by_eval_seed"][seed]}
        now = {p["guidance_scale"]: p for p in curve["by_eval_seed"][seed]}
        for scale in (1.0, 4.0):
            for key in ("reward", "diversity"):
                assert now[scale][key] == pytest.approx(saved[scale][key], abs=0.02)
        assert now[1.0]["diversity"] > now[4.0]["diversity"] + 0.1 and now[4.0]["reward"] > now[1.0]["reward"]
    assert curve["points"] == curve["by_eval_seed"][str(exp.EVAL_SEED)]  # the noise every run's final is drawn with
    first, second = (curve["by_eval_seed"][str(s)] for s in exp.EVAL_SEEDS[:2])
    assert first[0]["reward"] != second[0]["reward"]  # another seed is other noise
    for i, row in enumerate(curve["mean"]):
        assert row["reward"] == pytest.approx((first[i]["reward"] + second[i]["reward"]) / 2)
        assert row["reward_low"] < row["reward"] < row["reward_high"]


def test_the_guidance_curve_starts_with_the_runs_evaluation_seed():
    with pytest.raises(ValueError, match="eval_seeds must start with EVAL_SEED"):
        exp.guidance_curve((1.0,), pipe=object(), eval_seeds=(1, 2))


@pytest.mark.parametrize(("kwargs", "match"), [({"guidance_scale": -1.0}, "guidance_scale"),
                                               ({"guidance_scale": float("nan")}, "guidance_scale"),
                                               ({"sample_steps": 0}, "sample_steps=0")])  # fmt: skip
def test_sd3_adapter_rejects_bad_sampler_settings(tiny_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SD3Adapter(load_sd3_pipeline(tiny_dir), ["a red circle above a blue square"], **kwargs)


@pytest.mark.parametrize(("grid", "methods", "betas", "iterations", "out"), [
    ("orw-official", ("orw",), {"orw": (0.5, 1.0, 5.0)}, 150, "results/sd3_orw_official.json"),
    ("orw-tau", ("orw",), {"orw": (5.0, 50.0, 500.0)}, 150, "results/sd3_orw_tau8.json"),
    ("default", ("none", "fixed", "orw", "dpo", "adrpo"), {"fixed": (0.003, 0.01, 0.03, 0.1), "orw": (0.5, 1.0, 5.0),
     "dpo": (100.0, 1000.0, 10000.0), "adrpo": (0.003, 0.01, 0.03)}, 150, "results/sd3_sweep.json"),
    ("lead", ("none", "fixed", "orw", "dpo", "adrpo"), {"fixed": (0.03,), "orw": (5.0,), "dpo": (1000.0,),
                                                        "adrpo": (0.01,)}, 600, "results/sd3_lead.json"),
])  # fmt: skip
def test_sweep_grids_of_the_cli_write_under_runs(monkeypatch, tmp_path, grid, methods, betas, iterations, out):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    monkeypatch.delenv("ADRPO_SMOKE", raising=False)  # CI sets it: these are the full grids
    calls, written = {}, {}

    def fake_sweep(family, specs, *, base, runs_dir, workers):
        by_method = {}
        for s in specs:
            by_method.setdefault(s.method, []).append(s.beta0)
        calls.update(methods=tuple(by_method), betas={m: tuple(dict.fromkeys(b)) for m, b in by_method.items()
                                                      if m != "none"},
                     seeds=sorted({s.seed for s in specs}), iterations=specs[0].iterations, runs_dir=runs_dir,
                     tau={s.config.orw_temperature for s in specs})
        return {"summary": {"by_diversity": {}}}

    from adrpo_nb.experiments import cli

    monkeypatch.setattr(cli, "sweep", fake_sweep)
    monkeypatch.setattr(cli, "atomic_write_json", lambda path, obj: written.setdefault("path", str(path)))
    lead = ["--adrpo-beta0", "0.01", "--fixed-beta", "0.03", "--orw-alpha", "5", "--dpo-beta", "1000"]
    extra = {"lead": lead, "orw-tau": ["--orw-temperature", "8"]}.get(grid, [])
    exp.run.main(["sweep", "--grid", grid, *extra])
    name = {"default": "sweep", "orw-tau": "orw_tau8"}.get(grid, grid.replace("-", "_"))
    assert calls == {"methods": methods, "betas": betas, "seeds": [0, 1, 2], "iterations": iterations,
                     "runs_dir": tmp_path / f"sd3_{name}", "tau": {8.0 if grid == "orw-tau" else 0.5}}  # fmt: skip
    assert written["path"] == str(tmp_path / out)  # nothing under data/ without --out


@pytest.mark.parametrize(("argv", "match"), [
    (["--grid", "lead", "--adrpo-beta0", "0.01"], r"missing: \['fixed', 'orw', 'dpo'\]"),
    (["--fixed-beta", "0.03"], r"settings of \['fixed'\] are for --grid lead, not --grid default"),
    (["--tuned-from", "x.json"], r"settings of --tuned-from are for --grid lead"),
    (["--grid", "lead", "--tuned-from", "x.json", "--dpo-beta", "5"], r"chooses every setting; drop \['dpo'\]"),
    (["--grid", "orw-tau"], r"--grid orw-tau needs --orw-temperature"),
])  # fmt: skip
def test_the_lead_grid_needs_every_tuned_setting_and_only_it_takes_them(monkeypatch, tmp_path, argv, match):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    with pytest.raises(SystemExit, match=match):
        exp.run.main(["sweep", *argv])


def test_guidance_reward_at_interpolates_and_takes_the_best_segment():
    curve = {"points": [{"reward": 0.68, "diversity": 0.60}, {"reward": 0.72, "diversity": 0.50},
                        {"reward": 0.74, "diversity": 0.40}, {"reward": 0.70, "diversity": 0.45}]}  # fmt: skip
    assert math.isclose(exp.guidance_reward_at(curve, 0.55), 0.70)
    assert math.isclose(exp.guidance_reward_at(curve, 0.60), 0.68)
    # 0.45 is reached on two segments (0.50→0.40 gives 0.73, and the end point 0.70): the best counts
    assert math.isclose(exp.guidance_reward_at(curve, 0.45), 0.73)
    assert exp.guidance_reward_at(curve, 0.65) is None and exp.guidance_reward_at(curve, 0.30) is None


def test_versus_guidance_names_the_gap_or_says_the_run_is_off_the_curve():
    curve = {"points": [{"reward": 0.68, "diversity": 0.60}, {"reward": 0.72, "diversity": 0.50}]}
    assert exp.versus_guidance(curve, 0.75, 0.55) == "guidance alone reaches 0.700 at that diversity (+0.050)"
    assert exp.versus_guidance(curve, 0.65, 0.55).endswith("(-0.050)")
    assert exp.versus_guidance(curve, 0.70, 0.65) == "outside the guidance curve's range of diversity"


def _long_result(method, seed, **config):
    base = {"method": method, "beta0": 0.01, "seed": seed, "iterations": 600, "learning_rate": 1e-3,
            "shared_noise": True, "output_dir": f"runs/{method}_s{seed}", "extra": {"adapter": {"guidance_scale": 1.0}}}
    return {"config": {**base, **config}, "adapter": {"guidance_scale": 1.0, "sample_steps": 10},
            "reward_fn": "attribute_binding", "final": {"reward": 0.7}}  # fmt: skip


def _commit_long_runs(monkeypatch, tmp_path, folder_runs, baseline_runs=None):
    (tmp_path / "results" / "sd3_g1_long").mkdir(parents=True)
    for r in folder_runs:
        (tmp_path / "results" / "sd3_g1_long" / f"{r['config']['method']}_s{r['config']['seed']}.json").write_text(
            json.dumps(r))
    if baseline_runs is not None:
        (tmp_path / "results" / "sd3_long_baselines_g1.json").write_text(json.dumps({"runs": baseline_runs}))
    monkeypatch.setattr(exp.family, "data_path", lambda *parts, **kw: tmp_path.joinpath(*parts))


def test_long_runs_join_the_baselines_sweep_to_the_committed_runs(monkeypatch, tmp_path):
    _commit_long_runs(monkeypatch, tmp_path, [_long_result("adrpo", 0), _long_result("fixed", 0)])
    assert sorted(exp.long_runs()) == [("adrpo", 0), ("fixed", 0)]  # no baselines committed yet
    (tmp_path / "results" / "sd3_long_baselines_g1.json").write_text(json.dumps({"runs": [
        _long_result("none", 0, beta0=0.0), _long_result("orw", 0, beta0=1.0, orw_temperature=0.5),
        _long_result("dpo", 1, beta0=1000.0)]}))  # fmt: skip
    assert sorted(exp.long_runs()) == [("adrpo", 0), ("dpo", 1), ("fixed", 0), ("none", 0), ("orw", 0)]


@pytest.mark.parametrize(("change", "field"), [({"iterations": 150}, "config.iterations"),
                                                ({"learning_rate": 3e-3}, "config.learning_rate"),
                                                ({"shared_noise": False}, "config.shared_noise")])
def test_long_runs_refuse_a_run_of_another_protocol(monkeypatch, tmp_path, change, field):
    _commit_long_runs(monkeypatch, tmp_path, [_long_result("adrpo", 0)], [_long_result("none", 0, **change)])
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        exp.long_runs()


def test_long_runs_refuse_two_runs_of_one_method_and_seed(monkeypatch, tmp_path):
    _commit_long_runs(monkeypatch, tmp_path, [_long_result("adrpo", 0)], [_long_result("adrpo", 0, beta0=0.03)])
    with pytest.raises(ValueError, match="method='adrpo', seed=0"):
        exp.long_runs()


def test_decoding_in_chunks_gives_the_images_of_decoding_all_at_once(tiny_dir):
    pipe = load_sd3_pipeline(tiny_dir)
    whole = SD3Adapter(pipe, ["a red circle above a blue square"])
    chunked = SD3Adapter(pipe, ["a red circle above a blue square"], decode_batch_size=3)
    latents = torch.randn(7, 4, 4, 4, generator=torch.Generator().manual_seed(0))  # 7 = 3 + 3 + 1
    calls = []
    decode = pipe.vae.decode
    pipe.vae.decode = lambda x, **kw: calls.append(len(x)) or decode(x, **kw)
    try:
        images = chunked.decode(latents)
        assert calls == [3, 3, 1]
        calls.clear()
        torch.testing.assert_close(images, whole.decode(latents), atol=1e-5, rtol=0)
        assert calls == [7]
    finally:
        pipe.vae.decode = decode


@pytest.mark.parametrize("value", [0, -2, 2.5, "8"])
def test_decode_batch_size_must_be_a_positive_int(tiny_dir, value):
    with pytest.raises(ValueError, match="decode_batch_size"):
        SD3Adapter(load_sd3_pipeline(tiny_dir), ["a red circle above a blue square"], decode_batch_size=value)


def test_a_tiny_path_run_is_evaluated_under_every_evaluation_noise_seed(monkeypatch, tmp_path):
    """The evaluation's own noise is measured on every run: final is the first of five noise seeds."""
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    spec = exp.FAMILY.shrink(exp.FAMILY.spec(method="adrpo", beta0=0.01, iterations=1, output_dir=str(tmp_path / "r")))
    result = exp.run_rl(spec)
    rows = result["final_by_eval_seed"]
    assert [r["eval_seed"] for r in rows] == list(exp.EVAL_SEEDS)
    assert rows[0]["reward"] == pytest.approx(result["final"]["reward"])
    assert rows[0]["diversity"] == pytest.approx(result["final"]["diversity"])
    assert len({round(r["diversity"], 6) for r in rows}) > 1  # other seeds, other noise


def test_the_lead_grid_takes_each_methods_best_setting_from_the_tuning_sweep(monkeypatch, tmp_path):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    monkeypatch.delenv("ADRPO_SMOKE", raising=False)
    runs = [{"config": {"method": m, "beta0": b, "seed": 0}, "final": {"reward": r, "diversity": 0.5}}
            for m, b, r in (("adrpo", 0.003, 0.70), ("adrpo", 0.03, 0.80), ("fixed", 0.01, 0.75), ("fixed", 0.1, 0.6),
                            ("orw", 1.0, 0.7), ("orw", 5.0, 0.9), ("dpo", 100.0, 0.71), ("dpo", 1000.0, 0.7))]
    (tmp_path / "tune.json").write_text(json.dumps({"base": {"reward": 0.5}, "runs": runs}))
    calls = {}

    def fake_sweep(family, specs, *, base, runs_dir, workers):
        calls.update({s.method: s.beta0 for s in specs if s.method != "none"}, iterations=specs[0].iterations)
        return {"summary": {"by_diversity": {}}}

    from adrpo_nb.experiments import cli

    monkeypatch.setattr(cli, "sweep", fake_sweep)
    monkeypatch.setattr(cli, "atomic_write_json", lambda path, obj: None)
    exp.run.main(["sweep", "--grid", "lead", "--tuned-from", str(tmp_path / "tune.json")])
    assert calls == {"adrpo": 0.03, "fixed": 0.01, "orw": 5.0, "dpo": 100.0, "iterations": 600}


def test_the_guidance_figure_draws_the_committed_curves_mean_with_its_intervals():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adrpo_nb.viz.plots import plot_guidance_curve

    curve = json.loads(data_path(*exp.GUIDANCE_FILE).read_text())
    _, ax = plt.subplots()
    plot_guidance_curve(curve, ax=ax)
    line = ax.get_lines()[-1]
    assert list(line.get_xdata()) == [p["reward"] for p in curve["mean"]]  # the mean, not one seed's points
    assert "mean of 5 noise seeds" in line.get_label() and ax.containers  # the error bars are drawn
    plt.close("all")
