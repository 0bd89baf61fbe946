#!/usr/bin/env bash
# Create .venv (once) and install the package with everything the book and the tests need.
# Re-runs pip only when pyproject.toml or this file changed. Usage: source scripts/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.adrpo-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch is pinned to the CPU wheel that is on disk here; a newer torch pulls GBs of CUDA packages.
  .venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
  # elsewhere (e.g. GitHub runners) set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu for the CPU build.
  .venv/bin/python -m pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  .venv/bin/python -m pip install -q -e ".[dev,book,sd3,llm,trl]"
  echo "$want" > "$stamp"
fi
# headless Chromium for the real-browser test of the book (Debian packages; the test skips, saying why, without it)
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  if command -v apt-get >/dev/null; then
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver; } \
      >/dev/null 2>&1 || echo "setup: could not install chromium + chromium-driver; the browser test will skip" >&2
  fi
fi
export PATH="$PWD/.venv/bin:$PATH"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
