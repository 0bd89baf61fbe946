"""``python -m adrpo_nb.bench {mnist,sd3,grpo,audio}``: the benchmarks (code in :mod:`adrpo_nb.experiments.bench`)."""

from adrpo_nb.experiments.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
