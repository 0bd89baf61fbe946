"""The tiny SD3 of the shapes world: its tokenizers, the pipeline of diffusers' real classes at tiny widths, and
its pretraining (VAE, then the transformer by flow matching on rendered scenes of the training side's prompts:
:func:`adrpo_nb.tasks.shapes.split_prompts` ``("pretrain")``, 384 of the 432; no held-out scene in either wording).

``python -m adrpo_nb.experiments.sd3 pretrain --out data/checkpoints/sd3_tiny`` made the committed model (before the
split by meaning: on all 432 prompts); without ``--out`` it writes under ``runs/``. The RL experiments are in
:mod:`adrpo_nb.experiments.sd3.run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from adrpo_nb.rewards.images import AttributeBindingReward
from adrpo_nb.tasks.shapes import Scene, all_prompts, random_scene, render, split_prompts
from adrpo_nb.utils.checkpoints import write_pretrain_report
from adrpo_nb.utils.provenance import git_commit
from adrpo_nb.utils.validate import validate_numbers

__all__ = [
    "TINY_ADAPTER",
    "TinySD3PretrainConfig",
    "build_tiny_pipeline",
    "build_tokenizers",
    "pretrain",
    "pretraining_scenes",
    "shapes_vocabulary",
]

#: how the small path samples (the pretraining encodes its prompts with the same max_sequence_length)
TINY_ADAPTER = {"guidance_scale": 4.0, "sample_steps": 10, "max_sequence_length": 16, "lora_rank": 8}


def shapes_vocabulary() -> list[str]:
    """Every word of the shapes prompts."""
    return sorted({w for p in all_prompts() for w in p.split()})


def build_tokenizers(model_max_length: int = 16):
    """A CLIP BPE tokenizer and a T5 unigram tokenizer whose vocabularies are the shapes words.

    The CLIP one has the characters of those words and the merges that build each whole word (so
    every word is one token, as in CLIP's real vocabulary; checked); the T5 one has ``▁word`` pieces.
    Both are real ``transformers`` tokenizer classes, saved with the pipeline.
    """
    from transformers import CLIPTokenizer, T5Tokenizer

    words = shapes_vocabulary()
    chars = sorted(set("".join(words)))
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}

    def add(token: str) -> None:
        vocab.setdefault(token, len(vocab))

    for c in chars:
        add(c)
        add(c + "</w>")
    merges: list[tuple[str, str]] = []
    for word in sorted(words, key=lambda w: (-len(w), w)):  # longest first: no other word's merge splits it
        parts = [*word[:-1], word[-1] + "</w>"]
        current = parts[0]
        for part in parts[1:]:
            if (current, part) not in merges:
                merges.append((current, part))
            current += part
            add(current)
    clip = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)
    split = [w for w in words if len(clip(w).input_ids) != 3]
    if split:
        raise AssertionError(f"the CLIP merges split these words into several tokens: {split}")
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("▁" + w, -1.0) for w in words]
    pieces += [("▁", -2.0)] + [(c, -5.0) for c in chars]
    t5 = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=model_max_length)
    return clip, t5


def build_tiny_pipeline(seed: int = 0):
    """A randomly initialised tiny ``StableDiffusion3Pipeline`` (32×32 images, 4-channel 8×8 latents)."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    clip_tok, t5_tok = build_tokenizers()
    clip_cfg = CLIPTextConfig(vocab_size=len(clip_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, max_position_embeddings=16, projection_dim=32,
                              bos_token_id=0, eos_token_id=1, pad_token_id=1)  # fmt: skip
    t5_cfg = T5Config(vocab_size=len(t5_tok), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=0,
                      eos_token_id=1, decoder_start_token_id=0)  # fmt: skip
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=4, num_layers=4, attention_head_dim=24, num_attention_heads=4,
        joint_attention_dim=64, caption_projection_dim=96, pooled_projection_dim=64, out_channels=4,
        pos_embed_max_size=8,
    )  # fmt: skip
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
                        up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(16, 32, 32), layers_per_block=1,
                        latent_channels=4, norm_num_groups=8, sample_size=32, scaling_factor=1.0,
                        shift_factor=0.0)  # fmt: skip
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0), vae=vae,
        text_encoder=CLIPTextModelWithProjection(clip_cfg), tokenizer=clip_tok,
        text_encoder_2=CLIPTextModelWithProjection(clip_cfg), tokenizer_2=clip_tok,
        text_encoder_3=T5EncoderModel(t5_cfg), tokenizer_3=t5_tok,
    )  # fmt: skip


@dataclass
class TinySD3PretrainConfig:
    """Pretraining of the tiny SD3: the VAE on rendered scenes, then the transformer (text encoders stay
    at their seeded random initialisation, frozen, as SD3's are frozen)."""

    scenes: int = 20000
    vae_steps: int = 1000
    vae_batch: int = 64
    vae_lr: float = 1e-3
    transformer_steps: int = 3000
    batch: int = 64
    lr: float = 1e-3
    cond_dropout: float = 0.1  # for classifier-free guidance
    seed: int = 0

    def __post_init__(self) -> None:
        """Types and ranges of every field (numpy scalars converted); errors name the field."""
        validate_numbers(self, positive_ints=("scenes", "vae_steps", "vae_batch", "transformer_steps", "batch"),
                         positive_floats=("vae_lr", "lr"), fractions=("cond_dropout",), seeds=("seed",))  # fmt: skip

    @classmethod
    def smoke(cls) -> TinySD3PretrainConfig:
        return cls(scenes=256, vae_steps=5, vae_batch=16, transformer_steps=5, batch=16)


def pretraining_scenes(n: int, seed: int) -> list[Scene]:
    """The ``n`` scenes pretraining renders: each for a prompt drawn uniformly from the ``"pretrain"`` split
    (never a held-out scene), positions and sizes random (:func:`random_scene`)."""
    prompts = split_prompts("pretrain")
    rng = np.random.default_rng(seed)
    return [random_scene(rng, prompts[int(rng.integers(len(prompts)))]) for _ in range(n)]


def _train_vae(vae, images: torch.Tensor, cfg: TinySD3PretrainConfig, gen: torch.Generator, log) -> None:
    opt = torch.optim.AdamW(vae.parameters(), cfg.vae_lr)
    vae.train()
    for step in range(cfg.vae_steps):
        x = images[torch.randint(0, len(images), (cfg.vae_batch,), generator=gen)] * 2 - 1
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample(generator=gen)).sample
        loss = F.mse_loss(recon, x) + 1e-6 * posterior.kl().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % max(1, cfg.vae_steps // 5) == 0:
            log(f"vae step {step + 1}/{cfg.vae_steps}: loss {loss.item():.4f}")
    vae.eval().requires_grad_(False)


def _train_transformer(pipe, latents, prompt_ids, embeds, pooled, cfg: TinySD3PretrainConfig, gen, log) -> None:
    """Flow matching on cached latents and prompt embeddings (index 0 = the empty prompt, for dropout)."""
    transformer = pipe.transformer.train().requires_grad_(True)
    opt = torch.optim.AdamW(transformer.parameters(), cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.transformer_steps, pct_start=0.05)
    start = time.perf_counter()
    for step in range(cfg.transformer_steps):
        b = torch.randint(0, len(latents), (cfg.batch,), generator=gen)
        x0 = latents[b]
        noise = torch.randn(x0.shape, generator=gen)
        sigma = torch.sigmoid(torch.randn(cfg.batch, generator=gen))  # logit-normal, as SD3 trains
        x_t = (1 - sigma[:, None, None, None]) * x0 + sigma[:, None, None, None] * noise
        ids = torch.where(torch.rand(cfg.batch, generator=gen) < cfg.cond_dropout, 0, prompt_ids[b])
        pred = transformer(hidden_states=x_t, timestep=sigma * 1000, encoder_hidden_states=embeds[ids],
                           pooled_projections=pooled[ids]).sample  # fmt: skip
        loss = F.mse_loss(pred, noise - x0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(transformer.parameters(), 1.0)
        opt.step()
        sched.step()
        if (step + 1) % max(1, cfg.transformer_steps // 10) == 0:
            log(f"transformer step {step + 1}/{cfg.transformer_steps}: loss {loss.item():.4f} "
                f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    transformer.eval().requires_grad_(False)


def pretrain(out_dir: Path, cfg: TinySD3PretrainConfig | None = None, log=print,
             evaluate: Callable[[Path, bool], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Build and pretrain the tiny SD3, ``save_pretrained`` it to ``out_dir`` with ``pretrain.json``.

    ``evaluate(out_dir, quick)`` (the RL experiment's evaluation of the saved model; ``quick`` for a smoke run)
    fills the report's ``base_model``.
    """
    cfg = cfg or TinySD3PretrainConfig()
    start, commit = time.perf_counter(), git_commit()
    gen = torch.Generator().manual_seed(cfg.seed)
    pipe = build_tiny_pipeline(cfg.seed)
    scenes = pretraining_scenes(cfg.scenes, cfg.seed)
    images = torch.stack([render(s) for s in scenes])
    _train_vae(pipe.vae, images, cfg, gen, log)
    t_vae = time.perf_counter() - start
    with torch.no_grad():
        raw = torch.cat([pipe.vae.encode(images[i : i + 500] * 2 - 1).latent_dist.mode()
                         for i in range(0, len(images), 500)])  # fmt: skip
        shift, scale = raw.mean().item(), 1.0 / raw.std().item()
        pipe.vae.register_to_config(shift_factor=shift, scaling_factor=scale)
        latents = (raw - shift) * scale
        prompts = ["", *split_prompts("pretrain")]
        embeds, _, pooled, _ = pipe.encode_prompt(prompts, None, None, do_classifier_free_guidance=False,
                                                  max_sequence_length=TINY_ADAPTER["max_sequence_length"])  # fmt: skip
    index = {p: i for i, p in enumerate(prompts)}
    prompt_ids = torch.tensor([index[s.prompt] for s in scenes])
    _train_transformer(pipe, latents, prompt_ids, embeds, pooled, cfg, gen, log)
    out_dir = Path(out_dir)
    pipe.save_pretrained(out_dir)
    base = evaluate(out_dir, cfg.transformer_steps < 100) if evaluate is not None else None
    recon = _vae_reconstruction_reward(pipe, scenes[:512], images[:512])
    report = {
        "config": asdict(cfg),
        "vae": {"seconds": round(t_vae, 1), "shift_factor": shift, "scaling_factor": scale,
                "binding_reward_of_reconstructions": recon},
        "base_model": base,
        "data": {"split": "adrpo_nb.tasks.shapes.split_prompts('pretrain')", "prompts": len(prompts) - 1,
                 "held_out": "split_prompts('eval'): no scene of it, in either wording, is pretrained on"},
        "parameters": {name: sum(p.numel() for p in getattr(pipe, name).parameters())
                       for name in ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3")},
    }  # fmt: skip
    write_pretrain_report(out_dir, report, seconds=time.perf_counter() - start, commit=commit,
                          command="python -m adrpo_nb.experiments.sd3 pretrain")
    log(f"tiny SD3: binding reward {base['reward']:.3f}, diversity {base['diversity']:.3f} -> {out_dir}")
    return report


@torch.no_grad()
def _vae_reconstruction_reward(pipe, scenes, images) -> float:
    recon = pipe.vae.decode(pipe.vae.encode(images * 2 - 1).latent_dist.mode()).sample
    scores, _ = AttributeBindingReward()((recon / 2 + 0.5).clamp(0, 1), [s.prompt for s in scenes])
    return round(scores.mean().item(), 4)


# ----------------------------------------------------------------------------- prompts
