#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up .venv, then runs pytest (smoke mode for notebooks).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export ADRPO_SMOKE=1
ruff check adrpo_nb tests book
# unit tests, the book build and browser tests (tests/), and every chapter executed by nbmake (book/chapters)
python -m pytest tests book/chapters --nbmake --nbmake-kernel=python3 --nbmake-timeout=900 "$@"
