"""Small helpers every chapter uses: the smoke switch, figure defaults, result files and their provenance.

Chapters read one switch, ``ADRPO_SMOKE=1`` (set by CI and the quick book build), to shrink their
sizes; everything else is the same code as the full path.
"""

from __future__ import annotations

import ast
import inspect
import logging
import os
import re
import textwrap
import warnings
from typing import Any

from adrpo_nb.utils.paths import data_path, read_json
from adrpo_nb.utils.provenance import check_seal

__all__ = [
    "FIGURE_STYLE",
    "REPOSITORY",
    "SMOKE_BANNER",
    "colab_url",
    "glue",
    "is_smoke",
    "load_result",
    "provenance_note",
    "setup",
    "show_source",
    "source_markdown",
]

#: GitHub ``owner/name`` the Colab badges and launch buttons point to (forks: change it here and in book/_config.yml)
REPOSITORY = "adrpo-nb/adrpo-nb"


def is_smoke() -> bool:
    """True when ``ADRPO_SMOKE=1``."""
    return os.environ.get("ADRPO_SMOKE") == "1"


def colab_url(notebook: str) -> str:
    """Colab link of a notebook path relative to the repository root, e.g. ``book/chapters/01_introduction.ipynb``."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/{notebook}"


#: the book's figure defaults (:func:`setup` applies them): the content column of the book is about 7.5 in
#: (750 px at 100 dpi), so a figure of the default width shows at its own size and its text at >= 10 pt
#: (≈ 14 px); wider figures are scaled down by the page, and their text with them.
FIGURE_STYLE: dict[str, Any] = {
    "figure.figsize": (7.5, 3.5),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 12,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def setup(threads: int | None = None) -> bool:
    """Figure defaults (:data:`FIGURE_STYLE`), CPU threads and warning filters for a chapter; returns the smoke
    switch.

    Silences two notices a reader cannot act on: transformers 5's renaming notices
    (``gradient_checkpointing`` → ``activation_checkpointing``, triggered by TRL's internals) and its
    "requires torchvision; falling back to the PIL image processor" (this project avoids torchvision:
    the PIL processors are the intended ones). Turns off transformers' "Loading weights" and diffusers'
    "Loading pipeline components" progress bars (a widget per loaded model in the book). Other warnings stay visible.
    """
    import matplotlib as mpl
    import torch

    mpl.rcParams.update(FIGURE_STYLE)
    warnings.filterwarnings("ignore", message=r".*deprecated and will be removed in v6", category=FutureWarning)
    logging.getLogger("transformers.utils.import_utils").addFilter(_NoTorchvisionNotice())
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # the MNIST chapters do not need transformers
        pass
    try:  # diffusers' "Loading pipeline components" bar (a widget per loaded pipeline in the book)
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
    except ImportError:
        pass
    if threads or os.cpu_count():
        torch.set_num_threads(threads or min(4, os.cpu_count() or 1))
    if is_smoke():
        _show_smoke_banner()
    return is_smoke()


#: shown at the top of every chapter built or run with ADRPO_SMOKE=1 (CI's build); the full build has none
SMOKE_BANNER = (
    '<div class="adrpo-smoke" role="note" style="border:2px solid #d97706;background:#fffbeb;color:#78350f;'
    'padding:.6em .9em;border-radius:6px;margin:.5em 0">'
    "<strong>Smoke build.</strong> This page was executed with <code>ADRPO_SMOKE=1</code>: its live runs are "
    "toy-sized (a few iterations) and their numbers do not match the text. The full book "
    "(<code>bash scripts/build_book.sh</code>) shows the full-size runs.</div>"
)


def _show_smoke_banner() -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return
    if get_ipython() is not None:
        display(HTML(SMOKE_BANNER))


class _NoTorchvisionNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "requires torchvision (not installed)" not in record.getMessage()


def load_result(*parts: str) -> dict[str, Any]:
    """A committed result file, e.g. ``load_result("results", "mnist_sweep.json")``; ``ValueError`` naming the file
    when its content no longer matches its seal (edited by hand or corrupted)."""
    path = data_path(*parts)
    result = read_json(path)
    check_seal(result, path)
    return result


def provenance_note(result: dict[str, Any]) -> str:
    """One Markdown line saying what made a precomputed result (command, commit, device, time, date)."""
    p = result.get("provenance", {})
    minutes = p.get("seconds", 0) / 60
    sha, _, dirty = str(p.get("commit", "?")).partition("+")
    commit = sha[:10] + (f"+{dirty}" if dirty else "")
    text = str(p.get("note") or "")
    note = f" *{text[:1].upper() + text[1:]}*" if text else ""  # a sentence of its own
    return (f"*Precomputed by* `{p.get('command', '?')}` *at commit* `{commit}` "
            f"*on {p.get('device', '?')} in {minutes:.1f} min ({p.get('date', '?')}).*{note}")  # fmt: skip


def source_markdown(obj: Any, *, docstring: bool = False) -> str:
    """The source of a function or class as a fenced ``python`` Markdown block; without its docstring unless
    ``docstring=True`` (a chapter prints the equation beside it, the code should be the mathematics)."""
    source = textwrap.dedent(inspect.getsource(obj))
    if not docstring:
        node = ast.parse(source).body[0]
        first = node.body[0] if getattr(node, "body", None) else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            lines = source.splitlines(keepends=True)
            source = "".join(lines[: first.lineno - 1] + lines[first.end_lineno :])
    source = re.sub(r"  # fmt: skip$", "", source, flags=re.MULTILINE)  # a formatter's marker, not the code's
    return f"```python\n{source.rstrip()}\n```"


def show_source(obj: Any, *, docstring: bool = False) -> Any:
    """:func:`source_markdown` as an IPython ``Markdown`` object, so a chapter's cell shows the code of, e.g.,
    ``adrpo_nb.fm_rl_loss`` beside its equation (the plain string where IPython is missing)."""
    text = source_markdown(obj, docstring=docstring)
    try:
        from IPython.display import Markdown
    except ImportError:
        return text
    return Markdown(text)


def glue(name: str, value: Any, *, markdown: bool = False) -> None:
    """Hand ``value`` to the book's prose under ``name`` (MyST-NB's ``glue``; nothing is shown in the cell).

    Prose then writes ``{glue:text}`name:.3f``` for a number, or ``{glue:md}`name``` for text glued with
    ``markdown=True``: every number in a sentence comes from a result, none is typed. Outside a book build
    (Colab, plain Jupyter without MyST-NB) this does nothing. A NumPy scalar is glued as the Python number it
    holds (its repr, ``np.float64(0.52)``, is text that ``{glue:text}`name:.3f``` cannot format).
    """
    if not isinstance(name, str) or not name or any(c in name for c in " :`"):
        raise ValueError(f"a glue name is a non-empty string without spaces, ':' or '`', got name={name!r}")
    value = _plain_number(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    if markdown:
        from IPython.display import Markdown

        value = Markdown(str(value))
    myst_glue(name, value, display=False)


def _plain_number(value: Any) -> Any:
    """A NumPy scalar (``np.float64``, ``np.int64``, ``np.bool_``) as its Python value; anything else unchanged."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == () and type(value).__module__ == "numpy":
        return item()
    return value
