"""recipes/flow (ADRPO in flow_grpo and DiffusionNFT): DiffusionNFT's objective, written here from its paper's
equations (Zheng et al. 2025, arXiv 2509.16117), against this package's ``fm_rl_loss`` on the same tensors.

DiffusionNFT trains on samples of an old policy ``v_old`` with an optimality probability
``r = 1/2 + 1/2 · clip(A / A_max, -1, 1)`` per sample and, for its interpolation weight ``b``,

    v⁺ = (1 − b) v_old + b v_θ,   v⁻ = (1 + b) v_old − b v_θ,
    L_NFT = E[ r ‖v⁺ − u‖² + (1 − r) ‖v⁻ − u‖² ]   (u: the sample's flow-matching target).

With d = v_θ − v_old and e = v_old − u, each sample's term is ‖e‖² + b²‖d‖² + 2b(2r − 1)⟨d, e⟩, and ADRPO-FM's,
Â‖v_θ − u‖² + (β0 − Â)‖v_θ − v_old‖², is β0‖d‖² + 2Â⟨d, e⟩ + Â‖e‖². So with the reference at v_old they are one
objective, up to a constant in θ, for β0 = b² and Â = b(2r − 1) = clip(b·A/A_max, −b, b): DiffusionNFT's policy
loss is ADRPO-FM with the per-sample coefficient β_i = b² − clip(b·A_i/A_max, −b, b) toward its old policy (for
b = 1: β0 = 1 and the default clip (−β0, β0), β_i ∈ [0, 2]). A scalar coefficient (``method="fixed"``) is not.
"""

from __future__ import annotations

import pytest
import torch

from adrpo_nb import fm_rl_loss


def _nft_loss(v: torch.Tensor, v_old: torch.Tensor, u: torch.Tensor, advantages: torch.Tensor, b: float,
              adv_max: float) -> torch.Tensor:  # fmt: skip
    """DiffusionNFT's objective from the paper's equations (squared norms as means over the non-batch dims)."""
    r = 0.5 + 0.5 * (advantages / adv_max).clamp(-1.0, 1.0)  # optimality probability
    v_pos = (1 - b) * v_old + b * v  # implicit positive policy
    v_neg = (1 + b) * v_old - b * v  # implicit negative policy
    per_sample = lambda x: x.pow(2).flatten(1).mean(dim=1)  # noqa: E731
    return (r * per_sample(v_pos - u) + (1 - r) * per_sample(v_neg - u)).mean()


def _tensors(seed: int = 0, n: int = 8):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, 4, 3, 3, generator=g).requires_grad_()
    v_old = v.detach() + 0.3 * torch.randn(n, 4, 3, 3, generator=g)
    u = torch.randn(n, 4, 3, 3, generator=g)
    advantages = 2.0 * torch.randn(n, generator=g)  # some beyond A_max: DiffusionNFT's clip binds
    return v, v_old, u, advantages


@pytest.mark.parametrize("b, adv_max", [(1.0, 5.0), (1.0, 1.0), (0.5, 2.0), (0.1, 1.0)])
def test_diffusion_nft_is_adrpo_fm_with_a_per_sample_beta(b, adv_max):
    v, v_old, u, adv = _tensors()
    nft = _nft_loss(v, v_old, u, adv, b, adv_max)
    (nft_grad,) = torch.autograd.grad(nft, v)
    ours, stats = fm_rl_loss(v, u, v_old, adv * b / adv_max, method="adrpo", beta0=b * b, clip=(-b, b))
    (our_grad,) = torch.autograd.grad(ours, v)
    torch.testing.assert_close(our_grad, nft_grad, rtol=1e-5, atol=1e-7)
    # the values differ by a constant in θ: mean over samples of (Â_i − 1)·‖v_old − u‖²
    a_hat = (adv * b / adv_max).clamp(-b, b)
    constant = ((a_hat - 1) * (v_old - u).pow(2).flatten(1).mean(dim=1)).mean()
    torch.testing.assert_close(ours - nft, constant, rtol=1e-5, atol=1e-6)
    assert b * b - b - 1e-6 <= stats["beta_eff/min"] <= stats["beta_eff/max"] <= b * b + b + 1e-6  # β_i = b² − Â_i


def test_a_scalar_beta_is_not_diffusion_nft():
    """The mutant: β_i replaced by one number (method="fixed", β0 = b²) fails the gradient comparison."""
    v, v_old, u, adv = _tensors(seed=1)
    (nft_grad,) = torch.autograd.grad(_nft_loss(v, v_old, u, adv, 1.0, 5.0), v)
    fixed, _ = fm_rl_loss(v, u, v_old, adv / 5.0, method="fixed", beta0=1.0)
    (fixed_grad,) = torch.autograd.grad(fixed, v)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(fixed_grad, nft_grad, rtol=1e-5, atol=1e-7)


def test_the_recipes_per_sample_regulariser_is_fm_rl_losss_w2_term():
    """The change recipes/flow/README.md makes to DiffusionNFT's explicit regulariser (a fixed coefficient times the
    batch mean of ‖v_θ − v_ref‖²) is fm_rl_loss's W2 term: the mean of (β0 − clip(A_i))·‖v_θ − v_ref‖²."""
    from adrpo_nb import effective_beta

    v, v_ref, u, adv = _tensors(seed=2)
    beta0, clip = 1e-4, (-1e-4, 1e-4)
    per_sample = (v - v_ref).pow(2).flatten(1).mean(dim=1)  # DiffusionNFT's per-sample term
    weighted = (effective_beta("adrpo", adv, beta0, clip) * per_sample).mean()  # the recipe's line
    _, stats = fm_rl_loss(v, u, v_ref, adv, method="adrpo", beta0=beta0, clip=clip)
    assert weighted.item() == pytest.approx(stats["w2_term"], rel=1e-6)
    zero_clip = (effective_beta("adrpo", adv, beta0, (0.0, 0.0)) * per_sample).mean()
    assert zero_clip.item() == pytest.approx(beta0 * per_sample.mean().item(), rel=1e-6)  # zero clip: the fixed line
