"""The MNIST experiment: the shipped models, rewards and evaluation (:mod:`.family`), RL runs, sweeps and the
book's runs (:mod:`.run`), pretraining (:mod:`.pretrain`), learning from failures (:mod:`.failures`).
Command line: ``python -m adrpo_nb.experiments.mnist --help``."""

from adrpo_nb.experiments.mnist.failures import *  # noqa: F403
from adrpo_nb.experiments.mnist.failures import __all__ as _failures
from adrpo_nb.experiments.mnist.family import *  # noqa: F403
from adrpo_nb.experiments.mnist.family import __all__ as _family
from adrpo_nb.experiments.mnist.run import *  # noqa: F403
from adrpo_nb.experiments.mnist.run import __all__ as _run

__all__ = [*_family, *_run, *_failures]
