"""Figures, tables and the β0 slider. Common pieces here (:mod:`.common`); per family :mod:`.images`,
:mod:`.lm` and :mod:`.audio`."""

from adrpo_nb.viz.common import *  # noqa: F403
from adrpo_nb.viz.common import __all__  # noqa: F401
