"""GSM8K as verl's RL datasets read them: ``train.parquet`` and ``test.parquet`` under ``--out``.

One row per question: ``data_source`` ``"openai/gsm8k"`` (verl's default reward function picks its GSM8K scorer from
it: 1 when the last ``#### <number>`` of the response is the reference answer, else 0), ``prompt`` as chat messages
(verl applies the model's chat template), and ``reward_model.ground_truth``, the number after ``####`` in the
dataset's worked answer. Needs ``datasets`` and network access to the Hugging Face Hub (``openai/gsm8k``, ``main``).

    python recipes/verl/prepare_gsm8k.py --out ~/data/gsm8k
"""

from __future__ import annotations

import argparse
from pathlib import Path

INSTRUCTION = 'Let\'s think step by step and output the final answer after "####".'


def final_answer(worked: str) -> str:
    """The number a GSM8K worked answer ends with (after ``####``), without thousands separators."""
    if "####" not in worked:
        raise ValueError(f"a GSM8K answer without '####': {worked[-80:]!r}")
    return worked.rsplit("####", 1)[1].strip().replace(",", "")


def to_row(example: dict, split: str, index: int) -> dict:
    return {
        "data_source": "openai/gsm8k",
        "prompt": [{"role": "user", "content": f"{example['question']} {INSTRUCTION}"}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": final_answer(example["answer"])},
        "extra_info": {"split": split, "index": index},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path.home() / "data" / "gsm8k")
    args = parser.parse_args()
    from datasets import load_dataset

    args.out.expanduser().mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        data = load_dataset("openai/gsm8k", "main", split=split)
        rows = data.map(lambda ex, i, s=split: to_row(ex, s, i), with_indices=True, remove_columns=data.column_names)
        path = args.out.expanduser() / f"{split}.parquet"
        rows.to_parquet(str(path))
        print(f"{path}: {len(rows)} questions")


if __name__ == "__main__":
    main()
