"""Two-process (gloo, CPU) GRPO fine-tune of the shipped tiny Qwen2: rank 0 writes both ranks' checksums."""

import json
import sys
import zlib

import torch
from accelerate import Accelerator

from adrpo_nb.experiments.qwen import countdown_correct, countdown_format, countdown_rows, load_tiny
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer

torch.set_num_threads(1)
accelerator = Accelerator(cpu=True)
cfg = GRPOConfig(iterations=2, prompts_per_iteration=2, num_generations=4, minibatch_size=4, progress=False, seed=5)
trainer = GRPOTrainer(load_tiny(), [countdown_correct, countdown_format], countdown_rows(64), cfg,
                      accelerator=accelerator)  # fmt: skip
trainer.train()
policy = accelerator.unwrap_model(trainer.adapter.policy)
checksum = torch.stack([p.double().sum() for p in policy.parameters()]).sum().reshape(1)
sums = accelerator.gather(checksum).tolist()
first = torch.tensor([zlib.crc32("|".join(trainer.last_rollout.prompts).encode())], dtype=torch.float64)
prompts = accelerator.gather(first).tolist()
if accelerator.is_main_process:
    with open(sys.argv[1], "w") as fh:
        json.dump({"processes": accelerator.num_processes, "checksums": sums, "prompt_hashes": prompts}, fh)
