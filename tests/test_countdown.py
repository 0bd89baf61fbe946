"""The countdown task (adrpo_nb.tasks.countdown): puzzles, their answers, and the exact answer check."""

import itertools
import random
from collections import Counter

import pytest

from adrpo_nb.tasks.countdown import (
    FORMAT_PATTERN,
    Puzzle,
    is_correct,
    make_puzzles,
    parse_answer,
    prompt_text,
    random_puzzle,
    solutions,
    worked_solution,
)


def _all_answers(numbers, target):
    """Every 'd±d[±d]' string over the digits 1..9, kept when Python evaluates it to ``target`` with the
    puzzle's digits (each used at most as often as it appears): an enumeration independent of solutions()."""
    found = set()
    for size in (2, 3):
        for digits in itertools.product(range(1, 10), repeat=size):
            if Counter(digits) - Counter(numbers):
                continue
            for ops in itertools.product("+-", repeat=size - 1):
                expr = str(digits[0]) + "".join(o + str(d) for o, d in zip(ops, digits[1:], strict=True))
                if eval(expr) == target:  # digits and +/- only
                    found.add(expr)
    return found


@pytest.mark.parametrize("seed", range(6))
def test_solutions_are_exactly_the_correct_answers(seed):
    puzzle = random_puzzle(random.Random(seed))
    found = solutions(puzzle.numbers, puzzle.target)
    assert set(found) == _all_answers(puzzle.numbers, puzzle.target) and found == sorted(found)
    assert all(is_correct(f"<think></think><answer>{a}</answer>", puzzle.numbers, puzzle.target) for a in found)


def test_a_known_puzzle():
    answers = solutions((4, 7, 2, 9), 13)
    assert {"4+9", "9+4", "7+2+4", "4+2+7"} <= set(answers) and "13" not in answers
    assert solutions((1, 1, 1, 1), 5) == []


def test_is_correct_uses_each_digit_at_most_as_often_as_given():
    assert is_correct("<answer>4+4</answer>", (4, 4, 1, 2), 8)
    assert not is_correct("<answer>4+4</answer>", (4, 7, 2, 9), 8)  # one 4 only
    assert not is_correct("<answer>4+9</answer>", (4, 7, 2, 9), 12)  # wrong value
    assert not is_correct("<answer>5+8</answer>", (4, 7, 2, 9), 13)  # digits not in the puzzle
    assert not is_correct("4+9", (4, 7, 2, 9), 13)  # no answer tags
    assert not is_correct("<answer>4*9</answer>", (4, 7, 2, 9), 36)  # only + and -
    assert not is_correct("<answer>13</answer>", (1, 3, 2, 9), 13)  # '13' is not a digit expression
    assert is_correct("<think>x</think><answer> 9-2+7 </answer>", (4, 7, 2, 9), 14)  # spaces around the answer
    assert is_correct("<answer>4+9</answer>", [4, 7, 2, 9], "13")  # dataset columns may be lists / strings


def test_worked_solution_shows_the_running_sums_and_passes_the_checks():
    assert worked_solution("7+2-4") == "<think>7+2=9,9-4=5</think><answer>7+2-4</answer>"
    for answer in solutions((4, 7, 2, 9), 13):
        text = worked_solution(answer)
        assert FORMAT_PATTERN.match(text) and parse_answer(text) == answer and is_correct(text, (4, 7, 2, 9), 13)
    for bad in ("7+", "7*2", "12+1", ""):
        with pytest.raises(ValueError, match="answer must look like"):
            worked_solution(bad)


def test_parse_answer_and_prompts():
    assert parse_answer("<think>a</think><answer>4+9</answer>") == "4+9"
    assert parse_answer("<answer>4+9") is None
    assert prompt_text((4, 7, 2, 9), 13) == "4,7,2,9:13"
    puzzle = Puzzle((4, 7, 2, 9), 13)
    assert puzzle.prompt == "4,7,2,9:13"
    assert puzzle.as_row() == {"prompt": "4,7,2,9:13", "numbers": [4, 7, 2, 9], "target": 13}


def test_make_puzzles_is_reproducible_and_always_solvable():
    a, b, c = make_puzzles(200, seed=1), make_puzzles(200, seed=1), make_puzzles(200, seed=2)
    assert a == b and a != c
    assert all(p.target >= 1 and len(p.numbers) == 4 and solutions(p.numbers, p.target) for p in a)
    assert len({p.target for p in a}) > 5  # targets vary
    with pytest.raises(ValueError, match="n must be >= 1"):
        make_puzzles(0, seed=1)
