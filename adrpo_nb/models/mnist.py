"""The small MNIST models: a CNN classifier (the reward), an autoencoder to a 16-d latent, and an
MLP velocity field on that latent (the policy).

The generative model has the same *latent* design as SD3 — a flow in an autoencoder's latent
space, decoded to pixels for the reward — at a size a 2-core CPU samples 256 digits of in ~0.2 s.
Time runs from noise (``t = 0``) to data (``t = 1``): ``x_t = (1 - t) x_0 + t x_1``, target
velocity ``u = x_1 - x_0``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F

from adrpo_nb.sampling import sample_ode
from adrpo_nb.types import FlowSamples
from adrpo_nb.utils.checkpoints import load_module
from adrpo_nb.utils.paths import data_path

__all__ = [
    "CHECKPOINT_DIR",
    "DigitAutoencoder",
    "DigitClassifier",
    "LatentFlowAdapter",
    "LatentFlowModel",
    "VelocityMLP",
    "checkpoint_file",
    "load_autoencoder",
    "load_base_model",
    "load_classifier",
]


class DigitClassifier(nn.Module):
    """A 4-conv CNN on 28×28 images in ``[0, 1]``; ``features`` is its 128-d penultimate layer."""

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 128):
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.Conv2d(c2, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * 49, hidden), nn.ReLU(),
        )  # fmt: skip
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(hidden, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(N, hidden)`` of images ``(N, 1, 28, 28)`` or ``(N, 28, 28)``."""
        if images.dim() == 3:
            images = images.unsqueeze(1)
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


class DigitAutoencoder(nn.Module):
    """Conv autoencoder 28×28 ↔ ``latent_dim``; latents are standardised with stored dataset statistics.

    ``encode`` returns standardised latents (about zero mean, unit variance per dimension on the
    training set) and ``decode`` takes them, so the flow model lives in a well-scaled space.
    """

    def __init__(self, latent_dim: int = 16, channels: tuple[int, int] = (32, 64)):
        super().__init__()
        c1, c2 = channels
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.SiLU(),  # 14
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.SiLU(),  # 7
            nn.Flatten(), nn.Linear(c2 * 49, latent_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * 49), nn.SiLU(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.SiLU(),  # 14
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),  # 28
        )  # fmt: skip
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))

    def encode_raw(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() == 3:
            images = images.unsqueeze(1)
        return self.encoder(images)

    def decode_logits(self, raw_latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(raw_latents)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Standardised latents ``(N, latent_dim)`` of images in ``[0, 1]``."""
        return (self.encode_raw(images) - self.latent_mean) / self.latent_std

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in ``[0, 1]`` from standardised latents."""
        return torch.sigmoid(self.decode_logits(latents * self.latent_std + self.latent_mean))


def fourier_time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sin/cos features of ``t`` in ``[0, 1]`` at ``dim/2`` geometric frequencies from 1 to 1000."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), half, device=t.device, dtype=t.dtype))
    angles = t[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class _ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return h + self.fc2(F.silu(self.fc1(F.silu(self.norm(h) + temb))))


class VelocityMLP(nn.Module):
    """Velocity field ``v(x_t, t)`` on ``dim``-dimensional latents: a residual MLP with time features."""

    def __init__(self, dim: int = 16, width: int = 512, depth: int = 3, time_features: int = 64):
        super().__init__()
        self.dim, self.time_features = dim, time_features
        self.inp = nn.Linear(dim, width)
        self.time = nn.Sequential(nn.Linear(time_features, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(_ResidualBlock(width) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x``: ``(N, dim)`` latents at time ``t``: ``(N,)`` in ``[0, 1]``; returns ``(N, dim)``."""
        temb = self.time(fourier_time_features(t.to(x.dtype), self.time_features))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, temb)
        return self.out(h)


class LatentFlowModel(nn.Module):
    """The base generative model: ``VelocityMLP`` on the latent of a ``DigitAutoencoder``."""

    def __init__(self, velocity: VelocityMLP, autoencoder: DigitAutoencoder):
        super().__init__()
        if velocity.dim != autoencoder.latent_dim:
            raise ValueError(f"velocity dim {velocity.dim} != autoencoder latent_dim {autoencoder.latent_dim}")
        self.velocity = velocity
        self.autoencoder = autoencoder

    @property
    def latent_dim(self) -> int:
        return self.velocity.dim

    @torch.no_grad()
    def sample_latents(
        self, n: int, generator: torch.Generator | None = None, steps: int = 20, method: str = "euler",
        velocity: nn.Module | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """Integrate ``velocity`` (default: this model's) from Gaussian noise drawn on the CPU with ``generator``."""

        device = next(self.parameters()).device
        noise = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return sample_ode(velocity or self.velocity, noise, steps=steps, method=method)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in ``[0, 1]``."""
        return self.autoencoder.decode(latents)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, steps: int = 20, method: str = "euler"):
        """``n`` digit images ``(N, 1, 28, 28)`` in ``[0, 1]``."""
        return self.decode(self.sample_latents(n, generator, steps, method))


class LatentFlowAdapter:
    """:class:`~adrpo_nb.trainers.flow_matching.FlowAdapter` for :class:`LatentFlowModel`.

    The policy is a trainable copy of the base velocity field; the reference is the base itself,
    frozen (a 1 M-parameter MLP: a copy costs 4 MB, so no adapter trick is needed here). The
    autoencoder is frozen and only decodes samples for the reward.
    """

    def __init__(self, base: LatentFlowModel, sample_steps: int = 20, sampler: str = "euler"):
        import copy

        self.base = base.eval().requires_grad_(False)
        self.reference = base.velocity
        self.policy = copy.deepcopy(base.velocity).requires_grad_(True)
        self.sample_steps, self.sampler = sample_steps, sampler

    def to(self, device: torch.device) -> LatentFlowAdapter:
        self.base.to(device)
        self.policy.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.base.parameters()).device

    def sample(self, n: int, generator: torch.Generator, group_size: int | None = None):
        """``n`` digits from the current policy (unconditional: ``group_size`` is not used)."""

        latents = self.base.sample_latents(n, generator, self.sample_steps, self.sampler, velocity=self.policy)
        return FlowSamples(latents=latents, outputs=self.base.decode(latents))

    def draw_noise_and_time(self, latents: torch.Tensor, generator: torch.Generator):
        noise = torch.randn(latents.shape, generator=generator).to(latents.device)
        return noise, torch.rand(latents.shape[0], generator=generator).to(latents.device)

    def interpolate(self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor):
        """Noise at t = 0, data at t = 1: ``x_t = (1 − t)·noise + t·x1``, target ``u = x1 − noise``."""
        return (1 - t[:, None]) * noise + t[:, None] * latents, latents - noise

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, conditioning=None) -> torch.Tensor:
        return self.policy(x_t, t)

    @torch.no_grad()
    def reference_velocity(self, x_t: torch.Tensor, t: torch.Tensor, conditioning=None) -> torch.Tensor:
        return self.reference(x_t, t)

    def select(self, samples, index: torch.Tensor):
        return None


# ---------------------------------------------------------------------- the shipped weights (data/checkpoints/mnist)
CHECKPOINT_DIR = ("checkpoints", "mnist")


def checkpoint_file(name: str, must_exist: bool = True):
    """Path of ``data/checkpoints/mnist/<name>``."""
    return data_path(*CHECKPOINT_DIR, name, must_exist=must_exist)


def _frozen(module: torch.nn.Module, device) -> torch.nn.Module:
    return module.to(device or "cpu").eval().requires_grad_(False)


@lru_cache(maxsize=4)
def _classifier_on(device: str) -> DigitClassifier:
    return _frozen(load_module(DigitClassifier, checkpoint_file("classifier.safetensors")), device)


def load_classifier(device: torch.device | str | None = None) -> DigitClassifier:
    """The shipped CNN classifier (eval mode, frozen; cached per device). Test accuracy: see ``pretrain.json``."""
    return _classifier_on(str(torch.device(device or "cpu")))


def load_autoencoder(device: torch.device | str | None = None) -> DigitAutoencoder:
    """The shipped autoencoder 28×28 ↔ 16-d standardised latent (eval mode, frozen)."""
    return _frozen(load_module(DigitAutoencoder, checkpoint_file("autoencoder.safetensors")), device)


def load_base_model(device: torch.device | str | None = None) -> LatentFlowModel:
    """The pretrained base generative model (the RL reference): a latent flow, eval mode, frozen."""
    velocity = load_module(VelocityMLP, checkpoint_file("flow.safetensors"))
    return _frozen(LatentFlowModel(velocity, load_autoencoder()), device)
