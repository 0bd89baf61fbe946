"""ODE samplers: exactness on fields they integrate exactly, and argument errors."""

import pytest
import torch

from adrpo_nb.sampling import sample_ode


def test_euler_is_exact_for_a_constant_field():
    x0 = torch.randn(4, 3)
    out = sample_ode(lambda x, t: torch.ones_like(x) * 2.0, x0, steps=7)
    assert torch.allclose(out, x0 + 2.0)


def test_midpoint_is_exact_for_a_field_linear_in_time():
    # dx/dt = t  ->  x(1) = x(0) + 1/2; Euler with 4 steps gives x0 + (0+.25+.5+.75)/4 = x0 + 0.375
    x0 = torch.zeros(2, 1)
    field = lambda x, t: t[:, None].expand_as(x)  # noqa: E731
    assert torch.allclose(sample_ode(field, x0, 4, "midpoint"), x0 + 0.5)
    assert torch.allclose(sample_ode(field, x0, 4, "euler"), x0 + 0.375)


def test_rectified_flow_transports_to_the_target():
    # the straight-line field toward a fixed point y: v = (y - x) / (1 - t) reaches y exactly
    y = torch.tensor([[3.0, -1.0]])
    out = sample_ode(lambda x, t: (y - x) / (1 - t[:, None]), torch.zeros(1, 2), steps=10)
    assert torch.allclose(out, y, atol=1e-5)


def test_sampler_errors():
    with pytest.raises(ValueError, match="method='rk4'"):
        sample_ode(lambda x, t: x, torch.zeros(1, 1), 2, "rk4")
    with pytest.raises(ValueError, match="steps=0"):
        sample_ode(lambda x, t: x, torch.zeros(1, 1), 0)
