"""ODE samplers for velocity fields: ``dx/dt = v(x, t)`` from ``t_start`` to ``t_end``."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["sample_ode", "SAMPLERS"]

SAMPLERS = ("euler", "midpoint")
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def sample_ode(
    velocity: Velocity,
    x: torch.Tensor,
    steps: int = 20,
    method: str = "euler",
    t_start: float = 0.0,
    t_end: float = 1.0,
) -> torch.Tensor:
    """Integrate ``dx/dt = velocity(x, t)`` with ``steps`` uniform steps of Euler or the midpoint rule.

    ``velocity`` takes ``(x, t)`` with ``t`` a tensor of shape ``(N,)``. Midpoint costs two velocity
    evaluations a step and is second-order accurate. Runs under ``torch.no_grad``.
    """
    if method not in SAMPLERS:
        raise ValueError(f"method must be one of {SAMPLERS}, got method={method!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got steps={steps!r}")
    dt = (t_end - t_start) / steps
    n = x.shape[0]
    for i in range(steps):
        t = torch.full((n,), t_start + i * dt, dtype=x.dtype, device=x.device)
        if method == "euler":
            x = x + dt * velocity(x, t)
        else:
            x_mid = x + 0.5 * dt * velocity(x, t)
            x = x + dt * velocity(x_mid, t + 0.5 * dt)
    return x
