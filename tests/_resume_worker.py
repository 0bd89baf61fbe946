"""Run a tiny MNIST RL fine-tune in its own process; optionally SIGKILL itself mid-run.

usage: python _resume_worker.py OUTPUT_DIR KILL_AT_REWARD_CALL(0 = never)
"""

import os
import signal
import sys

import torch

from adrpo_nb.experiments.mnist import even_digits
from adrpo_nb.models.mnist import LatentFlowAdapter, load_base_model
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer

torch.set_num_threads(1)
out, kill_at = sys.argv[1], int(sys.argv[2])
calls = 0


def reward(images):
    global calls
    calls += 1
    if calls == kill_at:  # die in the middle of an iteration, after the last checkpoint
        os.kill(os.getpid(), signal.SIGKILL)
    return even_digits(images)


cfg = FlowMatchingRLConfig(
    method="adrpo", beta0=0.05, iterations=3, samples_per_iteration=32, minibatch_size=16,
    updates_per_iteration=2, checkpoint_every=1, output_dir=out, progress=False, seed=7,
)
adapter = LatentFlowAdapter(load_base_model(), sample_steps=4)
FlowMatchingRLTrainer(adapter, reward, cfg).train()
