#!/usr/bin/env bash
# The main job: build the book into book/_build/html, executing every chapter.
#   bash scripts/build_book.sh          # smoke mode (ADRPO_SMOKE=1): minutes on a laptop CPU, what CI checks
#   bash scripts/build_book.sh --full   # the full path: every chapter's full-size runs (see each chapter's time)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ "${1:-}" = "--full" ]; then
  export ADRPO_SMOKE=0
else
  export ADRPO_SMOKE=1
fi
bash scripts/fetch_vendor.sh
rm -rf book/_build/html book/_build/.doctrees
jupyter-book build book --warningiserror --keep-going
echo "{\"mode\": \"$([ "$ADRPO_SMOKE" = 1 ] && echo smoke || echo full)\"}" > book/_build/html/.adrpo-build.json
echo "book: $(pwd)/book/_build/html/index.html (ADRPO_SMOKE=$ADRPO_SMOKE)"
