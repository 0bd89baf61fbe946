"""Identities and errors of the paper's math (adrpo_nb.core)."""

import math

import pytest
import torch

from adrpo_nb import adaptive_beta, fm_rl_loss, group_advantages, optimal_velocity


def _batch(n=6, shape=(3, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, *shape, generator=g, requires_grad=True)
    u = torch.randn(n, *shape, generator=g)
    v_ref = torch.randn(n, *shape, generator=g)
    a = torch.randn(n, generator=g) * 0.5
    return v, u, v_ref, a


# ----------------------------------------------------------------------------- adaptive_beta
def test_adaptive_beta_values():
    a = torch.tensor([-2.0, -0.05, 0.0, 0.05, 2.0])
    assert torch.allclose(adaptive_beta(a, 0.1), 0.1 - a)
    clipped = adaptive_beta(a, 0.1, clip=(-0.1, 0.1))
    assert torch.allclose(clipped, torch.tensor([0.2, 0.15, 0.1, 0.05, 0.0]))
    # clip=(-beta0, beta0) keeps beta_eff in [0, 2 beta0]
    assert clipped.min() >= 0 and clipped.max() <= 0.2 + 1e-7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta0": -0.5}, "beta0=-0.5"),
        ({"beta0": float("nan")}, "beta0=nan"),
        ({"beta0": 0.1, "clip": (0.3, -0.3)}, "a_min=0.3 > a_max=-0.3"),
        ({"beta0": 0.1, "clip": (0.1,)}, "clip"),
    ],
)
def test_adaptive_beta_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        adaptive_beta(torch.zeros(3), **kwargs)


def test_adaptive_beta_rejects_non_finite_advantage():
    with pytest.raises(ValueError, match=r"inf.*index 1"):
        adaptive_beta(torch.tensor([0.0, float("inf")]), 0.1)


# ----------------------------------------------------------------------------- group_advantages
def test_group_advantages_centres_each_group():
    r = torch.tensor([1.0, 2.0, 3.0, 10.0, 10.0, 16.0])
    a = group_advantages(r, group_size=3)
    assert torch.allclose(a, torch.tensor([-1.0, 0.0, 1.0, -2.0, -2.0, 4.0]))
    a_scaled = group_advantages(r, group_size=3, scale=True)
    per_group = a_scaled.reshape(2, 3)
    assert torch.allclose(per_group.mean(1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(per_group.std(1, unbiased=True), torch.ones(2), atol=1e-4)  # TRL's (Bessel) std
    population = group_advantages(r, group_size=3, scale=True, std="population").reshape(2, 3)
    assert torch.allclose(population.std(1, unbiased=False), torch.ones(2), atol=1e-4)
    assert torch.allclose(population, per_group * math.sqrt(3 / 2), atol=1e-4)


def test_group_advantages_match_trl_by_default():
    pytest.importorskip("trl")
    from trl.trainer.utils import nanstd  # what trl.GRPOTrainer divides by (scale_rewards="group")

    k = 8
    rewards = torch.rand(4 * k, generator=torch.Generator().manual_seed(0)) * 3
    grouped = rewards.view(-1, k)
    mean = grouped.mean(dim=1).repeat_interleave(k)
    std = nanstd(grouped, dim=1).repeat_interleave(k)
    trl_advantages = (rewards - mean) / (std + 1e-4)  # trl 1.16 GRPOTrainer._generate_and_score_completions
    ours = group_advantages(rewards, k, scale=True, eps=1e-4)
    assert torch.allclose(ours, trl_advantages, atol=1e-6)
    old = group_advantages(rewards, k, scale=True, eps=1e-4, std="population")
    assert not torch.allclose(old, trl_advantages, atol=1e-3)  # the earlier population std: ×√(8/7)


def test_group_advantages_single_sample_groups_are_zero():
    assert torch.equal(group_advantages(torch.tensor([1.0, 3.0]), 1, scale=True), torch.zeros(2))


def test_group_advantages_zero_std_group_stays_zero():
    a = group_advantages(torch.tensor([0.5, 0.5, 0.5, 0.5]), group_size=2, scale=True)
    assert torch.equal(a, torch.zeros(4))


def test_group_advantages_errors():
    with pytest.raises(ValueError, match=r"len\(rewards\)=5.*group_size=2"):
        group_advantages(torch.ones(5), group_size=2)
    with pytest.raises(ValueError, match=r"nan.*index 2"):
        group_advantages(torch.tensor([1.0, 0.0, float("nan"), 1.0]), group_size=2)
    with pytest.raises(ValueError, match="group_size=0"):
        group_advantages(torch.ones(4), group_size=0)
    with pytest.raises(ValueError, match="1-D"):
        group_advantages(torch.ones(2, 2), group_size=2)
    with pytest.raises(ValueError, match="std='sample'"):
        group_advantages(torch.ones(4), group_size=2, std="sample")


def test_adrpo_at_beta0_zero_is_refused_everywhere():
    from adrpo_nb import FlowMatchingRLConfig, GRPOConfig, grpo_loss

    v, u, v_ref, a = _batch()
    with pytest.raises(ValueError, match="beta0"):
        fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=0.0)
    with pytest.raises(ValueError, match="beta0"):
        fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=0, clip=None)
    logp = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="beta0"):
        grpo_loss(logp, logp, logp, torch.tensor([1.0, -1.0]), torch.ones(2, 3), method="adrpo", beta0=0.0)
    with pytest.raises(ValueError, match="beta0"):
        FlowMatchingRLConfig(method="adrpo", beta0=0.0)
    with pytest.raises(ValueError, match="beta0"):
        GRPOConfig(method="adrpo", beta0=0.0)
    # the other methods keep beta0 = 0 (β = 0 is their own setting)
    fm_rl_loss(v, u, v_ref, a, method="fixed", beta0=0.0)
    GRPOConfig(method="none", beta0=0.0)


# ----------------------------------------------------------------------------- fm_rl_loss
def test_fixed_none_orw_match_their_formulas():
    v, u, v_ref, a = _batch()
    fm = (v - u).pow(2).flatten(1).mean(1)
    w2 = (v - v_ref).pow(2).flatten(1).mean(1)
    loss, _ = fm_rl_loss(v, u, v_ref, a, method="fixed", beta0=0.3)
    assert torch.allclose(loss, (a * fm + 0.3 * w2).mean())
    loss, _ = fm_rl_loss(v, u, v_ref, a, method="none", beta0=0.3)
    assert torch.allclose(loss, (a * fm).mean())
    r = torch.rand(6)
    loss, _ = fm_rl_loss(v, u, v_ref, None, rewards=r, method="orw", beta0=0.3, orw_temperature=2.0)
    assert torch.allclose(loss, (torch.exp(2.0 * r) * fm + 0.3 * w2).mean())


def test_adrpo_equals_beta0_distance_to_v_star_up_to_a_constant():
    """Per sample: A·fm + (β0−A)·w2 = β0·‖v − v*‖² + c, with c independent of v."""
    _, u, v_ref, a = _batch(n=5)
    beta0, clip = 0.2, (-0.3, 0.4)
    v_star = optimal_velocity(u, v_ref, a, beta0, clip)
    gaps = []
    for seed in (1, 2, 3):
        v = torch.randn(u.shape, generator=torch.Generator().manual_seed(seed))
        loss, _ = fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=beta0, clip=clip)
        gaps.append(loss - beta0 * (v - v_star).pow(2).flatten(1).mean(1).mean())
    assert torch.allclose(torch.stack(gaps), gaps[0].expand(3), atol=1e-5)


def test_adrpo_gradient_is_the_v_star_form():
    """∇_v L = 2 β0 (v − v*) / (N·D): a quadratic bowl of curvature β0, whatever the sign of β_eff."""
    v, u, v_ref, a = _batch()
    a = a * 4  # make several beta_eff negative
    beta0 = 0.1
    loss, stats = fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=beta0)
    assert stats["beta_eff/frac_negative"] > 0
    (grad,) = torch.autograd.grad(loss, v)
    n, d = v.shape[0], v[0].numel()
    expected = 2 * beta0 * (v - optimal_velocity(u, v_ref, a, beta0)) / (n * d)
    assert torch.allclose(grad, expected, atol=1e-6)


@pytest.mark.parametrize("method", ["adrpo", "fixed", "none"])
def test_negative_advantage_pushes_v_away_from_u(method):
    """One sample, A < 0, starting at the reference: a gradient step moves v away from u."""
    _, u, v_ref, _ = _batch(n=1)
    v = v_ref.clone().requires_grad_(True)
    loss, _ = fm_rl_loss(v, u, v_ref, torch.tensor([-0.5]), method=method, beta0=0.1)
    (grad,) = torch.autograd.grad(loss, v)
    v_next = v.detach() - 0.5 * grad
    assert (v_next - u).norm() > (v.detach() - u).norm()
    # ... and with A > 0 the same step moves it toward u
    loss, _ = fm_rl_loss(v, u, v_ref, torch.tensor([0.5]), method=method, beta0=0.1)
    (grad,) = torch.autograd.grad(loss, v)
    assert (v.detach() - 0.5 * grad - u).norm() < (v.detach() - u).norm()


def test_adrpo_minimiser_lies_beyond_the_reference_for_negative_advantage():
    _, u, v_ref, _ = _batch(n=1)
    v_star = optimal_velocity(u, v_ref, torch.tensor([-0.5]), 0.1)
    assert (v_star - u).norm() > (v_ref - u).norm()
    # A = beta0 puts the minimiser exactly on u; A = 0 on the reference
    assert torch.allclose(optimal_velocity(u, v_ref, torch.tensor([0.1]), 0.1), u)
    assert torch.allclose(optimal_velocity(u, v_ref, torch.tensor([0.0]), 0.1), v_ref)


def test_none_does_not_depend_on_v_ref():
    v, u, v_ref, a = _batch()
    l1, _ = fm_rl_loss(v, u, v_ref, a, method="none", beta0=0.5)
    l2, _ = fm_rl_loss(v, u, v_ref * 10 + 3, a, method="none", beta0=0.5)
    g1, g2 = torch.autograd.grad(l1, v)[0], torch.autograd.grad(l2, v)[0]
    assert torch.equal(l1, l2) and torch.equal(g1, g2)


def test_clip_is_a_no_op_when_no_advantage_is_outside_it():
    v, u, v_ref, a = _batch()
    l1, _ = fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=0.2)
    l2, s2 = fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=0.2, clip=(a.min().item(), a.max().item()))
    assert torch.equal(l1, l2)
    assert s2["adv/frac_clipped"] == 0.0
    l3, s3 = fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=0.2, clip=(-0.01, 0.01))
    assert not torch.allclose(l1, l3) and s3["adv/frac_clipped"] > 0


def test_adrpo_with_zero_clip_equals_fixed_without_rl_term():
    """clip=(0,0) sets Â=0: ADRPO degenerates to pure W2 regularisation with β0."""
    v, u, v_ref, a = _batch()
    loss, stats = fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=0.2, clip=(0.0, 0.0))
    w2 = (v - v_ref).pow(2).flatten(1).mean(1)
    assert torch.allclose(loss, 0.2 * w2.mean())
    assert stats["beta_eff/min"] == pytest.approx(0.2) and stats["beta_eff/max"] == pytest.approx(0.2)


def test_v_ref_gets_no_gradient():
    v, u, v_ref, a = _batch()
    v_ref.requires_grad_(True)
    loss, _ = fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=0.2)
    loss.backward()
    assert v_ref.grad is None and v.grad is not None


def test_stats_report_beta_eff():
    v, u, v_ref, _ = _batch(n=4)
    a = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    _, s = fm_rl_loss(v, u, v_ref, a, method="adrpo", beta0=0.4, clip=(-1.0, 1.0))
    assert s["beta_eff/min"] == pytest.approx(-0.6)
    assert s["beta_eff/max"] == pytest.approx(1.4)
    assert s["beta_eff/mean"] == pytest.approx((1.4 + 0.4 - 0.1 - 0.6) / 4)
    assert s["beta_eff/frac_negative"] == pytest.approx(0.5)
    assert s["adv/frac_clipped"] == pytest.approx(0.25)
    assert math.isfinite(s["rl_term"]) and math.isfinite(s["w2_term"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "fixed", "clip": (-1, 1)}, "only used by method='adrpo'"),
        ({"method": "adrpo", "beta0": -1.0}, "beta0=-1.0"),
        ({"method": "ppo"}, "method='ppo'"),
        ({"method": "orw"}, "raw rewards, not advantages"),
        ({"method": "adrpo", "clip": (1.0, -1.0)}, "a_min=1.0 > a_max=-1.0"),
    ],
)
def test_fm_rl_loss_errors(kwargs, match):
    v, u, v_ref, a = _batch()
    kwargs = {"beta0": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        fm_rl_loss(v, u, v_ref, a, **kwargs)


def test_fm_rl_loss_shape_and_signal_errors():
    v, u, v_ref, a = _batch()
    with pytest.raises(ValueError, match="needs rewards"):
        fm_rl_loss(v, u, v_ref, None, method="orw", beta0=0.1)
    with pytest.raises(ValueError, match="got 5 for batch size 6"):
        fm_rl_loss(v, u, v_ref, a[:5], method="adrpo", beta0=0.1)
    with pytest.raises(ValueError, match="one shape"):
        fm_rl_loss(v, u[:, :2], v_ref, a, method="adrpo", beta0=0.1)
    with pytest.raises(ValueError, match=r"nan.*index 3"):
        fm_rl_loss(v, u, v_ref, a.index_fill(0, torch.tensor([3]), float("nan")), method="fixed", beta0=0.1)
    with pytest.raises(ValueError, match="needs advantages"):
        fm_rl_loss(v, u, v_ref, None, method="adrpo", beta0=0.1)


def test_optimal_velocity_needs_positive_beta0():
    _, u, v_ref, a = _batch()
    with pytest.raises(ValueError, match="beta0 > 0"):
        optimal_velocity(u, v_ref, a, 0.0)


# ----------------------------------------------------------------------------- the losses against their equations
def _mse(a, b):
    return ((a - b) ** 2).flatten(1).mean(1)  # ‖a − b‖² averaged over the non-batch dimensions


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("method", "clip"), [("adrpo", None), ("adrpo", (-0.2, 0.3)), ("fixed", None),
                                              ("none", None)])  # fmt: skip
def test_fm_rl_loss_is_the_papers_equation_bit_for_bit(seed, method, clip):
    """L = E[Â·‖v − u‖²] + E[β·‖v − v_ref‖²], β = β0 − Â (adrpo), β0 (fixed), 0 (none); Â = clip(A) for adrpo."""
    v, u, v_ref, a = _batch(n=7, seed=seed)
    a = a * 3
    beta0 = 0.25
    a_hat = a.clamp(*clip) if clip is not None else a
    beta = {"adrpo": beta0 - a_hat, "fixed": torch.full_like(a, beta0), "none": torch.zeros_like(a)}[method]
    expected = (a_hat * _mse(v, u) + beta * _mse(v, v_ref)).mean()
    loss, stats = fm_rl_loss(v, u, v_ref, a, method=method, beta0=beta0, clip=clip)
    assert torch.equal(loss, expected)
    assert stats["beta_eff/min"] == beta.min().item() and stats["beta_eff/max"] == beta.max().item()
    unchecked, unchecked_stats = fm_rl_loss(v, u, v_ref, a, method=method, beta0=beta0, clip=clip, validate=False)
    assert torch.equal(unchecked, loss) and unchecked_stats == stats
    assert torch.equal(torch.autograd.grad(loss, v)[0], torch.autograd.grad(expected, v)[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_orw_loss_is_the_papers_equation_bit_for_bit(seed):
    """ORW-CFM-W2: L = E[e^{τ r}·‖v − u‖²] + β0·E[‖v − v_ref‖²] on raw rewards."""
    from adrpo_nb.core import orw_loss

    v, u, v_ref, _ = _batch(seed=seed)
    r = torch.rand(6, generator=torch.Generator().manual_seed(seed))
    expected = (torch.exp(1.5 * r) * _mse(v, u) + 0.3 * _mse(v, v_ref)).mean()
    loss, stats = orw_loss(v, u, v_ref, r, beta0=0.3, temperature=1.5)
    assert torch.equal(loss, expected)
    via_fm, fm_stats = fm_rl_loss(v, u, v_ref, None, rewards=r, method="orw", beta0=0.3, orw_temperature=1.5)
    assert torch.equal(via_fm, loss) and fm_stats == stats
    assert stats["beta_eff/min"] == stats["beta_eff/max"] == pytest.approx(0.3) and stats["adv/frac_clipped"] == 0.0
    with pytest.raises(ValueError, match="needs rewards"):
        orw_loss(v, u, v_ref, None, beta0=0.3)


def test_diffusion_dpo_loss_is_the_papers_equation_bit_for_bit():
    """L = −log σ(−β/2 · (Δ_θ − Δ_ref)), Δ = ‖v(x_w) − u_w‖² − ‖v(x_l) − u_l‖² (Wallace et al., Eq. 14)."""
    from adrpo_nb import diffusion_dpo_loss

    v, u, v_ref, _ = _batch(n=8, seed=4)
    vw, vl, rw, rl, uw, ul = v[:4], v[4:], v_ref[:4], v_ref[4:], u[:4], u[4:]
    delta_theta, delta_ref = _mse(vw, uw) - _mse(vl, ul), _mse(rw, uw) - _mse(rl, ul)
    expected = -torch.nn.functional.logsigmoid(-0.5 * 300.0 * (delta_theta - delta_ref)).mean()
    loss, stats = diffusion_dpo_loss(vw, vl, rw, rl, uw, ul, 300.0)
    assert stats["dpo/implicit_acc"] == (-0.5 * 300.0 * (delta_theta - delta_ref) > 0).float().mean().item()
    assert torch.equal(loss, expected)
    assert torch.equal(diffusion_dpo_loss(vw, vl, rw, rl, uw, ul, 300.0, validate=False)[0], loss)
    with pytest.raises(ValueError, match="one shape"):
        diffusion_dpo_loss(vw, vl[:3], rw, rl, uw, ul, 300.0)
    with pytest.raises(ValueError, match=r"beta0=-1\.0"):
        diffusion_dpo_loss(vw, vl, rw, rl, uw, ul, -1.0)


def test_the_checker_is_what_the_loss_calls():
    from adrpo_nb.core import check_fm_inputs

    v, u, v_ref, a = _batch()
    beta0, clip, adv, rewards = check_fm_inputs(v, u, v_ref, a.tolist(), method="adrpo", beta0=1, clip=[-1, 1])
    assert (beta0, clip, rewards) == (1.0, (-1.0, 1.0), None) and adv.dtype == v.dtype and torch.equal(adv, a)
    with pytest.raises(ValueError, match="only used by method='adrpo'"):
        check_fm_inputs(v, u, v_ref, a, method="fixed", beta0=0.1, clip=(-1, 1))
    with pytest.raises(ValueError, match=r"nan.*index 3"):
        check_fm_inputs(v, u, v_ref, a.index_fill(0, torch.tensor([3]), float("nan")), method="none", beta0=0.1)


def test_beta_eff_stats():
    from adrpo_nb.core import beta_eff_stats

    stats = beta_eff_stats(torch.tensor([-0.5, 0.0, 0.5, 1.0]))
    assert stats == {"beta_eff/mean": 0.25, "beta_eff/min": -0.5, "beta_eff/max": 1.0, "beta_eff/frac_negative": 0.25}
