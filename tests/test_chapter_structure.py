"""The chapters' reading order, from the .ipynb sources alone (nothing is executed): every experiment chapter
gathers what its small path leaves out in one box, placed early, right after the result it leads with."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT_CHAPTERS = sorted((ROOT / "book" / "chapters").glob("0[2-6]_*.ipynb"))
BOX_TITLE = "What this small path does not show"
BOX_OPEN = re.compile(r"^:::+\{admonition\}\s*" + re.escape(BOX_TITLE) + r"\s*$")
BOX_CLASS = re.compile(r"^:class:.*(?<![\w-])small-path-limits(?![\w-])")


def _markdown_lines(nb: dict) -> list[tuple[int, int, str]]:
    """(cell index, line index, line) of every markdown line outside fenced code blocks."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        fence = None
        for j, line in enumerate("".join(cell["source"]).splitlines()):
            marker = re.match(r"^\s*(```+|~~~+)", line)
            if marker and (fence is None or marker.group(1).startswith(fence)):
                fence = None if fence else marker.group(1)[:3]
                continue
            if fence is None:
                found.append((i, j, line))
    return found


def _box_cells(nb: dict) -> list[int]:
    """Markdown cells that mention the box's title at all (a well-formed box or a stray copy)."""
    return [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown" and BOX_TITLE in "".join(c["source"])]


def test_the_experiment_chapters_are_there():
    assert [p.name[:2] for p in EXPERIMENT_CHAPTERS] == ["02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", EXPERIMENT_CHAPTERS, ids=lambda p: p.stem)
def test_one_small_path_box_per_experiment_chapter(path):
    nb = json.loads(path.read_text())
    cells = _box_cells(nb)
    assert len(cells) == 1, f"{path.name}: {len(cells)} markdown cells mention {BOX_TITLE!r}, want exactly one"
    lines = "".join(nb["cells"][cells[0]]["source"]).splitlines()
    opens = [k for k, line in enumerate(lines) if BOX_OPEN.match(line)]
    assert len(opens) == 1, f"{path.name}: the box is not one ':::{{admonition}} {BOX_TITLE}' colon fence"
    assert opens[0] + 1 < len(lines) and BOX_CLASS.match(lines[opens[0] + 1]), (
        f"{path.name}: the box's first option line must be ':class: ... small-path-limits'"
    )
    fence = re.match(r"^(:::+)", lines[opens[0]]).group(1)
    assert any(line.strip() == fence for line in lines[opens[0] + 2 :]), f"{path.name}: the box is not closed"
    assert any(line.lstrip().startswith(("- ", "* ")) for line in lines[opens[0] + 2 :]), (
        f"{path.name}: the box lists nothing"
    )


@pytest.mark.parametrize("path", EXPERIMENT_CHAPTERS, ids=lambda p: p.stem)
def test_small_path_box_comes_before_the_second_section(path):
    nb = json.loads(path.read_text())
    lines = _markdown_lines(nb)
    boxes = [(i, j) for i, j, line in lines if BOX_OPEN.match(line)]
    assert boxes, f"{path.name}: no {BOX_TITLE!r} box"
    sections = [(i, j) for i, j, line in lines if line.startswith("## ")]
    assert len(sections) >= 2, f"{path.name}: fewer than two '## ' sections"
    assert min(boxes) < sections[1], (
        f"{path.name}: the box (cell {min(boxes)[0]}) comes after the second '## ' section (cell {sections[1][0]})"
    )


BOOK_SOURCES = [p for p in sorted((ROOT / "book").glob("**/*.ipynb")) + sorted((ROOT / "book").glob("*.md"))
                if not {"_build", "node_modules"} & set(p.relative_to(ROOT).parts)]  # fmt: skip


@pytest.mark.parametrize("path", BOOK_SOURCES, ids=lambda p: p.name)
def test_no_draft_markers_are_left_in_the_book(path):
    text = path.read_text()
    for marker in ("PLACEHOLDER", "TODO", "FIXME", "XXX"):
        assert marker not in text, f"{path.name} still has a draft marker {marker!r}"
