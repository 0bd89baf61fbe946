"""Two-process (gloo, CPU) fine-tune: run with torchrun; rank 0 writes both ranks' parameter checksums."""

import json
import sys

import torch
from accelerate import Accelerator

from adrpo_nb.experiments.mnist import even_digits
from adrpo_nb.models.mnist import LatentFlowAdapter, load_base_model
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer

torch.set_num_threads(1)
accelerator = Accelerator(cpu=True)
cfg = FlowMatchingRLConfig(iterations=2, samples_per_iteration=32, minibatch_size=16, updates_per_iteration=2,
                           progress=False, seed=5)  # fmt: skip
trainer = FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=4), even_digits, cfg,
                                accelerator=accelerator)  # fmt: skip
history = trainer.train()
policy = accelerator.unwrap_model(trainer.adapter.policy)
checksum = torch.stack([p.double().sum() for p in policy.parameters()]).sum().reshape(1)
sums = accelerator.gather(checksum).tolist()
samples = accelerator.gather(trainer.last_rollout.latents[:1]).sum(dim=1).tolist()
if accelerator.is_main_process:
    with open(sys.argv[1], "w") as fh:
        json.dump({"processes": accelerator.num_processes, "checksums": sums, "first_latents": samples,
                   "reward": history[-1]["reward"]}, fh)  # fmt: skip
