#!/usr/bin/env bash
# The chapters' real paths at full depth on one CUDA GPU: SD3 Medium (+ T5-XXL) at 1024 px, Qwen2-0.5B-Instruct
# (GRPO, side by side with trl.GRPOTrainer), Qwen2-Audio-7B-Instruct and Qwen2.5-Omni-7B's thinker; random weights
# built from the published configs (adrpo_nb/models/real_configs), bf16, a few iterations each (≈ 8 min on one H200).
# Writes step time per phase, peak memory, images/s or tokens/s and an MFU estimate (GPU_PEAK_TFLOPS, default
# 989 = H100/H200 dense bf16) to runs/results/gpu/*.json (--out data/results/gpu for the committed ones) with
# provenance (command, commit, device, time).
# Then, when the Python in VERL_PYTHON (default: the same) has verl and vLLM, three iterations of the verl recipe
# (recipes/verl/run_adrpo_grpo.sh: ADRPO-GRPO, Qwen2.5-0.5B-Instruct, FSDP + vLLM, GSM8K prepared first: needs the
# Hub) with its log in verl_adrpo_grpo.log; without them that step says so and is left out.
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
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
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
VERL_PY=${VERL_PYTHON:-$PY}
VERL_DATA=${VERL_DATA:-$HOME/data/gsm8k}
VERL_RUN=(trainer.total_training_steps=3 data.train_batch_size=32 actor_rollout_ref.actor.ppo_mini_batch_size=8
          trainer.test_freq=-1 trainer.val_before_train=False)
if [ "$DRY" = 1 ]; then
  echo "gpu_check.sh --dry-run: would run, writing under $OUT/:"
  for r in "${RUNS[@]}"; do echo "  $PY -m adrpo_nb.bench $r"; done
  echo "  then, if $VERL_PY has verl and vllm: $VERL_PY recipes/verl/prepare_gsm8k.py --out $VERL_DATA (once)"
  echo "    PYTHON=$VERL_PY DATA=$VERL_DATA bash recipes/verl/run_adrpo_grpo.sh ${VERL_RUN[*]} > $OUT/verl_adrpo_grpo.log"
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
if "$VERL_PY" -c "import verl, vllm" 2>/dev/null; then
  echo "== verl: recipes/verl/run_adrpo_grpo.sh, ${VERL_RUN[*]}"
  [ -f "$VERL_DATA/train.parquet" ] || "$VERL_PY" recipes/verl/prepare_gsm8k.py --out "$VERL_DATA"
  PYTHON="$VERL_PY" DATA="$VERL_DATA" bash recipes/verl/run_adrpo_grpo.sh "${VERL_RUN[@]}" 2>&1 | tee "$OUT/verl_adrpo_grpo.log"
  grep -q "beta_eff/mean" "$OUT/verl_adrpo_grpo.log" || { echo "gpu_check.sh: the verl run logged no beta_eff/mean" >&2; exit 1; }
  echo "wrote $OUT/verl_adrpo_grpo.log"
else
  echo "gpu_check.sh: verl step left out: $VERL_PY lacks verl or vllm (pip install 'verl[vllm]==0.9.1' 'adrpo-nb[verl]'," \
       "or set VERL_PYTHON)" >&2
fi
