"""What every trainer shares: per-iteration random generators, optimizers, the run loop."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["OPTIMIZERS", "iteration_generator", "make_optimizer"]


def iteration_generator(seed: int, iteration: int, process: int = 0) -> torch.Generator:
    """A CPU generator for one iteration of one process, independent of everything that ran before."""
    state = np.random.SeedSequence([seed, iteration, process]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0] % (2**63 - 1)))


OPTIMIZERS = ("adam", "adamw", "adam8bit")


def make_optimizer(name: str, params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """``adam``/``adamw`` from torch; ``adam8bit`` from bitsandbytes (8-bit optimizer states, CUDA only)."""
    if name == "adam8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ImportError("optimizer='adam8bit' needs bitsandbytes (pip install bitsandbytes) and a GPU") from None
        return bnb.optim.Adam8bit(params, lr=lr)
    return (torch.optim.AdamW if name == "adamw" else torch.optim.Adam)(params, lr=lr)
