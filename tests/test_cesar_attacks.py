"""CESAR must pay for reasoning, not for words: five attacks on every task type of the synthetic audio benchmark.

For every task of :mod:`adrpo_nb.tasks.audio_qa` and every answer choice, a real item is drawn from the task
generator and its *genuine* completions are the benchmark's own worked traces
(:func:`~adrpo_nb.tasks.audio_qa.worked_completion`, every template: the form the tiny model is pretrained on).
Each attack gives the correct answer (so accuracy and format are paid in full, as for the genuine trace) and must
score a lower *total* CESAR reward than every genuine trace (than the genuine trace it is made of, for an attack
that pastes words into a genuine trace or repeats part of one), with the reward as the audio experiment composes it:
``cesar_reward_funcs(CESAR_ALPHAS, l_max=...)``, each function's score times its weight, summed (as
:func:`adrpo_nb.trainers.grpo.score_completions` and TRL do), on dataset rows with the columns
:class:`~adrpo_nb.experiments.audio.family.AudioQARows` gives (``answer``, ``choices``, ``question``, ...).

The attacks (issue 21, part 5):

* ``salad``: eight structure keywords (two analytical words, two connectives, three audio terms) then the answer;
* ``hedge``: a reasoning that names every choice as a possibility;
* ``question``: the question's words pasted into the reasoning (alone, with a keyword salad, before or after a
  genuine trace);
* ``other_answer``: a genuine trace that argues for another choice, with the correct answer in ``<answer>``;
* ``repetition``: a sentence of a genuine trace repeated, and a whole genuine trace said twice.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from adrpo_nb.rewards.cesar import (
    CESAR_ALPHAS,
    L_MIN,
    analyze_reasoning,
    cesar_reward_funcs,
    load_keywords,
    parse_completion,
)
from adrpo_nb.tasks import audio_qa
from adrpo_nb.tasks.audio_qa import TASKS, AudioQuestion, make_question, prompt_text, worked_completion

#: the overthinking scale of the audio experiment's small path (``adrpo_nb.experiments.audio.family.L_MAX``)
#: and the paper's (the default of ``cesar_reward_funcs``)
L_MAXES = (64, 256)
ATTACKS = ("salad", "hedge", "question", "other_answer", "repetition")


# --------------------------------------------------------------------------------------
# items and genuine traces
# --------------------------------------------------------------------------------------
@cache
def item(task: str, answer: str) -> AudioQuestion:
    """A real item of ``task`` with answer ``answer``, drawn from the task generator (first hit of a fixed stream)."""
    rng = np.random.default_rng([2025, audio_qa.TASKS.index(task)])
    for i in range(1000):
        q = make_question(task, rng, f"{task}-{i}")
        if q.answer == answer:
            return q
    raise AssertionError(f"the generator never drew answer {answer!r} for {task!r}")


@cache
def genuine(task: str, answer: str) -> tuple[str, ...]:
    """Every distinct worked completion (one per template) of the item: the pretraining data's form."""
    q = item(task, answer)
    traces = {worked_completion(q, np.random.default_rng(seed))[0] for seed in range(64)}
    assert len(traces) >= 2, traces
    return tuple(sorted(traces))


def think_of(completion: str) -> str:
    return parse_completion(completion).think


def complete(think: str, answer: str) -> str:
    return f"<think> {think} </think> <answer> {answer} </answer>"


def sentences(think: str) -> list[str]:
    """A worked trace's sentences, each with its final ' .'."""
    return [s.strip() + " ." for s in think.split(" .") if s.strip()]


# --------------------------------------------------------------------------------------
# the attacks: {name: [completion]} for one item, every one with the correct answer
# --------------------------------------------------------------------------------------
def _or_list(words) -> str:
    words = list(words)
    return " , ".join(words[:-1]) + " or " + words[-1]


def salad_words(task: str, answer: str) -> list[str]:
    """Eight rewarded structure keywords: 2 analytical, 2 connectives, 3 audio terms the genuine traces or the
    question use (the most relevant ones), then the answer (no grammar)."""
    kw = load_keywords()
    q = item(task, answer)
    used = " ".join([q.question, *(think_of(c) for c in genuine(task, answer))]).split()
    audio = [w for w in kw["audio_terms"] if w in used and w not in q.choices][:3]
    audio += [w for w in kw["audio_terms"] if w not in audio and w not in q.choices][: 3 - len(audio)]
    analytical = [w for w in kw["analytical"] if w not in q.choices][:2]
    return [*analytical, *kw["connectives"][:2], *audio, answer]


def attacks(task: str, answer: str) -> dict[str, list[tuple[int | None, str]]]:
    """Each attack's ``(source, completion)`` pairs for the item of (task, answer); all state the correct answer.

    ``source`` is the index (in :func:`genuine`) of the genuine trace an attack is made of (the question pasted
    into it, a sentence of it repeated): that trace is the one it must score below. An attack with source
    ``None`` must score below every genuine trace.
    """
    q = item(task, answer)
    choices, words = list(q.choices), salad_words(task, answer)
    question_words = q.question.replace("?", "").split()
    thinks = [think_of(c) for c in genuine(task, answer)]
    hedges = [
        f"i listen and compare : it could be {_or_list(choices)} . so the answer is {_or_list(choices)} .",
        " , ".join(f"maybe it is {c}" for c in choices) + f" . so the answer is {answer} .",
        " ".join([*words[:-1], *choices]),
    ]
    pasted = [(None, f"{prompt_text(q)} so the answer is {answer} ."), (None, " ".join([*question_words, *words]))]
    pasted += [(k, f"{q.question} {t}") for k, t in enumerate(thinks)]
    pasted += [(k, f"{t} {prompt_text(q)}") for k, t in enumerate(thinks)]
    # a genuine trace for another choice (every template), stating the correct answer
    other = [think_of(c) for x in choices if x != answer for c in genuine(task, x)]
    # one sentence of a genuine trace said at least twice and to at least l_min words; a whole trace said twice
    repeated = [(k, " ".join([s] * max(2, math.ceil(L_MIN / len(s.split())))))
                for k, t in enumerate(thinks) for s in sentences(t)]  # fmt: skip
    repeated += [(k, f"{t} {t}") for k, t in enumerate(thinks)]
    named = {"salad": [(None, " ".join(words))], "hedge": [(None, t) for t in hedges], "question": pasted,
             "other_answer": [(None, t) for t in other], "repetition": repeated}  # fmt: skip
    return {name: [(k, complete(t, answer)) for k, t in pairs] for name, pairs in named.items()}


# --------------------------------------------------------------------------------------
# the total reward, as the audio experiment's trainer forms it
# --------------------------------------------------------------------------------------
def totals(q: AudioQuestion, completions: list[str], l_max: int) -> list[float]:
    """``Σ_k α_k r_k`` per completion, with CESAR's functions and weights and the dataset row of ``q``."""
    funcs, weights = cesar_reward_funcs(CESAR_ALPHAS, l_max=l_max)
    n = len(completions)
    prompt = [{"role": "user", "content": [{"type": "audio", "audio": None}, {"type": "text", "text": prompt_text(q)}]}]
    columns = {"answer": [q.answer] * n, "choices": [list(q.choices)] * n, "question": [q.question] * n,
               "task": [q.task] * n, "id": [q.id] * n}  # fmt: skip
    out = np.zeros(n)
    for fn, w in zip(funcs, weights, strict=True):
        out += w * np.asarray(fn(prompts=[prompt] * n, completions=completions, completion_ids=None, **columns))
    return out.tolist()


def worst_case(task: str, attack: str, l_max: int) -> tuple[float, str, float, str]:
    """``(genuine total, genuine completion, attack total, attack completion)`` of the attack that comes closest
    to (or beats) the genuine trace it must score below, over the task's answers."""
    worst = (math.inf, "", -math.inf, "")
    for answer in audio_qa.CHOICES[task]:
        q = item(task, answer)
        good = totals(q, list(genuine(task, answer)), l_max)
        pairs = attacks(task, answer)[attack]
        bad = totals(q, [c for _, c in pairs], l_max)
        for (source, completion), b in zip(pairs, bad, strict=True):
            g = int(np.argmin(good)) if source is None else source
            if b - good[g] > worst[2] - worst[0]:
                worst = (good[g], genuine(task, answer)[g], b, completion)
    return worst


# --------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------
def test_every_task_type_is_covered():
    assert set(TASKS) == set(audio_qa.QUESTIONS) == set(audio_qa.CHOICES) and len(TASKS) >= 5
    for task in TASKS:
        for answer in audio_qa.CHOICES[task]:
            assert item(task, answer).answer == answer
            assert all(parse_completion(c).answer == answer for c in genuine(task, answer))
            assert all(parse_completion(c).answer == answer and parse_completion(c).valid_format
                       for pairs in attacks(task, answer).values() for _, c in pairs)  # fmt: skip


@pytest.mark.parametrize("l_max", L_MAXES)
@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("task", TASKS)
def test_genuine_reasoning_outscores_the_attack(task, attack, l_max):
    good, good_text, bad, bad_text = worst_case(task, attack, l_max)
    assert good > bad, (f"{task}/{attack} (l_max={l_max}): the weakest genuine trace scores {good:.3f}, "
                        f"an attack {bad:.3f}\n  genuine: {good_text}\n  attack:  {bad_text}")  # fmt: skip


@pytest.mark.parametrize("task", TASKS)
def test_an_answer_the_reasoning_argues_against_loses_consistency(task):
    """The same reasoning is consistent with the answer it argues for and not with another one."""
    funcs, _ = cesar_reward_funcs(CESAR_ALPHAS, l_max=64)
    consistency = funcs[2]
    for answer in audio_qa.CHOICES[task]:
        q = item(task, answer)
        for c in genuine(task, answer):
            others = [complete(think_of(c), other) for other in q.choices if other != answer]
            n = 1 + len(others)
            values = consistency([prompt_text(q)] * n, [c, *others], question=[q.question] * n,
                                 choices=[list(q.choices)] * n)  # fmt: skip
            assert values[0] > 0 and all(v < values[0] for v in values[1:]), (c, values)


def test_genuine_worked_traces_keep_their_reward():
    """A batch of the pretraining data's genuine traces (no hedging): every one concludes its answer, repeats
    nothing and keeps a high total (the weakest template, tempo's one-sentence trace, scores about 8.2)."""
    questions = audio_qa.make_split(100, 11, "genuine")
    rng = np.random.default_rng(0)
    for q in questions:
        completion, _ = worked_completion(q, rng)
        p = parse_completion(completion)
        a = analyze_reasoning(p.think, p.answer, question=q.question, prompt=prompt_text(q), choices=q.choices)
        assert a.supports and a.fresh == 1.0 and a.content, (completion, a)
        assert totals(q, [completion], 64)[0] >= 8.0, completion
