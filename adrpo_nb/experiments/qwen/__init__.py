"""The qwen experiment: the shipped tiny model, data and evaluation (:mod:`.family`), RL runs, sweeps and the
book's runs (:mod:`.run`), pretraining (:mod:`.pretrain`), the real path on a GPU (:mod:`.real`).
Command line: ``python -m adrpo_nb.experiments.qwen --help``."""

from adrpo_nb.experiments.qwen.family import *  # noqa: F403
from adrpo_nb.experiments.qwen.family import __all__ as _family
from adrpo_nb.experiments.qwen.real import *  # noqa: F403
from adrpo_nb.experiments.qwen.real import __all__ as _real
from adrpo_nb.experiments.qwen.run import *  # noqa: F403
from adrpo_nb.experiments.qwen.run import __all__ as _run

__all__ = [*_family, *_run, *_real]
