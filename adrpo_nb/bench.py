"""Benchmarks that print figures (never assert on time): ``python -m adrpo_nb.bench {mnist,sd3}``.

``mnist``: one RL iteration of :class:`~adrpo_nb.trainers.flow_matching.FlowMatchingRLTrainer`
split into sampling / reward / update, beside the *forward-pass bound*: the same number of
velocity, decoder and classifier forward (and policy backward) passes timed alone, with no trainer
around them. The ratio says how much the trainer's bookkeeping costs.

``sd3``: one RL iteration of the SD3 adapter (sampling / reward / update) and the memory of the two
ways to keep a reference — the LoRA adapter switched off (this package) and a deep copy of the
transformer — each measured in its own process (peak RSS, or peak CUDA memory on a GPU), side by side.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch

__all__ = ["bench_mnist", "bench_sd3", "main"]


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
    from adrpo_nb.mnist import even_digits, load_base_model, load_classifier
    from adrpo_nb.models.mnist import LatentFlowAdapter
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
    print(f"SD3 RL iteration ({model or 'tiny SD3'}; 8 prompts × 4 images; {torch.get_num_threads()} threads)")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adrpo_nb.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("target", choices=["mnist", "sd3"])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--model", default=None, help="sd3: a hub id or folder (default: the tiny SD3)")
    args = parser.parse_args(argv)
    if args.target == "mnist":
        bench_mnist(iterations=args.iterations)
    else:
        bench_sd3(args.model, iterations=min(args.iterations, 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
