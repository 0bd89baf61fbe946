"""Stable Diffusion 3 for :class:`~adrpo_nb.trainers.flow_matching.FlowMatchingRLTrainer`.

The same code serves the real model (``stabilityai/stable-diffusion-3-medium-diffusers`` on a
GPU) and the small path (a tiny SD3 of the same diffusers/transformers classes, loaded from
``data/checkpoints/sd3_tiny`` with the same ``from_pretrained``). Conventions are diffusers' own
(``FlowMatchEulerDiscreteScheduler``, ``train_dreambooth_lora_sd3.py``):

* the path from clean latents ``x0`` (σ = 0) to noise (σ = 1): ``x_σ = (1 − σ)·x0 + σ·noise``;
* the transformer predicts the velocity ``noise − x0``; its ``timestep`` input is ``σ·1000``;
* training σ are taken from the scheduler's training table (so ``shift`` applies), at indices
  drawn by diffusers' ``compute_density_for_timestep_sampling`` (uniform or logit-normal).

The policy is the pipeline's transformer with a LoRA adapter (peft through diffusers); the
reference is **the same transformer with its adapters disabled** — no second copy in memory.
Prompt embeddings (two CLIP encoders + T5) are computed once per prompt and cached; samples are
drawn by the pipeline itself (classifier-free guidance, Euler) from noise the trainer provides.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from adrpo_nb.utils.checkpoints import check_module_finite, verify_recorded_sha256

__all__ = [
    "LORA_TARGETS",
    "PromptSet",
    "SD3Adapter",
    "SD3Conditioning",
    "load_lora",
    "load_sd3_pipeline",
    "save_lora",
]

#: the attention projections diffusers' SD3 LoRA scripts adapt (image and text streams)
LORA_TARGETS = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
                "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out")  # fmt: skip


def load_sd3_pipeline(model: str | Path, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None):
    """``StableDiffusion3Pipeline.from_pretrained(model)``, frozen, eval mode, progress bars off.

    ``model`` is a hub id (the real path: ``stabilityai/stable-diffusion-3-medium-diffusers`` is
    gated — accept its licence on the hub and ``huggingface-cli login`` first) or a local folder
    (the small path: ``data/checkpoints/sd3_tiny``).
    """
    from diffusers import StableDiffusion3Pipeline

    if Path(model).is_dir():
        verify_recorded_sha256(model)
    try:
        pipe = StableDiffusion3Pipeline.from_pretrained(str(model), **_dtype_kwarg(dtype))
    except (OSError, ValueError) as err:
        raise OSError(
            f"could not load the SD3 pipeline {str(model)!r}: {err}\n"
            "A hub id needs network access (and, for stabilityai/stable-diffusion-3-medium-diffusers, an accepted "
            "licence and `huggingface-cli login`); without the hub, pass a local folder such as "
            "data/checkpoints/sd3_tiny."
        ) from None
    for part in (pipe.transformer, pipe.vae, pipe.text_encoder, pipe.text_encoder_2, pipe.text_encoder_3):
        if part is not None:
            part.requires_grad_(False).eval()
            check_module_finite(part, model)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device) if device is not None else pipe


def _dtype_kwarg(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """diffusers ≥ 0.36 calls it ``dtype``; earlier versions ``torch_dtype``."""
    import diffusers
    from packaging.version import Version

    return {"dtype": dtype} if Version(diffusers.__version__) >= Version("0.36") else {"torch_dtype": dtype}


# ----------------------------------------------------------------------------- prompts
@dataclass
class PromptSet:
    """Prompts (with optional per-prompt metadata for rewards) that the sampler draws from uniformly."""

    prompts: list[str]
    metadata: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("a PromptSet needs at least one prompt")
        if self.metadata and len(self.metadata) != len(self.prompts):
            raise ValueError(f"got {len(self.metadata)} metadata for {len(self.prompts)} prompts")
        if not self.metadata:
            self.metadata = [{} for _ in self.prompts]

    def __len__(self) -> int:
        return len(self.prompts)

    def draw(self, n: int, generator: torch.Generator) -> tuple[list[str], list[dict]]:
        """``n`` prompts (with replacement) and their metadata."""
        idx = torch.randint(0, len(self.prompts), (n,), generator=generator).tolist()
        return [self.prompts[i] for i in idx], [dict(self.metadata[i]) for i in idx]


@dataclass
class SD3Conditioning:
    """Per-sample text conditioning: ``embeds (N, L, D)`` and ``pooled (N, P)``."""

    embeds: torch.Tensor
    pooled: torch.Tensor

    def __getitem__(self, index: torch.Tensor) -> SD3Conditioning:
        index = index.to(self.embeds.device)
        return SD3Conditioning(self.embeds[index], self.pooled[index])


# ----------------------------------------------------------------------------- the adapter
class SD3Adapter:
    """:class:`~adrpo_nb.trainers.flow_matching.FlowAdapter` for a ``StableDiffusion3Pipeline`` + LoRA.

    Args:
        pipe: a pipeline from :func:`load_sd3_pipeline`.
        prompts: the prompts to train on (a :class:`PromptSet` or a list of strings).
        lora_rank, lora_alpha, lora_targets: the LoRA added to the transformer (alpha defaults to rank).
        lora_seed: seeds the LoRA's initialisation (so a run is reproducible whatever ran before).
        guidance_scale, sample_steps: classifier-free guidance and Euler steps of the sampler.
        height, width: image size (default: the transformer's native size).
        max_sequence_length: T5 tokens per prompt.
        timestep_sampling: ``"none"`` (uniform over the scheduler's training σ) or ``"logit_normal"``.
        gradient_checkpointing: trade compute for activation memory on a GPU.
        decode_batch_size: latents the VAE decodes at a time (``None``: all of a batch at once, as the tiny
            path runs; the real path uses 8, see :meth:`decode`).
    """

    def __init__(
        self,
        pipe: Any,
        prompts: PromptSet | Sequence[str],
        *,
        lora_rank: int = 8,
        lora_alpha: float | None = None,
        lora_targets: Sequence[str] = LORA_TARGETS,
        lora_seed: int = 0,
        guidance_scale: float = 4.5,
        sample_steps: int = 20,
        height: int | None = None,
        width: int | None = None,
        max_sequence_length: int = 77,
        timestep_sampling: str = "none",
        gradient_checkpointing: bool = False,
        decode_batch_size: int | None = None,
    ):
        from diffusers import FlowMatchEulerDiscreteScheduler
        from peft import LoraConfig

        if timestep_sampling not in ("none", "logit_normal"):
            raise ValueError(f"timestep_sampling must be 'none' or 'logit_normal', got {timestep_sampling!r}")
        if not (math.isfinite(guidance_scale) and guidance_scale >= 0):
            raise ValueError(f"guidance_scale must be a finite number >= 0 (1 = no guidance), got {guidance_scale!r}")
        if not (isinstance(sample_steps, int) and sample_steps >= 1):
            raise ValueError(f"sample_steps must be a positive int, got sample_steps={sample_steps!r}")
        if decode_batch_size is not None and not (isinstance(decode_batch_size, int) and decode_batch_size >= 1):
            raise ValueError(f"decode_batch_size must be a positive int or None (all at once), "
                             f"got decode_batch_size={decode_batch_size!r}")  # fmt: skip
        self.decode_batch_size = decode_batch_size
        self.pipe = pipe
        self.prompts = prompts if isinstance(prompts, PromptSet) else PromptSet(list(prompts))
        self.transformer = pipe.transformer
        if not getattr(self.transformer, "peft_config", None):
            self.transformer.requires_grad_(False)
            with torch.random.fork_rng(devices=[]):  # peft's Gaussian init of lora_A draws from the global RNG
                torch.manual_seed(lora_seed)
                self.transformer.add_adapter(LoraConfig(r=lora_rank, lora_alpha=lora_alpha or lora_rank,
                                                        init_lora_weights="gaussian",
                                                        target_modules=list(lora_targets)))  # fmt: skip
        self._trainable_in_fp32()
        if gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
        self.policy = self.transformer
        # the training σ table: a copy taken before the sampler's set_timesteps changes the pipeline's
        self.train_scheduler = FlowMatchEulerDiscreteScheduler.from_config(copy.deepcopy(dict(pipe.scheduler.config)))
        self.guidance_scale, self.sample_steps = guidance_scale, sample_steps
        scale = pipe.vae_scale_factor
        self.height = height or self.transformer.config.sample_size * scale
        self.width = width or self.transformer.config.sample_size * scale
        self.max_sequence_length = max_sequence_length
        self.timestep_sampling = timestep_sampling
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._negative: tuple[torch.Tensor, torch.Tensor] | None = None

    def _trainable_in_fp32(self) -> None:
        for p in self.transformer.parameters():
            if p.requires_grad and p.dtype != torch.float32:
                p.data = p.data.float()

    # ------------------------------------------------------------------ devices and prompts
    def to(self, device: torch.device) -> SD3Adapter:
        self.pipe.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @torch.no_grad()
    def _encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        embeds, _, pooled, _ = self.pipe.encode_prompt(
            prompts, None, None, device=self.device, do_classifier_free_guidance=False,
            max_sequence_length=self.max_sequence_length,
        )  # fmt: skip
        return embeds, pooled

    def precompute(self, prompts: Sequence[str], batch_size: int = 32) -> None:
        """Encode and cache ``prompts`` (and the empty negative prompt) once."""
        todo = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            embeds, pooled = self._encode(chunk)
            for i, p in enumerate(chunk):
                self._cache[p] = (embeds[i], pooled[i])
        if self._negative is None:
            embeds, pooled = self._encode([""])
            self._negative = (embeds[0], pooled[0])

    def conditioning(self, prompts: Sequence[str]) -> SD3Conditioning:
        """The cached embeddings of ``prompts``.

        The first call encodes the whole prompt set in fixed batches; a prompt outside it is
        encoded alone. Embeddings then never depend on which prompts happened to share a batch
        (batched matrix products differ in the last bits), so resumed runs stay bit-identical.
        """
        if not self._cache:
            self.precompute(self.prompts.prompts)
        for prompt in dict.fromkeys(prompts):
            if prompt not in self._cache:
                self.precompute([prompt], batch_size=1)
        return SD3Conditioning(torch.stack([self._cache[p][0] for p in prompts]),
                               torch.stack([self._cache[p][1] for p in prompts]))  # fmt: skip

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(self, prompts: Sequence[str], generator: torch.Generator, metadata=None):
        """One image per prompt from the current policy: ``FlowSamples`` with latents, images in [0, 1]."""
        from adrpo_nb.types import FlowSamples

        cond = self.conditioning(prompts)
        n = len(prompts)
        channels = self.transformer.config.in_channels
        shape = (n, channels, self.height // self.pipe.vae_scale_factor, self.width // self.pipe.vae_scale_factor)
        noise = torch.randn(shape, generator=generator).to(self.device, cond.embeds.dtype)
        neg_embeds, neg_pooled = self._negative
        latents = self.pipe(
            prompt_embeds=cond.embeds, pooled_prompt_embeds=cond.pooled,
            negative_prompt_embeds=neg_embeds.expand(n, -1, -1), negative_pooled_prompt_embeds=neg_pooled.expand(n, -1),
            latents=noise, height=self.height, width=self.width, num_inference_steps=self.sample_steps,
            guidance_scale=self.guidance_scale, output_type="latent",
        ).images  # fmt: skip
        return FlowSamples(latents=latents.float(), outputs=self.decode(latents), prompts=list(prompts),
                           metadata=list(metadata) if metadata is not None else [{} for _ in prompts],
                           conditioning=cond)  # fmt: skip

    def sample(self, n: int, generator: torch.Generator, group_size: int | None = None):
        """``n // group_size`` prompts drawn from the prompt set, ``group_size`` images each (contiguous)."""
        group_size = group_size or 1
        if n % group_size:
            raise ValueError(f"n={n} samples is not a multiple of group_size={group_size}")
        prompts, metadata = self.prompts.draw(n // group_size, generator)
        prompts = [p for p in prompts for _ in range(group_size)]
        metadata = [m for m in metadata for _ in range(group_size)]
        return self.generate(prompts, generator, metadata)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` in ``[0, 1]`` (float32, CPU) from latents in the transformer's space, decoded
        ``decode_batch_size`` at a time (all at once when ``None``: at 1024² the VAE's activations for 32 images
        are ≈ 48 GiB, for 8 at a time ≈ 12 GiB)."""
        vae = self.pipe.vae
        x = latents.to(vae.dtype) / vae.config.scaling_factor + vae.config.shift_factor
        chunks = x.split(self.decode_batch_size) if self.decode_batch_size else (x,)
        return torch.cat([(vae.decode(c, return_dict=False)[0].float() / 2 + 0.5).clamp(0, 1).cpu() for c in chunks])

    # ------------------------------------------------------------------ training
    def draw_noise_and_time(self, latents: torch.Tensor, generator: torch.Generator):
        """Noise, and timesteps ``σ·1000`` from the scheduler's training table (diffusers' density sampling)."""
        from diffusers.training_utils import compute_density_for_timestep_sampling

        n = latents.shape[0]
        u = compute_density_for_timestep_sampling(self.timestep_sampling, n, logit_mean=0.0, logit_std=1.0,
                                                  mode_scale=1.29, generator=generator)  # fmt: skip
        indices = (u * self.train_scheduler.config.num_train_timesteps).long()
        timesteps = self.train_scheduler.timesteps[indices].to(latents.device)
        noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
        return noise, timesteps

    def interpolate(self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor):
        """``x_σ = (1 − σ)·x0 + σ·noise`` with ``σ = t / 1000``; target ``u = noise − x0``."""
        sigma = (t.float() / self.train_scheduler.config.num_train_timesteps).view(-1, *[1] * (latents.dim() - 1))
        return (1 - sigma) * latents + sigma * noise, noise - latents

    def _forward(self, model: torch.nn.Module, x_t: torch.Tensor, t: torch.Tensor, cond: SD3Conditioning):
        dtype = self.transformer.dtype
        return model(hidden_states=x_t.to(dtype), timestep=t, encoder_hidden_states=cond.embeds.to(dtype),
                     pooled_projections=cond.pooled.to(dtype), return_dict=False)[0]  # fmt: skip

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, conditioning: SD3Conditioning) -> torch.Tensor:
        return self._forward(self.policy, x_t, t, conditioning)

    @torch.no_grad()
    def reference_velocity(self, x_t: torch.Tensor, t: torch.Tensor, conditioning: SD3Conditioning) -> torch.Tensor:
        with self.adapters_disabled():
            return self._forward(self.transformer, x_t, t, conditioning)

    @contextlib.contextmanager
    def adapters_disabled(self) -> Iterator[None]:
        """The reference: the same transformer with its LoRA switched off."""
        self.transformer.disable_adapters()
        try:
            yield
        finally:
            self.transformer.enable_adapters()

    def select(self, samples, index: torch.Tensor) -> SD3Conditioning:
        return samples.conditioning[index]


# ----------------------------------------------------------------------------- LoRA files
def save_lora(adapter: SD3Adapter, directory: str | Path) -> Path:
    """Write the LoRA with diffusers' ``StableDiffusion3Pipeline.save_lora_weights`` (safetensors)."""
    from diffusers import StableDiffusion3Pipeline
    from peft.utils import get_peft_model_state_dict

    directory = Path(directory)
    StableDiffusion3Pipeline.save_lora_weights(
        directory, transformer_lora_layers=get_peft_model_state_dict(adapter.transformer)
    )
    return directory


def load_lora(pipe: Any, directory: str | Path, adapter_name: str | None = None) -> Any:
    """Load a LoRA written by :func:`save_lora` into ``pipe`` with diffusers' ``load_lora_weights``."""
    directory = Path(directory)
    if not (directory / "pytorch_lora_weights.safetensors").exists():
        raise FileNotFoundError(f"no LoRA in {directory}: expected pytorch_lora_weights.safetensors (from save_lora)")
    pipe.load_lora_weights(str(directory), adapter_name=adapter_name)
    return pipe

