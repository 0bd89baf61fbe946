#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up .venv and .venv-verl, then runs pytest (smoke mode for notebooks).
#
# Two environments: .venv (scripts/setup.sh) runs everything but tests/test_verl.py, which checks the verl plug-in
# against verl itself and runs in .venv-verl (scripts/setup_verl.sh): verl pins transformers < 5.11, older than
# .venv's. .venv does not collect tests/test_verl.py (tests/conftest.py says so in its header); this script runs it
# in .venv-verl, and fails when that environment cannot be built or the file collects nothing.
#
#   bash scripts/test.sh                          # everything (what CI runs): ruff, then both environments' tests
#   bash scripts/test.sh -x -q tests/test_verl.py # only the paths given, each in its environment (ruff with .venv's);
#                                                 # options go to both
set -euo pipefail
cd "$(dirname "$0")/.."
export ADRPO_SMOKE=1

# split the arguments: test paths (tests/test_verl.py* -> .venv-verl, the others -> .venv) and pytest's options
# (an option's value, as in `--deselect tests/test_book.py` or `-k name`, stays with its option)
options=() main_paths=() verl_paths=()
takes_value=" -k -m -p -o -c -W --deselect --ignore --ignore-glob --rootdir --basetemp --maxfail --durations --tb "
takes_value+="--nbmake-timeout --nbmake-kernel --junitxml --log-level "
expect_value=0
for arg in "$@"; do
  if [ "$expect_value" = 1 ]; then options+=("$arg"); expect_value=0; continue; fi
  case "$arg" in
    -*) options+=("$arg"); if [[ "$takes_value" == *" $arg "* ]]; then expect_value=1; fi ;;
    tests/test_verl.py*) verl_paths+=("$arg") ;;
    *) if [ -e "${arg%%::*}" ]; then main_paths+=("$arg"); else options+=("$arg"); fi ;;
  esac
done
if [ ${#main_paths[@]} -eq 0 ] && [ ${#verl_paths[@]} -eq 0 ]; then
  main_paths=(tests book/chapters book/intro.ipynb book/claims.ipynb)
  verl_paths=(tests/test_verl.py)
fi

if [ ${#main_paths[@]} -gt 0 ]; then
  source scripts/setup.sh
  ruff check adrpo_nb tests book
  # unit tests, the book build and browser tests (tests/), and every chapter, the intro and the claims page
  # executed by nbmake
  python -m pytest "${main_paths[@]}" --nbmake --nbmake-kernel=python3 --nbmake-timeout=900 ${options[@]+"${options[@]}"}
fi
if [ ${#verl_paths[@]} -gt 0 ]; then
  source scripts/setup_verl.sh
  .venv-verl/bin/python -m pytest "${verl_paths[@]}" -p no:cacheprovider ${options[@]+"${options[@]}"}
fi
