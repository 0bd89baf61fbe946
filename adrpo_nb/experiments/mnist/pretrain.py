"""Pretraining of the small MNIST models: classifier (reward), autoencoder, base latent flow.

Run once by ``python -m adrpo_nb.experiments.mnist pretrain`` (:func:`pretrain`: the three stages, the base
model's samples scored, everything saved with ``pretrain.json``); the weights and a JSON of how they
were made are committed in ``data/checkpoints/mnist/``. Everything is seeded and runs on a CPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from adrpo_nb.experiments.mnist.family import EVAL_SEED, diversity
from adrpo_nb.models.mnist import DigitAutoencoder, DigitClassifier, LatentFlowModel, VelocityMLP
from adrpo_nb.tasks.mnist import load_mnist
from adrpo_nb.utils.checkpoints import save_module, write_pretrain_report
from adrpo_nb.utils.provenance import git_commit
from adrpo_nb.utils.validate import check_int, validate_numbers

__all__ = ["PretrainConfig", "pretrain", "random_affine", "train_classifier", "train_autoencoder", "train_flow"]


@dataclass
class PretrainConfig:
    """Sizes and schedules of the three pretraining stages (``smoke()`` shrinks them for tests)."""

    classifier_epochs: int = 4
    autoencoder_epochs: int = 10
    latent_dim: int = 16
    flow_steps: int = 6000
    flow_width: int = 512
    flow_depth: int = 3
    flow_batch: int = 512
    flow_lr: float = 1e-3
    ema_decay: float = 0.999
    train_subset: int | None = None  # use only the first N training images (smoke runs)
    seed: int = 0

    def __post_init__(self) -> None:
        """Types and ranges of every field (numpy scalars converted); errors name the field."""
        validate_numbers(self, positive_ints=("classifier_epochs", "autoencoder_epochs", "latent_dim", "flow_steps",
                                              "flow_width", "flow_depth", "flow_batch"),
                         positive_floats=("flow_lr",), fractions=("ema_decay",), seeds=("seed",))  # fmt: skip
        self.train_subset = check_int("PretrainConfig.train_subset", self.train_subset, minimum=1, optional=True)

    @classmethod
    def smoke(cls) -> PretrainConfig:
        return cls(classifier_epochs=1, autoencoder_epochs=1, flow_steps=50, flow_width=64, flow_depth=1,
                   flow_batch=128, train_subset=2048)  # fmt: skip


def random_affine(images: torch.Tensor, generator: torch.Generator, degrees: float = 10.0,
                  scale: float = 0.1, shift_px: float = 2.0) -> torch.Tensor:  # fmt: skip
    """Random rotation, scaling and translation of ``(N, 1, 28, 28)`` images (classifier augmentation)."""
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) - 0.5) * 2 * math.radians(degrees)
    zoom = 1 + (torch.rand(n, generator=generator) - 0.5) * 2 * scale
    shift = (torch.rand(n, 2, generator=generator) - 0.5) * 2 * (shift_px / 14)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def _batches(n: int, batch: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    for i in range(n // batch):
        yield order[i * batch : (i + 1) * batch]


@torch.no_grad()
def accuracy(classifier: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    classifier.eval()
    preds = torch.cat([classifier(images[i : i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
    return (preds == labels).float().mean().item()


def train_classifier(images, labels, test_images, test_labels, cfg: PretrainConfig, log=print):
    """AdamW + one-cycle, random affine augmentation (so it also reads generated, imperfect digits)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout
    model = DigitClassifier()
    batch = 128
    steps = cfg.classifier_epochs * (len(images) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    start = time.perf_counter()
    for epoch in range(cfg.classifier_epochs):
        model.train()
        for idx in _batches(len(images), batch, gen):
            loss = F.cross_entropy(model(random_affine(images[idx], gen)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log(f"classifier epoch {epoch + 1}: test accuracy {accuracy(model, test_images, test_labels):.4f} "
            f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    model.eval()
    return model, {"test_accuracy": accuracy(model, test_images, test_labels),
                   "seconds": time.perf_counter() - start, "epochs": cfg.classifier_epochs}  # fmt: skip


def train_autoencoder(images, test_images, test_labels, classifier, cfg: PretrainConfig, log=print):
    """BCE reconstruction with small latent noise and an L2 latent penalty, so the latent is smooth."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    model = DigitAutoencoder(latent_dim=cfg.latent_dim)
    batch = 256
    steps = cfg.autoencoder_epochs * (len(images) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    start = time.perf_counter()
    for epoch in range(cfg.autoencoder_epochs):
        model.train()
        for idx in _batches(len(images), batch, gen):
            x = images[idx]
            z = model.encode_raw(x)
            noisy = z + 0.05 * torch.randn(z.shape, generator=gen)
            recon = F.binary_cross_entropy_with_logits(model.decode_logits(noisy), x, reduction="sum") / batch
            loss = recon + 1e-2 * z.pow(2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log(f"autoencoder epoch {epoch + 1}: loss {loss.item():.2f} ({time.perf_counter() - start:.0f} s)")
    model.eval()
    with torch.no_grad():
        z = torch.cat([model.encode_raw(images[i : i + 5000]) for i in range(0, len(images), 5000)])
        model.latent_mean.copy_(z.mean(0))
        model.latent_std.copy_(z.std(0))
        recon = torch.cat([model.decode(model.encode(test_images[i : i + 2000])) for i in range(0, 10000, 2000)])
        recon_acc = (classifier(recon).argmax(1) == test_labels).float().mean().item()
    return model, {"test_recon_mse": F.mse_loss(recon, test_images).item(), "classifier_accuracy_on_recon": recon_acc,
                   "seconds": time.perf_counter() - start, "epochs": cfg.autoencoder_epochs}  # fmt: skip


def train_flow(images, autoencoder: DigitAutoencoder, cfg: PretrainConfig, log=print):
    """Conditional flow matching (rectified-flow paths) on the autoencoder's standardised latents; EMA weights."""
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    with torch.no_grad():
        latents = torch.cat([autoencoder.encode(images[i : i + 5000]) for i in range(0, len(images), 5000)])
    model = VelocityMLP(dim=cfg.latent_dim, width=cfg.flow_width, depth=cfg.flow_depth)
    ema = VelocityMLP(dim=cfg.latent_dim, width=cfg.flow_width, depth=cfg.flow_depth)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.flow_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.flow_lr, total_steps=cfg.flow_steps, pct_start=0.05)
    start = time.perf_counter()
    for step in range(cfg.flow_steps):
        x1 = latents[torch.randint(0, len(latents), (cfg.flow_batch,), generator=gen)]
        x0 = torch.randn(x1.shape, generator=gen)
        t = torch.rand(cfg.flow_batch, generator=gen)
        x_t = (1 - t[:, None]) * x0 + t[:, None] * x1
        loss = (model(x_t, t) - (x1 - x0)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
                p_ema.lerp_(p, 1 - cfg.ema_decay)
        if (step + 1) % max(1, cfg.flow_steps // 10) == 0:
            log(f"flow step {step + 1}/{cfg.flow_steps}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)")
    ema.eval()
    return LatentFlowModel(ema, autoencoder).eval(), {"seconds": time.perf_counter() - start, "steps": cfg.flow_steps}


# ----------------------------------------------------------------------------- the command
def pretrain(out_dir: Path, smoke_run: bool = False, log=print) -> dict[str, Any]:
    """Train classifier, autoencoder and base flow; write safetensors + ``pretrain.json`` to ``out_dir``."""
    cfg = PretrainConfig.smoke() if smoke_run else PretrainConfig()
    start, commit = time.perf_counter(), git_commit()
    images, labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    if cfg.train_subset:
        images, labels = images[: cfg.train_subset], labels[: cfg.train_subset]
    classifier, clf_metrics = train_classifier(images, labels, test_images, test_labels, cfg, log)
    save_module(classifier, out_dir / "classifier.safetensors", {"channels": [32, 64], "hidden": 128})
    ae, ae_metrics = train_autoencoder(images, test_images, test_labels, classifier, cfg, log)
    save_module(ae, out_dir / "autoencoder.safetensors", {"latent_dim": cfg.latent_dim, "channels": [32, 64]})
    flow, flow_metrics = train_flow(images, ae, cfg, log)
    save_module(flow.velocity, out_dir / "flow.safetensors",
                {"dim": cfg.latent_dim, "width": cfg.flow_width, "depth": cfg.flow_depth})  # fmt: skip
    base_metrics = _evaluate_with(flow, classifier)
    log(f"base model: reward {base_metrics['reward']:.3f}, mean max-prob {base_metrics['max_prob']:.3f}, "
        f"class entropy {base_metrics['class_entropy_norm']:.3f}·ln10")  # fmt: skip
    report = {
        "classifier": clf_metrics,
        "autoencoder": ae_metrics,
        "flow": flow_metrics,
        "base_samples": base_metrics,
        "config": vars(cfg),
    }  # fmt: skip
    command = "python -m adrpo_nb.experiments.mnist pretrain" + (" --smoke" if smoke_run else "")
    return write_pretrain_report(out_dir, report, seconds=time.perf_counter() - start, command=command, commit=commit)


@torch.no_grad()
def _evaluate_with(flow: LatentFlowModel, classifier, n: int = 2048) -> dict[str, Any]:
    images = flow.sample(n, torch.Generator().manual_seed(EVAL_SEED))
    features = classifier.features(images)
    probs = classifier.head(features).softmax(1)
    labels = probs.argmax(1)
    return {"n": n, "reward": probs[:, [0, 2, 4, 6, 8]].sum(1).mean().item(),
            "max_prob": probs.max(1).values.mean().item(), **diversity(labels=labels, features=features)}  # fmt: skip
