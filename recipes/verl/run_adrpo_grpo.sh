#!/usr/bin/env bash
# ADRPO-GRPO (or plain GRPO) on Qwen2.5-0.5B/1.5B-Instruct with verl 0.9: FSDP actor, vLLM rollouts, GSM8K, 1-8 GPUs
# of one node. Needs verl with vLLM and this package next to it (recipes/verl/README.md):
#
#   pip install "verl[vllm]==0.9.1" && pip install "adrpo-nb[verl]"     # or, in a clone: pip install -e ".[verl]"
#   python recipes/verl/prepare_gsm8k.py --out ~/data/gsm8k             # once: train.parquet, test.parquet
#   bash recipes/verl/run_adrpo_grpo.sh                                 # ADRPO, Qwen2.5-0.5B-Instruct, 1 GPU
#   METHOD=grpo bash recipes/verl/run_adrpo_grpo.sh                     # the fixed-β baseline, all else equal
#   MODEL=Qwen/Qwen2.5-1.5B-Instruct NGPUS=8 bash recipes/verl/run_adrpo_grpo.sh
#   bash recipes/verl/run_adrpo_grpo.sh trainer.total_training_steps=3  # extra arguments: more Hydra overrides
#   bash recipes/verl/run_adrpo_grpo.sh --print-overrides               # the overrides, one a line; runs nothing
#
# Settings (environment): METHOD adrpo|grpo, MODEL, NGPUS, BETA0 (β0; verl's kl_loss_coef for grpo), CLIP (auto =
# [-β0, β0]), DATA (folder of prepare_gsm8k.py's parquet files), BATCH (prompts per step), N (completions per
# prompt), MICRO (responses per GPU per micro-batch), LR, LORA_RANK (0 = full fine-tune), GPU_MEM (vLLM's share of
# each GPU), EPOCHS, PYTHON.
set -euo pipefail
METHOD=${METHOD:-adrpo}
MODEL=${MODEL:-Qwen/Qwen2.5-0.5B-Instruct}
NGPUS=${NGPUS:-1}
BETA0=${BETA0:-0.04}
CLIP=${CLIP:-auto}
DATA=${DATA:-$HOME/data/gsm8k}
BATCH=${BATCH:-256}
N=${N:-8}
MICRO=${MICRO:-4}
LORA_RANK=${LORA_RANK:-0}
GPU_MEM=${GPU_MEM:-0.5}
EPOCHS=${EPOCHS:-15}
PYTHON=${PYTHON:-python3}
if [ "$LORA_RANK" -gt 0 ]; then LR=${LR:-3e-5}; else LR=${LR:-1e-6}; fi
case "$METHOD" in adrpo|grpo) ;; *) echo "run_adrpo_grpo.sh: METHOD must be adrpo or grpo, got $METHOD" >&2; exit 2 ;; esac

overrides=(
  algorithm.adv_estimator=grpo            # group-normalised advantages: (r - mean) / (std + 1e-6) per prompt
  algorithm.use_kl_in_reward=False        # the KL is in the actor's loss, where ADRPO puts its coefficient
  data.train_files="$DATA/train.parquet"
  data.val_files="$DATA/test.parquet"
  data.train_batch_size="$BATCH"
  data.max_prompt_length=512
  data.max_response_length=512
  data.filter_overlong_prompts=True
  data.truncation=error
  actor_rollout_ref.model.path="$MODEL"
  actor_rollout_ref.model.use_remove_padding=True
  actor_rollout_ref.model.enable_gradient_checkpointing=True
  actor_rollout_ref.model.lora_rank="$LORA_RANK"
  actor_rollout_ref.model.lora_alpha=$(( LORA_RANK > 0 ? 2 * LORA_RANK : 16 ))
  actor_rollout_ref.model.target_modules=all-linear
  actor_rollout_ref.actor.optim.lr="$LR"
  actor_rollout_ref.actor.ppo_mini_batch_size=$(( BATCH / 4 ))   # 4 optimizer steps per batch
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$MICRO"
  actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean    # GRPO's: per completion, then per batch
  actor_rollout_ref.actor.use_kl_loss=True
  actor_rollout_ref.actor.kl_loss_type=low_var_kl              # k3, the estimator of GRPO and of this package
  actor_rollout_ref.actor.kl_loss_coef="$BETA0"
  actor_rollout_ref.actor.entropy_coeff=0
  actor_rollout_ref.actor.fsdp_config.param_offload=False
  actor_rollout_ref.actor.fsdp_config.optimizer_offload=False
  actor_rollout_ref.rollout.name=vllm
  actor_rollout_ref.rollout.n="$N"
  actor_rollout_ref.rollout.tensor_model_parallel_size=1
  actor_rollout_ref.rollout.gpu_memory_utilization="$GPU_MEM"
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=$(( 4 * MICRO ))
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=$(( 4 * MICRO ))
  actor_rollout_ref.ref.fsdp_config.param_offload=True
  trainer.critic_warmup=0
  trainer.logger='["console"]'
  trainer.project_name=adrpo_verl
  trainer.experiment_name="${METHOD}_$(basename "$MODEL")_b${BETA0}"
  trainer.n_gpus_per_node="$NGPUS"
  trainer.nnodes=1
  trainer.save_freq=-1
  trainer.test_freq=5
  trainer.total_epochs="$EPOCHS"
)
if [ "$METHOD" = adrpo ]; then
  overrides+=(+adrpo.beta0="$BETA0" +adrpo.clip="$CLIP")   # the plug-in's switch (adrpo_nb.integrations.verl)
fi
if [ "${1:-}" = --print-overrides ]; then
  shift
  printf '%s\n' "${overrides[@]}" "$@"
  exit 0
fi
exec "$PYTHON" -m verl.trainer.main_ppo "${overrides[@]}" "$@"
