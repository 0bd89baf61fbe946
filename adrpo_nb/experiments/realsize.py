"""One RL iteration of each chapter's real path on the real model's architecture with random weights:
``python -m adrpo_nb.bench realsize --family {sd3,qwen,audio}``.

The model is built from its published configuration (:mod:`adrpo_nb.models.real_size`) in bfloat16,
then the chapter's real-path code runs unchanged — the same adapter, LoRA targets and rank, trainer,
reward plumbing — at a small batch and resolution / length, so that it fits a 2-core CPU:

* ``sd3``: SD3 Medium's transformer (2.0 B, all 24 blocks), VAE and both CLIP encoders, T5-XXL dropped
  (``text_encoder_3=None``, which diffusers supports) unless ``--t5``; CLIPScore with a random CLIP
  ViT-L/14; project prompts; ``REAL_PATH_BATCH``'s shape at 2 images;
* ``qwen``: Qwen2-0.5B-Instruct at its full 24 layers, LoRA r = 16 on q/k/v/o as ``real_setup``, the
  GSM8K rewards of the real path (``gsm8k_correct`` + the format reward) on chat prompts; then one
  ``trl.GRPOTrainer`` iteration on the same model and batch, and the ratio;
* ``audio``: Qwen2-Audio-7B-Instruct and Qwen2.5-Omni-7B's thinker at full widths with their depth cut
  (said in the output), LoRA r = 16 on the language model (``AUDIO_LORA_TARGETS``), CESAR rewards on the
  benchmark's clips.

Each phase prints its wall time and the process's peak RSS within it (``VmHWM``, reset per phase
through ``/proc/self/clear_refs``); the update also reports the bytes autograd saved for the backward
pass (``saved_tensors_hooks``), the quantity the planner's activation model predicts. Results go to
``data/results/realsize/<family>.json`` with provenance.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["FAMILIES", "PhaseClock", "main", "run_audio", "run_qwen", "run_sd3", "saved_tensor_bytes"]

FAMILIES = ("sd3", "qwen", "audio")
MIB = 2**20


# ----------------------------------------------------------------------------- measuring
def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_mib() -> float:
    """The process's resident memory now (MiB)."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """The process's resident-memory high-water mark since the last :func:`reset_peak_rss` (MiB)."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss() -> None:
    """Reset the high-water mark (Linux: ``5 > /proc/self/clear_refs``); a no-op where that is not possible."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


class PhaseClock:
    """Wall time and peak RSS of named phases (peaks reset at each phase's start; CUDA peaks on a GPU)."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        gc.collect()
        reset_peak_rss()
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            yield
        finally:
            if cuda:
                torch.cuda.synchronize()
            entry = self.phases.setdefault(name, {"seconds": 0.0, "peak_rss_mib": 0.0, "calls": 0})
            entry["seconds"] += time.perf_counter() - start
            entry["peak_rss_mib"] = max(entry["peak_rss_mib"], peak_rss_mib())
            entry["calls"] += 1
            if cuda:
                entry["peak_cuda_mib"] = max(entry.get("peak_cuda_mib", 0.0), torch.cuda.max_memory_allocated() / MIB)

    def wrap(self, name: str, fn: Callable) -> Callable:
        """``fn`` timed as phase ``name`` on every call."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return fn(*args, **kwargs)

        return timed

    def print(self, title: str) -> None:
        print(title)
        for name, p in self.phases.items():
            cuda = f"  peak CUDA {p['peak_cuda_mib']:>9.0f} MiB" if "peak_cuda_mib" in p else ""
            print(f"  {name:<28}{p['seconds']:>9.2f} s  peak RSS {p['peak_rss_mib']:>9.0f} MiB{cuda}")


@contextlib.contextmanager
def saved_tensor_bytes(record: dict[str, int], *exclude: torch.nn.Module) -> Iterator[None]:
    """Count the bytes of distinct storages autograd saves for backward inside the block into ``record["bytes"]``;
    storages of the parameters and buffers of the ``exclude`` modules (the weights, saved by frozen layers for
    the gradient of their input) are not activations and are left out."""
    weights = {t.untyped_storage().data_ptr() for m in exclude for t in (*m.parameters(), *m.buffers())}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.device.type != "meta":
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:
                seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield
    record["bytes"] = sum(seen.values())


def _param_count(model: torch.nn.Module, trainable: bool | None = None) -> int:
    return sum(p.numel() for p in model.parameters() if trainable is None or p.requires_grad == trainable)


def _weights_mib(*models: torch.nn.Module | None) -> float:
    return sum(p.numel() * p.element_size() for m in models if m is not None for p in m.parameters()) / MIB


# ----------------------------------------------------------------------------- SD3
def run_sd3(*, resolution: int = 256, images: int = 2, steps: int = 2, t5: bool = False, layers: int | None = None,
            device: str = "cpu", iterations: int = 1) -> dict[str, Any]:  # fmt: skip
    """One ADRPO-FM iteration of SD3 Medium's real path at ``resolution`` px on ``images`` images (one prompt)."""
    from dataclasses import replace

    from adrpo_nb.experiments import plan as planner
    from adrpo_nb.experiments.sd3 import run as exp
    from adrpo_nb.models import real_size
    from adrpo_nb.models.sd3 import PromptSet, SD3Adapter
    from adrpo_nb.rewards.images import CLIPScore
    from adrpo_nb.trainers.flow_matching import FlowMatchingRLTrainer

    clock, spec = PhaseClock(), real_size.load_spec("sd3")
    baseline = rss_mib()
    with clock.phase("build (random weights, bf16)"):
        pipe = real_size.build_sd3_pipeline(spec, dtype=torch.bfloat16, with_t5=t5, transformer_layers=layers)
        clip_model, clip_tok = real_size.build_reward_clip(spec, dtype=torch.bfloat16)
        if device != "cpu":
            pipe.to(device)
    prompts = exp.project_prompts()  # the first 4 (the adapter encodes the whole set with its first batch)
    prompts = PromptSet(prompts.prompts[:4], prompts.metadata[:4])
    adapter = SD3Adapter(pipe, prompts, gradient_checkpointing=device != "cpu", height=resolution,
                         width=resolution, sample_steps=steps)  # fmt: skip  (guidance 4.5: the adapter's default)
    reward = CLIPScore(device=pipe.device, model=clip_model, tokenizer=clip_tok)
    cfg = replace(exp.default_config(method="adrpo", beta0=0.01, progress=False, **exp.REAL_PATH_BATCH),
                  samples_per_iteration=images, minibatch_size=images, num_generations=images,
                  iterations=iterations)  # fmt: skip
    trainer = FlowMatchingRLTrainer(adapter, reward, cfg)
    saved: dict[str, int] = {}
    adapter.sample = clock.wrap("sample (CFG, Euler, VAE decode)", adapter.sample)
    trainer._score = clock.wrap("reward (CLIPScore)", trainer._score)
    update = trainer._update

    def measured_update(*args: Any, **kwargs: Any) -> Any:
        with clock.phase("update (policy + reference, backward)"), saved_tensor_bytes(saved, pipe.transformer):
            return update(*args, **kwargs)

    trainer._update = measured_update
    for _ in range(iterations):
        with clock.phase("iteration"):
            logs = trainer.step()
    transformer = pipe.transformer
    text_tokens = 77 + adapter.max_sequence_length
    predicted = planner.dit_activation_bytes(dict(spec["components"]["transformer"], num_layers=len(
        transformer.transformer_blocks)), batch=images, resolution=resolution, text_tokens=text_tokens,
        checkpointing=adapter.transformer.is_gradient_checkpointing)  # fmt: skip
    tcfg = dict(spec["components"]["transformer"], num_layers=len(transformer.transformer_blocks))
    peak_act = max(planner.dit_activation_bytes(tcfg, batch=images, resolution=resolution, text_tokens=text_tokens,
                                                checkpointing=adapter.transformer.is_gradient_checkpointing),
                   planner.dit_sampling_bytes(tcfg, spec["components"]["vae"], sample_batch=images,
                                              resolution=resolution, text_tokens=text_tokens))  # fmt: skip
    parts = {p: getattr(pipe, p) for p in real_size.SD3_PARTS}
    result = {
        "family": "sd3", "model": spec["hub_id"], "device": device,
        "settings": {"resolution": resolution, "images": images, "prompts": 1, "prompt_set": len(prompts),
                     "sample_steps": steps,
                     "guidance_scale": adapter.guidance_scale, "t5": t5, "transformer_blocks": len(
                         transformer.transformer_blocks), "lora_rank": 8, "max_sequence_length":
                     adapter.max_sequence_length, "updates": cfg.updates_per_iteration},
        "parameters": {p: _param_count(m) for p, m in parts.items() if m is not None},
        "trainable_parameters": _param_count(transformer, True),
        "weights_mib": _weights_mib(*parts.values(), clip_model),
        "phases": clock.phases, "baseline_rss_mib": baseline,
        "saved_activation_mib": saved.get("bytes", 0) / MIB, "predicted_activation_mib": predicted / MIB,
        "reward_mean": logs.get("reward"), "cut": [] if t5 else ["T5-XXL dropped (text_encoder_3=None)"],
    }
    if layers is not None:
        result["cut"].append(f"transformer cut to {layers} of 24 blocks")
    compare_with_planner(result, peak_act)
    return result


# ----------------------------------------------------------------------------- Qwen
GSM8K_LIKE = [
    ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips "
     "did Natalia sell altogether in April and May?", 72.0),
    ("Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she "
     "earn?", 10.0),
    ("Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs. Her "
     "parents decided to give her $15 for that purpose, and her grandparents twice as much as her parents. How much "
     "more money does Betty need to buy the wallet?", 5.0),
    ("James writes a 3-page letter to 2 different friends twice a week. How many pages does he write a year?", 624.0),
]  # fmt: skip  (GSM8K train questions 1-4; the real path loads openai/gsm8k)


def gsm8k_rows() -> list[dict[str, Any]]:
    """Rows in the real path's GSM8K layout (system + user chat prompt, ``answer_value``)."""
    system = ("Solve the problem. Think step by step inside <think>...</think>, then give only the final "
              "number inside <answer>...</answer>.")  # fmt: skip  (experiments.qwen.real_setup's)
    return [{"prompt": [{"role": "system", "content": system}, {"role": "user", "content": q}], "answer_value": a}
            for q, a in GSM8K_LIKE]  # fmt: skip


def _qwen_policy(spec: dict[str, Any], device: str, layers: int | None):
    from peft import LoraConfig, get_peft_model

    from adrpo_nb.models import real_size

    model = real_size.build_causal_lm(spec, dtype=torch.bfloat16, layers=layers, device=device)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])  # fmt: skip  (real_setup's)
    return model, lora, get_peft_model


def run_qwen(*, model: str = "qwen2", prompts: int = 2, k: int = 4, max_new_tokens: int = 32, layers: int | None = None,
             device: str = "cpu", trl: bool = True, iterations: int = 2) -> dict[str, Any]:  # fmt: skip
    """GRPO iterations of the Qwen real path (this package's trainer), then ``trl.GRPOTrainer`` on the same model."""
    from adrpo_nb.experiments import plan as planner
    from adrpo_nb.experiments.qwen.run import gsm8k_format
    from adrpo_nb.models import real_size
    from adrpo_nb.models.causal_lm import CausalLMAdapter
    from adrpo_nb.rewards.text import gsm8k_correct
    from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer

    clock, spec = PhaseClock(), real_size.load_spec(model)
    baseline = rss_mib()
    with clock.phase("build (random weights, bf16)"):
        tok = real_size.build_qwen_tokenizer(spec["tokenizer"])
        base, lora, get_peft_model = _qwen_policy(spec, device, layers)
        policy = get_peft_model(base, lora)
        policy.generation_config.pad_token_id = tok.pad_token_id
    adapter = CausalLMAdapter(policy, tok, max_new_tokens=max_new_tokens)
    cfg = GRPOConfig(method="adrpo", beta0=0.04, iterations=iterations, prompts_per_iteration=prompts,
                     num_generations=k, minibatch_size=prompts * k, learning_rate=1e-5, progress=False)  # fmt: skip
    trainer = GRPOTrainer(adapter, [gsm8k_correct, gsm8k_format], gsm8k_rows(), cfg)
    saved: dict[str, int] = {}
    trainer._rollout = clock.wrap("generate", trainer._rollout)
    update = trainer._update

    def measured_update(*args: Any, **kwargs: Any) -> Any:
        with clock.phase("update (reference + policy, backward)"), saved_tensor_bytes(saved, policy):
            return update(*args, **kwargs)

    trainer._update = measured_update
    iteration_s = []
    for _ in range(iterations):
        with clock.phase("iteration"):
            logs = trainer.step()
        iteration_s.append(clock.phases["iteration"]["seconds"] - sum(iteration_s))
    rollout = trainer.last_rollout
    cfg_text = base.config
    predicted = planner.lm_activation_bytes(cfg_text, batch=prompts * k, prompt_length=rollout.prompt_ids.shape[1],
                                            length=rollout.completion_ids.shape[1], checkpointing=False,
                                            transients=False)  # fmt: skip
    result = {
        "family": "qwen", "model": spec["hub_id"], "device": device,
        "settings": {"prompts": prompts, "k": k, "max_new_tokens": max_new_tokens, "layers": cfg_text.num_hidden_layers,
                     "lora_rank": 16, "prompt_tokens": rollout.prompt_ids.shape[1], "iterations": iterations},
        "parameters": _param_count(policy, False), "trainable_parameters": _param_count(policy, True),
        "weights_mib": _weights_mib(policy), "phases": clock.phases, "baseline_rss_mib": baseline,
        "iteration_seconds": iteration_s, "generated_tokens": int(rollout.completion_mask.sum()),
        "saved_activation_mib": saved.get("bytes", 0) / MIB, "predicted_activation_mib": predicted / MIB,
        "reward_mean": logs.get("reward"), "cut": [] if layers is None else [f"{layers} layers"],
    }  # fmt: skip
    compare_with_planner(result, _lm_peak_bytes(cfg_text, prompts * k, prompts * k, rollout, lora_mlp=False))
    if trl:
        del trainer, adapter, policy, base
        gc.collect()
        result["trl"] = _trl_iteration(spec, device, layers, prompts, k, max_new_tokens, iterations, clock)
        ours = statistics.median(iteration_s[1:] or iteration_s)
        result["ratio_ours_over_trl"] = ours / result["trl"]["step_seconds"]
    return result


def _lm_peak_bytes(cfg: Any, batch: int, sample_batch: int, rollout: Any, lora_mlp: bool) -> float:
    """The planner's activation peak (training step with transients, or sampling) at a rollout's lengths."""
    from adrpo_nb.experiments import plan as planner

    p, c = rollout.prompt_ids.shape[1], rollout.completion_ids.shape[1]
    return max(planner.lm_activation_bytes(cfg, batch=batch, prompt_length=p, length=c, checkpointing=False,
                                           lora_mlp=lora_mlp),
               planner.lm_generation_bytes(cfg, sample_batch=sample_batch, prompt_length=p, length=c))  # fmt: skip


def _trl_iteration(spec: dict[str, Any], device: str, layers: int | None, prompts: int, k: int, max_new_tokens: int,
                   steps: int, clock: PhaseClock) -> dict[str, Any]:  # fmt: skip
    """``trl.GRPOTrainer`` on the same architecture, LoRA, rewards and batch: seconds per optimizer step."""
    import tempfile

    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from adrpo_nb.experiments.qwen.run import gsm8k_format
    from adrpo_nb.models import real_size
    from adrpo_nb.rewards.text import gsm8k_correct

    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.start)

    tok = real_size.build_qwen_tokenizer(spec["tokenizer"])
    model, lora, _ = _qwen_policy(spec, device, layers)
    rows = gsm8k_rows() * 4
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(output_dir=out, per_device_train_batch_size=prompts * k, num_generations=k,
                          max_completion_length=max_new_tokens, report_to=[], use_cpu=device == "cpu",
                          max_steps=steps, logging_strategy="no", save_strategy="no", seed=0, bf16=False,
                          loss_type="grpo", beta=0.04, learning_rate=1e-5, disable_tqdm=True,
                          dataloader_num_workers=0, temperature=1.0, top_p=1.0, top_k=0)  # fmt: skip
        trainer = GRPOTrainer(model=model, reward_funcs=[gsm8k_correct, gsm8k_format], args=args,
                              train_dataset=Dataset.from_list(rows), processing_class=tok, peft_config=lora,
                              callbacks=[StepTimer()])  # fmt: skip
        with clock.phase("trl.GRPOTrainer (all steps)"):
            trainer.train()
    return {"step_seconds_all": times, "step_seconds": statistics.median(times[1:] or times)}


# ----------------------------------------------------------------------------- audio
def _audio_one(name: str, *, prompts: int, k: int, max_new_tokens: int, text_layers: int | None,
               audio_layers: int | None, device: str) -> dict[str, Any]:  # fmt: skip
    from peft import LoraConfig, get_peft_model

    from adrpo_nb.experiments import plan as planner
    from adrpo_nb.experiments.audio.family import dataset
    from adrpo_nb.experiments.audio.run import reward_setup
    from adrpo_nb.models import real_size
    from adrpo_nb.models.audio_lm import AUDIO_LORA_TARGETS, AudioLMAdapter
    from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer

    clock, spec = PhaseClock(), real_size.load_spec(name)
    baseline = rss_mib()
    with clock.phase("build (random weights, bf16)"):
        processor = real_size.build_audio_processor(spec)
        model = real_size.build_audio_lm(spec, dtype=torch.bfloat16, text_layers=text_layers,
                                         audio_layers=audio_layers, vision_layers=1 if text_layers else None,
                                         device=device)  # fmt: skip
        model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
        lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=AUDIO_LORA_TARGETS)  # real_setup's
        policy = get_peft_model(model, lora)
    adapter = AudioLMAdapter(policy, processor, max_new_tokens=max_new_tokens)
    funcs, weights = reward_setup("cesar")
    cfg = GRPOConfig(method="adrpo", beta0=0.04, iterations=1, prompts_per_iteration=prompts, num_generations=k,
                     minibatch_size=prompts * k, reward_weights=weights, learning_rate=1e-5,
                     progress=False)  # fmt: skip
    trainer = GRPOTrainer(adapter, funcs, dataset("train"), cfg)
    saved: dict[str, int] = {}
    trainer._rollout = clock.wrap("generate (audio encoded, sampling)", trainer._rollout)
    update = trainer._update

    def measured_update(*args: Any, **kwargs: Any) -> Any:
        with clock.phase("update (reference + policy, backward)"), saved_tensor_bytes(saved, policy):
            return update(*args, **kwargs)

    trainer._update = measured_update
    with clock.phase("iteration"):
        logs = trainer.step()
    rollout = trainer.last_rollout
    text_cfg = model.config.get_text_config()
    predicted = planner.lm_activation_bytes(text_cfg, batch=prompts * k, prompt_length=rollout.prompt_ids.shape[1],
                                            length=rollout.completion_ids.shape[1], checkpointing=False,
                                            lora_mlp=True, transients=False)  # fmt: skip
    result = {
        "model": spec["hub_id"], "settings": {"prompts": prompts, "k": k, "max_new_tokens": max_new_tokens,
                                             "prompt_tokens": rollout.prompt_ids.shape[1], "lora_rank": 16},
        "cut": [] if text_layers is None and audio_layers is None else [
            f"text layers {text_layers} of {spec['config']['text_config']['num_hidden_layers']}, audio encoder "
            f"layers {audio_layers} of {spec['config']['audio_config']['encoder_layers']}"
            + (", vision tower 1 block (unused)" if "vision_config" in spec["config"] else "") + "; full widths"],
        "parameters": _param_count(policy, False), "trainable_parameters": _param_count(policy, True),
        "weights_mib": _weights_mib(policy), "phases": clock.phases, "baseline_rss_mib": baseline,
        "generated_tokens": int(rollout.completion_mask.sum()), "saved_activation_mib": saved.get("bytes", 0) / MIB,
        "predicted_activation_mib": predicted / MIB, "reward_mean": logs.get("reward"),
    }  # fmt: skip
    compare_with_planner(result, _lm_peak_bytes(text_cfg, prompts * k, prompts * k, rollout, lora_mlp=True))
    return result


def run_audio(*, prompts: int = 1, k: int = 2, max_new_tokens: int = 16, text_layers: int | None = 2,
              audio_layers: int | None = 2,
              device: str = "cpu", models: Sequence[str] = ("qwen2_audio", "omni")) -> dict[str, Any]:  # fmt: skip
    """One GRPO iteration of each audio real path (Qwen2-Audio-7B, Omni-7B's thinker) at full widths, cut depth."""
    runs = {}
    for name in models:
        runs[name] = _audio_one(name, prompts=prompts, k=k, max_new_tokens=max_new_tokens, text_layers=text_layers,
                                audio_layers=audio_layers, device=device)  # fmt: skip
        gc.collect()
    return {"family": "audio", "device": device, "runs": runs}


# ----------------------------------------------------------------------------- planner vs measured
def compare_with_planner(r: dict[str, Any], activation_peak_bytes: float) -> None:
    """Add the planner's total for this run (weights as built + float32 LoRA gradients and Adam state + the
    activation model's peak, transients included) and the measured peak RSS above the process's baseline."""
    trainable = r["trainable_parameters"]
    r["planner_total_mib"] = r["weights_mib"] + trainable * 12 / MIB + activation_peak_bytes / MIB
    phases = [p for name, p in r["phases"].items() if not name.startswith(("build", "trl"))]
    r["measured_peak_over_baseline_mib"] = max(p["peak_rss_mib"] for p in phases) - r["baseline_rss_mib"]
    r["planner_error"] = r["planner_total_mib"] / r["measured_peak_over_baseline_mib"] - 1


# ----------------------------------------------------------------------------- throughput
#: dense bf16 peak of the GPU for the MFU estimate (H200 / H100 SXM: 989 TFLOP/s); override with GPU_PEAK_TFLOPS
DEFAULT_PEAK_TFLOPS = 989.0


def add_throughput(result: dict[str, Any]) -> None:
    """Tokens/s or images/s per run and an MFU estimate on a GPU: FLOPs ≈ 2·N per token and pass (sampling, the
    reference's and the policy's forward) + 2·N for the backward to the inputs (the weights are frozen)."""
    import os

    runs = result["runs"].values() if "runs" in result else [result]
    peak = float(os.environ.get("GPU_PEAK_TFLOPS", DEFAULT_PEAK_TFLOPS)) * 1e12
    for r in runs:
        seconds = r["phases"]["iteration"]["seconds"] / r["phases"]["iteration"]["calls"]
        n = r["parameters"] if isinstance(r["parameters"], int) else r["parameters"]["transformer"]
        s = r["settings"]
        if "images" in s:  # SD3: the transformer's tokens per image
            tokens = (s["resolution"] // 16) ** 2 + 77 + s["max_sequence_length"]
            flops = 2 * n * tokens * s["images"] * (2 * s["sample_steps"] + 4 * s["updates"])
            r["images_per_s"] = s["images"] / seconds
        else:
            batch = s["prompts"] * s["k"]
            gen, total = r["generated_tokens"], batch * (s["prompt_tokens"] + s["max_new_tokens"])
            flops = 2 * n * (gen + batch * s["prompt_tokens"]) + 2 * n * total * 3
            phase = r["phases"].get("generate") or r["phases"]["generate (audio encoded, sampling)"]
            r["generated_tokens_per_s"] = gen / (phase["seconds"] / phase["calls"])
        r["flops_per_iteration"] = float(flops)
        if result.get("device", "cpu") != "cpu":
            r["mfu"] = flops / seconds / peak


# ----------------------------------------------------------------------------- report
def _print(result: dict[str, Any]) -> None:
    runs = result["runs"].items() if "runs" in result else [(result["family"], result)]
    for name, r in runs:
        cut = r.get("cut") or []
        title = (f"{r['model']} ({name}), {r['settings']}; weights {r['weights_mib']:.0f} MiB, "
                 f"trainable {r['trainable_parameters']:,}" + (f"; CUT: {cut}" if cut else ""))  # fmt: skip
        PhaseClock.print(type("C", (), {"phases": r["phases"]})(), title)
        print(f"  autograd saved for backward: {r['saved_activation_mib']:.0f} MiB; the planner's activation model: "
              f"{r['predicted_activation_mib']:.0f} MiB")  # fmt: skip
        if "planner_total_mib" in r:
            print(f"  peak RSS above the baseline: {r['measured_peak_over_baseline_mib']:.0f} MiB; the planner's "
                  f"total: {r['planner_total_mib']:.0f} MiB ({100 * r['planner_error']:+.0f} %)")
    if "trl" in result:
        t = result["trl"]
        steps = [round(x, 2) for x in t["step_seconds_all"]]
        print(f"  trl.GRPOTrainer step: {t['step_seconds']:.2f} s (all steps {steps});"
              f" ours/TRL = {result['ratio_ours_over_trl']:.2f}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m adrpo_nb.bench realsize --family …``: run, print, write the JSON."""
    from adrpo_nb.utils.paths import atomic_write_json, runs_dir
    from adrpo_nb.utils.provenance import git_commit, provenance

    p = argparse.ArgumentParser(prog="python -m adrpo_nb.bench realsize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--family", required=True, choices=FAMILIES)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--resolution", type=int, default=256, help="sd3")
    p.add_argument("--images", type=int, default=2, help="sd3: images (one prompt, K = images)")
    p.add_argument("--steps", type=int, default=2, help="sd3: sampling steps")
    p.add_argument("--t5", action="store_true", help="sd3: keep T5-XXL (9.5 GB more in bf16)")
    p.add_argument("--prompts", type=int, default=None)
    p.add_argument("--k", type=int, default=None, help="completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--layers", type=int, default=None, help="cut the depth (sd3, qwen: full by default)")
    p.add_argument("--text-layers", type=int, default=2, help="audio: language-model layers kept")
    p.add_argument("--audio-layers", type=int, default=2, help="audio: audio-encoder layers kept")
    p.add_argument("--full-depth", action="store_true", help="audio: every layer (a GPU run)")
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--no-trl", action="store_true", help="qwen: skip the trl.GRPOTrainer comparison")
    p.add_argument("--out", type=Path, default=None, help="default: runs/results/realsize/<family>.json (the "
                   "committed ones: --out data/results/realsize/<family>.json)")
    args = p.parse_args(argv)
    commit, start = git_commit(), time.perf_counter()
    opt = {k: v for k, v in {"prompts": args.prompts, "k": args.k, "max_new_tokens": args.max_new_tokens,
                             "iterations": args.iterations}.items() if v is not None}  # fmt: skip
    if args.family == "sd3":
        result = run_sd3(resolution=args.resolution, images=args.images, steps=args.steps, t5=args.t5,
                         layers=args.layers, device=args.device, **{k: v for k, v in opt.items() if k == "iterations"})
    elif args.family == "qwen":
        result = run_qwen(layers=args.layers, device=args.device, trl=not args.no_trl, **opt)
    else:
        opt.pop("iterations", None)
        layers = (None, None) if args.full_depth else (args.text_layers, args.audio_layers)
        result = run_audio(text_layers=layers[0], audio_layers=layers[1], device=args.device, **opt)
    add_throughput(result)
    result["provenance"] = provenance(time.perf_counter() - start, device=args.device, commit=commit,
                                      peak_rss_mib=round(_status_kib("VmPeak") and peak_rss_mib(), 1))  # fmt: skip
    _print(result)
    out = args.out or runs_dir() / "results" / "realsize" / f"{args.family}.json"  # never data/ unless told
    atomic_write_json(out, result)
    print(f"wrote {out}")
    return result
