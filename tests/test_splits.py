"""Evaluation held out *by meaning*: each task's canonical form, and splits disjoint under it (issue 21).

For every task: the canonical form identifies items that are the same question in another wording (so it is
not the string), the evaluation split shares no canonical form with RL training or with pretraining, and the
data the pretraining code actually draws holds no evaluation item.
"""

import json

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


# ----------------------------------------------------------------------------- countdown
def test_countdown_canonical_form_ignores_the_order_of_the_digits_only():
    from adrpo_nb.tasks import countdown

    assert countdown.canonical_form("4,7,2,9:13") == countdown.canonical_form("9,2,7,4:13") == ((2, 4, 7, 9), 13)
    p = countdown.Puzzle((4, 7, 2, 9), 13)
    assert countdown.canonical_form(p) == countdown.canonical_form(p.as_row()) == countdown.canonical_form(p.prompt)
    assert countdown.solutions((9, 2, 7, 4), 13) != [] and len(countdown.solutions((9, 2, 7, 4), 13)) == \
        len(countdown.solutions((4, 7, 2, 9), 13))  # fmt: skip
    assert countdown.canonical_form("4,7,2,9:12") != countdown.canonical_form("4,7,2,9:13")
    assert countdown.canonical_form("4,7,2,8:13") != countdown.canonical_form("4,7,2,9:13")
    with pytest.raises(ValueError, match="not a countdown prompt"):
        countdown.parse_prompt("4,7,2,9=13")


def test_countdown_split_side_is_a_property_of_the_canonical_form():
    import itertools

    from adrpo_nb.tasks import countdown

    for p in countdown.eval_puzzles(64) + countdown.make_puzzles(64, seed=5):
        sides = {countdown.split_of(countdown.Puzzle(order, p.target)) for order in itertools.permutations(p.numbers)}
        assert len(sides) == 1
    draws = countdown.make_puzzles(4000, seed=5)
    share = sum(countdown.split_of(p) == "eval" for p in draws) / len(draws)
    assert 0.07 < share < 0.18  # about 1 in EVAL_BUCKETS, not a degenerate split


def test_countdown_evaluation_shares_no_canonical_form_with_rl_rows_or_pretraining():
    import random

    from adrpo_nb.tasks import countdown

    pool = countdown.eval_puzzles(countdown.EVAL_POOL)
    held = {countdown.canonical_form(p) for p in pool}
    assert len(held) == len(pool) == countdown.EVAL_POOL  # one puzzle per form
    assert countdown.eval_puzzles(128) == pool[:128] and len(countdown.eval_puzzles()) == 256
    assert all(countdown.split_of(p) == "eval" for p in pool)
    rows = countdown.rl_rows(4000)
    assert len(rows) == 4000 and not held & {countdown.canonical_form(r) for r in rows}
    pretraining = countdown.pretraining_puzzles(20000)
    assert not held & {countdown.canonical_form(p) for p in pretraining}
    # the old rule (skip the eval puzzles as strings) leaves same-meaning twins: the check above is sharper
    string_only = countdown.make_puzzles(4000, countdown.RL_SEED, exclude=pool)
    assert held & {countdown.canonical_form(p) for p in string_only}
    assert countdown.pretraining_puzzles(50) == [p for p, _ in countdown.pretraining_examples(random.Random(1234), 50)]
    with pytest.raises(ValueError, match="n=513"):
        countdown.eval_puzzles(countdown.EVAL_POOL + 1)


def test_countdown_pretraining_batches_hold_no_evaluation_puzzle():
    import random

    from adrpo_nb.experiments.qwen.pretrain import sft_batch
    from adrpo_nb.models.tiny_qwen import build_char_tokenizer
    from adrpo_nb.tasks import countdown

    tok = build_char_tokenizer()
    held = {countdown.canonical_form(p) for p in countdown.eval_puzzles(countdown.EVAL_POOL)}
    rng, prompts = random.Random(1234), []
    for _ in range(40):  # 40 batches of 64, as pretraining draws them
        batch = sft_batch(tok, rng, 64)
        for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True):
            prompts.append(tok.decode(ids[(labels == -100) & mask.bool()].tolist()).replace(" ", ""))
    assert prompts[:64] == [p.prompt for p in countdown.pretraining_puzzles(64)]  # what the batches decode to
    assert not held & {countdown.canonical_form(p) for p in prompts}


def test_countdown_splits_lists_prompt_strings_disjoint_by_meaning():
    from adrpo_nb.tasks import countdown

    splits = countdown.splits(pretrain_examples=3000, n_rl=1000)
    assert set(splits) == {"pretrain", "rl_train", "eval"} and len(splits["eval"]) == 128
    assert all(isinstance(p, str) for side in splits.values() for p in side)
    held = {countdown.canonical_form(p) for p in splits["eval"]}
    for side in ("pretrain", "rl_train"):
        assert not held & {countdown.canonical_form(p) for p in splits[side]}, side
    assert json.loads(json.dumps(splits)) == splits


# ----------------------------------------------------------------------------- audio QA
def _moved(q, **params):
    """``q`` with other params (a new sha256 is not stored: the clip is re-rendered to hash it)."""
    from adrpo_nb.tasks.audio_qa import AudioQuestion

    return AudioQuestion(q.id + "-moved", q.task, q.question, list(q.choices), q.answer, {**q.params, **params})


def test_audio_canonical_form_ignores_onset_loudness_and_background_only():
    from adrpo_nb.tasks import audio_qa

    test = audio_qa.load_split("test")
    for q in test[:5]:  # one of each task
        same = _moved(q, amplitude=round(q.params["amplitude"] * 0.8, 3), noise_seed=q.params["noise_seed"] + 1,
                      **({"starts": [round(t + 0.02, 4) for t in q.params["starts"]]} if q.task == "count"
                         else {"onset": round(q.params["onset"] + 0.02, 4)}))  # fmt: skip
        assert audio_qa.clip_sha256(same.audio()) != q.sha256  # another clip, as a string or a hash
        assert audio_qa.canonical_form(same) == audio_qa.canonical_form(q), q.task
    pitch, count, chord = test[0], test[1], test[2]
    assert audio_qa.canonical_form(_moved(pitch, freqs=[f * 1.5 for f in pitch.params["freqs"]])) != \
        audio_qa.canonical_form(pitch)  # fmt: skip
    assert audio_qa.canonical_form(_moved(count, durations=[d + 0.03 for d in count.params["durations"]])) != \
        audio_qa.canonical_form(count)  # fmt: skip
    assert audio_qa.canonical_form(_moved(chord, root=chord.params["root"] * 1.3)) != audio_qa.canonical_form(chord)


def test_audio_evaluation_shares_no_item_with_rl_training_or_pretraining():
    from adrpo_nb.experiments.audio.pretrain import AudioPretrainConfig, pretraining_data
    from adrpo_nb.tasks import audio_qa

    train, test = audio_qa.load_split("train"), audio_qa.load_split("test")
    ev, rl = audio_qa.split_questions("eval"), audio_qa.split_questions("rl_train")
    assert ev == test and len(ev) == 400  # the evaluation is the committed test file
    held = {audio_qa.canonical_form(q) for q in ev}
    assert not held & {audio_qa.canonical_form(q) for q in rl}
    assert audio_qa.split_questions("pretrain") == rl == audio_qa.split_questions("train")
    assert {q.id for q in rl} < {q.id for q in train} and len(rl) > 0.9 * len(train)
    # the train file itself holds same-item twins of eval questions (not the same clips): the filter is needed
    assert held & {audio_qa.canonical_form(q) for q in train}
    assert not {q.sha256 for q in train} & {q.sha256 for q in test}
    pre_train, pre_eval = pretraining_data(AudioPretrainConfig())
    assert pre_train == rl and not held & {audio_qa.canonical_form(q) for q in pre_train}
    assert pre_eval == ev[:100]
    with pytest.raises(ValueError, match="split='val'"):
        audio_qa.split_questions("val")


def test_audio_splits_list_clip_hashes():
    from adrpo_nb.tasks import audio_qa

    splits = audio_qa.splits()
    assert set(splits) == {"pretrain", "rl_train", "eval"}
    assert splits["eval"] == [q.sha256 for q in audio_qa.load_split("test")]
    assert all(len(h) == 64 for side in splits.values() for h in side)
    assert not set(splits["eval"]) & set(splits["rl_train"])
    assert json.loads(json.dumps(splits)) == splits
    q = audio_qa.split_questions("rl_train")[7]
    assert audio_qa.clip_sha256(q.audio()) == q.sha256 == splits["rl_train"][7]


# ----------------------------------------------------------------------------- what `splits --json` prints
def test_family_splits_are_disjoint_by_meaning_and_the_overlap_count_sees_a_string_only_split(tmp_path):
    import numpy as np

    from adrpo_nb.tasks.splits import family_splits, same_meaning_overlap

    for family in ("sd3", "audio"):
        splits = family_splits(family)
        assert same_meaning_overlap(family, splits) == {"rl_train": 0, "pretrain": 0}
    # the old string-level SD3 split (48 prompts of a seeded permutation): 42 of them had their mirror in training
    prompts = shapes.all_prompts()
    held = set(np.random.default_rng(4242).permutation(len(prompts))[:48].tolist())
    old = {"eval": [p for i, p in enumerate(prompts) if i in held]}
    old["rl_train"] = [p for i, p in enumerate(prompts) if i not in held]
    old["pretrain"] = prompts
    assert same_meaning_overlap("sd3", old) == {"rl_train": 42, "pretrain": 48}
    # qwen lists the pretraining stream of a given model: steps x batch size from its pretrain.json
    (tmp_path / "pretrain.json").write_text(json.dumps({"steps": 10, "config": {"batch_size": 64, "seed": 1234},
                                                        "data": {}}))  # fmt: skip
    splits = family_splits("qwen", tmp_path)
    assert 500 < len(splits["pretrain"]) <= 640 and len(splits["rl_train"]) > 3000 and len(splits["eval"]) == 128
    assert same_meaning_overlap("qwen", splits) == {"rl_train": 0, "pretrain": 0}
    (tmp_path / "pretrain.json").write_text(json.dumps({"steps": 10, "config": {"batch_size": 64, "seed": 1234}}))
    with pytest.raises(ValueError, match="before the split by meaning"):
        family_splits("qwen", tmp_path)
