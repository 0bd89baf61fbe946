"""Benchmarks that print figures (never assert on time): ``python -m adrpo_nb.bench {mnist,sd3,grpo,audio}``;
``realsize --family {sd3,qwen,audio}`` (:mod:`adrpo_nb.experiments.realsize`) and ``plan --model …``
(:mod:`adrpo_nb.experiments.plan`) have their own options.

``mnist``: one RL iteration of :class:`~adrpo_nb.trainers.flow_matching.FlowMatchingRLTrainer`
split into sampling / reward / update, beside the *forward-pass bound*: the same number of
velocity, decoder and classifier forward (and policy backward) passes timed alone, with no trainer
around them. The ratio says how much the trainer's bookkeeping costs.

``sd3``: one RL iteration of the SD3 adapter (sampling / reward / update) and the memory of the two
ways to keep a reference — the LoRA adapter switched off (this package) and a deep copy of the
transformer — each measured in its own process (peak RSS, or peak CUDA memory on a GPU), side by side.

``grpo``: one GRPO iteration (generate K completions for P prompts, score, reference log-probs, one
optimizer step on all of them) of this package's :class:`~adrpo_nb.trainers.grpo.GRPOTrainer` and of
``trl.GRPOTrainer`` on the same tiny Qwen2, prompts and sizes, measured in one run, as a ratio; then
the peak memory (peak RSS of a fresh process on CPU, ``torch.cuda.max_memory_allocated`` on a GPU) of a
LoRA run whose reference is the adapter-disabled base model against the same run with a frozen copy
of the model as reference, on a larger random Qwen2 (≈ 25 M parameters) where the copy is visible.

``audio``: one GRPO iteration of the shipped tiny Qwen2-Audio split into audio encoding (time inside
the audio tower), sampling and update, with the audio encoded once per prompt (this package) and
with ``input_features`` passed to every forward pass (the audio tower then runs for each completion
and each log-prob pass, as in the forks of TRL), side by side in one run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch

__all__ = ["bench_audio", "bench_grpo", "bench_mnist", "bench_sd3", "main"]


def _time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of ``fn`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_mnist(samples: int = 256, updates: int = 4, steps: int = 20, iterations: int = 5) -> dict[str, float]:
    """Measure the trainer's iteration and its forward-pass bound side by side; return the figures."""
    from adrpo_nb.experiments.mnist.family import even_digits
    from adrpo_nb.models.mnist import LatentFlowAdapter, load_base_model, load_classifier
    from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer

    base = load_base_model()
    cfg = FlowMatchingRLConfig(iterations=iterations + 1, samples_per_iteration=samples, minibatch_size=samples,
                               updates_per_iteration=updates, progress=False)  # fmt: skip
    trainer = FlowMatchingRLTrainer(LatentFlowAdapter(base, sample_steps=steps), even_digits, cfg)
    trainer.step()  # warm-up
    logs = [trainer.step() for _ in range(iterations)]
    split = {k: statistics.median(log[f"time/{k}"] for log in logs) for k in ("sample", "reward", "update")}

    # the bound: the same passes, bare
    policy, ref, clf = trainer.adapter.policy, base.velocity, load_classifier()
    x = torch.randn(samples, base.latent_dim)
    t = torch.rand(samples)

    @torch.no_grad()
    def bare_sampling():
        z = x
        for _ in range(steps):
            z = z + policy(z, t) / steps
        return base.decode(z)

    images = bare_sampling()

    @torch.no_grad()
    def bare_reward():
        return clf(images)

    def bare_update():
        for _ in range(updates):
            with torch.no_grad():
                ref(x, t)
            policy(x, t).pow(2).mean().backward()

    bound = {"sample": _time(bare_sampling, iterations), "reward": _time(bare_reward, iterations),
             "update": _time(bare_update, iterations)}  # fmt: skip
    total, total_bound = sum(split.values()), sum(bound.values())
    print(f"MNIST RL iteration: {samples} samples, {steps} Euler steps, {updates} updates "
          f"({torch.get_num_threads()} threads)")  # fmt: skip
    print(f"{'part':<8}{'trainer s':>11}{'bound s':>11}{'ratio':>8}")
    for k in split:
        print(f"{k:<8}{split[k]:>11.4f}{bound[k]:>11.4f}{split[k] / bound[k]:>8.2f}")
    print(f"{'total':<8}{total:>11.4f}{total_bound:>11.4f}{total / total_bound:>8.2f}")
    return {**{f"trainer/{k}": v for k, v in split.items()}, **{f"bound/{k}": v for k, v in bound.items()},
            "ratio": total / total_bound}  # fmt: skip


def _sd3_iteration(reference: str, model: str | None, iterations: int) -> dict[str, float]:
    """Run in a fresh process: a few RL iterations with the given reference; report times and memory."""
    import copy
    import resource

    from adrpo_nb.experiments import sd3 as exp
    from adrpo_nb.models.sd3 import load_sd3_pipeline
    from adrpo_nb.trainers.flow_matching import FlowMatchingRLTrainer

    device = "cuda" if torch.cuda.is_available() else None
    pipe = exp.load_tiny_pipeline() if model is None else load_sd3_pipeline(
        model, dtype=torch.bfloat16 if device else torch.float32, device=device)  # fmt: skip
    copied = copy.deepcopy(pipe.transformer).requires_grad_(False) if reference == "copy" else None
    adapter = exp.make_adapter(pipe) if model is None else exp.SD3Adapter(pipe, exp.project_prompts())
    if copied is not None:  # the alternative this package avoids: a second transformer as the reference
        adapter.reference_velocity = torch.no_grad()(lambda x_t, t, c: adapter._forward(copied, x_t, t, c))
    cfg = exp.default_config(iterations=iterations + 1, progress=False)
    if model is None:
        reward = exp.BINDING
    else:  # the real path scores with CLIP (needs the hub or a local CLIP)
        from adrpo_nb.rewards.images import CLIPScore

        reward = CLIPScore(device=pipe.device)
    trainer = FlowMatchingRLTrainer(adapter, reward, cfg)
    trainer.step()
    logs = [trainer.step() for _ in range(iterations)]
    out = {k: statistics.median(log[f"time/{k}"] for log in logs) for k in ("sample", "reward", "update")}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    held = [pipe.transformer] + ([copied] if copied is not None else [])
    out["transformer_mb"] = sum(p.numel() * p.element_size() for m in held for p in m.parameters()) / 2**20
    return out


def bench_sd3(model: str | None = None, iterations: int = 3) -> dict[str, dict[str, float]]:
    """Measure the SD3 RL iteration and the two references, each in its own process, and print them."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    results = {}
    for reference in ("adapter", "copy"):  # one process each, one after the other: clean peaks
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            results[reference] = pool.submit(_sd3_iteration, reference, model, iterations).result()
    a, c = results["adapter"], results["copy"]
    from adrpo_nb.experiments.sd3 import default_config

    cfg = default_config()
    print(f"SD3 RL iteration ({model or 'tiny SD3'}; {cfg.samples_per_iteration // cfg.num_generations} prompts × "
          f"{cfg.num_generations} images, {cfg.updates_per_iteration} updates; {torch.get_num_threads()} threads)")
    for k in ("sample", "reward", "update"):
        print(f"  {k:<8}{a[k]:>9.3f} s")
    print(f"  {'total':<8}{sum(a[k] for k in ('sample', 'reward', 'update')):>9.3f} s")
    print("reference kept as:          LoRA switched off   deep copy   ratio (copy / LoRA)")
    rows = [("transformer weights (MB)", "transformer_mb"), ("peak process RSS (MB)", "peak_rss_mb")]
    if a["peak_cuda_mb"]:
        rows.append(("peak CUDA memory (MB)", "peak_cuda_mb"))
    for label, key in rows:
        print(f"  {label:<26}{a[key]:>12.1f}{c[key]:>13.1f}{c[key] / a[key]:>10.2f}×")
    return results


def _trl_step_times(path, rows, prompts: int, k: int, max_new_tokens: int, steps: int) -> list[float]:
    """Wall seconds of each optimizer step of ``trl.GRPOTrainer`` (one generation batch per step)."""
    import tempfile

    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from adrpo_nb.rewards.countdown import countdown_correct, countdown_format

    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.start)

    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(output_dir=out, per_device_train_batch_size=prompts * k, num_generations=k,
                          max_completion_length=max_new_tokens, report_to=[], use_cpu=True, max_steps=steps,
                          logging_strategy="no", save_strategy="no", seed=0, bf16=False, loss_type="grpo", beta=0.04,
                          learning_rate=3e-4, disable_tqdm=True, dataloader_num_workers=0)  # fmt: skip
        trainer = GRPOTrainer(model=str(path), reward_funcs=[countdown_correct, countdown_format], args=args,
                              train_dataset=Dataset.from_list(rows), callbacks=[StepTimer()],
                              processing_class=AutoTokenizer.from_pretrained(path))  # fmt: skip
        trainer.train()
    return times


def bench_grpo(prompts: int = 16, k: int = 8, iterations: int = 5, memory: bool = True) -> dict[str, float]:
    """This package's GRPO iteration against TRL's on the shipped tiny Qwen2; then reference memory."""
    from adrpo_nb.experiments.qwen.family import countdown_rows, load_tiny, tiny_model_path
    from adrpo_nb.rewards.countdown import countdown_correct, countdown_format
    from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer

    rows = countdown_rows(512)
    adapter = load_tiny()
    cfg = GRPOConfig(method="fixed", beta0=0.04, iterations=iterations + 1, prompts_per_iteration=prompts,
                     num_generations=k, minibatch_size=prompts * k, learning_rate=3e-4, progress=False)  # fmt: skip
    ours = GRPOTrainer(adapter, [countdown_correct, countdown_format], rows, cfg)
    ours.step()  # warm-up
    logs = [ours.step() for _ in range(iterations)]
    ours_s = statistics.median(sum(log[f"time/{p}"] for p in ("generate", "reward", "update")) for log in logs)
    lengths = statistics.mean(log["completions/mean_length"] for log in logs)
    trl_times = _trl_step_times(tiny_model_path(), rows, prompts, k, adapter.max_new_tokens, iterations + 1)
    trl_s = statistics.median(trl_times[1:])
    print(f"GRPO iteration, tiny Qwen2 ({sum(p.numel() for p in adapter.policy.parameters()):,} parameters), "
          f"{prompts} prompts × {k} completions ≤ {adapter.max_new_tokens} tokens (mean {lengths:.1f}), "
          f"one optimizer step, {torch.get_num_threads()} threads")  # fmt: skip
    print(f"  adrpo_nb GRPOTrainer: {ours_s:.3f} s   trl.GRPOTrainer: {trl_s:.3f} s   ratio ours/TRL: "
          f"{ours_s / trl_s:.2f}")  # fmt: skip
    result = {"ours_s": ours_s, "trl_s": trl_s, "ratio": ours_s / trl_s}
    if memory:
        result.update(bench_reference_memory())
    return result


def _memory_probe(reference: str) -> None:
    """(in a fresh process) one LoRA GRPO iteration on a ≈ 25 M-parameter random Qwen2; prints peak memory in MiB."""
    import resource

    from peft import LoraConfig, get_peft_model

    from adrpo_nb.experiments.qwen.family import countdown_rows
    from adrpo_nb.models.causal_lm import CausalLMAdapter
    from adrpo_nb.models.tiny_qwen import build_char_tokenizer, tiny_qwen2
    from adrpo_nb.rewards.countdown import countdown_correct
    from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer

    cuda = torch.cuda.is_available()
    tok = build_char_tokenizer()
    model = tiny_qwen2(tok, hidden_size=512, layers=8, heads=8, kv_heads=4, intermediate_size=1536)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    adapter = CausalLMAdapter(get_peft_model(model, lora), tok, reference=reference, max_new_tokens=24)
    if cuda:
        adapter.to("cuda")
        torch.cuda.reset_peak_memory_stats()
    cfg = GRPOConfig(method="fixed", iterations=1, prompts_per_iteration=4, num_generations=8, minibatch_size=32,
                     progress=False)  # fmt: skip
    GRPOTrainer(adapter, countdown_correct, countdown_rows(64), cfg).step()
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"PEAK_MIB {peak:.1f} {sum(p.numel() for p in model.parameters())}")


def bench_reference_memory() -> dict[str, float]:
    """Peak memory of one LoRA iteration: reference = adapters disabled vs a frozen copy (fresh process each)."""
    import subprocess
    import sys

    peaks, params = {}, 0
    for mode in ("disable_adapter", "copy"):
        out = subprocess.run([sys.executable, "-m", "adrpo_nb.bench", "memory-probe", "--reference", mode],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        line = next(x for x in out.splitlines() if x.startswith("PEAK_MIB"))
        peaks[mode], params = float(line.split()[1]), int(line.split()[2])
    where = "GPU max_memory_allocated" if torch.cuda.is_available() else "CPU peak RSS of the process"
    print(f"reference memory, LoRA on a random Qwen2 of {params / 1e6:.1f} M parameters ({where}):")
    print(f"  adapters disabled: {peaks['disable_adapter']:.0f} MiB   frozen copy: {peaks['copy']:.0f} MiB   "
          f"difference: {peaks['copy'] - peaks['disable_adapter']:.0f} MiB (the weights alone: "
          f"{params * 4 / 2**20:.0f} MiB in fp32)")  # fmt: skip
    return {"peak_mib/disable_adapter": peaks["disable_adapter"], "peak_mib/copy": peaks["copy"]}


def _audio_iterations(cache_audio: bool, prompts: int, k: int, iterations: int) -> dict[str, float]:
    from adrpo_nb.experiments.audio import reward_setup
    from adrpo_nb.experiments.audio.family import dataset, load_tiny
    from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer

    adapter = load_tiny(cache_audio=cache_audio)
    clock = {"seconds": 0.0, "calls": 0, "rows": 0}

    def start(m, args):
        clock["start"] = time.perf_counter()

    def stop(m, args, out):
        clock["seconds"] += time.perf_counter() - clock["start"]
        clock["calls"] += 1
        clock["rows"] += args[0].shape[0]

    for model in (adapter.policy, adapter.reference_model):  # the reference is a frozen copy (full fine-tuning)
        if model is not None:
            model.model.audio_tower.register_forward_pre_hook(start)
            model.model.audio_tower.register_forward_hook(stop)
    funcs, weights = reward_setup("cesar")
    cfg = GRPOConfig(method="adrpo", beta0=0.04, iterations=iterations + 1, prompts_per_iteration=prompts,
                     num_generations=k, minibatch_size=prompts * k, reward_weights=weights, progress=False)  # fmt: skip
    trainer = GRPOTrainer(adapter, funcs, dataset("rl_train"), cfg)
    trainer.step()  # warm-up
    runs = []
    for _ in range(iterations):
        clock.update(seconds=0.0, calls=0, rows=0)
        logs = trainer.step()
        runs.append({"audio": clock["seconds"], "calls": clock["calls"], "rows": clock["rows"],
                     "generate": logs["time/generate"], "reward": logs["time/reward"],
                     "update": logs["time/update"]})  # fmt: skip
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def bench_audio(prompts: int = 8, k: int = 8, iterations: int = 3) -> dict[str, dict[str, float]]:
    """One GRPO iteration of the tiny Qwen2-Audio: audio encoded once per prompt vs with every forward pass."""
    results = {}
    print(f"GRPO iteration, tiny Qwen2-Audio, {prompts} prompts × {k} completions, one optimizer step, "
          f"{torch.get_num_threads()} threads (median of {iterations})")  # fmt: skip
    for name, cache in (("audio encoded once per prompt", True), ("input_features every pass", False)):
        r = _audio_iterations(cache, prompts, k, iterations)
        total = r["generate"] + r["reward"] + r["update"]
        print(f"  {name:>30}: audio tower {r['audio']:.3f} s ({r['calls']:.0f} calls, {r['rows']:.0f} clips)  "
              f"sampling {r['generate']:.3f} s  reward {r['reward']:.3f} s  update {r['update']:.3f} s  "
              f"total {total:.3f} s")  # fmt: skip
        results["cached" if cache else "uncached"] = {**r, "total": total}
    ratio = results["uncached"]["total"] / results["cached"]["total"]
    tower = results["uncached"]["audio"] / max(results["cached"]["audio"], 1e-9)
    print(f"  ratio every-pass / once-per-prompt: iteration {ratio:.2f}×, audio tower time {tower:.1f}× "
          "(sampling includes the once-per-prompt encoding)")
    results["ratio"] = {"total": ratio, "audio": tower}
    return results


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (a median of no iteration), got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["realsize"]:  # real-size dry runs: adrpo_nb.experiments.realsize
        from adrpo_nb.experiments import realsize

        realsize.main(argv[1:])
        return 0
    if argv[:1] == ["plan"]:  # the memory planner: adrpo_nb.experiments.plan
        from adrpo_nb.experiments import plan

        return plan.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m adrpo_nb.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("target", choices=["mnist", "sd3", "grpo", "audio", "memory-probe"])
    parser.add_argument("--iterations", type=_at_least_one, default=5, help="timed iterations (>= 1)")
    parser.add_argument("--model", default=None, help="sd3: a hub id or folder (default: the tiny SD3)")
    parser.add_argument("--reference", default="disable_adapter", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.target == "mnist":
        bench_mnist(iterations=args.iterations)
    elif args.target == "sd3":
        bench_sd3(args.model, iterations=min(args.iterations, 3))
    elif args.target == "grpo":
        bench_grpo(iterations=args.iterations)
    elif args.target == "audio":
        bench_audio(iterations=min(args.iterations, 3))
    else:
        _memory_probe(args.reference)
    return 0


