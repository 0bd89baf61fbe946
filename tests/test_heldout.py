"""Evaluation sets that really are held out: no RL training row is an evaluation item (countdown, audio QA).

The SD3 prompt split is tested in test_sd3.py (test_train_and_eval_prompts_are_disjoint_by_construction).
"""

import json

import pytest

from adrpo_nb.experiments.qwen import family as qwen
from adrpo_nb.tasks.countdown import Puzzle, make_puzzles


def test_countdown_rows_the_rl_runs_read_share_no_meaning_with_the_puzzles_they_are_scored_on():
    from adrpo_nb.tasks.countdown import canonical_form

    rows = qwen.countdown_rows(4000)
    assert len(rows) == 4000
    held_out = {canonical_form(p) for p in qwen.eval_puzzles(qwen.EVAL_POOL)}
    assert len(held_out) == qwen.EVAL_POOL  # distinct forms: no puzzle is scored twice under two orders
    assert not {canonical_form(Puzzle(tuple(r["numbers"]), r["target"])) for r in rows} & held_out
    # a reordered evaluation puzzle is the same item: it would have counted as held out under exact matching
    p = qwen.eval_puzzles(1)[0]
    assert canonical_form(Puzzle(tuple(reversed(p.numbers)), p.target)) in held_out
    with pytest.raises(ValueError, match=f"n={qwen.EVAL_POOL + 1}"):
        qwen.eval_puzzles(qwen.EVAL_POOL + 1)


def test_make_puzzles_skips_excluded_puzzles_and_keeps_the_order_of_the_rest():
    full = make_puzzles(20, 3)
    kept = make_puzzles(18, 3, exclude={full[2], full[5]})
    assert kept == [p for i, p in enumerate(full) if i not in (2, 5)]


def test_audio_train_and_test_splits_share_no_question():
    from adrpo_nb.experiments.audio import family as audio
    from adrpo_nb.tasks.audio_qa import canonical_form, load_split

    train, test = audio.dataset("rl_train").questions, load_split("test")

    def content(q):  # what the question *is*: the clip (task and its parameters) and the stored clip hash
        return q.task, json.dumps(q.params, sort_keys=True)

    assert not {content(q) for q in train} & {content(q) for q in test}
    assert not {q.sha256 for q in train} & {q.sha256 for q in test}
    assert not {q.id for q in train} & {q.id for q in test}
    # the experiment evaluates on the test file and trains on the train file less every same-meaning twin
    assert {content(q) for q in audio.eval_questions()} <= {content(q) for q in test}
    assert not {canonical_form(q) for q in train} & {canonical_form(q) for q in audio.eval_questions()}
    whole_train = load_split("train")
    assert {q.id for q in train} < {q.id for q in whole_train}  # the file holds twins (a louder, later tone...)
    assert audio.dataset("train").questions == train and audio.dataset("test").questions == test
