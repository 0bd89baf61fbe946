"""Point the book at another GitHub repository (a fork): ``python scripts/set_repository.py OWNER/NAME``.

The repository lives in one place, ``repository.url`` of ``book/_config.yml``; this script writes it there
and rewrites what must repeat it for readers without the book config (each chapter's Colab badge and its
install cell, ``adrpo_nb.notebook.REPOSITORY``, the clone command of the book's intro, the README's install lines).
``tests/test_book.py::test_repository_is_named_in_one_place`` checks they agree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def current() -> str:
    match = re.search(r"url: https://github.com/([\w.-]+/[\w.-]+)", (ROOT / "book" / "_config.yml").read_text())
    if not match:
        raise SystemExit("book/_config.yml has no repository.url of the form https://github.com/OWNER/NAME")
    return match.group(1)


def main(new: str) -> None:
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", new):
        raise SystemExit(f"expected OWNER/NAME, got {new!r}")
    old = current()
    files = [ROOT / "book" / "_config.yml", ROOT / "adrpo_nb" / "notebook.py", ROOT / "README.md",
             *sorted((ROOT / "book").glob("**/*.ipynb"))]  # fmt: skip
    for path in files:
        if "_build" in path.parts:
            continue
        text = path.read_text()
        if old in text:
            path.write_text(text.replace(old, new))
            print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
