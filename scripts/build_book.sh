#!/usr/bin/env bash
# The main job: build the book readers get into book/_build/html, executing every chapter.
#   bash scripts/build_book.sh            # the full book: full-size runs, read from data/results/book/ when
#                                         # committed (minutes), trained where not (see each chapter's time)
#   bash scripts/build_book.sh --retrain  # the full book, every run trained anew (ADRPO_RETRAIN=1)
#   bash scripts/build_book.sh --smoke    # toy-sized runs (ADRPO_SMOKE=1): what CI checks; pages carry a banner
# After a build that trained, `python -m adrpo_nb.experiments.book collect --out data/results/book` commits the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export ADRPO_SMOKE=0 ADRPO_RETRAIN=0
for arg in "$@"; do
  case "$arg" in
    --smoke) export ADRPO_SMOKE=1 ;;
    --retrain) export ADRPO_RETRAIN=1 ;;
    --full) ;;  # the default; kept for earlier instructions
    *) echo "build_book.sh: unknown option $arg (use --smoke or --retrain)" >&2; exit 2 ;;
  esac
done
bash scripts/fetch_vendor.sh
rm -rf book/_build/html book/_build/.doctrees
start=$(date +%s)
jupyter-book build book --warningiserror --keep-going
mode=$([ "$ADRPO_SMOKE" = 1 ] && echo smoke || echo full)
echo "{\"mode\": \"$mode\"}" > book/_build/html/.adrpo-build.json
echo "book ($mode, $(( $(date +%s) - start )) s): $(pwd)/book/_build/html/index.html"
