"""Benchmarks that print figures (never assert on time): ``python -m adrpo_nb.bench mnist``.

``mnist``: one RL iteration of :class:`~adrpo_nb.trainers.flow_matching.FlowMatchingRLTrainer`
split into sampling / reward / update, beside the *forward-pass bound*: the same number of
velocity, decoder and classifier forward (and policy backward) passes timed alone, with no trainer
around them. The ratio says how much the trainer's bookkeeping costs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch

__all__ = ["bench_mnist", "main"]


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adrpo_nb.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("target", choices=["mnist"])
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args(argv)
    if args.target == "mnist":
        bench_mnist(iterations=args.iterations)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
