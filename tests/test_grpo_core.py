"""Identities and errors of the language-model losses (adrpo_nb.core.kl_k3 / grpo_loss)."""

import math

import pytest
import torch

from adrpo_nb import adaptive_beta, grpo_loss, kl_k3


def _batch(n=4, t=5, seed=0, lengths=(5, 3, 4, 1)):
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(n, t, generator=g) * 3).requires_grad_()
    old = logp.detach() + 0.3 * torch.randn(n, t, generator=g)
    ref = logp.detach() + 0.5 * torch.randn(n, t, generator=g)
    adv = torch.randn(n, generator=g)
    mask = torch.zeros(n, t)
    for i, length in enumerate(lengths[:n]):
        mask[i, :length] = 1
    return logp, old, ref, adv, mask


# ----------------------------------------------------------------------------- kl_k3
def test_k3_is_non_negative_and_zero_only_where_log_probs_agree():
    logp = torch.linspace(-6, 0, 50)
    ref = logp.flip(0)
    k3 = kl_k3(logp, ref)
    assert (k3 >= 0).all()
    assert torch.allclose(kl_k3(logp, logp), torch.zeros(50))
    assert (k3[(logp - ref).abs() > 1e-3] > 0).all()


def test_k3_averages_to_the_kl_divergence_under_the_policy():
    # tokens sampled from p: the mean of k3 estimates KL(p || q) without bias
    g = torch.Generator().manual_seed(0)
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    q = torch.tensor([0.25, 0.25, 0.25, 0.25])
    tokens = torch.multinomial(p, 400_000, replacement=True, generator=g)
    estimate = kl_k3(p.log()[tokens], q.log()[tokens]).mean().item()
    exact = float((p * (p / q).log()).sum())
    assert estimate == pytest.approx(exact, abs=5e-3)


def test_k3_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 4\)"):
        kl_k3(torch.zeros(2, 3), torch.zeros(2, 4))


# ----------------------------------------------------------------------------- grpo_loss identities
def test_adrpo_with_zero_clip_equals_fixed():
    logp, old, ref, adv, mask = _batch()
    a, _ = grpo_loss(logp, old, ref, adv, mask, method="adrpo", beta0=0.04, clip=(0, 0))
    (ga,) = torch.autograd.grad(a, logp)
    f, _ = grpo_loss(logp, old, ref, adv, mask, method="fixed", beta0=0.04)
    (gf,) = torch.autograd.grad(f, logp)
    assert a.item() == pytest.approx(f.item(), abs=1e-7)
    assert torch.allclose(ga, gf, atol=1e-7)


def test_ratio_one_gradient_is_the_plain_policy_gradient():
    # with old = logp.detach() (one step per batch) and no KL, d loss / d logp_it = -A_i / (|o_i| N)
    logp, _, ref, adv, mask = _batch()
    loss, _ = grpo_loss(logp, logp.detach(), ref, adv, mask, method="none", beta0=0.0)
    (grad,) = torch.autograd.grad(loss, logp)
    lengths = mask.sum(1, keepdim=True)
    expected = -adv[:, None] * mask / lengths / len(adv)
    assert torch.allclose(grad, expected, atol=1e-7)
    assert loss.item() == pytest.approx(-adv.mean().item(), abs=1e-6)  # the surrogate's value at ρ = 1


def test_per_sample_beta_is_applied_per_completion():
    logp, old, ref, adv, mask = _batch()
    beta0, clip = 0.1, (-0.3, 0.3)
    loss, stats = grpo_loss(logp, old, ref, adv, mask, method="adrpo", beta0=beta0, clip=clip)
    beta = adaptive_beta(adv, beta0, clip)
    pg, _ = grpo_loss(logp, old, ref, adv, mask, method="none", beta0=0.0)
    k3 = kl_k3(logp, ref)
    kl_term = ((beta[:, None] * k3 * mask).sum(1) / mask.sum(1)).mean()
    assert loss.item() == pytest.approx((pg + kl_term).item(), abs=1e-6)
    assert stats["beta_eff/min"] == pytest.approx(beta.min().item())
    assert stats["beta_eff/max"] == pytest.approx(beta.max().item())


def test_kl_gradient_with_fixed_beta():
    # at ρ = 1 and A = 0 the loss is β · mean k3; d k3 / d logp = 1 - exp(ref - logp)
    logp, _, ref, _, mask = _batch()
    loss, _ = grpo_loss(logp, logp.detach(), ref, torch.zeros(4), mask, method="fixed", beta0=0.5)
    (grad,) = torch.autograd.grad(loss, logp)
    expected = 0.5 * (1 - torch.exp(ref - logp.detach())) * mask / mask.sum(1, keepdim=True) / 4
    assert torch.allclose(grad, expected, atol=1e-6)


def test_reference_and_old_policy_get_no_gradient():
    logp, old, ref, adv, mask = _batch()
    old.requires_grad_()
    ref.requires_grad_()
    loss, _ = grpo_loss(logp, old, ref, adv, mask, method="adrpo", beta0=0.1)
    loss.backward()
    assert old.grad is None and ref.grad is None and logp.grad is not None


def test_ratio_clipping_stops_the_gradient_outside_the_trust_region():
    logp = torch.zeros(2, 1, requires_grad=True)
    old = torch.tensor([[-1.0], [1.0]])  # ρ = e (too high) for sample 0, 1/e (too low) for sample 1
    mask = torch.ones(2, 1)
    loss, stats = grpo_loss(logp, old, None, torch.tensor([1.0, -1.0]), mask, method="none", beta0=0.0)
    (grad,) = torch.autograd.grad(loss, logp)
    assert torch.allclose(grad, torch.zeros(2, 1))
    assert stats["clip_ratio/high_mean"] == 0.5 and stats["clip_ratio/low_mean"] == 0.5
    assert stats["clip_ratio/region_mean"] == 1.0


def test_loss_types_and_their_normalisations():
    logp, old, ref, adv, mask = _batch()
    kw = {"method": "fixed", "beta0": 0.04}
    dapo, _ = grpo_loss(logp, old, ref, adv, mask, loss_type="dapo", **kw)
    dr, _ = grpo_loss(logp, old, ref, adv, mask, loss_type="dr_grpo", max_completion_length=8, **kw)
    assert dr.item() == pytest.approx(dapo.item() * mask.sum().item() / (4 * 8), rel=1e-6)
    # with equal lengths grpo and dapo coincide
    full = torch.ones_like(mask)
    g1, _ = grpo_loss(logp, old, ref, adv, full, loss_type="grpo", **kw)
    g2, _ = grpo_loss(logp, old, ref, adv, full, loss_type="dapo", **kw)
    assert g1.item() == pytest.approx(g2.item(), rel=1e-6)


def test_stats_report_negative_beta_without_clip():
    logp, old, ref, _, mask = _batch()
    adv = torch.tensor([2.0, 1.0, -1.0, -2.0])
    _, stats = grpo_loss(logp, old, ref, adv, mask, method="adrpo", beta0=0.04)
    assert stats["beta_eff/frac_negative"] == 0.5
    assert stats["beta_eff/min"] == pytest.approx(0.04 - 2.0)
    _, clipped = grpo_loss(logp, old, ref, adv, mask, method="adrpo", beta0=0.04, clip=(-0.04, 0.04))
    assert clipped["beta_eff/frac_negative"] == 0.0 and clipped["adv/frac_clipped"] == 1.0
    assert clipped["beta_eff/max"] == pytest.approx(0.08)
    assert math.isfinite(stats["kl"]) and stats["kl"] >= 0


def test_none_needs_no_reference_but_reports_kl_when_given():
    logp, old, ref, adv, mask = _batch()
    with_ref, s1 = grpo_loss(logp, old, ref, adv, mask, method="none", beta0=0.1)
    without, s2 = grpo_loss(logp, old, None, adv, mask, method="none", beta0=0.1)
    assert with_ref.item() == without.item()
    assert "kl" in s1 and "kl" not in s2


# ----------------------------------------------------------------------------- grpo_loss errors
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"method": "orw"}, "method='orw'"),
        ({"beta0": -0.1}, "beta0=-0.1"),
        ({"method": "fixed", "clip": (-1, 1)}, "clip is only used by method='adrpo'"),
        ({"loss_type": "bnpo"}, "loss_type='bnpo'"),
        ({"eps_clip": 0.0}, "eps_clip=0.0"),
        ({"method": "fixed", "ref_logp": None}, "needs ref_logp"),
        ({"advantages": torch.zeros(3)}, "got 3 for 4 completions"),
        ({"advantages": torch.tensor([0.0, float("nan"), 0, 0])}, r"nan.*index 1"),
        ({"old_logp": torch.zeros(4, 6)}, r"old_logp must have logp's shape \(4, 5\), got \(4, 6\)"),
        ({"mask": torch.ones(4, 5).index_fill(0, torch.tensor([2]), 0)}, r"empty completions .* indices \[2\]"),
        ({"loss_type": "dr_grpo", "max_completion_length": 3}, "max_completion_length=3"),
    ],
)
def test_grpo_loss_errors(change, match):
    logp, old, ref, adv, mask = _batch()
    kw = {"old_logp": old, "ref_logp": ref, "advantages": adv, "mask": mask, "method": "adrpo", "beta0": 0.04}
    kw.update(change)
    with pytest.raises(ValueError, match=match):
        grpo_loss(logp, **kw)


def test_grpo_loss_needs_two_dimensional_log_probs():
    with pytest.raises(ValueError, match=r"got \(4,\)"):
        grpo_loss(torch.zeros(4), torch.zeros(4), torch.zeros(4), torch.zeros(4), torch.ones(4), method="none",
                  beta0=0.0)  # fmt: skip


# ----------------------------------------------------------------------------- grpo_loss against its equation
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["adrpo", "fixed", "none"])
@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo"])
def test_grpo_loss_is_the_papers_equation_bit_for_bit(seed, method, loss_type):
    """ℓ_{i,t} = −min(ρ A_i, clip(ρ, 1 − ε, 1 + ε) A_i) + β_i k3_{i,t}, aggregated over tokens as loss_type says."""
    logp, old, ref, adv, mask = _batch(seed=seed)
    beta0, eps, clip = 0.1, 0.2, ((-0.5, 0.5) if method == "adrpo" else None)
    rho = torch.exp(logp - old)
    a = adv[:, None]
    pg = -torch.min(rho * a, rho.clamp(1 - eps, 1 + eps) * a)
    k3 = torch.exp(ref - logp) - (ref - logp) - 1
    beta = {"adrpo": beta0 - adv.clamp(-0.5, 0.5), "fixed": torch.full_like(adv, beta0)}.get(method)
    per_token = pg if beta is None else pg + beta[:, None] * k3
    expected = {"grpo": ((per_token * mask).sum(1) / mask.sum(1)).mean(),
                "dapo": (per_token * mask).sum() / mask.sum(),
                "dr_grpo": (per_token * mask).sum() / (4 * 7)}[loss_type]  # fmt: skip
    kw = {"method": method, "beta0": beta0, "clip": clip, "eps_clip": eps, "loss_type": loss_type,
          "max_completion_length": 7}  # fmt: skip
    loss, stats = grpo_loss(logp, old, ref, adv, mask, **kw)
    assert torch.equal(loss, expected)
    unchecked, unchecked_stats = grpo_loss(logp, old, ref, adv, mask, validate=False, **kw)
    assert torch.equal(unchecked, loss) and unchecked_stats == stats
    assert torch.equal(torch.autograd.grad(loss, logp)[0], torch.autograd.grad(expected, logp)[0])


def test_check_grpo_inputs_returns_what_the_loss_reads():
    from adrpo_nb.core import check_completion_mask, check_grpo_inputs

    logp, old, ref, adv, mask = _batch()
    beta0, clip, checked = check_grpo_inputs(logp, old, ref, adv.tolist(), mask, method="adrpo", beta0=1,
                                             clip=[-1, 1])  # fmt: skip
    assert (beta0, clip) == (1.0, (-1.0, 1.0)) and torch.equal(checked, adv)
    with pytest.raises(ValueError, match=r"empty completions .* indices \[0, 3\]"):
        check_completion_mask(mask.index_fill(0, torch.tensor([0, 3]), 0))
