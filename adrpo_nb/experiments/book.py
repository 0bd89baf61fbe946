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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adrpo_nb.experiments.committed import BOOK_RESULTS, BOOK_RUN_CALL, book_command, committed_book_result, retrain
from adrpo_nb.utils.paths import atomic_write_json, data_dir, read_json, runs_dir
from adrpo_nb.utils.provenance import check_seal, relativize_record, seal

__all__ = ["BOOK_RESULTS", "book_command", "collect_book_results", "committed_book_result", "main", "retrain",
           "seal_results"]  # the first four from adrpo_nb.experiments.committed (what the runner reads)

def _family_of(record: dict[str, Any], folder: str) -> Any:
    """The family that made a book run: its result's ``family``, else its folder's prefix (``sd3_``, ...)."""
    from adrpo_nb.experiments.audio.run import FAMILY as AUDIO
    from adrpo_nb.experiments.mnist.run import FAMILY as MNIST
    from adrpo_nb.experiments.qwen.run import FAMILY as QWEN
    from adrpo_nb.experiments.sd3.run import FAMILY as SD3

    families = {f.name: f for f in (AUDIO, MNIST, QWEN, SD3)}
    name = record.get("family") or next((f for f in ("sd3", "qwen", "audio") if folder.startswith(f"{f}_")), "mnist")
    if name not in families:
        raise ValueError(f"no family {name!r} (the book's are {sorted(families)})")
    return families[name]


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
        call = BOOK_RUN_CALL.match(record.get("provenance", {}).get("command", ""))
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
