"""Figures, tables and the β0 slider. Common pieces here (:mod:`.common`), every table through
:func:`table` (:mod:`.tables`); per family :mod:`.images`, :mod:`.lm` and :mod:`.audio`."""

from adrpo_nb.viz.common import *  # noqa: F403
from adrpo_nb.viz.common import __all__ as _common
from adrpo_nb.viz.tables import Table, config_table, mean_std, table

__all__ = [*_common, "Table", "config_table", "mean_std", "table"]
