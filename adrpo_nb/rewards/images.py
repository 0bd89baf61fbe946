"""Image rewards with the convention DDPO and flow_grpo share: ``reward(images, prompts, metadata) -> (scores, info)``.

``images`` is a float tensor ``(N, 3, H, W)`` in ``[0, 1]``; ``scores`` a float tensor ``(N,)``;
``info`` a dict (``info["components"]`` maps a component name to its ``(N,)`` scores, which the
trainer logs as ``reward/<name>``). Reward functions written for those libraries (PickScore,
aesthetic, OCR, JPEG compressibility) plug in unchanged; :class:`WeightedReward` combines several.

* :class:`AttributeBindingReward` — the small path's verifiable reward: pixel analysis of the
  shapes world (:mod:`adrpo_nb.shapes`): are both colours there, on the right shapes, in the
  right relation?
* :class:`CLIPScore` — the real path's reward: ``100 · cos(CLIP image embedding, CLIP text embedding)``
  with transformers' ``CLIPModel`` (``openai/clip-vit-large-patch14``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from adrpo_nb.tasks.shapes import COLORS, parse_prompt

__all__ = ["AttributeBindingReward", "CLIPScore", "WeightedReward", "binding_checks"]

ImageReward = Callable[..., tuple[torch.Tensor, dict]]
_PALETTE = np.array([(0.0, 0.0, 0.0), *COLORS.values()], dtype=np.float32)  # index 0 = background
_COLOR_INDEX = {name: i + 1 for i, name in enumerate(COLORS)}


def _as_images(images: Any) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    if x.dtype == torch.uint8:
        x = x.float() / 255
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W) in [0, 1] (or uint8), got shape {tuple(x.shape)}")
    return x.detach().float().cpu().clamp(0, 1)


# ----------------------------------------------------------------------------- attribute binding
def _blob(labels: np.ndarray, index: int, min_area: int) -> dict | None:
    ys, xs = np.nonzero(labels == index)
    if len(xs) < min_area:
        return None
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    return {"area": len(xs), "cx": xs.mean(), "cy": ys.mean(), "fill": len(xs) / float(width * height),
            "top_heavy": (ys < ys.mean()).mean()}  # fmt: skip


def _shape_of(blob: dict) -> str:
    """Classify a blob by how much of its bounding box it fills (square ≈ 1, circle ≈ π/4, triangle ≈ 1/2)."""
    if blob["fill"] >= 0.88:
        return "square"
    if blob["fill"] >= 0.64:
        return "circle"
    return "triangle"


def binding_checks(image: torch.Tensor, metadata: Mapping[str, str], min_area: int = 6) -> dict[str, float]:
    """The five checks of one image against its prompt's metadata, each 0 or 1.

    Pixels are assigned to the nearest palette colour (or the black background) if they are
    within 0.45 of it in RGB; each prompt colour's pixels form its blob. Checks: ``color1`` and
    ``color2`` present (≥ ``min_area`` pixels), ``shape1``/``shape2`` right (by the blob's fill
    ratio of its bounding box), ``relation`` right (blob centroids, ≥ 2 px apart along the axis).
    """
    pixels = image.permute(1, 2, 0).numpy()
    dist = np.linalg.norm(pixels[:, :, None, :] - _PALETTE[None, None], axis=-1)
    labels = dist.argmin(-1)
    labels[dist.min(-1) > 0.45] = 0
    b1 = _blob(labels, _COLOR_INDEX[metadata["color1"]], min_area)
    b2 = _blob(labels, _COLOR_INDEX[metadata["color2"]], min_area)
    checks = {"color1": float(b1 is not None), "color2": float(b2 is not None)}
    checks["shape1"] = float(b1 is not None and _shape_of(b1) == metadata["shape1"])
    checks["shape2"] = float(b2 is not None and _shape_of(b2) == metadata["shape2"])
    relation = 0.0
    if b1 is not None and b2 is not None:
        dx, dy = b1["cx"] - b2["cx"], b1["cy"] - b2["cy"]
        relation = float({"above": dy < -2, "below": dy > 2, "to the left of": dx < -2,
                          "to the right of": dx > 2}[metadata["relation"]])  # fmt: skip
    checks["relation"] = relation
    return checks


class AttributeBindingReward:
    """Fraction of the five binding checks (:func:`binding_checks`) an image passes, in ``[0, 1]``.

    ``metadata`` per image (from the sampler) is used if given, else the prompt is parsed. Components:
    ``binding/colors`` (both colours present), ``binding/shapes`` (right shape of each colour),
    ``binding/relation``, and ``binding/all`` (1 if every check passes).
    """

    __name__ = "attribute_binding"

    def __call__(self, images: Any, prompts: Sequence[str], metadata: Sequence[Mapping] | None = None):
        x = _as_images(images)
        if len(prompts) != x.shape[0]:
            raise ValueError(f"got {x.shape[0]} images for {len(prompts)} prompts")
        metas = [m if m and "color1" in m else parse_prompt(p) for p, m in zip(prompts, metadata or [None] * len(x),
                                                                               strict=True)]  # fmt: skip
        checks = [binding_checks(img, m) for img, m in zip(x, metas, strict=True)]
        table = {k: torch.tensor([c[k] for c in checks]) for k in checks[0]}
        scores = torch.stack(list(table.values())).mean(0)
        components = {
            "binding/colors": (table["color1"] + table["color2"]) / 2,
            "binding/shapes": (table["shape1"] + table["shape2"]) / 2,
            "binding/relation": table["relation"],
            "binding/all": (scores == 1).float(),
        }
        return scores, {"components": components}


# ----------------------------------------------------------------------------- CLIP score
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CLIPScore:
    """``100 · cos(image, text)`` in CLIP's joint embedding space (the SD3 figure's reward, ≈ 29–33).

    Args:
        model_id: a hub id or a local folder for ``CLIPModel.from_pretrained`` and its tokenizer.
        model, tokenizer: already loaded ones (e.g. a tiny CLIP in tests); then ``model_id`` is unused.
    Images are resized (shorter side to the model's size, bicubic), centre-cropped and normalised in torch.
    ``info["image_embeds"]`` holds the normalised image embeddings (for :func:`adrpo_nb.metrics.clip_diversity`).
    """

    __name__ = "clip_score"

    def __init__(self, model_id: str = "openai/clip-vit-large-patch14", device: str | torch.device | None = None,
                 dtype: torch.dtype = torch.float32, model: Any = None, tokenizer: Any = None):  # fmt: skip
        from transformers import AutoTokenizer, CLIPModel

        if model is None:
            try:
                model = CLIPModel.from_pretrained(model_id, torch_dtype=dtype)
                tokenizer = AutoTokenizer.from_pretrained(model_id)
            except OSError as err:
                raise OSError(
                    f"could not load CLIP {model_id!r} ({err}). The real path needs the Hugging Face Hub or a local "
                    "copy (pass its folder as model_id); the small path uses AttributeBindingReward instead."
                ) from None
        self.device = torch.device(device or "cpu")
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.size = self.model.config.vision_config.image_size

    def _pixels(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        scale = self.size / min(h, w)
        x = F.interpolate(x, size=(max(self.size, round(h * scale)), max(self.size, round(w * scale))),
                          mode="bicubic", align_corners=False).clamp(0, 1)  # fmt: skip
        top, left = (x.shape[-2] - self.size) // 2, (x.shape[-1] - self.size) // 2
        x = x[..., top : top + self.size, left : left + self.size]
        mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def __call__(self, images: Any, prompts: Sequence[str], metadata: Sequence[Mapping] | None = None):
        x = self._pixels(_as_images(images)).to(self.device, next(self.model.parameters()).dtype)
        text = self.tokenizer(list(prompts), padding=True, truncation=True, return_tensors="pt").to(self.device)
        img = F.normalize(_features(self.model.get_image_features(pixel_values=x)), dim=-1)
        txt = F.normalize(_features(self.model.get_text_features(**text)), dim=-1)
        scores = 100 * (img * txt).sum(-1)
        return scores.cpu(), {"image_embeds": img.cpu(), "components": {"clip_score": scores.cpu()}}


def _features(out: Any) -> torch.Tensor:
    """transformers < 5 returns the projected embeddings; ≥ 5 a model output whose ``pooler_output`` holds them."""
    return (out if isinstance(out, torch.Tensor) else out.pooler_output).float()


# ----------------------------------------------------------------------------- combination
class WeightedReward:
    """Weighted sum of several rewards: ``WeightedReward({"clip": (CLIPScore(), 1.0), "jpeg": (jpeg_fn, 0.1)})``.

    Each component's raw scores appear in ``info["components"][name]`` (and their own components
    with a ``name/`` prefix); other ``info`` entries are kept under ``info[name]``.
    """

    def __init__(self, rewards: Mapping[str, tuple[ImageReward, float]]):
        if not rewards:
            raise ValueError("WeightedReward needs at least one (reward, weight)")
        for name, (fn, weight) in rewards.items():
            if not callable(fn) or not np.isfinite(weight):
                raise ValueError(f"component {name!r} needs a callable and a finite weight, got {fn!r}, {weight!r}")
        self.rewards = dict(rewards)
        self.__name__ = "+".join(self.rewards)

    def __call__(self, images: Any, prompts: Sequence[str], metadata: Sequence[Mapping] | None = None):
        total, info, components = None, {}, {}
        for name, (fn, weight) in self.rewards.items():
            scores, sub = fn(images, prompts, metadata)
            scores = torch.as_tensor(scores, dtype=torch.float32)
            total = weight * scores if total is None else total + weight * scores
            components[name] = scores
            components.update({f"{name}/{k}": v for k, v in (sub or {}).get("components", {}).items()})
            info[name] = {k: v for k, v in (sub or {}).items() if k != "components"}
        info["components"] = components
        return total, info
