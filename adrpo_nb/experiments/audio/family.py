"""The audio chapter for readers: the tiny Qwen2-Audio, the synthetic benchmark as dataset rows,
reasoning budgets (test-time scaling) and evaluation.

>>> from adrpo_nb import audio
>>> policy = audio.load_tiny()                          # AudioLMAdapter around the shipped tiny Qwen2-Audio
>>> rows = audio.dataset("train")                       # rows {"prompt": chat with the clip, "answer", ...}
>>> audio.evaluate(policy, audio.eval_questions(), budget=16)   # accuracy with at most 16 reasoning tokens

The weights, tokenizer and processor are a folder in ``data/`` written with ``save_pretrained`` by
``python -m adrpo_nb.experiments.audio pretrain`` (see ``pretrain.json`` there) and read by the same
:func:`~adrpo_nb.models.audio_lm.load_audio_lm` call that loads ``Qwen/Qwen2-Audio-7B-Instruct``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adrpo_nb.models.audio_lm import AudioLMAdapter, load_audio_lm
from adrpo_nb.rewards.cesar import cesar_breakdown, parse_completion
from adrpo_nb.tasks.audio_qa import SAMPLE_RATE, TASKS, AudioQuestion, prompt_text, render_audio, split_questions
from adrpo_nb.utils.paths import data_path

__all__ = [
    "L_MAX",
    "LENGTH_BINS",
    "MAX_NEW_TOKENS",
    "REAL_MODELS",
    "TINY_MODEL",
    "accuracy_by_length",
    "audio_prompt",
    "AudioQARows",
    "dataset",
    "eval_questions",
    "evaluate",
    "load_tiny",
    "sample_answers",
    "ThinkBudget",
    "tiny_model_path",
]

#: where the tiny Qwen2-Audio lives under data/ (weights, config, tokenizer, processor, pretrain.json)
TINY_MODEL = ("checkpoints", "qwen2_audio_tiny")
#: the real path (GPU): the paper's base model (through its thinker) and Qwen2-Audio
REAL_MODELS = {"omni": "Qwen/Qwen2.5-Omni-7B", "qwen2_audio": "Qwen/Qwen2-Audio-7B-Instruct"}
#: longest completion of the small path: the longest overthinking trace of the benchmark is 107 words
MAX_NEW_TOKENS = 112
#: the overthinking penalty's reasoning length scale on the small path (the paper's 256, scaled to its traces)
L_MAX = 64


def tiny_model_path(must_exist: bool = True) -> Path:
    """``data/checkpoints/qwen2_audio_tiny``."""
    return data_path(*TINY_MODEL, must_exist=must_exist)


def load_tiny(**adapter_kwargs: Any) -> AudioLMAdapter:
    """The shipped tiny Qwen2-Audio as an :class:`AudioLMAdapter` (the language model trains in full, the
    audio tower is frozen, the reference is a frozen copy); in eval mode."""
    adapter_kwargs.setdefault("max_new_tokens", MAX_NEW_TOKENS)
    adapter = load_audio_lm(tiny_model_path(), **adapter_kwargs)
    adapter.policy.eval()
    return adapter


def audio_prompt(question: AudioQuestion, audio: np.ndarray | None = None) -> list[dict]:
    """The chat prompt of a benchmark question: one user turn with the clip and the question text."""
    clip = question.audio() if audio is None else audio
    return [{"role": "user", "content": [{"type": "audio", "audio": clip, "sampling_rate": SAMPLE_RATE},
                                         {"type": "text", "text": prompt_text(question)}]}]  # fmt: skip


class AudioQARows(Sequence):
    """Benchmark questions as GRPO dataset rows, the clip rendered when a row is read (the last 512 clips are
    cached: 64 MB; rendering one takes a few milliseconds).

    A row is ``{"prompt": chat messages with the audio, "answer", "choices", "question", "task", "id"}``;
    the columns reach the reward functions as keyword lists, as in TRL.
    """

    def __init__(self, questions: Sequence[AudioQuestion]):
        if not questions:
            raise ValueError("AudioQARows needs at least one question")
        self.questions = list(questions)

    def __len__(self) -> int:
        return len(self.questions)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        q = self.questions[i]
        return {"prompt": audio_prompt(q, _clip(q)), "answer": q.answer,
                "choices": list(q.choices), "question": q.question, "task": q.task, "id": q.id}  # fmt: skip


@lru_cache(maxsize=512)
def _render(task: str, params_json: str) -> np.ndarray:
    clip = render_audio(task, json.loads(params_json))
    clip.flags.writeable = False  # shared by every row that reads it
    return clip


def _clip(q: AudioQuestion) -> np.ndarray:
    """The clip of ``q``, from a bounded cache (the evaluation reads the same 400 clips at every budget)."""
    return _render(q.task, json.dumps(q.params, sort_keys=True))


def dataset(split: str = "rl_train", tasks: Sequence[str] = TASKS) -> AudioQARows:
    """A split of the benchmark by meaning (:func:`~adrpo_nb.tasks.audio_qa.split_questions`) as GRPO rows,
    restricted to ``tasks``: ``"rl_train"`` (also ``"train"``) is the train file less every question that is the
    same item as an evaluation one; ``"eval"`` (also ``"test"``) is the test file."""
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown tasks {unknown}; the benchmark has {TASKS}")
    return AudioQARows([q for q in split_questions({"test": "eval"}.get(split, split)) if q.task in tasks])


def eval_questions(n: int | None = None) -> list[AudioQuestion]:
    """The held-out questions every accuracy in the chapter is measured on (the first ``n`` of the eval split,
    the test file: tasks alternate, so any prefix is balanced over tasks)."""
    questions = split_questions("eval")
    return questions if n is None else questions[:n]


class ThinkBudget:
    """A ``transformers`` logits processor that closes the reasoning after ``budget`` tokens (budget forcing).

    When a completion opens with ``<think>`` and ``budget`` tokens follow it without a ``</think>``, the
    next token is forced to be ``</think>``; the model then writes its answer. This is how test-time
    scaling curves are measured: accuracy as a function of the reasoning budget. ``prompt_length=None``
    takes the width of the first ``input_ids`` it is called with: ``generate`` calls it first with the
    (padded) prompts, so one processor serves one ``generate`` call.
    """

    def __init__(self, budget: int, prompt_length: int | None, think_id: int, close_id: int):
        if budget < 0:
            raise ValueError(f"budget must be >= 0, got budget={budget!r}")
        self.budget, self.prompt_length, self.think_id, self.close_id = budget, prompt_length, think_id, close_id

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        new = input_ids[:, self.prompt_length :]
        if new.shape[1] == 0:
            return scores
        opened = new[:, 0] == self.think_id
        closed = (new == self.close_id).any(dim=1)
        force = opened & ~closed & (new.shape[1] - 1 >= self.budget)
        if force.any():
            scores = scores.clone()
            scores[force] = float("-inf")
            scores[force, self.close_id] = 0.0
        return scores


@torch.no_grad()
def sample_answers(adapter: AudioLMAdapter, questions: Sequence[AudioQuestion], *, samples: int = 1,
                   budget: int | None = None, seed: int = 0, batch_size: int = 32) -> list[str]:  # fmt: skip
    """``samples`` completions per question (question-major), with the reasoning budget forced if given."""
    gen = torch.Generator().manual_seed(seed)
    tok = adapter.tokenizer
    think_id, close_id = tok.convert_tokens_to_ids("<think>"), tok.convert_tokens_to_ids("</think>")
    texts: list[str] = []
    for start in range(0, len(questions), batch_size):
        chunk = questions[start : start + batch_size]
        prompts = [audio_prompt(q, _clip(q)) for q in chunk]
        kwargs: dict[str, Any] = {}
        if budget is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([ThinkBudget(budget, None, think_id, close_id)])
        texts += adapter.generate(prompts, samples, gen, **kwargs).completions
    return texts


def evaluate(adapter: AudioLMAdapter, questions: Sequence[AudioQuestion], *, samples: int = 1,
             budget: int | None = None, seed: int = 0, l_max: int = L_MAX) -> dict[str, Any]:  # fmt: skip
    """Sampled accuracy, format rate, reasoning length and the CESAR components on ``questions``.

    Returns means over all completions (``accuracy``, ``format``, ``think_length`` in words,
    ``consistency``, ``keywords``, ``overthinking``), ``accuracy/<task>`` per task, and ``examples``
    (the first completion of the first five questions).
    """
    completions = sample_answers(adapter, questions, samples=samples, budget=budget, seed=seed)
    rows = [q for q in questions for _ in range(samples)]
    parts = cesar_breakdown([prompt_text(q) for q in rows], completions, l_max=l_max, tokenizer=adapter.tokenizer,
                            answer=[q.answer for q in rows], choices=[q.choices for q in rows],
                            question=[q.question for q in rows])  # fmt: skip
    lengths = [len((parse_completion(c).think or "").split()) for c in completions]
    out: dict[str, Any] = {name: float(np.mean(values)) for name, values in parts.items()}
    out["think_length"] = float(np.mean(lengths))
    for task in TASKS:
        acc = [a for a, q in zip(parts["accuracy"], rows, strict=True) if q.task == task]
        if acc:
            out[f"accuracy/{task}"] = float(np.mean(acc))
    out["by_length"] = accuracy_by_length(lengths, parts["accuracy"])
    out["examples"] = [{"question": prompt_text(q), "answer": q.answer, "completion": completions[i * samples]}
                       for i, q in enumerate(questions[:5])]  # fmt: skip
    return out


#: reasoning-length bins (words) of :func:`accuracy_by_length`
LENGTH_BINS = (0, 20, 30, 40, 60, 10_000)


def accuracy_by_length(lengths: Sequence[int], correct: Sequence[float], bins: Sequence[int] = LENGTH_BINS
                       ) -> list[dict[str, float]]:  # fmt: skip
    """Accuracy of completions grouped by their own reasoning length (no budget imposed): the inverse
    test-time scaling of the paper's base models shows as accuracy falling with length."""
    rows = []
    for lo, hi in itertools.pairwise(bins):
        picked = [c for n, c in zip(lengths, correct, strict=True) if lo <= n < hi]
        if picked:
            rows.append({"from": lo, "to": hi, "count": len(picked), "accuracy": round(float(np.mean(picked)), 4)})
    return rows
