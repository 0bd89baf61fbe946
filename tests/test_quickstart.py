"""The README's Quick start runs as written: each python block under "## Quick start", alone, in a fresh process
started in an empty folder, offline. The book's page "Use it in your own experiment" shows the same blocks.

The helpers here are shared with ``tests/test_wheel.py`` (which runs the same blocks from an installed wheel).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REUSE_PAGE = ROOT / "book" / "chapters" / "07_reuse.ipynb"
#: what each block must contain, in order: the three trainers of the front door
TRAINERS = ("FlowMatchingRLTrainer", "GRPOTrainer(load_tiny()", "ADRPOGRPOTrainer(")


def quickstart_blocks(readme: Path = README) -> list[str]:
    """The ```python blocks of the README's "## Quick start" section (up to the next "## " heading)."""
    text = readme.read_text()
    if "\n## Quick start\n" not in text:
        raise AssertionError(f"{readme} has no '## Quick start' section")
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)


def block_env(pythonpath: str | None) -> dict[str, str]:
    """The environment of a block: offline, no data/runs overrides, ``PYTHONPATH`` as given (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ADRPO_DATA", "ADRPO_RUNS", "PYTHONPATH", "ADRPO_SMOKE")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def run_block(code: str, python: str, cwd: Path, env: dict[str, str], timeout: float = 300
              ) -> subprocess.CompletedProcess:  # fmt: skip
    """Run ``code`` as a script file in ``cwd``; an assertion error with its output if it fails."""
    script = cwd / "quickstart_block.py"
    script.write_text(code)
    proc = subprocess.run([python, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"block failed (rc {proc.returncode}):\n{code}\n--- stdout\n{proc.stdout[-3000:]}" \
                                 f"\n--- stderr\n{proc.stderr[-5000:]}"  # fmt: skip
    return proc


def check_block_output(index: int, stdout: str) -> None:
    """What each block must show: the flow model and the GRPO model learn their reward; TRL logs ADRPO's β."""
    if index == 0:
        m = re.search(r"ink per digit ([\d.]+) -> ([\d.]+)", stdout)
        assert m, stdout[-2000:]
        assert float(m[2]) > float(m[1]) + 0.05, f"the flow model did not learn the reward: {m[0]}"
    elif index == 1:
        m = re.search(r"reward (-?[\d.]+) -> (-?[\d.]+), KL ([\d.]+)", stdout)
        assert m, stdout[-2000:]
        assert float(m[2]) > float(m[1]) + 0.03, f"GRPO did not learn the reward: {m[0]}"
        assert float(m[3]) > 0, "ADRPO-GRPO's KL to the reference is 0: no reference, or no update"
    else:
        logged = [ast.literal_eval(line[line.index("{'loss'"):].split("}")[0] + "}") for line in stdout.splitlines()
                  if "{'loss'" in line]  # fmt: skip
        assert logged, stdout[-2000:]
        assert "beta_eff/mean" in logged[-1] and "reward" in logged[-1], logged[-1]


def test_quickstart_has_one_short_block_per_trainer():
    blocks = quickstart_blocks()
    assert len(blocks) == len(TRAINERS)
    for block, trainer in zip(blocks, TRAINERS, strict=True):
        assert trainer in block
        assert len(block.rstrip("\n").splitlines()) <= 15, f"a quick-start block has more than 15 lines:\n{block}"
        assert re.search(r"method=\"adrpo\"", block) and re.search(r"\bbeta0?=", block), "show the switch and β0"


def test_the_book_page_shows_the_same_blocks():
    cells = ["".join(c["source"]) for c in json.loads(REUSE_PAGE.read_text())["cells"] if c["cell_type"] == "code"]
    for block in quickstart_blocks():
        assert any(block.strip() in cell for cell in cells), f"{REUSE_PAGE.name} lacks the README block:\n{block}"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(TRAINERS)), ids=["flow", "grpo", "trl"])
def test_quickstart_block_runs_as_written(index, tmp_path):
    if index == 2:
        pytest.importorskip("trl")
    code = quickstart_blocks()[index]
    proc = run_block(code, sys.executable, tmp_path, block_env(str(ROOT)))
    check_block_output(index, proc.stdout)
