"""Shared fixtures: the book is built once per session (smoke mode) for the build and browser tests."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The hub is unreachable here and in CI: set before any test module imports huggingface_hub, datasets or
# transformers (they read it once, at import), so "offline" errors come at once instead of after retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
collect_ignore_glob = ["data/*.ipynb"]  # run only through their own tests
# tests/test_verl.py checks the verl plug-in against verl itself, which pins transformers < 5.11: it runs in the second
# environment .venv-verl (scripts/setup_verl.sh), where scripts/test.sh runs it. An environment without verl does
# not collect it, and says so in the header of every run (it is not a skip: in .venv-verl nothing of it skips).
VERL_HERE = importlib.util.find_spec("verl") is not None
collect_ignore = [] if VERL_HERE else ["test_verl.py"]


def pytest_report_header(config):
    if not VERL_HERE:
        return ("tests/test_verl.py: not collected in this environment (no verl); scripts/test.sh runs it in "
                ".venv-verl (scripts/setup_verl.sh)")  # fmt: skip
    return None


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build ``book/`` with ``ADRPO_SMOKE=1`` (vendor JS fetched first) and return ``book/_build/html``.

    ``ADRPO_REUSE_BOOK=1`` reuses an existing build (for quick local reruns of these tests).
    """
    html = ROOT / "book" / "_build" / "html"
    if os.environ.get("ADRPO_REUSE_BOOK") == "1" and (html / "index.html").exists():
        return html
    env = {**os.environ, "ADRPO_SMOKE": "1"}
    subprocess.run(["bash", str(ROOT / "scripts" / "fetch_vendor.sh")], check=True, env=env)
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(ROOT / "book"), "--warningiserror", "--keep-going"],
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    (html / ".adrpo-build.json").write_text('{"mode": "smoke"}\n')
    return html


@pytest.fixture
def one_thread():
    """Tiny models are faster on one thread (and other tests keep their setting): ``pytestmark`` of the LM tests."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
