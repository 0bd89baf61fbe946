"""The three splits of each experiment family, held out by meaning: what ``splits --json`` prints.

Every family has a ``pretrain``, an ``rl_train`` and an ``eval`` split; the evaluation shares no item with
either training split under the task's canonical form (:func:`adrpo_nb.tasks.shapes.canonical_form`,
:func:`adrpo_nb.tasks.countdown.canonical_form`, :func:`adrpo_nb.tasks.audio_qa.canonical_form`), by
construction. Pretraining may share items with RL training (both are the training side).

>>> from adrpo_nb.tasks.splits import family_splits
>>> sorted(family_splits("sd3"))
['eval', 'pretrain', 'rl_train']

``python -m adrpo_nb.tasks.splits sd3|qwen|audio --json`` prints one JSON object ``{"pretrain": [...],
"rl_train": [...], "eval": [...]}``: prompt strings (audio: clip SHA-256 values).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from adrpo_nb.utils.paths import data_path, read_json

__all__ = ["FAMILIES", "family_splits", "same_meaning_overlap"]

FAMILIES = ("sd3", "qwen", "audio")


def _countdown_pretraining(model_dir: str | Path | None) -> tuple[int, int]:
    """``(examples, seed)`` of the pretraining that made the tiny Qwen2 in ``model_dir`` (its pretrain.json)."""
    folder = Path(model_dir) if model_dir is not None else data_path("checkpoints", "qwen_tiny_countdown")
    report = read_json(folder / "pretrain.json")
    if "data" not in report:
        raise ValueError(f"{folder}/pretrain.json records no 'data': that model was pretrained before the split by "
                         "meaning (on puzzles of both sides), so its pretraining stream is not the training side's; "
                         "pass the folder of a model pretrained since (python -m adrpo_nb.experiments.qwen pretrain)")
    return int(report["steps"]) * int(report["config"]["batch_size"]), int(report["config"]["seed"])


def family_splits(family: str, qwen_model: str | Path | None = None) -> dict[str, list[str]]:
    """``{"pretrain": [...], "rl_train": [...], "eval": [...]}`` of ``family`` (``"sd3"``, ``"qwen"``, ``"audio"``).

    * sd3: prompt strings (:func:`adrpo_nb.tasks.shapes.splits`; ``pretrain`` = ``rl_train``, 384; ``eval`` 48);
    * qwen: prompt strings, distinct, in the order first drawn (:func:`adrpo_nb.tasks.countdown.splits`): the
      puzzles the pretraining of ``qwen_model`` (default: the shipped tiny Qwen2; its ``pretrain.json`` gives the
      steps) drew, the 4000 RL rows, the 128 evaluation puzzles of the RL runs;
    * audio: clip SHA-256 values (:func:`adrpo_nb.tasks.audio_qa.splits`).
    """
    if family == "sd3":
        from adrpo_nb.tasks.shapes import splits

        return splits()
    if family == "qwen":
        from adrpo_nb.tasks.countdown import splits

        examples, seed = _countdown_pretraining(qwen_model)
        return splits(examples, pretrain_seed=seed)
    if family == "audio":
        from adrpo_nb.tasks.audio_qa import splits

        return splits()
    raise ValueError(f"family must be one of {FAMILIES}, got family={family!r}")


def same_meaning_overlap(family: str, splits: dict[str, list[str]]) -> dict[str, int]:
    """How many ``eval`` items have an item of the same canonical form in ``rl_train`` / ``pretrain`` (0 and 0 for
    the splits of :func:`family_splits`); the lists are those of ``family``'s ``splits --json``."""
    if family == "sd3":
        from adrpo_nb.tasks.shapes import canonical_form as form
    elif family == "qwen":
        from adrpo_nb.tasks.countdown import canonical_form as form
    elif family == "audio":
        from adrpo_nb.tasks.audio_qa import canonical_form, load_split

        by_hash = {q.sha256: q for name in ("train", "test") for q in load_split(name)}

        def form(sha: str):
            return canonical_form(by_hash[sha])
    else:
        raise ValueError(f"family must be one of {FAMILIES}, got family={family!r}")
    out = {}
    for side in ("rl_train", "pretrain"):
        forms = {form(item) for item in splits[side]}
        out[side] = sum(form(item) in forms for item in splits["eval"])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print a family's pretrain / rl_train / eval splits.")
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("--json", action="store_true", help="one JSON object (else: sizes and overlaps)")
    parser.add_argument("--qwen-model", type=Path, default=None, help="qwen: the pretrained model folder whose "
                        "pretraining stream to list (default: data/checkpoints/qwen_tiny_countdown)")
    args = parser.parse_args(argv)
    splits = family_splits(args.family, args.qwen_model)
    if args.json:
        print(json.dumps(splits))
    else:
        sizes = ", ".join(f"{name} {len(items)}" for name, items in splits.items())
        overlap = same_meaning_overlap(args.family, splits)
        print(f"{args.family}: {sizes}; eval items with a same-meaning twin: {overlap}")


if __name__ == "__main__":
    main()
