"""Reading the book's committed full-size runs (``data/results/book/``): what
:func:`~adrpo_nb.experiments.runner.book_run` consults before it trains. Below the families (the runner imports
it); the command line that writes those files, ``python -m adrpo_nb.experiments.book collect | seal | status``, is
:mod:`adrpo_nb.experiments.book`, above them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from adrpo_nb.utils.paths import data_dir, read_json
from adrpo_nb.utils.provenance import check_seal

__all__ = ["BOOK_RESULTS", "BOOK_RUN_CALL", "book_command", "committed_book_result", "retrain"]

#: where the book's committed full-size runs live under data/
BOOK_RESULTS = ("results", "book")


def book_command(family: str, arguments: str) -> str:
    """The shell command that reruns one chapter run, e.g. ``python -c "from adrpo_nb.experiments.mnist import
    book_run; book_run('adrpo', 0.05, iterations=300)"`` (what its provenance records)."""
    return f'python -c "from adrpo_nb.experiments.{family} import book_run; book_run({arguments})"'


#: a book run's command as provenance recorded it before :func:`book_command`
BOOK_RUN_CALL = re.compile(r"^adrpo_nb\.experiments\.(\w+)\.book_run\((.*)\)$")


def retrain() -> bool:
    """True when ``ADRPO_RETRAIN=1``: the book trains every run instead of reading committed results."""
    return os.environ.get("ADRPO_RETRAIN") == "1"


def committed_book_result(family: Any, spec: Any, smoke: bool) -> dict[str, Any] | None:
    """The committed result of the book run ``spec`` (made by :func:`~adrpo_nb.experiments.runner.book_spec`), or
    ``None`` when there is none, in smoke mode, or with ``ADRPO_RETRAIN=1``.

    The committed file has the run folder's name; it is read with the family's
    :meth:`~adrpo_nb.experiments.family.Family.spec_from_result` (which also reads files made before settings
    were recorded) and returned when its config and settings equal ``spec``'s.

    Raises:
        ValueError: the committed file's config or settings differ from ``spec``'s (it names the fields): the
            file belongs to other settings, so it must be regenerated, not silently reused; its fingerprints
            (base model, data) differ from today's, or it recorded none and the family's base model changed
            since (:attr:`~adrpo_nb.experiments.family.Family.unfingerprinted_results_valid`); or its content no
            longer matches its content hash (edited by hand).
    """
    if smoke or retrain() or not spec.config.output_dir:
        return None
    path = data_dir().joinpath(*BOOK_RESULTS, Path(spec.config.output_dir).name + ".json")
    if not path.exists():
        return None
    result = read_json(path)
    check_seal(result, path)
    diffs = family.spec_from_result(result).differences(spec)
    recorded = result.get("fingerprints")
    if recorded != family.fingerprints(spec) and not (recorded is None and family.unfingerprinted_results_valid):
        diffs["fingerprints"] = (recorded, family.fingerprints(spec))
    if diffs:
        detail = ", ".join(f"{k}: committed {a!r} vs requested {b!r}" for k, (a, b) in diffs.items())
        raise ValueError(f"{path} was made with other settings ({detail}); regenerate it "
                         "(scripts/build_book.sh --retrain, then collect)")  # fmt: skip
    return result
