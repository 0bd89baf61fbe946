r"""A small countdown puzzle with a verifiable answer, for the tiny Qwen2 of the CPU path.

A prompt lists four digits and a target, ``"4,7,2,9:13"``; a completion picks two or three of the
digits, combines them with ``+`` and ``-`` (in that order, left to right) and shows its work::

    <think>4+9=13</think><answer>4+9</answer>
    <think>7+2=9,9+4=13</think><answer>7+2+4</answer>

Most puzzles have several correct answers (different digits, orders and signs), so a policy can
be right *and* varied, or right and collapsed onto one answer per prompt: the same
reward-versus-diversity question as the MNIST chapters. The answer is checked exactly
(:func:`is_correct`); the ``<think>`` part is not scored.

**Held out by meaning.** A puzzle's correct answers depend on its digits as a multiset and its target, not on
the order the prompt lists the digits in: ``"4,7,2,9:13"`` and ``"9,2,7,4:13"`` are the same question.
:func:`canonical_form` is ``(sorted digits, target)``, and :func:`split_of` puts each canonical form on one
side, once and for all, by a hash of it: 1 in :data:`EVAL_BUCKETS` forms is ``"eval"``, the rest ``"train"``.
The evaluation puzzles (:func:`eval_puzzles`: distinct forms of the eval side, drawn with :data:`EVAL_SEED`)
therefore never share a form with an RL row (:func:`rl_rows`) or a pretraining example (:func:`random_puzzle`
with ``side="train"``), whatever their number or seed. Pretraining and RL share the training side.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "Puzzle",
    "ANSWER_PATTERN",
    "EVAL_BUCKETS",
    "EVAL_POOL",
    "EVAL_SEED",
    "FORMAT_PATTERN",
    "RL_SEED",
    "SPLITS",
    "canonical_form",
    "eval_puzzles",
    "is_correct",
    "make_puzzles",
    "parse_answer",
    "parse_prompt",
    "pretraining_examples",
    "pretraining_puzzles",
    "prompt_text",
    "random_puzzle",
    "rl_rows",
    "solutions",
    "split_of",
    "splits",
    "worked_solution",
]

NUM_DIGITS = 4
MIN_TERMS, MAX_TERMS = 2, 3
FORMAT_PATTERN = re.compile(r"^<think>[^<]*</think><answer>[^<]*</answer>$")
ANSWER_PATTERN = re.compile(r"<answer>([^<]*)</answer>")
_EXPRESSION = re.compile(r"^\d(?:[+-]\d)*$")
_PROMPT = re.compile(r"^\s*(\d(?:,\d)*):(\d+)\s*$")
#: 1 in EVAL_BUCKETS canonical forms is held out for evaluation (:func:`split_of`)
EVAL_BUCKETS = 8
#: the evaluation puzzles: the first EVAL_POOL distinct eval-side forms drawn with EVAL_SEED; every evaluation
#: set is a prefix of them (RL runs read 128, pretraining and the chapter's default 256)
EVAL_SEED, EVAL_POOL = 20251023, 512
RL_SEED = 0  #: the seed of the RL rows (:func:`rl_rows`)
SPLITS = ("pretrain", "rl_train", "eval")


@dataclass(frozen=True)
class Puzzle:
    """Four digits 1..9 and a target reachable with 2–3 of them and ``+``/``-``."""

    numbers: tuple[int, ...]
    target: int

    @property
    def prompt(self) -> str:
        return prompt_text(self.numbers, self.target)

    def as_row(self) -> dict:
        """A dataset row: the prompt plus the columns the reward functions read (TRL's convention)."""
        return {"prompt": self.prompt, "numbers": list(self.numbers), "target": self.target}


def prompt_text(numbers, target: int) -> str:
    """``"4,7,2,9:13"``."""
    return ",".join(str(n) for n in numbers) + f":{target}"


def parse_prompt(prompt: str) -> Puzzle:
    """The puzzle of a prompt ``"4,7,2,9:13"``; ValueError (naming it) if it is not one."""
    m = _PROMPT.match(prompt)
    if not m:
        raise ValueError(f"not a countdown prompt (digits, a colon, the target: '4,7,2,9:13'): {prompt!r}")
    return Puzzle(tuple(int(d) for d in m[1].split(",")), int(m[2]))


def canonical_form(item: Puzzle | str | dict) -> tuple[tuple[int, ...], int]:
    """What a puzzle *means*: ``(sorted digits, target)``. Puzzles that list the same digits in another order
    have the same correct answers and the same form:

    >>> canonical_form("4,7,2,9:13") == canonical_form("9,2,7,4:13") == ((2, 4, 7, 9), 13)
    True

    ``item`` is a :class:`Puzzle`, a prompt string, or a dataset row ``{"numbers", "target", ...}``.
    """
    if isinstance(item, str):
        item = parse_prompt(item)
    if isinstance(item, dict):
        numbers, target = item["numbers"], item["target"]
    else:
        numbers, target = item.numbers, item.target
    return tuple(sorted(int(n) for n in numbers)), int(target)


def split_of(item: Puzzle | str | dict) -> str:
    """``"eval"`` or ``"train"``: the side of the puzzle's canonical form, by a SHA-256 of it (1 in
    :data:`EVAL_BUCKETS` forms is ``"eval"``); every wording of a puzzle is on the same side."""
    numbers, target = canonical_form(item)
    digest = hashlib.sha256(prompt_text(numbers, target).encode()).digest()
    return "eval" if int.from_bytes(digest[:8], "big") % EVAL_BUCKETS == 0 else "train"


def _evaluate(terms: tuple[int, ...], signs: tuple[int, ...]) -> int:
    return terms[0] + sum(s * t for s, t in zip(signs, terms[1:], strict=True))


def _expression(terms: tuple[int, ...], signs: tuple[int, ...]) -> str:
    return str(terms[0]) + "".join(("+" if s > 0 else "-") + str(t) for s, t in zip(signs, terms[1:], strict=True))


def solutions(numbers, target: int) -> list[str]:
    """Every correct answer string (distinct digits by position, 2–3 terms, every order and sign)."""
    found = set()
    for size in range(MIN_TERMS, MAX_TERMS + 1):
        for idx in itertools.permutations(range(len(numbers)), size):
            terms = tuple(numbers[i] for i in idx)
            for signs in itertools.product((1, -1), repeat=size - 1):
                if _evaluate(terms, signs) == target:
                    found.add(_expression(terms, signs))
    return sorted(found)


def _check_side(side: str | None) -> None:
    if side not in (None, "train", "eval"):
        raise ValueError(f"side must be None, 'train' or 'eval', got side={side!r}")


@lru_cache(maxsize=16384)
def _solutions(numbers: tuple[int, ...], target: int) -> tuple[str, ...]:
    return tuple(solutions(numbers, target))


def random_puzzle(rng: random.Random, side: str | None = None) -> Puzzle:
    """Draw four digits and a target made from a random 2–3-digit expression over them (target ≥ 1); with
    ``side``, draw again until the puzzle is on that side of the split (:func:`split_of`)."""
    _check_side(side)
    while True:
        numbers = tuple(rng.randint(1, 9) for _ in range(NUM_DIGITS))
        size = rng.randint(MIN_TERMS, MAX_TERMS)
        idx = rng.sample(range(NUM_DIGITS), size)
        signs = tuple(rng.choice((1, -1)) for _ in range(size - 1))
        target = _evaluate(tuple(numbers[i] for i in idx), signs)
        if target >= 1 and (side is None or split_of(Puzzle(numbers, target)) == side):
            return Puzzle(numbers, target)


def make_puzzles(n: int, seed: int, exclude: Collection[Puzzle] = (), side: str | None = None,
                 distinct: bool = False) -> list[Puzzle]:  # fmt: skip
    """``n`` puzzles from ``seed`` (the same list on every machine), skipping every puzzle in ``exclude``
    (equal numbers and target, in that order, make equal puzzles). ``side``: only puzzles of that side of the
    split (:func:`split_of`); ``distinct``: at most one puzzle per canonical form."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got n={n!r}")
    rng = random.Random(seed)
    excluded = frozenset(exclude)
    out: list[Puzzle] = []
    seen: set = set()
    while len(out) < n:
        puzzle = random_puzzle(rng, side)
        if puzzle in excluded or (distinct and canonical_form(puzzle) in seen):
            continue
        seen.add(canonical_form(puzzle))
        out.append(puzzle)
    return out


_POOL: list[Puzzle] = []


def eval_puzzles(n: int = 256) -> list[Puzzle]:
    """The held-out puzzles: the first ``n`` (``<=`` :data:`EVAL_POOL`) of :data:`EVAL_POOL` puzzles of distinct
    eval-side canonical forms drawn with :data:`EVAL_SEED`. No RL row or pretraining example shares a form
    with any of them."""
    if not 1 <= n <= EVAL_POOL:
        raise ValueError(f"n must be in 1..{EVAL_POOL} (the held-out pool), got n={n!r}")
    if not _POOL:
        _POOL.extend(make_puzzles(EVAL_POOL, EVAL_SEED, side="eval", distinct=True))
    return list(_POOL[:n])


def rl_rows(n: int, seed: int = RL_SEED) -> list[dict]:
    """``n`` RL dataset rows ``{"prompt", "numbers", "target"}`` (TRL's layout: extra columns reach the rewards),
    all on the training side of the split: none shares a canonical form with an evaluation puzzle."""
    return [p.as_row() for p in make_puzzles(n, seed, side="train")]


def splits(pretrain_examples: int, pretrain_seed: int = 1234, n_rl: int = 4000, n_eval: int = 128,
           rl_seed: int = RL_SEED) -> dict[str, list[str]]:  # fmt: skip
    """``{"pretrain": [...], "rl_train": [...], "eval": [...]}``, the distinct prompts of each split, in the
    order first drawn: the first ``pretrain_examples`` puzzles of pretraining's stream (seed ``pretrain_seed``;
    the steps × batch size of a pretraining run, see :func:`pretraining_puzzles`), ``n_rl`` RL rows
    (:func:`rl_rows`) and ``n_eval`` evaluation puzzles (:func:`eval_puzzles`)."""
    return {"pretrain": list(dict.fromkeys(p.prompt for p in pretraining_puzzles(pretrain_examples, pretrain_seed))),
            "rl_train": list(dict.fromkeys(r["prompt"] for r in rl_rows(n_rl, rl_seed))),
            "eval": [p.prompt for p in eval_puzzles(n_eval)]}  # fmt: skip


def pretraining_examples(rng: random.Random, n: int) -> list[tuple[Puzzle, str]]:
    """The next ``n`` supervised examples ``(puzzle, answer)`` of pretraining's stream ``rng``: a training-side
    puzzle (:func:`random_puzzle` with ``side="train"``) and one of its correct answers, drawn uniformly."""
    out = []
    for _ in range(n):
        puzzle = random_puzzle(rng, side="train")
        out.append((puzzle, rng.choice(_solutions(puzzle.numbers, puzzle.target))))
    return out


def pretraining_puzzles(n: int, seed: int = 1234) -> list[Puzzle]:
    """The first ``n`` puzzles pretraining with ``seed`` trains on (the stream of :func:`pretraining_examples`)."""
    return [p for p, _ in pretraining_examples(random.Random(seed), n)]


def worked_solution(answer: str) -> str:
    """The completion with the running sums of ``answer``: ``<think>7+2=9,9+4=13</think><answer>7+2+4</answer>``."""
    if not _EXPRESSION.match(answer):
        raise ValueError(f"answer must look like '7+2-4', got {answer!r}")
    steps, total = [], int(answer[0])
    for op, digit in re.findall(r"([+-])(\d)", answer):
        new = total + int(digit) if op == "+" else total - int(digit)
        steps.append(f"{total}{op}{digit}={new}")
        total = new
    return f"<think>{','.join(steps)}</think><answer>{answer}</answer>"


def parse_answer(completion: str) -> str | None:
    """The text between ``<answer>`` and ``</answer>`` (stripped), or ``None`` when there is none."""
    match = ANSWER_PATTERN.search(completion)
    return match.group(1).strip() if match else None


def is_correct(completion: str, numbers, target: int) -> bool:
    """True when the answer is ``d(±d)*`` over the given digits (each used at most once) and equals ``target``."""
    answer = parse_answer(completion)
    if answer is None or not _EXPRESSION.match(answer):
        return False
    digits = [int(c) for c in answer if c.isdigit()]
    pool = list(numbers)
    for d in digits:
        if d not in pool:
            return False
        pool.remove(d)
    value = digits[0] + sum(int(d) if op == "+" else -int(d) for op, d in re.findall(r"([+-])(\d)", answer))
    return value == int(target)
