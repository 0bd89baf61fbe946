#!/usr/bin/env bash
# Create .venv-verl (once): the second environment, where tests/test_verl.py checks the verl plug-in
# (adrpo_nb/integrations/verl.py) against verl's own code. verl 0.9 pins transformers >= 5.5.3, < 5.11, older than
# the main .venv's (TRL, the book), so the two cannot share one environment.
#
# It holds the CPU build of torch==2.13.0 (the main .venv's), this package in editable mode (so that its
# `verl.plugins` entry point is installed metadata), verl 0.9.x WITHOUT its dependencies (wandb, tensorboard,
# vLLM, flash-attn...: a GPU run's), then only what importing verl's loss code (verl.workers.utils.losses) and its
# trainer modules (verl.trainer.ppo.v1.trainer_base, verl.trainer.ppo.ray_trainer, which the plug-in wraps) needs,
# in verl's own version ranges, and pytest. Re-runs pip only when pyproject.toml or this file changed.
#
#   bash scripts/setup_verl.sh      # or: source scripts/setup_verl.sh (scripts/test.sh does)
# From scratch: about 2.5 min on this project's 2-core machine with a local package mirror (README, "verl").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
VENV=.venv-verl
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.adrpo-installed"
want=$(cat pyproject.toml scripts/setup_verl.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  start=$(date +%s)
  pip=("$VENV/bin/python" -m pip install -q --no-warn-conflicts)
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>/dev/null || true
  # elsewhere (e.g. GitHub runners) set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu for the CPU build.
  "${pip[@]}" "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  "${pip[@]}" -e .
  "${pip[@]}" --no-deps "verl>=0.9.1,<0.10"
  # the loss code: transformers, tensordict, ray, omegaconf, hydra, codetiming, datasets (verl.utils.dataset);
  # the trainer modules besides: torchdata, TransferQueue, cachetools, fastapi, uvicorn, peft
  "${pip[@]}" "transformers>=5.5.3,<5.11,!=5.6.0" "tensordict>=0.8.0,<=0.10.0,!=0.9.0" "ray>=2.41.0" \
    omegaconf hydra-core codetiming datasets "numpy>=2.0.0" "packaging>=20.0" \
    torchdata TransferQueue cachetools fastapi uvicorn peft pytest
  echo "$want" > "$stamp"
  echo "setup_verl.sh: $VENV ready in $(( $(date +%s) - start )) s"
fi
