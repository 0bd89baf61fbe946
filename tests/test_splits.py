"""Evaluation held out *by meaning*: each task's canonical form, and splits disjoint under it (issue 21).

For every task: the canonical form identifies items that are the same question in another wording (so it is
not the string), the evaluation split shares no canonical form with RL training or with pretraining, and the
data the pretraining code actually draws holds no evaluation item.
"""

import pytest

from adrpo_nb.tasks import shapes


# ----------------------------------------------------------------------------- SD3: the shapes world
def test_shapes_canonical_form_identifies_mirrored_prompts_and_nothing_else():
    p = "a red circle below a blue circle"
    assert shapes.mirror_prompt(p) == "a blue circle above a red circle"
    assert shapes.canonical_form(p) == shapes.canonical_form("a blue circle above a red circle")
    assert shapes.canonical_form("a green square to the right of a red triangle") == \
        shapes.canonical_form("a red triangle to the left of a green square")  # fmt: skip
    # a swapped pair without swapping the relation is another scene; so is the other axis
    assert shapes.canonical_form(p) != shapes.canonical_form("a blue circle below a red circle")
    assert shapes.canonical_form(p) != shapes.canonical_form("a blue circle to the left of a red circle")
    prompts = shapes.all_prompts()
    forms = {shapes.canonical_form(q) for q in prompts}
    assert len(prompts) == 432 and len(forms) == 216  # every scene has exactly two wordings
    assert all(shapes.canonical_form(shapes.mirror_prompt(q)) == shapes.canonical_form(q) for q in prompts)
    scene = shapes.random_scene(__import__("numpy").random.default_rng(0), p)
    assert shapes.canonical_form(scene) == shapes.canonical_form(p) == shapes.canonical_form(shapes.parse_prompt(p))


def test_shapes_splits_are_disjoint_by_scene_and_cover_the_world():
    splits = shapes.splits()
    assert set(splits) == {"pretrain", "rl_train", "eval"}
    assert len(splits["eval"]) == shapes.N_EVAL_PROMPTS == 48 and len(splits["rl_train"]) == 432 - 48
    assert splits["pretrain"] == splits["rl_train"] == shapes.split_prompts("train")
    held = {shapes.canonical_form(p) for p in splits["eval"]}
    assert len(held) == shapes.N_EVAL_SCENES == 24
    for side in ("pretrain", "rl_train"):
        assert not held & {shapes.canonical_form(p) for p in splits[side]}, side
    # both wordings of every held-out scene are evaluated, and nothing is lost
    assert all(shapes.mirror_prompt(p) in splits["eval"] for p in splits["eval"])
    assert sorted(splits["eval"] + splits["rl_train"]) == sorted(shapes.all_prompts())
    assert shapes.splits() == splits  # deterministic
    with pytest.raises(ValueError, match="split='test'"):
        shapes.split_prompts("test")


def test_shapes_pretraining_scenes_come_from_the_pretraining_side_only():
    from adrpo_nb.experiments.sd3.pretrain import pretraining_scenes

    held = {shapes.canonical_form(p) for p in shapes.split_prompts("eval")}
    scenes = pretraining_scenes(2000, seed=0)
    assert len({s.prompt for s in scenes}) > 350  # it does draw across the whole pretraining side
    assert not held & {shapes.canonical_form(s) for s in scenes}
    assert {s.prompt for s in scenes} <= set(shapes.split_prompts("pretrain"))
    assert [s.prompt for s in pretraining_scenes(50, seed=0)] == [s.prompt for s in scenes[:50]]
