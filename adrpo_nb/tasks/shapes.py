"""A synthetic text-to-image world for the small SD3: two coloured shapes in a spatial relation.

Prompts read like DrawBench's attribute-binding and position prompts, e.g.
``"a red circle above a blue square"``. Every prompt has a parse (:class:`Scene` without
positions) that the pixel-analysis reward (:mod:`adrpo_nb.rewards.images`) checks images against.
Images are 32×32 RGB in ``[0, 1]`` on a black background.

The 432 prompts are split *by meaning*, not by string (:func:`split_prompts`, :func:`splits`). Two prompts
mean the same scene when one is the other's mirror: ``"a red circle below a blue circle"`` and ``"a blue circle
above a red circle"`` describe the same pictures and get the same reward checks. :func:`canonical_form` maps a
prompt to its scene (the relation's axis and the two objects in reading order: top before bottom, left before
right), so the 432 prompts form 216 scenes of two wordings each. A fixed seeded draw holds
:data:`N_EVAL_SCENES` scenes out (12 per axis); ``"eval"`` is both wordings of each (:data:`N_EVAL_PROMPTS`
prompts) and every other prompt is the training side, which RL fine-tunes on *and* the tiny SD3 is pretrained on
(``"rl_train"`` = ``"pretrain"`` = ``"train"``). No evaluation scene is ever trained on, in either wording.

(The tiny SD3 shipped in ``data/checkpoints/sd3_tiny`` was pretrained on all 432 prompts, before this split
existed; so were the results committed with it.)
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
    "N_EVAL_SCENES",
    "SPLITS",
    "SPLIT_SEED",
    "all_prompts",
    "canonical_form",
    "mirror_prompt",
    "parse_prompt",
    "random_scene",
    "render",
    "split_prompts",
    "splits",
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
#: the evaluation split: N_EVAL_SCENES scenes (half per relation axis) drawn by permutations seeded with
#: SPLIT_SEED, each in both wordings: N_EVAL_PROMPTS prompts. (The committed SD3 results were evaluated on
#: another 48 prompts, a string-level draw whose scenes 42 of the RL prompts also described.)
N_EVAL_SCENES, SPLIT_SEED = 24, 4242
N_EVAL_PROMPTS = 2 * N_EVAL_SCENES
#: the split names: ``"train"`` is ``"rl_train"`` is ``"pretrain"`` (pretraining may see what RL trains on)
SPLITS = ("pretrain", "rl_train", "eval")
_MIRROR = {"above": "below", "below": "above", "to the left of": "to the right of",
           "to the right of": "to the left of"}  # fmt: skip


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


def canonical_form(item: str | Scene | dict) -> tuple[str, tuple[str, str], tuple[str, str]]:
    """What a prompt (or a :class:`Scene`, or a :func:`parse_prompt` dict) *means*: ``(axis, first, second)``
    with ``axis`` ``"vertical"`` or ``"horizontal"`` and ``first``/``second`` the ``(colour, shape)`` on top /
    on the left and the other one. A prompt and its mirror (:func:`mirror_prompt`) have the same form:

    >>> canonical_form("a red circle below a blue circle") == canonical_form("a blue circle above a red circle")
    True
    """
    meta = parse_prompt(item) if isinstance(item, str) else item.metadata() if isinstance(item, Scene) else item
    a, b = (meta["color1"], meta["shape1"]), (meta["color2"], meta["shape2"])
    relation = meta["relation"]
    if relation not in _MIRROR:
        raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
    axis = "vertical" if relation in ("above", "below") else "horizontal"
    return (axis, a, b) if relation in ("above", "to the left of") else (axis, b, a)


def mirror_prompt(prompt: str) -> str:
    """The other wording of the same scene: ``"a red circle below a blue square"`` ->
    ``"a blue square above a red circle"``."""
    m = parse_prompt(prompt)
    return Scene(m["color2"], m["shape2"], _MIRROR[m["relation"]], m["color1"], m["shape1"]).prompt


def _eval_scenes() -> frozenset:
    """The held-out scenes: per axis, the first N_EVAL_SCENES / 2 of a permutation (seeded with SPLIT_SEED) of
    that axis's sorted canonical forms."""
    forms = sorted({canonical_form(p) for p in all_prompts()})
    rng = np.random.default_rng(SPLIT_SEED)
    held = []
    for axis in ("vertical", "horizontal"):
        of_axis = [f for f in forms if f[0] == axis]
        held += [of_axis[i] for i in rng.permutation(len(of_axis))[: N_EVAL_SCENES // 2]]
    return frozenset(held)


def split_prompts(split: str) -> list[str]:
    """The prompts of one split, in :func:`all_prompts` order: ``"eval"`` (both wordings of the
    :data:`N_EVAL_SCENES` held-out scenes: :data:`N_EVAL_PROMPTS` prompts) or the training side, ``"train"`` =
    ``"rl_train"`` = ``"pretrain"`` (every other prompt). Disjoint under :func:`canonical_form` by construction:
    the split is drawn over scenes, then each scene brings both its wordings; together they are all 432."""
    if split not in ("train", *SPLITS):
        raise ValueError(f"split must be one of {('train', *SPLITS)}, got split={split!r}")
    held_out = _eval_scenes()
    return [p for p in all_prompts() if (canonical_form(p) in held_out) == (split == "eval")]


def splits() -> dict[str, list[str]]:
    """``{"pretrain": [...], "rl_train": [...], "eval": [...]}``: the prompts of each split (what
    ``python -m adrpo_nb.experiments.sd3 splits --json`` prints)."""
    return {name: split_prompts(name) for name in SPLITS}


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
