"""The MNIST experiment: the shipped models and rewards (:mod:`.family`), RL runs, sweeps and the book's runs
(:mod:`.run`), pretraining (:mod:`.pretrain`). Command line: ``python -m adrpo_nb.experiments.mnist --help``."""

from adrpo_nb.experiments.mnist.family import *  # noqa: F403
from adrpo_nb.experiments.mnist.family import __all__ as _family
from adrpo_nb.experiments.mnist.run import *  # noqa: F403
from adrpo_nb.experiments.mnist.run import __all__ as _run

__all__ = [*_family, *_run]
