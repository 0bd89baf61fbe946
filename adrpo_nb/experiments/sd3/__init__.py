"""The SD3 experiment: the tiny SD3 and its pretraining (:mod:`.pretrain`); prompts, evaluation, RL runs,
sweeps and the book's runs (:mod:`.run`). Command line: ``python -m adrpo_nb.experiments.sd3 --help``."""

from adrpo_nb.experiments.sd3.run import *  # noqa: F403
from adrpo_nb.experiments.sd3.run import __all__ as _run

__all__ = [*_run]
