"""Supervised pretraining of the tiny Qwen2-Audio on the synthetic benchmark, stopped early at a *weak* start.

Each step draws training questions and pairs each clip with a worked completion
(:func:`adrpo_nb.tasks.audio_qa.worked_completion`): a grounded reasoning trace and its answer, and,
for a fraction ``overthink_fraction`` of them, an *overthinking* trace that hedges 1–4 times and
may flip its conclusion (the benchmark's built-in inverse test-time scaling: more hedging, lower
accuracy). The whole model trains (audio tower included); the loss sees the completion tokens only.
Training stops at the first evaluation whose sampled accuracy (temperature 1, the distribution RL
starts from) reaches ``target_accuracy``, so RL has room to improve.

The training questions are the training side of the split by meaning (:func:`pretraining_data`:
:func:`adrpo_nb.tasks.audio_qa.split_questions` ``("pretrain")``, no question the same item as an evaluation
one); the curve is measured on the first ``eval_questions`` evaluation questions (the test file).

:func:`pretrain` is ``python -m adrpo_nb.experiments.audio pretrain``: it trains and saves the result with
``pretrain.json``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adrpo_nb.tasks.audio_qa import AudioQuestion, prompt_text, split_questions, vocabulary, worked_completion
from adrpo_nb.utils.checkpoints import save_pretrained_model, write_pretrain_report
from adrpo_nb.utils.provenance import git_commit
from adrpo_nb.utils.validate import check_float, validate_numbers

__all__ = ["AudioPretrainConfig", "build_tiny_model", "pretrain", "pretrain_tiny_audio", "pretraining_data",
           "sft_batch"]  # fmt: skip


@dataclass
class AudioPretrainConfig:
    """Sizes of the tiny Qwen2-Audio and of its supervised pretraining."""

    n_mels: int = 64
    d_audio: int = 64
    audio_layers: int = 2
    hidden_size: int = 96
    layers: int = 3
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 256
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    max_steps: int = 3000
    eval_every: int = 100
    eval_questions: int = 100
    overthink_fraction: float = 0.5
    flip_probability: float = 0.35
    target_accuracy: float | None = 0.6  # stop at the first evaluation at or above this sampled accuracy
    seed: int = 1234

    def __post_init__(self) -> None:
        """Types and ranges of every field (numpy scalars converted); errors name the field."""
        validate_numbers(self, positive_ints=("n_mels", "d_audio", "audio_layers", "hidden_size", "layers", "heads",
                                              "kv_heads", "intermediate_size", "batch_size", "max_steps", "eval_every",
                                              "eval_questions"),
                         nonnegative_ints=("warmup_steps",), positive_floats=("learning_rate",),
                         fractions=("overthink_fraction", "flip_probability"), seeds=("seed",))  # fmt: skip
        if self.target_accuracy is not None:
            self.target_accuracy = check_float("AudioPretrainConfig.target_accuracy", self.target_accuracy, minimum=0.0)


def build_tiny_model(config: AudioPretrainConfig):
    """A fresh ``(model, processor)``: word tokenizer over the benchmark's vocabulary, Whisper features, tiny config."""
    from adrpo_nb.models.tiny_qwen_audio import build_tiny_audio_processor, build_word_tokenizer, tiny_qwen2_audio
    from adrpo_nb.rewards.cesar import load_keywords

    keyword_words = {w for words in load_keywords().values() for phrase in words for w in phrase.split()}
    tokenizer = build_word_tokenizer(sorted(set(vocabulary()) | keyword_words))
    processor = build_tiny_audio_processor(tokenizer, n_mels=config.n_mels)
    model = tiny_qwen2_audio(processor, seed=config.seed, d_audio=config.d_audio, audio_layers=config.audio_layers,
                             hidden_size=config.hidden_size, layers=config.layers, heads=config.heads,
                             kv_heads=config.kv_heads, intermediate_size=config.intermediate_size)  # fmt: skip
    return model, processor


def sft_batch(processor, questions: list[AudioQuestion], clips: list[np.ndarray], rng: np.random.Generator,
              overthink_fraction: float, flip_probability: float) -> dict[str, torch.Tensor]:  # fmt: skip
    """``prompt + worked completion + <|endoftext|>`` for each question, right-padded; labels on the completion only."""
    tok = processor.tokenizer
    prompts, completions = [], []
    for q in questions:
        messages = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": prompt_text(q)}]}]
        prompts.append(processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        text, _ = worked_completion(q, rng, overthink=bool(rng.random() < overthink_fraction),
                                    flip_probability=flip_probability)  # fmt: skip
        completions.append(tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
    enc = processor(text=prompts, audio=clips, sampling_rate=processor.feature_extractor.sampling_rate,
                    return_tensors="pt", padding=True)  # fmt: skip
    rows, labels = [], []
    for ids, mask, completion in zip(enc["input_ids"], enc["attention_mask"], completions, strict=True):
        prompt = ids[mask.bool()].tolist()
        rows.append(prompt + completion)
        labels.append([-100] * len(prompt) + completion)
    width = max(len(r) for r in rows)
    lengths = torch.tensor([len(r) for r in rows])
    batch = {
        "input_ids": torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows]),
        "labels": torch.tensor([r + [-100] * (width - len(r)) for r in labels]),
        "attention_mask": (torch.arange(width)[None, :] < lengths[:, None]).long(),
        "input_features": enc["input_features"],
        "feature_attention_mask": enc["feature_attention_mask"],
    }
    return batch


def _evaluate(model, processor, questions: list[AudioQuestion], seed: int) -> dict[str, Any]:
    from adrpo_nb.experiments.audio.family import MAX_NEW_TOKENS, evaluate
    from adrpo_nb.models.audio_lm import AudioLMAdapter

    # a copy: the adapter freezes the audio tower, which pretraining still trains
    adapter = AudioLMAdapter(copy.deepcopy(model).eval(), processor, max_new_tokens=MAX_NEW_TOKENS)
    return evaluate(adapter, questions, seed=seed)


def pretraining_data(config: AudioPretrainConfig) -> tuple[list[AudioQuestion], list[AudioQuestion]]:
    """``(train, held_out)``: the questions pretraining samples its batches from (the ``"pretrain"`` split) and
    the first ``config.eval_questions`` evaluation questions its curve (and early stop) reads."""
    return split_questions("pretrain"), split_questions("eval")[: config.eval_questions]


def pretrain_tiny_audio(config: AudioPretrainConfig, log: Callable[[str], None] = print) -> tuple[Any, Any, dict]:
    """Train the tiny model; returns ``(model, processor, record)`` where ``record`` has the curve and the stop."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model, processor = build_tiny_model(config)
    train, test = pretraining_data(config)
    clips = {q.id: q.audio() for q in train}
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)

    def lr_at(step: int) -> float:
        warm = min(1.0, (step + 1) / config.warmup_steps)
        return config.learning_rate * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / config.max_steps)))

    curve, start, stop = [], time.perf_counter(), None
    for step in range(1, config.max_steps + 1):
        model.train()
        picked = [train[int(i)] for i in rng.integers(len(train), size=config.batch_size)]
        batch = sft_batch(processor, picked, [clips[q.id] for q in picked], rng, config.overthink_fraction,
                          config.flip_probability)  # fmt: skip
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % config.eval_every == 0:
            m = _evaluate(model, processor, test, seed=step)
            point = {"step": step, "loss": round(loss.item(), 4), "seconds": round(time.perf_counter() - start, 1),
                     **{k: round(v, 4) for k, v in m.items() if isinstance(v, float)}}  # fmt: skip
            curve.append(point)
            log(f"step {step}: loss {point['loss']:.3f} accuracy {point['accuracy']:.3f} "
                f"format {point['format']:.2f} think {point['think_length']:.1f} "
                f"({point['seconds']:.0f} s)")  # fmt: skip
            if config.target_accuracy is not None and m["accuracy"] >= config.target_accuracy:
                stop = step
                break
    model.eval()
    record = {"config": asdict(config), "curve": curve, "stopped_at": stop or config.max_steps,
              "parameters": sum(p.numel() for p in model.parameters()),
              "data": {"pretrain": f"audio_qa.split_questions('pretrain'): {len(train)} questions",
                       "eval": f"the first {len(test)} of split_questions('eval') (the test file)"}}  # fmt: skip
    return model, processor, record


# ----------------------------------------------------------------------------- the command
def pretrain(out_dir: Path, smoke_run: bool = False, log=print) -> dict[str, Any]:
    """SFT the tiny Qwen2-Audio to a weak start; ``save_pretrained`` it (model + processor) with ``pretrain.json``."""
    cfg = AudioPretrainConfig(max_steps=4, eval_every=2, eval_questions=4) if smoke_run else AudioPretrainConfig()
    start, commit = time.perf_counter(), git_commit()
    model, processor, report = pretrain_tiny_audio(cfg, log)
    save_pretrained_model(out_dir, model, processor)
    command = "python -m adrpo_nb.experiments.audio pretrain" + (" --smoke" if smoke_run else "")
    return write_pretrain_report(out_dir, report, seconds=time.perf_counter() - start, command=command, commit=commit)
