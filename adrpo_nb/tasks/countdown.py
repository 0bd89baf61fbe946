r"""A small countdown puzzle with a verifiable answer, for the tiny Qwen2 of the CPU path.

A prompt lists four digits and a target, ``"4,7,2,9:13"``; a completion picks two or three of the
digits, combines them with ``+`` and ``-`` (in that order, left to right) and shows its work::

    <think>4+9=13</think><answer>4+9</answer>
    <think>7+2=9,9+4=13</think><answer>7+2+4</answer>

Most puzzles have several correct answers (different digits, orders and signs), so a policy can
be right *and* varied, or right and collapsed onto one answer per prompt: the same
reward-versus-diversity question as the MNIST chapters. The answer is checked exactly
(:func:`is_correct`); the ``<think>`` part is not scored.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Collection
from dataclasses import dataclass

__all__ = [
    "Puzzle",
    "ANSWER_PATTERN",
    "FORMAT_PATTERN",
    "is_correct",
    "make_puzzles",
    "parse_answer",
    "prompt_text",
    "random_puzzle",
    "solutions",
    "worked_solution",
]

NUM_DIGITS = 4
MIN_TERMS, MAX_TERMS = 2, 3
FORMAT_PATTERN = re.compile(r"^<think>[^<]*</think><answer>[^<]*</answer>$")
ANSWER_PATTERN = re.compile(r"<answer>([^<]*)</answer>")
_EXPRESSION = re.compile(r"^\d(?:[+-]\d)*$")


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


def random_puzzle(rng: random.Random) -> Puzzle:
    """Draw four digits and a target made from a random 2–3-digit expression over them (target ≥ 1)."""
    while True:
        numbers = tuple(rng.randint(1, 9) for _ in range(NUM_DIGITS))
        size = rng.randint(MIN_TERMS, MAX_TERMS)
        idx = rng.sample(range(NUM_DIGITS), size)
        signs = tuple(rng.choice((1, -1)) for _ in range(size - 1))
        target = _evaluate(tuple(numbers[i] for i in idx), signs)
        if target >= 1:
            return Puzzle(numbers, target)


def make_puzzles(n: int, seed: int, exclude: Collection[Puzzle] = ()) -> list[Puzzle]:
    """``n`` puzzles from ``seed`` (the same list on every machine), skipping every puzzle in ``exclude``
    (e.g. a held-out evaluation set: equal numbers and target, in that order, make equal puzzles)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got n={n!r}")
    rng = random.Random(seed)
    excluded = frozenset(exclude)
    out: list[Puzzle] = []
    while len(out) < n:
        puzzle = random_puzzle(rng)
        if puzzle not in excluded:
            out.append(puzzle)
    return out


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
