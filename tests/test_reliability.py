"""No silent loss (issue 12): each case a new user hit, and the clear error or right result it now gets."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from adrpo_nb.experiments.mnist import even_digits
from adrpo_nb.experiments.runner import finished_result
from adrpo_nb.models.mnist import DigitClassifier, LatentFlowAdapter, VelocityMLP, load_base_model
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.trainers.grpo import GRPOConfig
from adrpo_nb.utils.checkpoints import CheckpointError, load_module, save_module
from adrpo_nb.utils.paths import atomic_write_json, data_dir
from adrpo_nb.utils.runlock import LOCK_NAME, RunLockError
from adrpo_nb.utils.validate import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TINY = FlowMatchingRLConfig(iterations=1, samples_per_iteration=16, minibatch_size=16, updates_per_iteration=1,
                            progress=False)  # fmt: skip


def _trainer(cfg, reward=even_digits, **kw) -> FlowMatchingRLTrainer:
    return FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=2), reward, cfg, **kw)


# ----------------------------------------------------------------------------- 1. a finished result and its config
def test_a_finished_result_is_reused_only_for_its_own_config(tmp_path):
    from adrpo_nb.experiments import mnist

    spec = mnist.run.RunSpec(replace(TINY, output_dir=str(tmp_path), iterations=300), mnist.MnistSettings())
    family = mnist.FAMILY
    atomic_write_json(tmp_path / "result.json", {**spec.to_dict(), "fingerprints": family.fingerprints(spec),
                                                 "final": {"reward": 0.9}})  # fmt: skip
    assert finished_result(family, spec.replace(progress=True, checkpoint_every=5))["final"] == {"reward": 0.9}
    with pytest.raises(ValueError, match=r"method: result 'adrpo' vs now 'fixed'"):
        finished_result(family, spec.replace(method="fixed"))
    with pytest.raises(ValueError, match=r"beta0: result 0.05 vs now 0.1"):
        finished_result(family, spec.replace(beta0=0.1))
    assert finished_result(family, spec.replace(iterations=400)) is None  # longer: resume from the checkpoint
    with pytest.raises(ValueError, match=r"iterations: result 300 vs now 200"):
        finished_result(family, spec.replace(iterations=200))
    # what the result depends on beside the trainer's config: the reward, the evaluation, the snapshots
    with pytest.raises(ValueError, match=r"settings\.reward: result 'even_digits' vs now 'digit_3'"):
        finished_result(family, spec.replace(reward="digit_3"))
    with pytest.raises(ValueError, match=r"settings\.eval_samples: result 1024 vs now 64"):
        finished_result(family, spec.replace(eval_samples=64))


def test_a_misspelt_run_setting_is_refused_naming_it_and_its_value():
    from adrpo_nb.experiments import mnist, sd3

    with pytest.raises(ConfigError, match=r"no field 'guidance_scal' \(got guidance_scal=1\.0\)"):
        sd3.default_config(guidance_scal=1.0)
    with pytest.raises(ConfigError, match=r"MnistSettings has no field 'eval_sample' \(got eval_sample=64\)"):
        mnist.MnistSettings.from_dict({"eval_sample": 64})
    with pytest.raises(ConfigError, match=r"reward must be one of"):
        mnist.book_run_config("adrpo", 0.05, reward="odd")


def test_the_lm_experiments_check_the_finished_config_too(tmp_path):
    from adrpo_nb.experiments.audio.run import run_rl as audio_run
    from adrpo_nb.experiments.qwen.run import run_rl as qwen_run

    cfg = GRPOConfig(output_dir=str(tmp_path), progress=False)
    atomic_write_json(tmp_path / "result.json", {"config": cfg.to_dict(), "final": {}})
    with pytest.raises(ValueError, match=r"beta0: result 0.04 vs now 0.5"):
        qwen_run(replace(cfg, beta0=0.5))
    with pytest.raises(ValueError, match=r"seed: result 0 vs now 3"):
        audio_run(replace(cfg, seed=3))


# ----------------------------------------------------------------------------- 2. --smoke and data/
def test_a_smoke_run_refuses_to_write_into_data():
    from adrpo_nb.experiments.mnist.run import main

    with pytest.raises(SystemExit, match="inside the data folder"):
        main(["pretrain", "--smoke", "--out", str(data_dir() / "checkpoints" / "mnist")])
    with pytest.raises(SystemExit, match="inside the data folder"):
        main(["sweep", "--smoke", "--out", str(data_dir() / "results" / "mnist_sweep.json")])


def _data_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", "data"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout  # fmt: skip


@pytest.mark.slow
def test_a_smoke_sweep_leaves_data_untouched(tmp_path):
    before = _data_status()
    env = {**os.environ, "ADRPO_RUNS": str(tmp_path), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    sweep = [sys.executable, "-m", "adrpo_nb.experiments.mnist", "sweep", "--smoke", "--methods", "none",
             "--seeds", "0", "--workers", "1"]  # fmt: skip
    proc = subprocess.run(sweep, cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "results-smoke" / "mnist_sweep.json").exists()
    (run,) = (tmp_path / "mnist_sweep-smoke").iterdir()  # one run, its folder named with its settings' hash
    assert run.name.startswith("none_s0_") and (run / "result.json").exists()
    assert _data_status() == before


@pytest.mark.parametrize("family", ["mnist", "sd3", "qwen", "audio"])
@pytest.mark.parametrize("smoke_flag", [[], ["--smoke"]])
def test_pretrain_writes_under_runs_unless_told_otherwise(family, smoke_flag, monkeypatch, tmp_path):
    import importlib

    module = importlib.import_module(f"adrpo_nb.experiments.{family}.run")
    calls = []
    monkeypatch.setattr(module, "pretrain", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path))
    monkeypatch.delenv("ADRPO_SMOKE", raising=False)  # CI sets it; the flag alone decides here
    module.main(["pretrain", *smoke_flag])
    (args,) = calls
    for path in args[:2]:
        if isinstance(path, Path):
            assert data_dir() not in path.resolve().parents, path
            assert path.resolve().parts[len(tmp_path.parts)] == "pretrain" + ("-smoke" if smoke_flag else "")


# ----------------------------------------------------------------------------- 3. and 4. config validation
@pytest.mark.parametrize("cls", [FlowMatchingRLConfig, GRPOConfig])
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_grad_norm": -1.0}, "max_grad_norm must be > 0"),
        ({"max_grad_norm": 0}, "max_grad_norm must be > 0"),
        ({"max_grad_norm": float("nan")}, "max_grad_norm must be finite"),
        ({"checkpoint_every": 0}, "checkpoint_every must be >= 1"),
        ({"reward_weights": [1.0, float("nan")]}, r"reward_weights\[1\] must be finite"),
        ({"learning_rate": "3e-4"}, r"learning_rate must be a number, got learning_rate='3e-4' \(str\)"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"seed": 1.5}, "seed must be an int"),
        ({"iterations": True}, "iterations must be an int"),
        ({"progress": "yes"}, "progress must be True or False"),
        ({"extra": {"tags": {"a", "b"}}}, r"extra\['tags'\] must be JSON data"),
        ({"extra": {1: "x"}}, "extra keys must be strings"),
    ],
)
def test_every_config_field_is_checked_at_construction(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


def test_numpy_scalars_become_python_values():
    cfg = GRPOConfig(learning_rate=np.float32(1e-3), seed=np.int64(2), scale_rewards=np.bool_(False),
                     extra={"lrs": np.logspace(-4, -3, 2), "k": np.int32(3)})  # fmt: skip
    assert type(cfg.learning_rate) is float and type(cfg.seed) is int and type(cfg.scale_rewards) is bool
    assert cfg.extra == {"lrs": [1e-4, 1e-3], "k": 3} and type(cfg.extra["k"]) is int
    json.dumps(cfg.to_dict())


@pytest.mark.slow
def test_a_run_with_numpy_settings_resumes(tmp_path):
    lr = np.logspace(-4, -3, 3)[1]
    cfg = replace(TINY, learning_rate=lr, seed=np.int64(3), output_dir=str(tmp_path),
                  extra={"lr_grid": np.logspace(-4, -3, 3), "run": np.int64(1)})  # fmt: skip
    _trainer(cfg).train()
    resumed = _trainer(replace(cfg, iterations=2))
    assert len(resumed.train()) == 2  # read the checkpoint back (before: "not a readable trainer checkpoint")


# ----------------------------------------------------------------------------- 5. one run per folder
def _write_lock(folder: Path, pid: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "earlier"}))


def test_a_second_run_on_a_locked_folder_is_refused(tmp_path):
    _write_lock(tmp_path, os.getppid())  # a live process (our parent) holds it
    with pytest.raises(RunLockError, match=f"in use by another run \\(process {os.getppid()}"):
        _trainer(replace(TINY, output_dir=str(tmp_path))).train()
    assert not (tmp_path / "checkpoint.pt").exists()


def test_a_stale_lock_is_taken_over_and_stale_temporaries_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(tmp_path, dead.pid)
    stale = tmp_path / ".checkpoint.pt.x1y2.tmp"  # what a kill during an atomic write leaves
    stale.write_bytes(b"half a checkpoint")
    old = time.time() - 60
    os.utime(stale, (old, old))
    with pytest.warns(UserWarning, match="taking over the stale lock"):
        _trainer(replace(TINY, output_dir=str(tmp_path))).train()
    assert (tmp_path / "checkpoint.pt").exists() and not stale.exists()
    assert not (tmp_path / LOCK_NAME).exists()  # released at the end


@pytest.mark.slow
def test_two_runs_started_at_once_in_one_folder_one_is_refused(tmp_path):
    """Two processes, different configs, one folder: one trains, the other stops with a clear error."""
    script = (
        "import sys; from dataclasses import replace\n"
        "from adrpo_nb.experiments.mnist import even_digits\n"
        "from adrpo_nb.models.mnist import LatentFlowAdapter, load_base_model\n"
        "from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer\n"
        "import time\n"
        "def slow(x):\n    time.sleep(1.0); return even_digits(x)\n"
        "cfg = FlowMatchingRLConfig(iterations=2, samples_per_iteration=16, minibatch_size=16,"
        " updates_per_iteration=1, progress=False, beta0=float(sys.argv[2]), output_dir=sys.argv[1])\n"
        "FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model(), sample_steps=2), slow, cfg).train()\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), b], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True) for b in ("0.05", "0.5")]  # fmt: skip
    codes = [p.wait(timeout=120) for p in procs]
    errors = [p.stderr.read() for p in procs]
    assert sorted(codes) == [0, 1], errors
    assert "RunLockError" in errors[codes.index(1)] or "CheckpointError" in errors[codes.index(1)]


# ----------------------------------------------------------------------------- 6. NaN reward weights (GRPO)
def test_nan_reward_weights_are_refused_by_score_completions():
    from adrpo_nb.trainers.grpo import score_completions
    from adrpo_nb.types import Rollout

    ids = torch.ones(2, 3, dtype=torch.long)
    rollout = Rollout(prompts=["a", "b"], prompt_ids=ids, prompt_mask=ids, completion_ids=ids, completion_mask=ids,
                      completions=["x", "y"])  # fmt: skip
    funcs = [lambda prompts, completions, completion_ids, **k: [1.0, 2.0]] * 2
    with pytest.raises(ConfigError, match=r"reward_weights\[0\] must be finite"):
        score_completions(funcs, [float("nan"), 1.0], rollout)


# ----------------------------------------------------------------------------- 7. weights are checked
def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_shipped_weight_file_is_caught(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(data_dir() / "checkpoints" / "mnist", folder)
    target = folder / "classifier.safetensors"
    load_module(DigitClassifier, target)  # intact: loads
    _flip_byte(target, target.stat().st_size - 1000)  # inside the tensor data
    with pytest.raises(CheckpointError, match=r"classifier\.safetensors is corrupt .*sha256"):
        load_module(DigitClassifier, target)


def test_weights_full_of_nan_are_refused(tmp_path):
    velocity = VelocityMLP(dim=4, width=8, depth=1)
    with torch.no_grad():
        next(velocity.parameters()).fill_(float("nan"))
    save_module(velocity, tmp_path / "flow.safetensors", {"dim": 4, "width": 8, "depth": 1})
    with pytest.raises(CheckpointError, match=r"flow\.safetensors: tensor .* non-finite"):
        load_module(VelocityMLP, tmp_path / "flow.safetensors")


def test_a_flipped_byte_in_a_trainer_checkpoint_is_caught(tmp_path):
    cfg = replace(TINY, output_dir=str(tmp_path))
    _trainer(cfg).train()
    path = tmp_path / "checkpoint.pt"
    with zipfile.ZipFile(path) as zf:  # the largest tensor's bytes inside torch's zip
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    header = path.read_bytes()[info.header_offset : info.header_offset + 30]
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    _flip_byte(path, start + info.file_size // 2)
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt is corrupt"):
        _trainer(replace(cfg, iterations=2)).train()


@pytest.mark.slow
def test_a_model_folder_without_its_tokenizer_is_refused(tmp_path):
    from adrpo_nb.models.causal_lm import ModelLoadError, load_causal_lm

    folder = tmp_path / "qwen"
    shutil.copytree(data_dir() / "checkpoints" / "qwen_tiny_countdown", folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json is missing"):
        load_causal_lm(folder)


# ----------------------------------------------------------------------------- 8. the flow trainer's rewards
def _scores(n=16, value=0.5):
    return torch.full((n,), value)


@pytest.mark.parametrize(
    ("reward", "match"),
    [
        (lambda x: (_scores(), {}, "extra"), "a tuple of 3 items"),
        (lambda x: (_scores(), "info"), "a tuple of 2 items"),
        (lambda x: _scores().reshape(8, 2), r"shape \(16,\); got shape \(8, 2\)"),
        (lambda x: _scores(8), r"shape \(16,\); got shape \(8,\)"),
        (lambda x: [None] * 16, "every reward function returned None for sample 0"),
        (lambda x: ["high"] * 16, "not a number|must return 16 numbers"),
    ],
)
def test_the_flow_trainer_refuses_malformed_rewards(reward, match):
    with pytest.raises(ValueError, match=match):
        _trainer(TINY, reward).step()


def test_none_scores_drop_out_of_the_weighted_sum_as_in_trl():
    def partial(x):
        return [None if i % 2 else 1.0 for i in range(len(x))]

    def everywhere(x):
        return (_scores(len(x), 0.25), {"source": "everywhere"})

    trainer = _trainer(replace(TINY, reward_weights=[2.0, 4.0]), [partial, everywhere])
    trainer.step()
    expected = torch.tensor([2.0 * 1.0 + 4.0 * 0.25 if i % 2 == 0 else 4.0 * 0.25 for i in range(16)])
    assert torch.equal(trainer.last_rewards, expected)


def test_an_advantage_fn_of_the_wrong_shape_is_refused():
    trainer = _trainer(TINY, advantage_fn=lambda r, s: torch.zeros(2, len(r)))
    with pytest.raises(ValueError, match=r"advantage_fn must return one advantage per sample, shape \(16,\); got "
                                         r"shape \(2, 16\)"):  # fmt: skip
        trainer.step()


# ----------------------------------------------------------------------------- also
def test_bad_audio_scales_are_refused():
    from adrpo_nb.models.audio_lm import validate_waveform

    wave = np.sin(np.linspace(0, 100, 16000)).astype(np.float32)
    validate_waveform(wave, 16000, 16000)
    with pytest.raises(ValueError, match="int16 samples"):
        validate_waveform((wave * 32767).astype(np.int16), 16000, 16000)
    with pytest.raises(ValueError, match=r"beyond \[-1, 1\]"):
        validate_waveform(wave * 1000, 16000, 16000)


def test_a_bad_prompt_line_names_its_file_and_line(tmp_path):
    from adrpo_nb.experiments.sd3.run import read_prompt_rows

    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "a cat", "category": "animals"}\n\n{"prompt": "a dog", "category": \n')
    with pytest.raises(ValueError, match=r"prompts\.jsonl:3: not valid JSON"):
        read_prompt_rows(path)
    path.write_text('{"prompt": 3, "category": "x"}\n')
    with pytest.raises(ValueError, match=r"prompts\.jsonl:1: a row needs a non-empty string 'prompt'"):
        read_prompt_rows(path)


def _sweep(w2_of_fixed: float) -> dict:
    runs = [{"config": {"method": m, "beta0": b, "seed": 0},
             "final": {"reward": 0.5 + b, "even_entropy_norm": 0.9, "w2": w2_of_fixed if m == "fixed" else 0.1}}
            for m in ("adrpo", "fixed") for b in (0.05, 0.1)]  # fmt: skip
    return {"runs": runs}


def test_the_slider_never_writes_nan_nor_shows_another_method():
    from adrpo_nb.viz import BetaSlider

    with pytest.warns(UserWarning, match="fixed at .* non-finite"):
        slider = BetaSlider(_sweep(float("nan")))
    assert "NaN" not in slider.static_html() and "fixed" not in slider.entries
    with pytest.raises(ValueError, match=r"method='orw' is not in this sweep"):
        BetaSlider(_sweep(0.2), method="orw")


# ----------------------------------------------------------------------------- a resumed run keeps its records
def test_run_records_resume_up_to_the_checkpoint_and_a_fresh_start_drops_them(tmp_path):
    from adrpo_nb.experiments.runner import RunRecords

    records = RunRecords(tmp_path, ("evals", "beta_eff"))
    for i in (0, 30, 60, 90):
        records.put("evals", i, {"iteration": i})
    records.put("beta_eff", 40, [0.1])
    again = RunRecords(tmp_path, ("evals", "beta_eff")).resume(60)  # the checkpoint is at 60: 90 is replayed
    assert list(again.get("evals")) == ["0", "30", "60"] and again.get("beta_eff") == {"40": [0.1]}
    assert RunRecords(tmp_path, ("evals", "beta_eff")).fresh().get("evals") == {}
    assert not (tmp_path / RunRecords.FILE).exists()  # a run from scratch does not inherit an old attempt's
    with pytest.raises(KeyError, match="kinds"):
        records.put("grids", 1, "x")


def test_a_resumed_qwen_run_keeps_the_evaluations_and_snapshots_made_before_it_stopped(tmp_path):
    from adrpo_nb.experiments import qwen

    cfg = qwen.smoke_config(qwen.default_config(method="adrpo", beta0=0.04, output_dir=str(tmp_path))).replace(
        iterations=3, checkpoint_every=1)
    kwargs = {"eval_every": 1, "eval_size": 4, "samples_per_puzzle": 2, "beta_eff_snapshots": (1, 2, 4)}
    qwen.run_rl(cfg, **kwargs)
    resumed = qwen.run_rl(cfg.replace(iterations=5), **kwargs)  # resumes from the checkpoint at iteration 3
    assert [e["iteration"] for e in resumed["evals"]] == [0, 1, 2, 3, 4, 5]  # before: [4, 5]
    assert resumed["start"] is not None and resumed["start"]["iteration"] == 0
    assert list(resumed["beta_eff"]) == ["1", "2", "4"]  # before: ["4"]


def test_a_resumed_flow_run_keeps_its_beta_and_sample_snapshots(tmp_path):
    from adrpo_nb.experiments import mnist

    cfg = mnist.smoke_config(mnist.book_run_config("adrpo", 0.05).replace(output_dir=str(tmp_path), progress=False))
    cfg = cfg.replace(iterations=2, checkpoint_every=1)
    mnist.run_rl(cfg, eval_samples=64, beta_eff_snapshots=(1, 3))
    resumed = mnist.run_rl(cfg.replace(iterations=3), eval_samples=64, beta_eff_snapshots=(1, 3))
    assert list(resumed["beta_eff"]) == ["1", "3"] and list(resumed["samples_during_training"]) == ["1", "3"]


# ============================================================================= round 3 (issue 24)
# ----------------------------------------------------------------------------- 1. reuse and resume know what made a run
def _mnist_spec(folder: Path, **fields):
    from adrpo_nb.experiments import mnist

    spec = mnist.smoke_config(mnist.FAMILY.spec(output_dir=str(folder), progress=False))
    return spec.replace(**{"iterations": 2, "checkpoint_every": 1, "eval_samples": 64, **fields})


def test_a_result_made_before_the_split_or_on_another_one_is_refused_naming_the_fingerprints(tmp_path):
    """Before: a result without fingerprints (made before they were recorded, e.g. a Qwen run on the countdown
    split before the split by meaning), or with the base model's alone, was returned as it is."""
    from adrpo_nb.experiments import mnist, qwen

    spec = qwen.smoke_config(qwen.default_config(output_dir=str(tmp_path)))
    now = qwen.FAMILY.fingerprints(spec)
    assert set(now) == {"base_model", "data"}
    for recorded in (None, {"base_model": now["base_model"]}, {**now, "data": "0123456789ab"}):
        saved = {**spec.to_dict(), "final": {"accuracy": 0.281}}
        atomic_write_json(tmp_path / "result.json", saved if recorded is None else {**saved, "fingerprints": recorded})
        with pytest.raises(ValueError, match=r"another run \(fingerprints: result .* vs now \{'base_model'"):
            finished_result(qwen.FAMILY, spec)
    atomic_write_json(tmp_path / "result.json", {**spec.to_dict(), "fingerprints": now, "final": {"accuracy": 0.3}})
    assert finished_result(qwen.FAMILY, spec)["final"] == {"accuracy": 0.3}
    assert qwen.FAMILY.fingerprints(spec.replace(eval_size=8))["data"] != now["data"]  # the data it reads
    # a reward is named by the settings: a function in its place is refused, never compared away
    with pytest.raises(ConfigError, match="reward must be one of"):
        mnist.run_rl(_mnist_spec(tmp_path / "m"), reward=lambda images: 1 - even_digits(images))
    with pytest.raises(ConfigError, match=r"no field 'base'"):
        mnist.run_rl(_mnist_spec(tmp_path / "m"), base="elsewhere")


def test_an_interrupted_run_does_not_resume_onto_another_reward_or_base_model(tmp_path, monkeypatch):
    """Before: the checkpoint's trainer config was all a resume compared; a run interrupted with one reward (or base
    model) resumed with another and returned a result made of both."""
    from adrpo_nb.experiments import mnist

    spec = _mnist_spec(tmp_path)
    mnist.run_rl(spec)
    (tmp_path / "result.json").unlink()  # interrupted after its last checkpoint
    with pytest.raises(ValueError, match=r"checkpoint\.pt was made by another run \(settings\.reward: checkpoint's "
                                         r"'even_digits' vs now 'digit_3'\)"):  # fmt: skip
        mnist.run_rl(spec.replace(reward="digit_3", iterations=3))
    real = mnist.FAMILY.fingerprints(spec)
    monkeypatch.setattr(mnist.FAMILY, "fingerprints", lambda s: {"base_model": "re-pretrained"})
    with pytest.raises(ValueError, match=r"another run \(fingerprints: checkpoint's \{'base_model': '"
                                         + real["base_model"]):  # fmt: skip
        mnist.run_rl(spec.replace(iterations=3))
    monkeypatch.undo()
    (tmp_path / "run.json").unlink()  # a checkpoint from before runs recorded what made them
    with pytest.raises(ValueError, match=r"has no run\.json beside it"):
        mnist.run_rl(spec.replace(iterations=3))


# ----------------------------------------------------------------------------- 2. kill -9: records and artefacts
def _comparable(result: dict) -> dict:
    """A result without what differs between two runs of one spec: the folder, the times (provenance), its hash."""
    out = {k: v for k, v in result.items() if k not in ("provenance", "content_sha256")}
    return {**out, "config": {k: v for k, v in out["config"].items() if k != "output_dir"}}


def _worker(out: Path, kill: str) -> int:
    worker = Path(__file__).with_name("_resume_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(worker), str(out), kill, "runner"], capture_output=True, text=True,
                          env=env, cwd=ROOT)  # fmt: skip
    assert proc.returncode in (0, -9), proc.stderr[-2000:]
    return proc.returncode


@pytest.mark.slow
def test_a_kill_as_a_record_is_saved_resumes_to_the_same_records_and_result(tmp_path):
    """SIGKILL as iteration 2's β_eff, then (in the rerun) the last iteration's sample snapshot, is about to be saved.
    Before, that iteration's checkpoint was already written then: the resumed run never replayed it and its result
    lacked those records for good."""
    assert _worker(tmp_path / "straight", "-") == 0
    straight = json.loads((tmp_path / "straight" / "result.json").read_text())
    killed = tmp_path / "killed"
    assert _worker(killed, "beta_eff:2") == -9
    assert _worker(killed, "samples_during_training:3") == -9
    assert not (killed / "result.json").exists()
    assert _worker(killed, "-") == 0
    resumed = json.loads((killed / "result.json").read_text())
    assert list(resumed["beta_eff"]) == ["1", "2", "3"] == list(resumed["samples_during_training"])
    assert _comparable(resumed) == _comparable(straight)
    assert (killed / "records.json").read_bytes() == (tmp_path / "straight" / "records.json").read_bytes()


class _Killed(BaseException):
    """Stands for SIGKILL in-process: files stay as they are at that point (every write is atomic)."""


@pytest.mark.slow
def test_a_kill_while_the_lora_is_saved_or_a_lost_lora_is_rederived_bit_identical(tmp_path, monkeypatch):
    """SD3's LoRA is part of its result: a kill while it is written, or a finished result whose lora/ is missing or
    changed, gives on the rerun the LoRA and result of an uninterrupted run. Before, a result.json without its
    lora/ (a kill after result.json, as the runner once wrote it, or a lost folder) was returned as it was."""
    from adrpo_nb.experiments import sd3

    def spec(folder: Path):
        return sd3.smoke_config(sd3.default_config(output_dir=str(folder), progress=False)).replace(
            iterations=2, checkpoint_every=1, eval_prompts=2, snapshots=(1, 2))

    straight = sd3.run_rl(spec(tmp_path / "straight"))
    lora = (tmp_path / "straight" / "lora" / "pytorch_lora_weights.safetensors").read_bytes()
    assert straight["artifacts"] == {"lora/pytorch_lora_weights.safetensors": hashlib.sha256(lora).hexdigest()}

    save = sd3.run.save_lora

    def save_half_and_die(adapter, directory):
        save(adapter, directory)
        path = Path(directory) / "pytorch_lora_weights.safetensors"
        path.write_bytes(path.read_bytes()[: len(lora) // 2])
        raise _Killed

    killed = tmp_path / "killed"
    monkeypatch.setattr(sd3.run, "save_lora", save_half_and_die)
    with pytest.raises(_Killed):
        sd3.run_rl(spec(killed))
    monkeypatch.undo()
    assert not (killed / "result.json").exists()
    for damage in (None, lambda: shutil.rmtree(killed / "lora"), lambda: _flip_byte(
            killed / "lora" / "pytorch_lora_weights.safetensors", 100)):  # fmt: skip
        if damage is not None:
            damage()
        again = sd3.run_rl(spec(killed))
        assert (killed / "lora" / "pytorch_lora_weights.safetensors").read_bytes() == lora
        assert _comparable(again) == _comparable(straight), damage


# ----------------------------------------------------------------------------- 6. trainer semantics
def test_the_flow_trainer_refuses_groups_of_one_like_the_grpo_trainer():
    """Before: num_generations=1 or samples_per_iteration=1 trained with every advantage 0 (nothing moved)."""
    with pytest.raises(ValueError, match=r"num_generations=1 makes groups of one sample: every advantage would be 0"):
        _trainer(replace(TINY, num_generations=1))
    with pytest.raises(ValueError, match=r"samples_per_iteration=1 makes groups of one sample"):
        _trainer(replace(TINY, samples_per_iteration=1, minibatch_size=1))
    _trainer(replace(TINY, num_generations=1), advantage_fn=lambda r, s: r - 0.5)  # its own baseline: fine
    _trainer(replace(TINY, num_generations=1, method="orw"))  # raw rewards: no group


@pytest.mark.parametrize("method", ["orw", "dpo"])
def test_an_advantage_fn_the_method_would_ignore_is_refused(method):
    """Before: advantage_fn was silently ignored by orw and dpo."""
    with pytest.raises(ValueError, match=rf"advantage_fn is not used by method='{method}'"):
        _trainer(replace(TINY, method=method, num_generations=4), advantage_fn=lambda r, s: r)


@pytest.mark.parametrize(
    ("changes", "kwargs", "error", "match"),
    [  # before: every update silently zeroed by clipping an infinite norm
        ({}, {"advantage_fn": lambda r, s: torch.full_like(r, 1e30)}, FloatingPointError,
         r"non-finite gradient norm inf at iteration 0 \(advantages in \[1e\+30, 1e\+30\]\); rescale the reward"),
        # before: "advantages must be finite"
        ({}, {"reward": lambda x: torch.full((len(x),), 1e38)}, ValueError,
         r"group advantages of these rewards overflow float32 \(rewards in \[1e\+38, 1e\+38\]\)"),
        # before: "lower learning_rate, raise beta0"
        ({"method": "orw", "orw_temperature": 1000.0}, {}, ValueError,
         r"ORW's weights exp\(orw_temperature · reward\) overflow float32: orw_temperature=1000"),
    ],
)
def test_absurd_weights_raise_naming_their_cause(changes, kwargs, error, match):
    trainer = _trainer(replace(TINY, **changes), **kwargs)
    with pytest.raises(error, match=match):
        trainer.step()


def test_a_diverged_learning_rate_is_named_not_the_reward():
    """Before: learning_rate=1e30 ended in "even_digits returned a non-finite score" (the reward blamed)."""
    trainer = _trainer(replace(TINY, learning_rate=1e30, max_grad_norm=None, iterations=3))
    with pytest.raises(FloatingPointError, match=r"samples are not finite at iteration 1: its weights diverged "
                                                 r"\(learning_rate=1e\+30"):  # fmt: skip
        trainer.train()


def test_a_diverged_grpo_learning_rate_is_named_not_the_sampler():
    """Before: learning_rate=1e30 ended in torch's "probability tensor contains either inf, nan or element < 0"."""
    from adrpo_nb.experiments.qwen import countdown_rows, load_tiny
    from adrpo_nb.trainers.grpo import GRPOTrainer

    cfg = GRPOConfig(iterations=3, prompts_per_iteration=2, num_generations=3, minibatch_size=6, progress=False,
                     learning_rate=1e30, max_grad_norm=None)  # fmt: skip
    trainer = GRPOTrainer(load_tiny(max_new_tokens=6), lambda completions, **k: [1.0] * len(completions),
                          countdown_rows(8), cfg, advantage_fn=lambda r, rollout: torch.linspace(-1, 1, len(r)))
    with pytest.raises(FloatingPointError, match=r"logits are not finite at iteration 1: its weights diverged "
                                                 r"\(learning_rate=1e\+30"):  # fmt: skip
        trainer.train()


def test_grpo_refuses_an_advantage_matrix_and_a_reward_of_one_number():
    """Before: a (K, P) advantage_fn was flattened row-major onto the wrong completions; a reward returning one
    float failed with "'float' object is not iterable"."""
    from adrpo_nb.experiments.qwen import countdown_rows, load_tiny
    from adrpo_nb.trainers.grpo import GRPOTrainer, score_completions
    from adrpo_nb.types import Rollout

    cfg = GRPOConfig(iterations=1, prompts_per_iteration=2, num_generations=3, minibatch_size=6, progress=False)
    by_group = GRPOTrainer(load_tiny(max_new_tokens=4), lambda completions, **k: [1.0] * len(completions),
                           countdown_rows(8), cfg, advantage_fn=lambda r, rollout: torch.zeros(3, 2))  # fmt: skip
    with pytest.raises(ValueError, match=r"one advantage per completion, shape \(6,\) .* got shape \(3, 2\)"):
        by_group.step()
    ids = torch.ones(2, 3, dtype=torch.long)
    rollout = Rollout(prompts=["a", "b"], prompt_ids=ids, prompt_mask=ids, completion_ids=ids, completion_mask=ids,
                      completions=["x", "y"])  # fmt: skip

    def mean_score(prompts, completions, completion_ids, **k):
        return 0.5

    with pytest.raises(ValueError, match=r"reward 'mean_score' must return a list of 2 values .* got float 0\.5"):
        score_completions([mean_score], [1.0], rollout)


@pytest.mark.parametrize(
    ("rewards", "advantage_fn", "match"),
    [  # before: "non-finite loss nan at iteration 0: lower learning_rate or raise beta0" (before any update)
        ([3e38, -3e38, 0.0, 1.0, 0.0, 0.0], None, r"non-finite loss nan at iteration 0 \(advantages in \[-3e\+38, "
         r"3e\+38\]\): the advantages are too large for float32: rescale the reward"),
        # an update clipped from an infinite norm: nothing moves (GRPO's side of the flow trainer's case)
        ([1.0] * 6, lambda r, rollout: torch.full_like(r, 1e30), r"non-finite gradient norm inf at iteration 0 "
         r"\(advantages in \[1e\+30, 1e\+30\]\); rescale the reward"),
        ([1.0] * 6, "nan loss", r"non-finite loss nan at iteration 0 \(advantages in \[.*\]\): the policy diverged: "
         r"lower learning_rate or raise beta0"),
    ],
)  # fmt: skip
def test_grpo_names_the_advantages_or_the_policy_for_a_non_finite_loss(rewards, advantage_fn, match, monkeypatch):
    from adrpo_nb.experiments.qwen import countdown_rows, load_tiny
    from adrpo_nb.trainers import grpo

    if advantage_fn == "nan loss":  # a loss that is not finite whatever the advantages: the policy's
        monkeypatch.setattr(grpo, "grpo_loss", lambda *a, **k: (torch.tensor(float("nan")), {}))
        advantage_fn = None
    cfg = GRPOConfig(iterations=1, prompts_per_iteration=2, num_generations=3, minibatch_size=6, progress=False,
                     scale_rewards=False)  # fmt: skip
    trainer = grpo.GRPOTrainer(load_tiny(max_new_tokens=4), lambda completions, **k: rewards, countdown_rows(8), cfg,
                               advantage_fn=advantage_fn)  # fmt: skip
    with pytest.raises(FloatingPointError, match=match):
        trainer.step()


# ----------------------------------------------------------------------------- 5. integrity of models and results
def _shipped_copy(tmp_path: Path, monkeypatch, name: str) -> Path:
    """A copy of the data folder's model ``name`` in a data folder of its own (ADRPO_DATA)."""
    folder = tmp_path / "data" / "checkpoints" / name
    shutil.copytree(data_dir() / "checkpoints" / name, folder)
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path / "data"))
    return folder


def test_a_shipped_model_without_its_sha256_map_is_refused(tmp_path, monkeypatch):
    """Before: without pretrain.json (or its sha256 map) a byte-flipped flow.safetensors loaded silently."""
    folder = _shipped_copy(tmp_path, monkeypatch, "mnist")
    (folder / "pretrain.json").unlink()
    _flip_byte(folder / "flow.safetensors", (folder / "flow.safetensors").stat().st_size - 1000)
    with pytest.raises(CheckpointError, match=r"has no pretrain\.json with a sha256 map of its files"):
        load_base_model()
    with pytest.warns(UserWarning, match="cannot be verified"):  # a folder of your own: said, not refused
        load_module(VelocityMLP, shutil.copytree(folder, tmp_path / "mine") / "flow.safetensors")


@pytest.mark.parametrize(("name", "file"), [("qwen_tiny_countdown", "tokenizer.json"),
                                            ("qwen_tiny_countdown", "config.json"),
                                            ("sd3_tiny", "scheduler/scheduler_config.json")])  # fmt: skip
def test_every_file_of_a_shipped_model_is_covered_by_its_sha256(tmp_path, monkeypatch, name, file):
    """Before: the sha256 map covered the weights only; an edited tokenizer, config or scheduler loaded unchecked."""
    from adrpo_nb.utils.checkpoints import verify_recorded_sha256

    folder = _shipped_copy(tmp_path, monkeypatch, name)
    path = folder / file
    original = path.read_text()
    path.write_text(original.replace(":", ": ", 1))
    with pytest.raises(CheckpointError, match=rf"{file} is corrupt or was replaced"):
        verify_recorded_sha256(folder)
    path.write_text(original)
    assert verify_recorded_sha256(folder) > 1
    (folder / "extra.json").write_text("{}")  # a file the map does not list is refused too
    with pytest.raises(CheckpointError, match=r"extra\.json is not covered by the sha256 map"):
        verify_recorded_sha256(folder)


@pytest.mark.parametrize(("name", "file", "loader"), [
    ("qwen_tiny_countdown", "config.json", "adrpo_nb.experiments.qwen:load_tiny"),
    ("qwen_tiny_countdown", "tokenizer.json", "adrpo_nb.experiments.qwen:load_tiny"),
    ("qwen2_audio_tiny", "processor_config.json", "adrpo_nb.experiments.audio:load_tiny"),
    ("sd3_tiny", "scheduler/scheduler_config.json", "adrpo_nb.models.sd3:load_sd3_pipeline")])  # fmt: skip
def test_each_model_loader_checks_every_file_of_a_shipped_model(tmp_path, monkeypatch, name, file, loader):
    """The loaders themselves, not only verify_recorded_sha256: an edited config, tokenizer, preprocessor or
    scheduler of a shipped model is refused before anything is loaded."""
    import importlib

    folder = _shipped_copy(tmp_path, monkeypatch, name)
    path = folder / file
    path.write_text(path.read_text().replace(":", ": ", 1))
    module, function = loader.split(":")
    load = getattr(importlib.import_module(module), function)
    with pytest.raises(CheckpointError, match=rf"{file} is corrupt or was replaced"):
        load(folder) if function == "load_sd3_pipeline" else load()


def test_the_sha256_check_is_not_fooled_by_an_edit_of_the_same_size_and_time(tmp_path):
    """Before: a verified file was cached by (path, size, mtime): an edit that kept both loaded unchecked."""
    folder = shutil.copytree(data_dir() / "checkpoints" / "mnist", tmp_path / "mnist")
    target = folder / "classifier.safetensors"
    load_module(DigitClassifier, target)
    stat = target.stat()
    _flip_byte(target, stat.st_size - 1000)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert target.stat().st_size == stat.st_size and target.stat().st_mtime_ns == stat.st_mtime_ns
    with pytest.raises(CheckpointError, match=r"classifier\.safetensors is corrupt"):
        load_module(DigitClassifier, target)


def test_verify_fails_clearly_on_a_folder_without_pretrain_json(tmp_path):
    """Before: "0 weight file(s) match their sha256", exit 0."""
    from adrpo_nb.utils.checkpoints import main

    (tmp_path / "flow.safetensors").write_bytes(b"x")
    with pytest.raises(SystemExit, match=r"verify: .* has no pretrain\.json with a sha256 map"):
        main(["verify", str(tmp_path)])


# ----------------------------------------------------------------------------- 3. and 4. the command line, data/
def test_dpo_at_beta0_zero_is_refused_on_the_command_line(tmp_path):
    """Before: ``sd3 train --method dpo --beta0 0`` trained with a zero gradient (the loss is log 2 throughout)."""
    from adrpo_nb.experiments.sd3.run import main

    with pytest.raises(SystemExit, match=r"method='dpo' with beta0=0 has a zero gradient"):
        main(["train", "--smoke", "--method", "dpo", "--beta0", "0", "--num-generations", "2", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_realsize_writes_under_runs_unless_told(tmp_path, monkeypatch):
    """Before: ``bench realsize --family qwen`` without --out replaced data/results/realsize/qwen.json."""
    from adrpo_nb.experiments import realsize

    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path / "data"))  # were it written there, not into the real data/
    monkeypatch.setattr(realsize, "run_qwen", lambda **kwargs: {"family": "qwen", "runs": {}})  # nothing measured
    monkeypatch.setattr(realsize, "add_throughput", lambda result: None)
    realsize.main(["--family", "qwen", "--no-trl"])
    assert json.loads((tmp_path / "runs" / "results" / "realsize" / "qwen.json").read_text())["family"] == "qwen"
    assert not (tmp_path / "data").exists()


def test_bench_refuses_zero_iterations_naming_the_flag(capsys):
    """Before: ``bench mnist --iterations 0`` ended in statistics.StatisticsError."""
    from adrpo_nb.experiments.bench import main

    with pytest.raises(SystemExit):
        main(["mnist", "--iterations", "0"])
    assert "--iterations: must be >= 1" in capsys.readouterr().err


# ----------------------------------------------------------------------------- 7. concurrency
def test_a_stray_rank_without_a_launcher_still_takes_the_run_lock(tmp_path, monkeypatch):
    """Before: with RANK=1 exported and no launcher the lock was skipped: two runs into one folder both went on."""
    from adrpo_nb.utils.runlock import run_lock

    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    _write_lock(tmp_path, os.getppid())
    with pytest.raises(RunLockError, match="in use by another run"):
        _trainer(replace(TINY, output_dir=str(tmp_path))).train()
    monkeypatch.setenv("WORLD_SIZE", "2")  # a real launch: the main process (rank 0) holds the lock for all
    with run_lock(tmp_path / "other"):
        assert not (tmp_path / "other").exists()


# ----------------------------------------------------------------------------- 8. figures
def _lm_sweep(seeds=(0, 1)) -> dict:
    def run(method, seed):
        return {"config": {"method": method, "beta0": 0.04, "seed": seed, "clip": [-0.04, 0.04], "scale_rewards": True},
                "final": {"accuracy": 0.3, "reward": 1.0, "even_entropy_norm": 1.0, "w2": 0.0},
                "curve": {"iteration": [1, 2], "entropy": [1.0, 0.9]}}  # fmt: skip

    return {"runs": [run(m, s) for m in ("fixed", "adrpo") for s in seeds]}


def test_a_seed_listed_twice_is_refused_by_the_tables_and_figures():
    """Before: seed 0 listed twice read "mean of 4 seeds" / "seeds 2" with a spread of 0."""
    from adrpo_nb.viz.lm import plot_seed_bands
    from adrpo_nb.viz.plots import sweep_table

    twice = _lm_sweep(seeds=(0, 0, 1))
    with pytest.raises(ValueError, match=r"variant='adrpo', beta0=0\.04: seed 0 appears 2 times"):
        plot_seed_bands(twice, "entropy", [("adrpo", 0.04)])
    with pytest.raises(ValueError, match=r"method='fixed', beta0=0\.04: seed 0 appears 2 times"):
        sweep_table(twice, ["fixed"])


def test_a_requested_absent_entry_is_an_error_not_a_silent_gap():
    """Before: plot_seed_bands and sweep_table dropped a requested (variant, β0) or method without a word."""
    from adrpo_nb.viz.lm import plot_seed_bands
    from adrpo_nb.viz.plots import sweep_table

    with pytest.raises(ValueError, match=r"no finished run of variant='adrpo', beta0=0\.2 in this sweep; it has"):
        plot_seed_bands(_lm_sweep(), "entropy", [("adrpo", 0.04), ("adrpo", 0.2)])
    with pytest.raises(ValueError, match=r"no run of method='orw' in this sweep \(its methods: \['adrpo', 'fixed'\]\)"):
        sweep_table(_lm_sweep(), ["fixed", "orw"])


def test_a_non_finite_front_point_is_reported():
    """Before: a NaN point of a Pareto front was neither drawn nor reported."""
    from adrpo_nb.viz.plots import plot_pareto_fronts

    points = [{"beta0": b, "reward": r, "diversity": 0.5, "reward_std": 0.0, "diversity_std": 0.0}
              for b, r in ((0.05, 0.6), (0.1, float("nan")))]  # fmt: skip
    summary = {"by_diversity": {"even_entropy_norm": {"methods": {"adrpo": {
        "points": points, "front": [[0.6, 0.5]], "hypervolume": 0.1}}}}}  # fmt: skip
    with pytest.warns(UserWarning, match=r"ADRPO: the point\(s\) at β0 = 0\.1 have a non-finite reward"):
        plot_pareto_fronts(summary)


# ----------------------------------------------------------------------------- 9. errors that name the field or file
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [  # before: "float() argument must be a string or a real number, not 'NoneType'" (and 'list')
        ({"beta0": None}, TypeError, r"beta0 must be a number, got beta0=None"),
        ({"beta0": [0.1]}, TypeError, r"beta0 must be a number, got beta0=\[0\.1\] \(list\)"),
        # before: accepted, and an identical rerun was refused as "another config" (NaN equals nothing)
        ({"extra": {"t": float("nan")}}, ConfigError, r"extra\['t'\] must be finite"),
    ],
)
def test_a_bad_config_value_is_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        FlowMatchingRLConfig(**kwargs)


def test_a_bad_wav_names_its_file(tmp_path):
    """Before: wave.Error "fmt chunk and/or data chunk missing", without the file."""
    from adrpo_nb.tasks.audio_qa import read_wav

    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    with pytest.raises(ValueError, match=r"clip\.wav is not a readable WAV file"):
        read_wav(path)


@pytest.mark.parametrize("cut", [1, 2])
def test_a_cut_wav_names_its_file(tmp_path, cut):
    """Before: a WAV cut by one byte ended in numpy's "buffer size must be a multiple of element size" (no file); cut
    by two, it was read as a shorter clip without a word."""
    from adrpo_nb.tasks.audio_qa import SAMPLE_RATE, read_wav, write_wav

    path = tmp_path / "clip.wav"
    write_wav(path, (0.5 * np.sin(np.arange(SAMPLE_RATE // 10))).astype(np.float32))
    frames = len(read_wav(path))
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(ValueError, match=rf"clip\.wav is truncated: its header says {frames} frames"):
        read_wav(path)


def test_the_slider_names_a_metric_the_sweep_lacks():
    """Before: BetaSlider on the Qwen sweep ended in KeyError: 'even_entropy_norm'."""
    from adrpo_nb.viz import BetaSlider

    sweep = {"runs": [{**r, "final": {"accuracy": 0.3, "reward": 1.0, "kl": 0.1}} for r in _lm_sweep()["runs"]]}
    with pytest.raises(ValueError, match=r"diversity_key='even_entropy_norm' is not a final metric of this sweep's "
                                         r"runs \(they have \['accuracy', 'kl', 'reward'\]\)"):  # fmt: skip
        BetaSlider(sweep)


def test_records_that_are_not_records_are_named(tmp_path):
    """Before: a records.json holding a list ended in AttributeError."""
    from adrpo_nb.experiments.runner import RunRecords

    (tmp_path / RunRecords.FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"records\.json holds a JSON list, not records"):
        RunRecords(tmp_path, ("beta_eff",)).resume(3)


# ============================================================================= issue 24 audit: the cases left untested
# ----------------------------------------------------------------------------- 1. reuse compares every setting
_OTHER_VALUE = {("mnist", "reward"): "digit_3", ("sd3", "prompts"): "project", ("sd3", "reward"): "clip",
                ("sd3", "timestep_sampling"): "logit_normal", ("sd3", "model"): "org/another-sd3",
                ("audio", "rewards"): "outcome"}  # fmt: skip


def _another(family: str, name: str, value):
    """A valid value of a settings field other than ``value``."""
    if (family, name) in _OTHER_VALUE:
        return _OTHER_VALUE[family, name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, tuple):
        return (*value, 5) if None in value else (*value, 99)
    return 2 if value is None else value + 1


@pytest.mark.parametrize("name", ["mnist", "sd3", "qwen", "audio"])
def test_every_setting_and_fingerprint_of_every_family_decides_reuse(name, tmp_path):
    """Before: only the trainer's config was compared: a result made with another reward, evaluation size,
    snapshot list, Qwen eval_size / samples_per_puzzle / dataset_size (or on another base model) was returned.
    Every settings field of each family, changed alone, is named; so is another or a missing fingerprint (a
    result made by older code, e.g. a Qwen or SD3 smoke run without fingerprints)."""
    import dataclasses
    import importlib

    from adrpo_nb.experiments.runner import artifact_sha256

    family = importlib.import_module(f"adrpo_nb.experiments.{name}").FAMILY
    spec = family.shrink(family.spec()).replace(output_dir=str(tmp_path), progress=False)
    now = family.fingerprints(spec)
    for artifact in family.artifacts:  # SD3's lora/: present and recorded, as a finished run leaves it
        (tmp_path / artifact).mkdir()
        (tmp_path / artifact / "weights.safetensors").write_bytes(b"w")
    record = {**spec.to_dict(), "fingerprints": now, "artifacts": artifact_sha256(tmp_path, family.artifacts)}
    atomic_write_json(tmp_path / "result.json", {**record, "final": {"r": 0.5}})
    assert finished_result(family, spec)["final"] == {"r": 0.5}
    fields = [f.name for f in dataclasses.fields(spec.settings)]
    for field in fields:
        other = _another(name, field, getattr(spec.settings, field))
        with pytest.raises(ValueError, match=rf"result of another run \(.*settings\.{field}: result "):
            finished_result(family, spec.replace(**{field: other}))
    others = [None, {**now, "base_model": "re-pretrained"}, *([{"base_model": now["base_model"]}] * ("data" in now))]
    for recorded in others:
        atomic_write_json(tmp_path / "result.json", {**record, "fingerprints": recorded, "final": {}})
        with pytest.raises(ValueError, match=r"result of another run \(fingerprints: result "):
            finished_result(family, spec)


def test_a_digit_edited_in_a_run_folders_result_is_refused(tmp_path):
    """Before: a result.json edited by hand in a run folder was returned as the run's result."""
    from adrpo_nb.experiments import mnist
    from adrpo_nb.utils.provenance import seal

    spec = _mnist_spec(tmp_path)
    atomic_write_json(tmp_path / "result.json", seal({**spec.to_dict(), "fingerprints": mnist.FAMILY.fingerprints(
        spec), "final": {"reward": 0.25}}))  # fmt: skip
    assert finished_result(mnist.FAMILY, spec)["final"] == {"reward": 0.25}
    path = tmp_path / "result.json"
    path.write_text(path.read_text().replace("0.25", "0.95"))
    with pytest.raises(ValueError, match=r"result\.json was edited or corrupted"):
        finished_result(mnist.FAMILY, spec)


# ----------------------------------------------------------------------------- the obscure ones
def test_a_sweep_listing_a_run_twice_is_refused_before_anything_trains(tmp_path):
    """Before: a duplicate seed on two workers ran one run twice in one folder, and one of them failed on the run
    lock instead of naming the duplicate (the command line's --seeds check aside, the runner's own sweep)."""
    from adrpo_nb.experiments import mnist
    from adrpo_nb.experiments.runner import sweep

    base = mnist.FAMILY.shrink(mnist.FAMILY.spec())
    specs = [base.replace(seed=0), base.replace(seed=1), base.replace(seed=0)]
    with pytest.raises(ValueError, match=r"the same run more than once: \['adrpo_b0\.05_s0_\w+'\] \(a duplicate seed"):
        sweep(mnist.FAMILY, specs, base=base, runs_dir=tmp_path / "sweep", workers=2)
    assert not (tmp_path / "sweep").exists()


def test_train_into_a_diverged_run_says_it_diverged(tmp_path, capsys, monkeypatch):
    """Before: ``mnist train --out <diverged run>`` ended in "'NoneType' object is not subscriptable"."""
    monkeypatch.delenv("ADRPO_SMOKE", raising=False)  # the full-size spec below is what `train` must build
    from adrpo_nb.experiments import cli, mnist
    from adrpo_nb.utils.provenance import seal

    spec = mnist.FAMILY.spec(learning_rate=1e30).replace(output_dir=str(tmp_path))
    why = "samples are not finite at iteration 1: its weights diverged (learning_rate=1e+30)"
    atomic_write_json(tmp_path / "result.json", seal({
        "family": "mnist", **spec.to_dict(), "fingerprints": mnist.FAMILY.fingerprints(spec), "final": None,
        "diverged": why, "provenance": {"seconds": 2.0}}))  # fmt: skip
    assert cli.main(mnist.FAMILY, ["train", "--lr", "1e30", "--out", str(tmp_path)]) == 0
    assert f"diverged: {why}" in capsys.readouterr().out


def test_chapter_3_on_another_grids_sweep_names_the_run_it_lacks(monkeypatch):
    """Before: StopIteration (later: KeyError 'orw' in a cell's list of baselines, IndexError for the β_eff run),
    nothing saying that the sweep lacks a method or the run the page reads."""
    from adrpo_nb import notebook
    from adrpo_nb.experiments.summaries import select_runs

    committed = notebook.load_result("results", "mnist_sweep.json")
    no_orw = {**committed, "runs": [r for r in committed["runs"] if r["config"]["method"] != "orw"]}
    other_betas = {**committed, "runs": [r for r in committed["runs"] if r["config"]["beta0"] != 0.05]}
    with pytest.raises(ValueError, match=r"no run of method='adrpo', beta0=0\.05, seed=0; its grid: adrpo: β0 "
                                         r"\[0\.02, 0\.1, .*\], seeds \[0, 1, 2\]; fixed: "):  # fmt: skip
        select_runs(other_betas, "adrpo", 0.05, seed=0, required=True)
    assert select_runs(committed, "adrpo", 0.05, seed=0, required=True)
    notebook_json = json.loads((ROOT / "book" / "chapters" / "03_adrpo_mnist.ipynb").read_text())
    setup = next("".join(c["source"]) for c in notebook_json["cells"]
                 if c["cell_type"] == "code" and "mnist_sweep.json" in "".join(c["source"]))  # fmt: skip
    load = notebook.load_result
    for sweep, match in ((no_orw, r"no finished run of method='orw'; its grid: adrpo: "),
                         (other_betas, r"no finished run of method='adrpo', beta0=0\.05, seed=0")):  # fmt: skip
        monkeypatch.setattr(notebook, "load_result", lambda *p, s=sweep: s if p[-1] == "mnist_sweep.json" else load(*p))
        with pytest.raises(ValueError, match=match):
            exec(compile(setup, "chapter 3's set-up cell", "exec"), {})


@pytest.mark.slow
def test_a_kill_as_a_qwen_evaluation_is_saved_resumes_to_the_same_evaluations_and_result(tmp_path, monkeypatch):
    """Iteration k's evaluation (Qwen's evals) is saved before k's checkpoint: a kill as it is about to be saved
    resumes from k - 1, replays k and ends with the evaluations, records and result of an uninterrupted run.
    Before, k's checkpoint came first and the resumed run never had k's evaluation."""
    from adrpo_nb.experiments import qwen
    from adrpo_nb.experiments.runner import RunRecords

    def spec(folder: Path):
        return qwen.smoke_config(qwen.default_config(method="adrpo", beta0=0.04, output_dir=str(folder))).replace(
            iterations=3, checkpoint_every=1, eval_every=1, eval_size=4, samples_per_puzzle=2, snapshots=(2, 3))

    straight = qwen.run_rl(spec(tmp_path / "straight"))
    put = RunRecords.put

    def put_or_die(self, kind, iteration, value):
        if (kind, iteration) == ("evals", 2):
            raise _Killed
        put(self, kind, iteration, value)

    killed = tmp_path / "killed"
    monkeypatch.setattr(RunRecords, "put", put_or_die)
    with pytest.raises(_Killed):
        qwen.run_rl(spec(killed))
    monkeypatch.undo()
    assert torch.load(killed / "checkpoint.pt", weights_only=True)["iteration"] == 1  # not 2: k's comes after
    resumed = qwen.run_rl(spec(killed))
    assert [e["iteration"] for e in resumed["evals"]] == [0, 1, 2, 3] and list(resumed["beta_eff"]) == ["2", "3"]
    assert _comparable(resumed) == _comparable(straight)
    assert (killed / "records.json").read_bytes() == (tmp_path / "straight" / "records.json").read_bytes()
