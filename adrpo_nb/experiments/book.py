"""The book's full-size runs as committed results: "load the result if it is committed, else train".

Every chapter run (``book_run`` of each family) has a folder ``runs/book/<name>_it<N>_<hash>`` whose hash
covers every setting (:func:`adrpo_nb.experiments.runner.book_spec`). The full book reads
``data/results/book/<that folder name>.json`` when it is committed and its config equals the requested
one, so the full book builds in minutes without training; otherwise the chapter trains. Smoke mode
(``ADRPO_SMOKE=1``) never reads committed results, and ``ADRPO_RETRAIN=1`` (``scripts/build_book.sh
--retrain``) ignores them.

After a full build that trained, ``python -m adrpo_nb.experiments.book collect --out data/results/book``
copies the finished full-size runs there (paths made repository-relative); ``... book status`` lists
which committed results the chapters would read.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adrpo_nb.utils.paths import atomic_write_json, data_dir, read_json, runs_dir
from adrpo_nb.utils.provenance import relativize_record

__all__ = ["BOOK_RESULTS", "book_command", "collect_book_results", "committed_book_result", "main", "retrain"]

#: where the book's committed full-size runs live under data/
BOOK_RESULTS = ("results", "book")


def book_command(family: str, arguments: str) -> str:
    """The shell command that reruns one chapter run, e.g. ``python -c "from adrpo_nb.experiments.mnist import
    book_run; book_run('adrpo', 0.05, iterations=300)"`` (what its provenance records)."""
    return f'python -c "from adrpo_nb.experiments.{family} import book_run; book_run({arguments})"'


_CALL = re.compile(r"^adrpo_nb\.experiments\.(\w+)\.book_run\((.*)\)$")


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
            file belongs to other settings, so it must be regenerated, not silently reused.
    """
    if smoke or retrain() or not spec.config.output_dir:
        return None
    path = data_dir().joinpath(*BOOK_RESULTS, Path(spec.config.output_dir).name + ".json")
    if not path.exists():
        return None
    result = read_json(path)
    diffs = family.spec_from_result(result).differences(spec)
    if result.get("fingerprints") not in (None, family.fingerprints(spec)):
        diffs["fingerprints"] = (result["fingerprints"], family.fingerprints(spec))
    if diffs:
        detail = ", ".join(f"{k}: committed {a!r} vs requested {b!r}" for k, (a, b) in diffs.items())
        raise ValueError(f"{path} was made with other settings ({detail}); regenerate it "
                         "(scripts/build_book.sh --retrain, then collect)")  # fmt: skip
    return result


def collect_book_results(out: Path, source: Path | None = None) -> list[Path]:
    """Copy every finished full-size book run (``runs/book/*/result.json``) to ``out/<folder>.json``, its paths
    made relative to the repository root; returns the files written."""
    source = source or runs_dir() / "book"
    written = []
    for result_file in sorted(source.glob("*/result.json")):
        record, _ = relativize_record(read_json(result_file))
        call = _CALL.match(record.get("provenance", {}).get("command", ""))
        if call:  # runs made before book_command: the Python call as the shell command that makes it
            record["provenance"]["command"] = book_command(call.group(1), call.group(2))
        target = out / f"{result_file.parent.name}.json"
        atomic_write_json(target, record)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adrpo_nb.experiments.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    collect = sub.add_parser("collect", help="copy the finished full-size book runs to --out")
    collect.add_argument("--out", type=Path, required=True, help="e.g. data/results/book (an explicit choice)")
    collect.add_argument("--runs", type=Path, default=None, help="folder of the book runs (default runs/book)")
    sub.add_parser("status", help="list the committed book results")
    args = parser.parse_args(argv)
    if args.command == "collect":
        for path in collect_book_results(args.out, args.runs):
            print(f"wrote {path}")
    else:
        folder = data_dir().joinpath(*BOOK_RESULTS)
        for path in sorted(folder.glob("*.json")):
            print(path.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
