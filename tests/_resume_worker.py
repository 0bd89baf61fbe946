"""Run a tiny MNIST RL fine-tune in its own process; optionally SIGKILL itself mid-run.

usage: python _resume_worker.py OUTPUT_DIR KILL_AT_REWARD_CALL(0 = never)
       python _resume_worker.py OUTPUT_DIR KIND:ITERATION|- runner
         (the runner's run: evaluation, β_eff and sample snapshots in records.json; SIGKILL when the record KIND of
         ITERATION is about to be saved, '-' never)
"""

import os
import signal
import sys
from dataclasses import replace

import torch

from adrpo_nb.experiments.mnist import even_digits
from adrpo_nb.models.mnist import LatentFlowAdapter, load_base_model
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer

torch.set_num_threads(1)
out, kill_at = sys.argv[1], sys.argv[2]
calls = 0


def reward(images):
    global calls
    calls += 1
    if calls == int(kill_at):  # die in the middle of an iteration, after the last checkpoint
        os.kill(os.getpid(), signal.SIGKILL)
    return even_digits(images)


cfg = FlowMatchingRLConfig(
    method="adrpo", beta0=0.05, iterations=3, samples_per_iteration=32, minibatch_size=16,
    updates_per_iteration=2, checkpoint_every=1, output_dir=out, progress=False, seed=7,
)
if sys.argv[3:] == ["runner"]:
    from adrpo_nb.experiments import mnist
    from adrpo_nb.experiments.runner import RunRecords

    put = RunRecords.put

    def put_or_die(self, kind, iteration, value):
        if f"{kind}:{iteration}" == kill_at:  # die as this iteration's record is about to be saved
            os.kill(os.getpid(), signal.SIGKILL)
        put(self, kind, iteration, value)

    RunRecords.put = put_or_die
    mnist.run_rl(replace(cfg, samples_per_iteration=64, minibatch_size=64), eval_samples=64, snapshots=(1, 2, 3))
else:
    adapter = LatentFlowAdapter(load_base_model(), sample_steps=4)
    FlowMatchingRLTrainer(adapter, reward, cfg).train()
