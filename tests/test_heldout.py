"""Evaluation sets that really are held out: no RL training row is an evaluation item (countdown, audio QA).

The SD3 prompt split is tested in test_sd3.py (test_train_and_eval_prompts_are_disjoint_by_construction).
"""

import json

import pytest

from adrpo_nb.experiments.qwen import family as qwen
from adrpo_nb.tasks.countdown import Puzzle, make_puzzles


def test_countdown_training_rows_never_hold_an_evaluation_puzzle():
    held_out = set(make_puzzles(qwen.EVAL_POOL, qwen.EVAL_SEED))
    assert set(qwen.eval_puzzles(256)) <= held_out and qwen.eval_puzzles(256) == make_puzzles(256, qwen.EVAL_SEED)
    rows = qwen.countdown_rows(4000)
    assert len(rows) == 4000
    assert not {Puzzle(tuple(r["numbers"]), r["target"]) for r in rows} & held_out
    # the unfiltered draw of the same seed does hold some (10 of the 256 among the first 4000): the filter works
    assert {p for p in make_puzzles(4000, qwen.TRAIN_SEED)} & set(qwen.eval_puzzles(256))
    with pytest.raises(ValueError, match="n=1025"):
        qwen.eval_puzzles(qwen.EVAL_POOL + 1)


def test_make_puzzles_skips_excluded_puzzles_and_keeps_the_order_of_the_rest():
    full = make_puzzles(20, 3)
    kept = make_puzzles(18, 3, exclude={full[2], full[5]})
    assert kept == [p for i, p in enumerate(full) if i not in (2, 5)]


def test_audio_train_and_test_splits_share_no_question():
    from adrpo_nb.experiments.audio import family as audio
    from adrpo_nb.tasks.audio_qa import load_split

    train, test = load_split("train"), load_split("test")

    def content(q):  # what the question *is*: the clip (task and its parameters) and the stored clip hash
        return q.task, json.dumps(q.params, sort_keys=True)

    assert not {content(q) for q in train} & {content(q) for q in test}
    assert not {q.sha256 for q in train} & {q.sha256 for q in test}
    assert not {q.id for q in train} & {q.id for q in test}
    # the experiment trains on the train split and evaluates on the test split
    assert {content(q) for q in audio.eval_questions()} <= {content(q) for q in test}
    rows = audio.dataset("train")
    assert {content(rows.questions[i]) for i in range(len(rows))} <= {content(q) for q in train}
