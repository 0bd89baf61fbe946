"""A memory budget for one RL iteration of a chapter's real path, from a meta-device build (nothing downloaded,
nothing allocated): ``python -m adrpo_nb.bench plan --model <hub id | folder> [--batch …] [--json]``.

The model is built on ``torch.device("meta")`` from its published configuration
(:mod:`adrpo_nb.models.real_size`), so the parameter counts are those of the real classes. The budget
adds, in bytes:

* **weights**: frozen parameters in the compute dtype (bf16: 2 B), trainable LoRA parameters in float32
  (the adapters keep them there);
* **gradients** (float32) and **optimizer state** of the trainable parameters only: Adam 8 B, 8-bit Adam 2 B;
* **reference**: 0 with the LoRA switched off (this package's default), a second copy of the frozen
  policy with ``--reference copy``;
* **activations** of the largest phase — sampling (no gradients: the KV cache, or the DiT's CFG batch
  and the VAE decode) or one optimizer step on a minibatch (what autograd keeps for the backward pass,
  per token and layer, see :func:`lm_activation_bytes` and :func:`dit_activation_bytes`) — with or
  without gradient checkpointing.

The activation terms are first-principles counts of the tensors autograd saves for a frozen layer with
LoRA on its projections (peft casts each adapted input to float32) and flash-style attention (no
``S²`` scores); the README states their error against measured peaks.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

__all__ = ["FAMILY_DEFAULTS", "Plan", "chapter_table", "count_lora_parameters", "dit_activation_bytes",
           "lm_activation_bytes", "main", "make_plan", "params_by_module"]  # fmt: skip

GIB = 2**30
#: the chapters' real-path settings per family (batch = completions or images per optimizer step)
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "sd3": {"batch": 8, "resolution": 1024, "lora_rank": 8, "sample_batch": 32, "max_sequence_length": 256},
    "causal_lm": {"batch": 16, "prompt_length": 192, "length": 64, "lora_rank": 16, "sample_batch": 64},
    "audio_lm": {"batch": 8, "prompt_length": 800, "length": 256, "lora_rank": 16, "sample_batch": 64},
}
LM_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")  # experiments.qwen.real_setup
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
OPTIMIZER_BYTES = {"adam": 8, "adamw": 8, "adam8bit": 2}


@dataclass
class Plan:
    """The budget (bytes and GiB) with what it assumed."""

    model: str
    family: str
    settings: dict[str, Any]
    params_total: int
    params_by_module: dict[str, int]
    params_trainable: int
    bytes: dict[str, int] = field(default_factory=dict)
    activations_without_checkpointing: int = 0
    activations_with_checkpointing: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gib"] = {k: round(v / GIB, 3) for k, v in self.bytes.items()}
        d["total_gib"] = round(self.total_gib, 3)
        d["activations_gib"] = {"without_checkpointing": round(self.activations_without_checkpointing / GIB, 3),
                                "with_checkpointing": round(self.activations_with_checkpointing / GIB, 3)}  # fmt: skip
        return d


# ----------------------------------------------------------------------------- parameters
def params_by_module(model: torch.nn.Module, depth: int = 1) -> dict[str, int]:
    """Parameters per submodule ``depth`` levels down (tied weights counted once, under their first owner)."""
    counts: dict[str, int] = {}
    seen: set[int] = set()
    for name, param in model.named_parameters():  # named_parameters dedupes tied weights already
        if id(param) in seen:
            continue
        seen.add(id(param))
        key = ".".join(name.split(".")[:depth]) if "." in name else name
        counts[key] = counts.get(key, 0) + param.numel()
    return counts


def _lora_match(name: str, targets: Sequence[str] | str) -> bool:
    """peft's rule: a regex string must match the whole name; a list entry matches the name or its dotted tail."""
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def count_lora_parameters(model: torch.nn.Module, targets: Sequence[str] | str, rank: int) -> int:
    """Trainable parameters of a rank-``rank`` LoRA on the ``nn.Linear`` layers peft would adapt: ``r·(in + out)``
    each."""
    total = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and _lora_match(name, targets):
            total += rank * (module.in_features + module.out_features)
    return total


# ----------------------------------------------------------------------------- activation models
def lm_activation_bytes(cfg: Any, *, batch: int, prompt_length: int, length: int, checkpointing: bool,
                        dtype_bytes: int = 2, lora_inputs: int = 4, lora_mlp: bool = False,
                        transients: bool = True) -> int:  # fmt: skip
    """What one training step on ``batch`` completions keeps for backward in a decoder-only LM with frozen
    weights and LoRA on ``lora_inputs`` projections, plus the log-prob head.

    Per token and layer: the two RMSNorms keep their float32 input (2·4h), each LoRA its float32 input
    (4h each; ``lora_mlp``: also gate/up/down's), attention q, k, v and output (dtype; k, v at the key/value
    width), the SwiGLU MLP its
    gate, activation and up projection (3·I·dtype). Checkpointing keeps each layer's input (h·dtype) and
    one layer's full set. The head: the float32 log-softmax over the vocabulary that autograd keeps for
    each completion token (4·V bytes) and, with ``transients``, what lives beside it at the end of the
    forward pass (bf16 logits, their float32 copy, the scaled copy, the entropy's two): 22·V bytes in all.
    """
    h, inter, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    head_dim = getattr(cfg, "head_dim", None) or h // cfg.num_attention_heads
    q, kv = cfg.num_attention_heads * head_dim, cfg.num_key_value_heads * head_dim
    per_token_layer = 8 * h + 4 * lora_inputs * h + dtype_bytes * (2 * q + 2 * kv) + 3 * inter * dtype_bytes
    if lora_mlp:  # LoRA on gate/up (h-wide inputs) and down (its I-wide input)
        per_token_layer += 2 * 4 * h + 4 * inter
    tokens = batch * (prompt_length + length)
    layer_part = (layers * h * dtype_bytes + per_token_layer) * tokens if checkpointing else \
        layers * per_token_layer * tokens  # fmt: skip
    return int(layer_part + (22 if transients else 4) * cfg.vocab_size * batch * length)


def lm_generation_bytes(cfg: Any, *, sample_batch: int, prompt_length: int, length: int, dtype_bytes: int = 2) -> int:
    """Sampling ``sample_batch`` sequences: the KV cache at full length and the float32 scores of one step."""
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv = cfg.num_key_value_heads * head_dim
    cache = 2 * cfg.num_hidden_layers * kv * dtype_bytes * sample_batch * (prompt_length + length)
    prefill = sample_batch * prompt_length * (cfg.hidden_size + cfg.intermediate_size) * dtype_bytes * 2
    return int(cache + prefill + 3 * 4 * cfg.vocab_size * sample_batch)


def dit_activation_bytes(cfg: dict[str, Any], *, batch: int, resolution: int, text_tokens: int, checkpointing: bool,
                         dtype_bytes: int = 2) -> int:  # fmt: skip
    """One training step of SD3's MMDiT on ``batch`` images with frozen weights and LoRA on the 8 attention
    projections: per token and block (both streams) the two adaptive LayerNorms' inputs (2·2d), the LoRA
    inputs in float32 (3 of 4d), q, k, v and the attention output (4·2d), the output projection's LoRA input
    (4d) and the GELU input of the 4d MLP (8d): 36·d bytes in bf16. Checkpointing keeps each block's two
    stream inputs and one block's full set."""
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    image_tokens = (resolution // 8 // cfg["patch_size"]) ** 2
    tokens = batch * (image_tokens + text_tokens)
    per_token_block = (36 * d) * dtype_bytes // 2
    blocks = cfg["num_layers"]
    if checkpointing:
        return int((blocks * d * dtype_bytes + per_token_block) * tokens)
    return int(blocks * per_token_block * tokens)


def dit_sampling_bytes(cfg: dict[str, Any], vae_cfg: dict[str, Any], *, sample_batch: int, resolution: int,
                       text_tokens: int, dtype_bytes: int = 2) -> int:  # fmt: skip
    """Sampling (no gradients): one block's transients for the CFG batch (2 × images), then the VAE decoding all
    images at once: ≈ 6 tensors of the last decoder block's width at full resolution per image."""
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    tokens = 2 * sample_batch * ((resolution // 8 // cfg["patch_size"]) ** 2 + text_tokens)
    dit = tokens * (12 * d) * dtype_bytes
    vae = sample_batch * 6 * vae_cfg["block_out_channels"][0] * resolution**2 * dtype_bytes
    return int(max(dit, vae))


# ----------------------------------------------------------------------------- the plan
def _settings(family: str, overrides: dict[str, Any]) -> dict[str, Any]:
    settings = dict(FAMILY_DEFAULTS[family])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("batch", "lora_rank", "sample_batch"):
        if int(settings[key]) < 1:
            raise ValueError(f"{key} must be >= 1, got {key}={settings[key]!r}")
    return settings


def make_plan(model: str, *, batch: int | None = None, resolution: int | None = None, length: int | None = None,
              prompt_length: int | None = None, sample_batch: int | None = None, lora_rank: int | None = None,
              optimizer: str = "adam", gradient_checkpointing: bool = False, reference: str = "disable_adapter",
              dtype: str = "bf16", with_t5: bool = True) -> Plan:  # fmt: skip
    """The memory budget of one RL iteration of ``model`` (hub id, short name or folder) at these settings."""
    from adrpo_nb.models import real_size

    if optimizer not in OPTIMIZER_BYTES:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZER_BYTES)}, got optimizer={optimizer!r}")
    if reference not in ("disable_adapter", "copy"):
        raise ValueError(f"reference must be 'disable_adapter' or 'copy', got reference={reference!r}")
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype must be one of {list(DTYPE_BYTES)}, got dtype={dtype!r}")
    spec = real_size.load_spec(model)
    family = spec["kind"]
    settings = _settings(family, {"batch": batch, "resolution": resolution, "length": length, "sample_batch":
                                  sample_batch, "prompt_length": prompt_length, "lora_rank": lora_rank})  # fmt: skip
    settings.update(optimizer=optimizer, gradient_checkpointing=gradient_checkpointing, reference=reference,
                    dtype=dtype)  # fmt: skip
    build = _plan_sd3 if family == "sd3" else _plan_lm
    return build(spec, settings, DTYPE_BYTES[dtype], with_t5)


def _budget(plan: Plan, frozen_policy: int, frozen_other: int, dtype_bytes: int, activations: int) -> None:
    s = plan.settings
    plan.bytes = {
        "weights": (frozen_policy + frozen_other) * dtype_bytes + plan.params_trainable * 4,
        "gradients": plan.params_trainable * 4,
        "optimizer": plan.params_trainable * OPTIMIZER_BYTES[s["optimizer"]],
        "reference": frozen_policy * dtype_bytes if s["reference"] == "copy" else 0,
        "activations": activations,
    }


def _plan_lm(spec: dict[str, Any], s: dict[str, Any], dtype_bytes: int, with_t5: bool) -> Plan:
    from adrpo_nb.models import real_size
    from adrpo_nb.models.audio_lm import AUDIO_LORA_TARGETS

    audio = spec["kind"] == "audio_lm"
    model = real_size.build_audio_lm(spec, device="meta") if audio else real_size.build_causal_lm(spec, device="meta")
    text_cfg = model.config.get_text_config()
    by_module = params_by_module(model, depth=3 if audio else 2)
    total = sum(p.numel() for p in model.parameters())
    trainable = count_lora_parameters(model, AUDIO_LORA_TARGETS if audio else LM_LORA_TARGETS, s["lora_rank"])
    plan = Plan(spec["hub_id"], spec["kind"], s, total, by_module, trainable)
    train = {ck: lm_activation_bytes(text_cfg, batch=s["batch"], prompt_length=s["prompt_length"], length=s["length"],
                                     checkpointing=ck, dtype_bytes=dtype_bytes, lora_mlp=audio)
             for ck in (False, True)}  # fmt: skip
    gen = lm_generation_bytes(text_cfg, sample_batch=s["sample_batch"], prompt_length=s["prompt_length"],
                              length=s["length"], dtype_bytes=dtype_bytes)  # fmt: skip
    plan.activations_without_checkpointing, plan.activations_with_checkpointing = max(train[False], gen), max(
        train[True], gen)  # fmt: skip
    activations = plan.activations_with_checkpointing if s["gradient_checkpointing"] else \
        plan.activations_without_checkpointing  # fmt: skip
    _budget(plan, total, 0, dtype_bytes, activations)
    plan.notes.append(f"sampling {s['sample_batch']} sequences of {s['prompt_length']} + {s['length']} tokens "
                      f"(KV cache) needs {gen / GIB:.2f} GiB; a training step on {s['batch']} completions "
                      f"{train[s['gradient_checkpointing']] / GIB:.2f} GiB: the larger counts")  # fmt: skip
    plan.notes.append("a reward model (e.g. RM-Gemma-2B for tldr, ≈ 5 GB in bf16) is not included")
    return plan


def _plan_sd3(spec: dict[str, Any], s: dict[str, Any], dtype_bytes: int, with_t5: bool) -> Plan:
    from adrpo_nb.models import real_size
    from adrpo_nb.models.sd3 import LORA_TARGETS

    by_module, transformer = {}, None
    for part in real_size.SD3_PARTS:
        if part == "text_encoder_3" and not with_t5:
            continue
        module = real_size.build_sd3_component(spec, part, device="meta")
        by_module[part] = sum(p.numel() for p in module.parameters())
        if part == "transformer":
            transformer = module
    trainable = count_lora_parameters(transformer, [f"{t}" for t in LORA_TARGETS], s["lora_rank"])
    total = sum(by_module.values())
    plan = Plan(spec["hub_id"], "sd3", s, total, by_module, trainable)
    cfg = spec["components"]["transformer"]
    text_tokens = 77 + s["max_sequence_length"]
    train = {ck: dit_activation_bytes(cfg, batch=s["batch"], resolution=s["resolution"], text_tokens=text_tokens,
                                      checkpointing=ck, dtype_bytes=dtype_bytes) for ck in (False, True)}  # fmt: skip
    sample = dit_sampling_bytes(cfg, spec["components"]["vae"], sample_batch=s["sample_batch"],
                                resolution=s["resolution"], text_tokens=text_tokens,
                                dtype_bytes=dtype_bytes)  # fmt: skip
    plan.activations_without_checkpointing, plan.activations_with_checkpointing = max(train[False], sample), max(
        train[True], sample)  # fmt: skip
    activations = plan.activations_with_checkpointing if s["gradient_checkpointing"] else \
        plan.activations_without_checkpointing  # fmt: skip
    _budget(plan, by_module["transformer"], total - by_module["transformer"], dtype_bytes, activations)
    plan.notes.append(f"sampling {s['sample_batch']} images (CFG, VAE decode of all at once) needs {sample / GIB:.2f} "
                      f"GiB; a training step on {s['batch']} images {train[s['gradient_checkpointing']] / GIB:.2f} "
                      "GiB: the larger counts")  # fmt: skip
    if not with_t5:
        plan.notes.append("T5-XXL dropped (text_encoder_3=None): its 4.76 B parameters are not loaded")
    return plan


# ----------------------------------------------------------------------------- the chapters' tables
#: (chapter, row label, model, settings) of the real paths as the chapters' cells run them
CHAPTER_PLANS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("4", "SD3 Medium + T5, 1024², 32 images sampled and decoded 8 at a time, minibatch 8, 8-bit Adam, "
          "checkpointing (the cell)", "sd3",
     {"batch": 8, "sample_batch": 8, "resolution": 1024, "optimizer": "adam8bit", "gradient_checkpointing": True}),
    ("4", "the same decoding all 32 at once (decode_batch_size=None)", "sd3",
     {"batch": 8, "sample_batch": 32, "resolution": 1024, "optimizer": "adam8bit", "gradient_checkpointing": True}),
    ("4", "the same (8 decoded at a time) without gradient checkpointing", "sd3",
     {"batch": 8, "sample_batch": 8, "resolution": 1024, "optimizer": "adam8bit"}),
    ("4", "T5-XXL dropped (8 decoded at a time, checkpointing)", "sd3",
     {"batch": 8, "sample_batch": 8, "resolution": 1024, "optimizer": "adam8bit", "gradient_checkpointing": True,
      "with_t5": False}),
    ("4", "a deep-copied reference instead of the LoRA switched off (8 decoded at a time, checkpointing)", "sd3",
     {"batch": 8, "sample_batch": 8, "resolution": 1024, "optimizer": "adam8bit", "gradient_checkpointing": True,
      "reference": "copy"}),
    ("5", "Qwen2-0.5B-Instruct, tldr: 8 × 8 completions of 64 tokens, prompts ≤ 384, minibatch 16", "qwen2",
     {"batch": 16, "sample_batch": 64, "prompt_length": 384, "length": 64}),
    ("5", "the same with gradient checkpointing", "qwen2",
     {"batch": 16, "sample_batch": 64, "prompt_length": 384, "length": 64, "gradient_checkpointing": True}),
    ("5", "Qwen3-0.6B, GSM8K: 8 × 8 completions of 256 tokens, prompts ≤ 160, minibatch 16", "qwen3",
     {"batch": 16, "sample_batch": 64, "prompt_length": 160, "length": 256}),
    ("5", "the same with gradient checkpointing", "qwen3",
     {"batch": 16, "sample_batch": 64, "prompt_length": 160, "length": 256, "gradient_checkpointing": True}),
    ("6", "Qwen2-Audio-7B-Instruct: 8 × 8 completions of 256 tokens, prompts ≤ 800 (30 s clip), minibatch 8",
     "qwen2_audio", {"batch": 8, "sample_batch": 64, "prompt_length": 800, "length": 256}),
    ("6", "the same with gradient checkpointing", "qwen2_audio",
     {"batch": 8, "sample_batch": 64, "prompt_length": 800, "length": 256, "gradient_checkpointing": True}),
    ("6", "4 prompts × 8 completions per iteration, checkpointing", "qwen2_audio",
     {"batch": 8, "sample_batch": 32, "prompt_length": 800, "length": 256, "gradient_checkpointing": True}),
    ("6", "Qwen2.5-Omni-7B thinker, the same batch, minibatch 8", "omni",
     {"batch": 8, "sample_batch": 64, "prompt_length": 800, "length": 256}),
    ("6", "the same with gradient checkpointing", "omni",
     {"batch": 8, "sample_batch": 64, "prompt_length": 800, "length": 256, "gradient_checkpointing": True}),
]


def chapter_tables() -> tuple[list[dict[str, Any]], str]:
    """The planner on each :data:`CHAPTER_PLANS` row: ``(rows, Markdown tables per chapter)``."""
    rows, md, chapter = [], [], None
    for ch, label, model, kw in CHAPTER_PLANS:
        plan = make_plan(model, **kw)
        g = {k: v / GIB for k, v in plan.bytes.items()}
        rows.append({"chapter": ch, "label": label, **plan.to_dict()})
        if ch != chapter:
            chapter = ch
            md += ["", f"Chapter {ch} (`python -m adrpo_nb.bench plan --chapters`)", "",
                   "| set-up | weights | grads + Adam | reference | activations | total |", "|---|---|---|---|---|---|"]
        md.append(f"| {label} | {g['weights']:.1f} GiB | {g['gradients'] + g['optimizer']:.2f} GiB | "
                  f"{g['reference']:.1f} GiB | {g['activations']:.1f} GiB | **{plan.total_gib:.1f} GiB** |")
    return rows, "\n".join(md[1:])


def chapter_table(markdown: str, chapter: str) -> str:
    """Chapter ``chapter``'s table out of :func:`chapter_tables`' Markdown (or the ``markdown`` of the committed
    ``data/results/realsize/plans.json``): what a chapter displays instead of typing the planner's numbers."""
    lines, current = [], None
    for line in markdown.splitlines():
        if line.startswith("Chapter "):
            current = line.split()[1]
        elif current == chapter and line.startswith("|"):
            lines.append(line)
    if not lines:
        raise ValueError(f"the planner's tables have no chapter {chapter!r}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The planner's options (shared with ``python -m adrpo_nb.bench plan``)."""
    parser.add_argument("--batch", type=int, default=None, help="completions / images per optimizer step")
    parser.add_argument("--sample-batch", type=int, default=None, help="sequences / images sampled per iteration")
    parser.add_argument("--resolution", type=int, default=None, help="SD3: image side in pixels")
    parser.add_argument("--length", type=int, default=None, help="LMs: completion tokens")
    parser.add_argument("--prompt-length", type=int, default=None, help="LMs: prompt tokens (audio included)")
    parser.add_argument("--lora-rank", type=int, default=None)
    parser.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZER_BYTES))
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--reference", default="disable_adapter", choices=("disable_adapter", "copy"))
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPE_BYTES))
    parser.add_argument("--no-t5", action="store_true", help="SD3: drop T5-XXL")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")


def plan_from_args(args: argparse.Namespace) -> Plan:
    """:func:`make_plan` from parsed :func:`add_arguments` options (``args.model`` is required)."""
    if not args.model:
        raise SystemExit("plan needs --model (a hub id such as Qwen/Qwen2-0.5B-Instruct, or a folder with config.json)")
    return make_plan(args.model, batch=args.batch, resolution=args.resolution, length=args.length,
                     prompt_length=args.prompt_length, sample_batch=args.sample_batch, lora_rank=args.lora_rank,
                     optimizer=args.optimizer, gradient_checkpointing=args.gradient_checkpointing,
                     reference=args.reference, dtype=args.dtype, with_t5=not args.no_t5)  # fmt: skip


def print_plan(plan: Plan, as_json: bool = False) -> None:
    """A readable table, or (``as_json``) the same followed by one JSON line."""
    s = plan.settings
    print(f"memory plan: {plan.model} ({plan.family}); " + ", ".join(f"{k}={v}" for k, v in s.items()))
    print(f"  parameters: {plan.params_total:,} total, {plan.params_trainable:,} trainable "
          f"(LoRA rank {s['lora_rank']})")
    for name, n in sorted(plan.params_by_module.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<40}{n:>16,}")
    for key, value in plan.bytes.items():
        print(f"  {key:<12}{value / GIB:>10.2f} GiB")
    print(f"  {'total':<12}{plan.total_gib:>10.2f} GiB   (activations: "
          f"{plan.activations_without_checkpointing / GIB:.2f}"
          f" GiB without gradient checkpointing, {plan.activations_with_checkpointing / GIB:.2f} GiB with)")
    for note in plan.notes:
        print(f"  note: {note}")
    if as_json:
        print(json.dumps(plan.to_dict()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adrpo_nb.bench plan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--model", default=None, help="a hub id (see adrpo_nb.models.real_size.REAL_CONFIGS), a "
                        "short name or a folder with config.json")  # fmt: skip
    parser.add_argument("--chapters", action="store_true", help="the chapters' real-path tables (Markdown + JSON)")
    parser.add_argument("--out", default=None, help="--chapters: also write the rows as JSON with provenance here")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.chapters:
        _chapters(args.out)
        return 0
    try:
        plan = plan_from_args(args)
    except ValueError as err:  # an unknown model id or a bad setting: one line, no traceback
        raise SystemExit(f"plan: {err}") from None
    print_plan(plan, args.json)
    return 0


def _chapters(out: str | None) -> None:
    import time

    from adrpo_nb.utils.paths import atomic_write_json
    from adrpo_nb.utils.provenance import git_commit, provenance

    commit, start = git_commit(), time.perf_counter()
    rows, markdown = chapter_tables()
    print(markdown)
    if out:
        atomic_write_json(out, {"rows": rows, "markdown": markdown,
                                "provenance": provenance(time.perf_counter() - start, commit=commit)})  # fmt: skip
        print(f"wrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
