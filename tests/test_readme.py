"""The README claims nothing beyond the claims ledger and types no measured number.

* Its verdict table ("## What reproduces") lists exactly the ledger's claims (``data/results/claims.json``), each
  with the ledger's verdict. After the ledger is rebuilt, ``python tests/test_readme.py`` prints the table afresh.
* Its prose (outside code blocks and inline code) carries no result-like number — a decimal with two or more
  digits after the point, or a percentage — except the entries of :data:`ALLOWED` (settings, identifiers), each with
  its reason. Results live in the book (inserted from their files) and in the ledger.
* Its table "## Reproduce the committed results" names every committed result and pretrained model, each with the
  command its own provenance records, so the table cannot drift from the files.

The quick-start blocks are checked by ``tests/test_quickstart.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LEDGER = ROOT / "data" / "results" / "claims.json"
VERDICTS = ("reproduced", "partly", "not reproduced", "not tested here")
VERDICT_SECTION = "What reproduces"
REPRODUCE_SECTION = "Reproduce the committed results"

#: a result-like number in prose: a decimal with at least two digits after the point, or a percentage
RESULT_LIKE = re.compile(r"\d+\.\d{2,}|\d+ ?%")
#: typed numbers the README may carry outside code, each with its reason (never a number measured here)
ALLOWED = {
    "2510.18053": "identifier: the paper's arXiv number",
    "3.10": "setting: the lowest Python version (requires-python in pyproject.toml)",
    "95 %": "setting: the level of the ledger's Student-t intervals (adrpo_nb.experiments.claims)",
}


# ----------------------------------------------------------------------------- reading the README


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section (up to the next ``## `` heading)."""
    marker = f"\n## {title}\n"
    if marker not in text:
        raise AssertionError(f"the README has no '## {title}' section")
    return text.split(marker, 1)[1].split("\n## ", 1)[0]


def prose(text: str) -> str:
    """``text`` without fenced code blocks, inline code, link targets and HTML comments (what a reader sees as
    prose; numbers in code are commands and settings, not results)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)  # fenced blocks
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)  # inline code, single or double backticks
    return re.sub(r"\]\([^)]*\)", "]", text)  # link targets


def table_rows(body: str, header: tuple[str, ...]) -> list[list[str]]:
    """The rows (cells, stripped) of the first Markdown table in ``body`` whose header is ``header``."""
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and tuple(c.strip() for c in line.strip().strip("|").split("|")) == header:
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table with the header {header} in the section")


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# ----------------------------------------------------------------------------- the verdict table


def load_ledger(path: Path = LEDGER) -> dict:
    return json.loads(path.read_text())


def verdict_table(ledger: dict) -> str:
    """The README's verdict table for ``ledger``: one row per claim, in the ledger's order."""
    rows = [f"| `{c['id']}` | {c['verdict']} |" for c in ledger["claims"]]
    return "\n".join(["| claim | verdict |", "|---|---|", *rows])


def readme_verdicts(text: str) -> dict[str, str]:
    """``{claim id: verdict}`` from the README's verdict table; fails on a malformed row or a repeated id."""
    out: dict[str, str] = {}
    for cells in table_rows(section(text, VERDICT_SECTION), ("claim", "verdict")):
        assert len(cells) == 2, f"a verdict row has {len(cells)} cells: {cells}"
        ids = code_spans(cells[0])
        assert len(ids) == 1, f"a verdict row names its claim as one `id`: {cells}"
        assert ids[0] not in out, f"claim {ids[0]} is listed twice"
        out[ids[0]] = cells[1].strip("*_ ")
    return out


def verdict_problems(text: str, ledger: dict) -> list[str]:
    """What the README's verdict table gets wrong about ``ledger`` (empty: nothing)."""
    want = {c["id"]: c["verdict"] for c in ledger["claims"]}
    have = readme_verdicts(text)
    problems = [f"{i}: not in the README's table (ledger: {want[i]})" for i in want if i not in have]
    problems += [f"{i}: in the README's table but not in the ledger" for i in have if i not in want]
    problems += [f"{i}: README says {have[i]!r}, the ledger {want[i]!r}" for i in want
                 if i in have and have[i] != want[i]]  # fmt: skip
    problems += [f"{i}: {v!r} is not a verdict ({', '.join(VERDICTS)})" for i, v in have.items() if v not in VERDICTS]
    return problems


def test_the_verdict_table_is_the_ledgers():
    problems = verdict_problems(README.read_text(), load_ledger())
    assert not problems, ("the README's verdict table disagrees with data/results/claims.json (print the table "
                          "afresh with: python tests/test_readme.py):\n" + "\n".join(problems))  # fmt: skip


def test_the_verdict_check_catches_a_wrong_missing_or_extra_claim():
    ledger = {"claims": [{"id": "a.x_b0.04", "verdict": "partly"}, {"id": "a.y", "verdict": "reproduced"}]}
    good = f"# t\n\n## {VERDICT_SECTION}\n\ntext\n\n{verdict_table(ledger)}\n\n## Next\n"
    assert verdict_problems(good, ledger) == []
    wrong = good.replace("| `a.y` | reproduced |", "| `a.y` | partly |")
    assert verdict_problems(wrong, ledger) == ["a.y: README says 'partly', the ledger 'reproduced'"]
    missing = good.replace("| `a.y` | reproduced |\n", "")
    assert verdict_problems(missing, ledger) == ["a.y: not in the README's table (ledger: reproduced)"]
    extra = good.replace("| `a.y` | reproduced |", "| `a.y` | reproduced |\n| `a.z` | partly |")
    assert verdict_problems(extra, ledger) == ["a.z: in the README's table but not in the ledger"]
    with pytest.raises(AssertionError, match="no '## What reproduces' section"):
        verdict_problems("# t\n\n## Results\n", ledger)


# ----------------------------------------------------------------------------- numbers in prose


def typed_numbers(text: str) -> list[str]:
    """The result-like numbers of ``text``'s prose that :data:`ALLOWED` does not list."""
    return [m.group(0) for m in RESULT_LIKE.finditer(prose(text)) if m.group(0) not in ALLOWED]


def test_the_readme_types_no_result_like_number():
    found = typed_numbers(README.read_text())
    assert not found, ("result-like numbers in the README's prose (results belong in the book and the ledger; a "
                       f"setting or identifier goes into ALLOWED with its reason): {found}")  # fmt: skip


def test_the_number_check_skips_code_and_flags_prose():
    text = "A ran `--beta0 0.04` and\n```bash\nx --lr 0.003\n```\nthen reached 0.95 at 12 % and 3.10 [v](a/0.25)."
    assert typed_numbers(text) == ["0.95", "12 %"]
    assert typed_numbers("settings: ``beta0=0.04``, 95 % intervals, arXiv 2510.18053, section 7.4, 1.5 B") == []


def test_every_allowed_number_is_still_used():
    """An allow-list entry the README no longer needs is dropped, so the list stays the README's own."""
    seen = {m.group(0) for m in RESULT_LIKE.finditer(prose(README.read_text()))}
    assert not set(ALLOWED) - seen, f"ALLOWED entries the README does not use: {sorted(set(ALLOWED) - seen)}"


# ----------------------------------------------------------------------------- the reproduce table


def command_pattern(command: str) -> re.Pattern:
    """A README command with ``<placeholders>`` as a regular expression: ``<name>`` stands for one word (no
    whitespace), ``<name…>`` for any text; a name used twice stands for the same text both times."""
    out, last, seen = [], 0, set()
    for m in re.finditer(r"<(\w+)(…)?>", command):
        name = m.group(1)
        text = ".+?" if m.group(2) else r"\S+?"
        group = f"(?P={name})" if name in seen else f"(?P<{name}>{text})"
        out += [re.escape(command[last : m.start()]), group]
        seen.add(name)
        last = m.end()
    return re.compile("".join([*out, re.escape(command[last:])]))


def reproduce_rows(text: str) -> dict[str, list[str]]:
    """``{path: [commands]}`` from the README's reproduce table."""
    out = {}
    for cells in table_rows(section(text, REPRODUCE_SECTION), ("file", "command", "what it is")):
        paths = code_spans(cells[0])
        assert len(paths) == 1, f"a reproduce row names one `path`: {cells}"
        out[paths[0].rstrip("/")] = code_spans(cells[1])
    return out


def committed_records() -> dict[str, str]:
    """``{repository-relative file: provenance command}`` of every committed result and pretrained model."""
    files = sorted((ROOT / "data" / "results").rglob("*.json")) + sorted((ROOT / "data" / "checkpoints").glob(
        "*/pretrain.json"))  # fmt: skip
    out = {}
    for path in files:
        record = json.loads(path.read_text())
        out[path.relative_to(ROOT).as_posix()] = (record.get("provenance") or {}).get("command")
    return out


def test_the_reproduce_table_names_every_committed_file_with_its_own_command():
    rows = reproduce_rows(README.read_text())
    for path in rows:
        assert (ROOT / path).exists(), f"the README's reproduce table names {path}, which is not committed"
    problems = []
    for file, command in committed_records().items():
        row = next((p for p in rows if file == p or file.startswith(p + "/")), None)
        if row is None:
            problems.append(f"{file} is not in the table (its command: {command})")
        elif command is None:
            problems.append(f"{file} records no provenance command")
        elif not any(command_pattern(c).fullmatch(command) for c in rows[row]):
            problems.append(f"{file}: its command `{command}` is none of the row's {rows[row]}")
    assert not problems, "the README's table '## " + REPRODUCE_SECTION + "' is stale:\n" + "\n".join(problems)


def test_command_patterns():
    pattern = command_pattern("python -m x train --method <method> --out runs/g/<method>_s<seed>")
    assert pattern.fullmatch("python -m x train --method adrpo --out runs/g/adrpo_s2")
    assert not pattern.fullmatch("python -m x train --method adrpo --out runs/g/adrpo_s2 --extra")
    assert not pattern.fullmatch("python -m x train --method adrpo --out runs/g/fixed_s2")  # <method> twice: the same
    spaced = command_pattern('python -c "f(<arguments…>)"')
    assert spaced.fullmatch("python -c \"f('adrpo', 0.05, iterations=300)\"")


def test_the_readme_names_the_repository_of_the_book_config():
    repo = re.search(r"url: https://github.com/([\w.-]+/[\w.-]+)", (ROOT / "book" / "_config.yml").read_text())
    named = set(re.findall(r"github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?(?=[\s\"'`)]|$)", README.read_text(), re.M))
    assert repo and named == {repo.group(1)}, f"the README names {named}, book/_config.yml {repo and repo.group(1)}"


def test_the_readme_states_the_ci_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
    text = README.read_text()
    assert "bash scripts/test.sh" in section(text, "The two commands")
    assert "`.ci/run` runs exactly `bash scripts/test.sh`" in text


if __name__ == "__main__":
    print(verdict_table(load_ledger()))
