"""A synthetic text-to-image world for the small SD3: two coloured shapes in a spatial relation.

Prompts read like DrawBench's attribute-binding and position prompts, e.g.
``"a red circle above a blue square"``. Every prompt has a parse (:class:`Scene` without
positions) that the pixel-analysis reward (:mod:`adrpo_nb.rewards.images`) checks images against.
Images are 32×32 RGB in ``[0, 1]`` on a black background.

The 432 prompts are split once (:func:`split_prompts`): a fixed seeded permutation puts
:data:`N_EVAL_PROMPTS` of them in ``"eval"`` and the rest in ``"train"``, so RL never trains on a
prompt it is evaluated on. (The tiny SD3 itself was *pretrained* on images of all 432 prompts
before this split existed; that cannot be redone without re-pretraining, so the held-out prompts
are held out from RL fine-tuning only.)
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass

import numpy as np
import torch

__all__ = [
    "COLORS",
    "RELATIONS",
    "SHAPES",
    "Scene",
    "N_EVAL_PROMPTS",
    "SPLIT_SEED",
    "all_prompts",
    "parse_prompt",
    "random_scene",
    "render",
    "split_prompts",
]

#: palette name -> RGB in [0, 1]; distinct hues so colour segmentation is unambiguous
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.15, 0.15),
    "green": (0.15, 0.75, 0.20),
    "blue": (0.20, 0.35, 0.95),
    "yellow": (0.95, 0.85, 0.15),
}
SHAPES = ("circle", "square", "triangle")
RELATIONS = ("above", "below", "to the left of", "to the right of")
IMAGE_SIZE = 32
#: the evaluation split: N_EVAL_PROMPTS prompts drawn by a permutation seeded with SPLIT_SEED (the
#: 48 prompts every committed SD3 result was evaluated on)
N_EVAL_PROMPTS, SPLIT_SEED = 48, 4242


@dataclass(frozen=True)
class Scene:
    """Two objects and how the first relates to the second; ``pos*`` are centres in pixels (x, y)."""

    color1: str
    shape1: str
    relation: str
    color2: str
    shape2: str
    pos1: tuple[float, float] = (0.0, 0.0)
    pos2: tuple[float, float] = (0.0, 0.0)
    size1: float = 6.0
    size2: float = 6.0

    @property
    def prompt(self) -> str:
        return f"a {self.color1} {self.shape1} {self.relation} a {self.color2} {self.shape2}"

    def metadata(self) -> dict:
        """What a reward needs to check a picture against this prompt (no positions)."""
        d = asdict(self)
        for key in ("pos1", "pos2", "size1", "size2"):
            d.pop(key)
        return d


_PROMPT = re.compile(
    r"^a (?P<color1>\w+) (?P<shape1>\w+) (?P<relation>above|below|to the left of|to the right of) "
    r"a (?P<color2>\w+) (?P<shape2>\w+)$"
)


def parse_prompt(prompt: str) -> dict:
    """The metadata of a shapes prompt; ValueError (naming the prompt) if it is not one."""
    m = _PROMPT.match(prompt.strip().lower())
    if not m or m["color1"] not in COLORS or m["color2"] not in COLORS or m["shape1"] not in SHAPES \
            or m["shape2"] not in SHAPES or m["color1"] == m["color2"]:  # fmt: skip
        raise ValueError(f"not a shapes prompt (a <colour> <shape> <relation> a <other colour> <shape>): {prompt!r}")
    return m.groupdict()


def all_prompts() -> list[str]:
    """Every prompt of the world: 4 colours × 3 shapes, a different colour × 3 shapes, 4 relations (432)."""
    out = []
    for c1, s1, rel, c2, s2 in itertools.product(COLORS, SHAPES, RELATIONS, COLORS, SHAPES):
        if c1 != c2:
            out.append(Scene(c1, s1, rel, c2, s2).prompt)
    return out


def split_prompts(split: str) -> list[str]:
    """The prompts of one split, in :func:`all_prompts` order: ``"eval"`` (:data:`N_EVAL_PROMPTS` prompts,
    a fixed permutation seeded with :data:`SPLIT_SEED`) or ``"train"`` (every other prompt: the two are
    disjoint by construction and together are all 432)."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got split={split!r}")
    prompts = all_prompts()
    held_out = set(np.random.default_rng(SPLIT_SEED).permutation(len(prompts))[:N_EVAL_PROMPTS].tolist())
    return [p for i, p in enumerate(prompts) if (i in held_out) == (split == "eval")]


def random_scene(rng: np.random.Generator, prompt: str | None = None) -> Scene:
    """A scene (random, or for ``prompt``) with positions that satisfy its relation and do not overlap."""
    meta = parse_prompt(prompt) if prompt is not None else {
        "color1": (c1 := rng.choice(list(COLORS))), "shape1": rng.choice(SHAPES),
        "relation": rng.choice(RELATIONS), "color2": rng.choice([c for c in COLORS if c != c1]),
        "shape2": rng.choice(SHAPES),
    }  # fmt: skip
    size1, size2 = rng.uniform(4.5, 7.0, size=2)
    lo, hi = 8.0, IMAGE_SIZE - 8.0
    along = sorted(rng.uniform(lo, hi, size=2))
    while along[1] - along[0] < 11.0:  # keep the two shapes apart along the relation's axis
        along = sorted(rng.uniform(lo, hi, size=2))
    across = rng.uniform(lo, hi, size=2)
    first, second = (along[0], along[1]) if meta["relation"] in ("above", "to the left of") else (along[1], along[0])
    if meta["relation"] in ("above", "below"):  # y grows downwards
        pos1, pos2 = (across[0], first), (across[1], second)
    else:
        pos1, pos2 = (first, across[0]), (second, across[1])
    return Scene(**meta, pos1=tuple(map(float, pos1)), pos2=tuple(map(float, pos2)),
                 size1=float(size1), size2=float(size2))  # fmt: skip


def _shape_mask(shape: str, center: tuple[float, float], size: float, n: int = IMAGE_SIZE) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n] + 0.5
    cx, cy = center
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= size**2
    if shape == "square":
        half = size * math.sqrt(math.pi) / 2  # same area as the circle of radius `size`
        return (np.abs(xx - cx) <= half) & (np.abs(yy - cy) <= half)
    if shape == "triangle":  # upright isosceles, apex up
        height = size * 2.3
        top, bottom = cy - height / 2, cy + height / 2
        half_width = (yy - top) / height * size * 1.25
        return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half_width)
    raise ValueError(f"unknown shape {shape!r}; shapes are {SHAPES}")


def render(scene: Scene, n: int = IMAGE_SIZE) -> torch.Tensor:
    """The scene as a ``(3, n, n)`` float image in ``[0, 1]`` (black background)."""
    img = np.zeros((n, n, 3), dtype=np.float32)
    for shape, color, pos, size in ((scene.shape1, scene.color1, scene.pos1, scene.size1),
                                    (scene.shape2, scene.color2, scene.pos2, scene.size2)):  # fmt: skip
        img[_shape_mask(shape, pos, size, n)] = COLORS[color]
    return torch.from_numpy(img).permute(2, 0, 1).contiguous()
