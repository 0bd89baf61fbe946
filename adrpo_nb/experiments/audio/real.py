"""The audio experiment's real path (GPU): Qwen2.5-Omni-7B's thinker or Qwen2-Audio-7B-Instruct in bf16 with a LoRA
on the language model, trained on MMAU-style rows you provide as JSONL.

``python -m adrpo_nb.experiments.audio train --model omni --rows mmau_train.jsonl`` trains on :func:`mmau_rows` with
the adapter of :func:`real_setup`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

__all__ = ["mmau_rows", "real_setup"]


def real_setup(model: str = "omni", *, lora_rank: int = 16, max_new_tokens: int = 256, device: Any = None):
    """``AudioLMAdapter`` for the real path: Qwen2.5-Omni-7B's thinker (``"omni"``) or Qwen2-Audio-7B-Instruct
    (``"qwen2_audio"``) in bf16 with LoRA on the language model.

    Needs the hub (≈ 16 GB download) and a GPU: ≈ 40 GB of VRAM for K = 8 completions of 256 tokens
    with gradient checkpointing off (an A100/H100 80 GB; an estimate, not measured here).
    """
    from peft import LoraConfig

    from adrpo_nb.experiments.audio.family import REAL_MODELS
    from adrpo_nb.models.audio_lm import AUDIO_LORA_TARGETS, load_audio_lm

    model_id = REAL_MODELS.get(model, model)
    lora = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0, target_modules=AUDIO_LORA_TARGETS)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return load_audio_lm(model_id, lora=lora, dtype=torch.bfloat16 if device == "cuda" else None, device=device,
                         max_new_tokens=max_new_tokens)  # fmt: skip


def mmau_rows(path: str | Path) -> list[dict]:
    """GRPO rows from an MMAU-style JSONL file: one object per line with ``audio_path`` (a 16 kHz WAV; other
    rates are refused by the adapter), ``question``, ``choices`` (list) and ``answer`` (the correct choice text).

    MMAU test-mini is distributed by its authors (github.com/Sakshi113/MMAU: ``mmau-test-mini.json`` and the
    audio archive); convert it to this layout once.
    """
    from adrpo_nb.tasks.audio_qa import read_wav

    rows = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        missing = {"audio_path", "question", "choices", "answer"} - set(item)
        if missing:
            raise ValueError(f"{path}: a row lacks {sorted(missing)}: {line[:200]}")
        text = f"{item['question']} choose one of : {' , '.join(item['choices'])} ."
        prompt = [{"role": "user", "content": [{"type": "audio", "audio": read_wav(item["audio_path"]),
                                                "sampling_rate": 16000}, {"type": "text", "text": text}]}]  # fmt: skip
        rows.append({"prompt": prompt, "answer": item["answer"], "choices": item["choices"],
                     "question": item["question"]})  # fmt: skip
    return rows
