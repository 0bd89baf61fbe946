"""One table helper for every chapter: rows of dicts in, an HTML table out.

The book renders a cell's ``text/html`` output as a table; a Markdown table printed by a cell
(``display(Markdown("| a | b |…"))``) reaches the built book as raw text. So every table of the book
is a :class:`Table`: Jupyter and the book show its HTML (``_repr_html_``), ``str(table)`` is that HTML,
and ``repr(table)`` is an aligned plain-text table for terminals and logs.

    >>> t = table([{"method": "ADRPO", "reward": 0.7401}], ["method", "reward"], formats={"reward": ".3f"})
    >>> print(repr(t))
    method | reward
    ADRPO  | 0.740
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Table", "config_table", "mean_std", "table"]

#: how a missing value (``None``) is shown
MISSING = "—"

Format = str | Callable[[Any], str]


@dataclass(frozen=True)
class Table:
    """A formatted table: ``headers``, ``cells`` (text, one tuple per row) and an optional ``caption``.

    With ``stack``, a phone shows each row as a card, each cell under its header's name (the book's CSS, class
    ``adrpo-stack``): for tables of sentences, whose last column would otherwise sit off-screen at 390 px.
    Made by :func:`table`. Displays as HTML in Jupyter and the book; ``str()`` is the HTML (cell text
    escaped), ``repr()`` plain text.
    """

    headers: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    caption: str | None = None
    stack: bool = False

    def html(self) -> str:
        """``<table>`` with a ``<thead>``, one ``<tr>`` per row; all text escaped; numbers right-aligned. A table
        wider than the page scrolls sideways inside its own box instead of being cut off."""
        esc = html.escape
        caption = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        head = "".join(f'<th style="{_PAD}">{esc(h)}</th>' for h in self.headers)
        body = "".join("<tr>" + "".join(_td(c, h) for c, h in zip(row, self.headers, strict=True)) + "</tr>"
                       for row in self.cells)  # fmt: skip
        classes = "adrpo-table adrpo-stack" if self.stack else "adrpo-table"
        return (f'<div class="adrpo-table-wrap" style="overflow-x:auto;max-width:100%">'
                f'<table class="{classes}">{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")  # fmt: skip

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        rows = [self.headers, *self.cells]
        widths = [max(len(r[j]) for r in rows) for j in range(len(self.headers))]
        lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        return "\n".join([self.caption, *lines] if self.caption else lines)

    def column(self, header: str) -> list[str]:
        """The cell text of one column, top to bottom (raises ``KeyError`` naming the headers)."""
        if header not in self.headers:
            raise KeyError(f"no column {header!r}; the columns are {list(self.headers)}")
        j = self.headers.index(header)
        return [row[j] for row in self.cells]


def _td(text: str, header: str) -> str:
    label = html.escape(header, quote=True)  # a stacked table's card names each cell by it
    if _looks_numeric(text):  # right-aligned, and "0.740 ± 0.008" kept on one line (the box scrolls sideways instead)
        return f'<td data-label="{label}" style="text-align:right;white-space:nowrap;{_PAD}">{html.escape(text)}</td>'
    return f'<td data-label="{label}" style="{_PAD}">{html.escape(text)}</td>'


_PAD = "padding:0.2em 0.6em"  # cells that do not wrap need room between them


def _looks_numeric(text: str) -> bool:
    head = text.split(" ± ")[0].replace("−", "-").rstrip("×%s ")
    try:
        float(head)
    except ValueError:
        return False
    return True


def table(rows: Sequence[Mapping[str, Any] | Sequence[Any]], columns: Sequence[str] | Mapping[str, str], *,
          caption: str | None = None, formats: Mapping[str, Format] | None = None,
          stack: bool = False) -> Table:  # fmt: skip
    """Build a :class:`Table` from ``rows``.

    Args:
        rows: mappings (looked up by column key) or sequences (one value per column, in order).
        columns: the column keys in display order; a mapping ``{key: header}`` renames the headers.
        caption: a line above the table.
        formats: per column key, a format spec (``".3f"``, ``"+.4f"``, ``".0%"``) or a callable
            ``value -> str``. Without one, floats print with ``g`` and everything else with ``str``;
            strings are never formatted (so a column can hold ``"—"`` or ``"0.74 ± 0.01"``), ``None``
            prints as ``—``.
        stack: on a phone, show each row as a card (see :class:`Table`).

    Raises:
        KeyError: a mapping row lacks a column key, or ``formats`` names a column that is not shown.
        ValueError: a sequence row has another length than ``columns``, or no columns are given.
    """
    keys = list(columns)
    headers = [columns[k] for k in keys] if isinstance(columns, Mapping) else [str(k) for k in keys]
    if not keys:
        raise ValueError("table() needs at least one column")
    formats = dict(formats or {})
    unknown = sorted(set(formats) - set(keys))
    if unknown:
        raise KeyError(f"formats name columns that are not shown: {unknown}; the columns are {keys}")
    cells = []
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            missing = [k for k in keys if k not in row]
            if missing:
                raise KeyError(f"row {i} has no {missing[0]!r} (its keys: {sorted(map(str, row))}); columns: {keys}")
            values = [row[k] for k in keys]
        else:
            values = list(row)
            if len(values) != len(keys):
                raise ValueError(f"row {i} has {len(values)} values for {len(keys)} columns {keys}")
        cells.append(tuple(_format(v, formats.get(k), k, i) for k, v in zip(keys, values, strict=True)))
    return Table(tuple(headers), tuple(cells), caption, stack)


def _format(value: Any, spec: Format | None, key: str, i: int) -> str:
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if callable(spec):
        return str(spec(value))
    if spec is None:
        return format(value, "g") if isinstance(value, float) else str(value)
    try:
        return format(value, spec)
    except (TypeError, ValueError) as err:
        raise ValueError(f"row {i}, column {key!r}: cannot format {value!r} with {spec!r} ({err})") from None


def mean_std(values: Sequence[float], spec: str = ".3f") -> str:
    """``"mean ± std"`` of ``values`` (population std, as the sweeps report it); ``—`` when empty, and the value
    alone for one value (one seed has no spread to show, and ``± 0.000`` would claim one).

    A NaN anywhere gives ``nan ± nan``: a diverged value is shown, not dropped.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return MISSING
    if values.size == 1:
        return format(float(values[0]), spec)
    return f"{format(float(values.mean()), spec)} ± {format(float(values.std()), spec)}"


def config_table(config: Any, *, per_row: int = 3, skip: Sequence[str] = ("output_dir", "progress")) -> Table:
    """A trainer config's settings, ``per_row`` (setting, value) pairs a row, in the config's field order.

    ``config`` has ``to_dict()`` (both trainers' configs, or an experiment's run spec: config then settings) or is a
    mapping. ``skip`` leaves out fields that
    are not training settings (the same two the book's run folders leave out of their hash). Values print
    as in Python (``None``, ``[-0.05, 0.05]``), floats with ``g``.
    """
    if per_row < 1:
        raise ValueError(f"per_row must be >= 1, got per_row={per_row!r}")
    settings = config if isinstance(config, Mapping) else config.to_dict()
    if settings.keys() == {"config", "settings"}:  # a run spec: the trainer's config, then the family's settings
        settings = {**settings["config"], **settings["settings"]}
    items = [(k, _setting(v)) for k, v in settings.items() if k not in skip]
    columns = {f"{part}{j}": part.replace("key", "setting") for j in range(per_row) for part in ("key", "value")}
    rows = []
    for start in range(0, len(items), per_row):
        chunk = items[start : start + per_row]
        chunk += [("", "")] * (per_row - len(chunk))
        rows.append([text for pair in chunk for text in pair])
    return table(rows, columns)


def _setting(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)
