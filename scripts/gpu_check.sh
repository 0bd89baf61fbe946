#!/usr/bin/env bash
# The chapters' real paths at full depth on one CUDA GPU: SD3 Medium (+ T5-XXL) at 1024 px, Qwen2-0.5B-Instruct
# (GRPO, side by side with trl.GRPOTrainer), Qwen2-Audio-7B-Instruct and Qwen2.5-Omni-7B's thinker; random weights
# built from the published configs (adrpo_nb/models/real_configs), bf16, a few iterations each (≈ 8 min on one H200).
# Writes step time per phase, peak memory, images/s or tokens/s and an MFU estimate (GPU_PEAK_TFLOPS, default
# 989 = H100/H200 dense bf16) to runs/results/gpu/*.json (--out data/results/gpu for the committed ones) with
# provenance (command, commit, device, time).
#
#   bash scripts/gpu_check.sh             # run (needs a CUDA GPU and the package installed: pip install -e .[sd3,trl])
#   bash scripts/gpu_check.sh --dry-run   # list what would run; exits 0 anywhere
#   bash scripts/gpu_check.sh --out DIR   # write the JSON files to DIR instead of runs/results/gpu
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${ADRPO_RUNS:-runs}/results/gpu
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT="$2"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (use --dry-run, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
RUNS=(
  "realsize --family sd3 --device cuda --resolution 1024 --images 8 --steps 20 --t5 --iterations 2 --out $OUT/sd3.json"
  "realsize --family qwen --device cuda --prompts 8 --k 8 --max-new-tokens 64 --iterations 3 --out $OUT/qwen.json"
  "realsize --family audio --device cuda --full-depth --prompts 4 --k 8 --max-new-tokens 128 --out $OUT/audio.json"
)
if [ "$DRY" = 1 ]; then
  echo "gpu_check.sh --dry-run: would run, writing under $OUT/:"
  for r in "${RUNS[@]}"; do echo "  $PY -m adrpo_nb.bench $r"; done
  exit 0
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check.sh: no CUDA GPU visible to $PY (use --dry-run to list the runs)" >&2
  exit 1
fi
mkdir -p "$OUT"
for r in "${RUNS[@]}"; do
  echo "== python -m adrpo_nb.bench $r"
  # shellcheck disable=SC2086
  "$PY" -m adrpo_nb.bench $r
done
echo "wrote $OUT/{sd3,qwen,audio}.json"
