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
from adrpo_nb.utils.provenance import check_seal, relativize_record, seal

__all__ = ["BOOK_RESULTS", "book_command", "collect_book_results", "committed_book_result", "main", "retrain",
           "seal_results"]

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
            file belongs to other settings, so it must be regenerated, not silently reused; or its content no
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
    if result.get("fingerprints") not in (None, family.fingerprints(spec)):
        diffs["fingerprints"] = (result["fingerprints"], family.fingerprints(spec))
    if diffs:
        detail = ", ".join(f"{k}: committed {a!r} vs requested {b!r}" for k, (a, b) in diffs.items())
        raise ValueError(f"{path} was made with other settings ({detail}); regenerate it "
                         "(scripts/build_book.sh --retrain, then collect)")  # fmt: skip
    return result


def _family_of(record: dict[str, Any], folder: str) -> Any:
    """The family that made a book run: its result's ``family``, else its folder's prefix (``sd3_``, ...)."""
    import importlib

    name = record.get("family") or next((f for f in ("sd3", "qwen", "audio") if folder.startswith(f"{f}_")), "mnist")
    return importlib.import_module(f"adrpo_nb.experiments.{name}.run").FAMILY


def _stale(record: dict[str, Any], folder: str) -> str | None:
    """Why a finished run must not be committed (``None``: it may): its fingerprints (base model, data split) are
    not today's, or its file does not read."""
    try:
        family = _family_of(record, folder)
        now = family.fingerprints(family.spec_from_result(record))
    except (KeyError, TypeError, ValueError, ImportError) as err:
        return f"its config and settings do not read ({err})"
    recorded = record.get("fingerprints")
    if recorded != now and not (recorded is None and not now):
        return f"fingerprints {recorded!r} vs today's {now!r} (another base model or data split: rerun it)"
    return None


def collect_book_results(out: Path, source: Path | None = None) -> list[Path]:
    """Copy every finished full-size book run (``runs/book/*/result.json``) to ``out/<folder>.json``, its paths
    made relative to the repository root and its content hash renewed; returns the files written.

    Raises:
        ValueError: ``source`` is not a folder, or a run there was made with another base model or data split
            than today's, or was edited after it was written (nothing is written then; the message names each).
    """
    source = source or runs_dir() / "book"
    if not source.is_dir():
        raise ValueError(f"no book runs folder {source} (a typo in --runs?)")
    records, problems = [], []
    for result_file in sorted(source.glob("*/result.json")):
        raw = read_json(result_file)
        try:
            check_seal(raw, result_file)
        except ValueError as err:
            problems.append(str(err))
            continue
        record, _ = relativize_record(raw)
        call = _CALL.match(record.get("provenance", {}).get("command", ""))
        if call:  # runs made before book_command: the Python call as the shell command that makes it
            record["provenance"]["command"] = book_command(call.group(1), call.group(2))
        why = _stale(record, result_file.parent.name)
        if why:
            problems.append(f"{result_file}: {why}")
        records.append((out / f"{result_file.parent.name}.json", record))
    if problems:
        raise ValueError("not collected (nothing written): " + "; ".join(problems))
    for target, record in records:
        atomic_write_json(target, seal(record))
    return [target for target, _ in records]


def seal_results(folder: Path) -> list[Path]:
    """Add the content hash (:func:`~adrpo_nb.utils.provenance.seal`) to every result file in ``folder`` that has
    none (nothing else changes), so a later edit by hand is detected; a file whose hash no longer holds is an
    error. Returns the files written."""
    if not Path(folder).is_dir():
        raise ValueError(f"no folder {folder}")
    written = []
    for path in sorted(Path(folder).glob("*.json")):
        record = read_json(path)
        check_seal(record, path)
        sealed = seal(record)
        if sealed != record:
            atomic_write_json(path, sealed)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adrpo_nb.experiments.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    collect = sub.add_parser("collect", help="copy the finished full-size book runs to --out")
    collect.add_argument("--out", type=Path, required=True, help="e.g. data/results/book (an explicit choice)")
    collect.add_argument("--runs", type=Path, default=None, help="folder of the book runs (default runs/book)")
    sealer = sub.add_parser("seal", help="add the content hash to every result file of --out that has none")
    sealer.add_argument("--out", type=Path, required=True, help="e.g. data/results/book (an explicit choice)")
    sub.add_parser("status", help="list the committed book results")
    args = parser.parse_args(argv)
    try:
        written = (collect_book_results(args.out, args.runs) if args.command == "collect" else
                   seal_results(args.out) if args.command == "seal" else None)  # fmt: skip
    except ValueError as err:
        raise SystemExit(f"python -m adrpo_nb.experiments.book {args.command}: {err}") from None
    if written is not None:
        for path in written:
            print(f"wrote {path}")
        if not written:
            print(f"nothing to write in {args.out}")
    else:
        folder = data_dir().joinpath(*BOOK_RESULTS)
        for path in sorted(folder.glob("*.json")):
            print(path.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
