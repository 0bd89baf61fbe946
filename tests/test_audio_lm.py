"""The audio adapter (Qwen2-Audio): cached audio embeddings equal the model's own path, placeholders never
sampled, audio encoded once per prompt, bad audio rejected, GRPO learns and resumes with it."""

import numpy as np
import pytest
import torch

from adrpo_nb.models.audio_lm import AudioLMAdapter, load_audio_lm, validate_waveform
from adrpo_nb.models.causal_lm import ModelLoadError
from adrpo_nb.models.tiny_qwen_audio import (
    build_tiny_audio_processor,
    build_word_tokenizer,
    tiny_omni_thinker,
    tiny_qwen2_audio,
)
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer

WORDS = ("which", "tone", "is", "higher", "?", "choose", "first", "or", "second", ".", "i", "listen", "to", "the", "it",
         "low", "then", "high", "so")
SR = 16000


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _tone(freq, seconds=2.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _prompt(audio, rate=SR):
    return [{"role": "user", "content": [{"type": "audio", "audio": audio, "sampling_rate": rate},
                                         {"type": "text", "text": "which tone is higher ? choose first or second ."}]}]


def _adapter(seed=0, **kw):
    processor = build_tiny_audio_processor(build_word_tokenizer(WORDS))
    model = tiny_qwen2_audio(processor, seed=seed, d_audio=32, audio_layers=1, hidden_size=32, layers=1, heads=2,
                             kv_heads=1, intermediate_size=64)  # fmt: skip
    kw.setdefault("max_new_tokens", 6)
    return AudioLMAdapter(model, processor, **kw)


def test_cached_audio_embeddings_equal_the_models_own_input_features_path():
    adapter = _adapter()
    prompts = [_prompt(_tone(440)), _prompt(_tone(880, seconds=1.0))]  # the short clip exercises the feature mask
    ids, mask, extra = adapter.encode_prompts(prompts)
    assert extra["audio_lengths"].tolist() == [50, 25]
    texts, audios = [adapter.prompt_text(p) for p in prompts], [adapter.waveform(p) for p in prompts]
    enc = adapter.processor(text=texts, audio=audios, sampling_rate=SR, return_tensors="pt", padding=True)
    model = adapter.policy.eval()
    native = model(**enc).logits
    cached = model(**adapter.model_inputs(model, ids, extra), attention_mask=mask).logits
    assert torch.allclose(native, cached, atol=1e-5)


def test_audio_placeholders_are_never_sampled_even_when_the_model_prefers_them():
    adapter = _adapter(max_new_tokens=8)
    placeholders = adapter.suppress_token_ids

    def prefer_placeholders(module, args, logits):
        logits[..., placeholders] += 100.0
        return logits

    adapter.policy.lm_head.register_forward_hook(prefer_placeholders)
    ids, mask, extra = adapter.encode_prompts([_prompt(_tone(440))])
    raw = adapter.policy(**adapter.model_inputs(adapter.policy, ids, extra), attention_mask=mask).logits
    assert raw[0, -1].argmax().item() in placeholders  # unsuppressed, the model would pick one
    rollout = adapter.generate([_prompt(_tone(440))], 4, torch.Generator().manual_seed(0))
    assert not torch.isin(rollout.completion_ids, torch.tensor(adapter.suppress_token_ids)).any()
    logp, _ = adapter.logprobs(rollout)
    assert torch.isfinite(logp).all()


def test_audio_is_encoded_once_per_prompt_per_iteration():
    adapter = _adapter()
    calls = []
    adapter.policy.model.audio_tower.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    config = GRPOConfig(iterations=1, prompts_per_iteration=2, num_generations=4, minibatch_size=4,
                        updates_per_iteration=2, progress=False)  # fmt: skip
    rows = [{"prompt": _prompt(_tone(f))} for f in (300, 600, 1200)]
    GRPOTrainer(adapter, lambda completions, **kw: [float(len(c)) for c in completions], rows, config).train()
    assert calls == [2]  # one batch of 2 prompts: not 8 completions, not once per forward pass


def test_uncached_audio_gives_the_same_log_probs_and_runs_the_tower_per_pass():
    cached, uncached = _adapter(), _adapter(cache_audio=False)
    prompts = [_prompt(_tone(440)), _prompt(_tone(880))]
    rollout = cached.generate(prompts, 3, torch.Generator().manual_seed(0))
    again = uncached.generate(prompts, 3, torch.Generator().manual_seed(0))
    assert torch.equal(rollout.completion_ids, again.completion_ids)
    calls = []
    uncached.policy.model.audio_tower.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    assert torch.allclose(cached.logprobs(rollout)[0], uncached.logprobs(again)[0], atol=1e-5)
    assert calls == [6]  # all 2 × 3 completions' audio, again


def test_the_audio_tower_is_frozen_and_the_language_model_trains():
    adapter = _adapter()
    tower = adapter.policy.model.audio_tower
    assert not any(p.requires_grad for p in tower.parameters())
    assert any(p.requires_grad for p in adapter.policy.model.language_model.parameters())


@pytest.mark.parametrize(("audio", "rate", "message"), [
    (_tone(440), 8000, "8000 Hz"),
    (np.zeros(SR, dtype=np.float32), SR, "silent"),
    (np.zeros(0, dtype=np.float32), SR, "empty"),
    (np.full(SR, np.nan, dtype=np.float32), SR, "NaN"),
    (_tone(440, seconds=3.0), SR, "longer than"),
    (np.stack([_tone(440), _tone(440)]), SR, "mono"),
])  # fmt: skip
def test_bad_audio_is_rejected_with_the_offending_value(audio, rate, message):
    with pytest.raises(ValueError, match=message):
        validate_waveform(audio, rate, SR, max_seconds=2.0)
    adapter = _adapter()
    with pytest.raises(ValueError, match=message):
        adapter.generate([_prompt(audio, rate)], 2, torch.Generator().manual_seed(0))


def test_a_prompt_without_exactly_one_audio_part_is_an_error():
    adapter = _adapter()
    no_audio = [{"role": "user", "content": [{"type": "text", "text": "which tone is higher ?"}]}]
    with pytest.raises(ValueError, match="exactly one audio part"):
        adapter.generate([no_audio], 2, torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="list of chat messages"):
        adapter.generate(["which tone is higher ?"], 2, torch.Generator().manual_seed(0))


def _pitch_reward(prompts, completions, completion_ids, answer, **kw):
    """1 for completions that say the right word: learnable only by listening (the audio decides it)."""
    return [float(a in c.split()) for c, a in zip(completions, answer, strict=True)]


def _pitch_rows():
    rows = []
    for low, high in ((300, 900), (400, 1200), (250, 800)):
        first = np.concatenate([_tone(low, 1.0), _tone(high, 1.0)])
        second = np.concatenate([_tone(high, 1.0), _tone(low, 1.0)])
        rows += [{"prompt": _prompt(first), "answer": "second"}, {"prompt": _prompt(second), "answer": "first"}]
    return rows


def test_grpo_on_the_audio_adapter_resumes_bit_identically(tmp_path):
    def run(iterations, out, adapter=None):
        adapter = adapter or _adapter(seed=1, max_new_tokens=3)
        cfg = GRPOConfig(iterations=iterations, prompts_per_iteration=2, num_generations=4, minibatch_size=8,
                         learning_rate=3e-3, progress=False, output_dir=str(out), checkpoint_every=2,
                         beta0=0.01)  # fmt: skip
        trainer = GRPOTrainer(adapter, _pitch_reward, _pitch_rows(), cfg)
        return trainer, trainer.train()

    straight, history = run(4, tmp_path / "a")
    run(2, tmp_path / "b")
    resumed, _ = run(4, tmp_path / "b")
    for (name, p), q in zip(straight.adapter.policy.named_parameters(), resumed.adapter.policy.parameters(),
                            strict=True):  # fmt: skip
        assert torch.equal(p, q), name
    assert [h["reward"] for h in resumed.history] == [h["reward"] for h in history]


def test_load_audio_lm_round_trip_and_errors(tmp_path, monkeypatch):
    adapter = _adapter()
    adapter.policy.save_pretrained(tmp_path / "m")
    adapter.processor.save_pretrained(tmp_path / "m")
    loaded = load_audio_lm(tmp_path / "m")
    for p, q in zip(adapter.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert torch.equal(p, q)
    assert loaded.suppress_token_ids == adapter.suppress_token_ids
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        load_audio_lm("Qwen/Qwen2-Audio-7B-Instruct")


# ----------------------------------------------------------------------------- Qwen2.5-Omni's thinker
def _omni(seed=0, **kw):
    processor = build_tiny_audio_processor(build_word_tokenizer(WORDS))
    kw.setdefault("max_new_tokens", 6)
    return AudioLMAdapter(tiny_omni_thinker(processor, seed=seed), processor, **kw)


def test_omni_thinker_log_probs_are_those_of_its_sampling_distribution_under_left_padding():
    adapter = _omni()
    assert not adapter.cache_audio and not adapter.text_positions  # mRoPE: the model computes positions
    prompts = [_prompt(_tone(440)), _prompt(_tone(880, seconds=1.0))]  # different lengths: left padding
    rollout = adapter.generate(prompts, 2, torch.Generator().manual_seed(0))
    logp, _ = adapter.logprobs(rollout)
    model = adapter.policy.eval()
    for i, prompt in enumerate(prompts):
        ids, _, extra = adapter.encode_prompts([prompt])  # alone: no padding
        row = 2 * i
        n = int(rollout.completion_mask[row].sum())
        full = torch.cat([ids, rollout.completion_ids[row : row + 1, :n]], dim=1)
        logits = model(input_ids=full, attention_mask=torch.ones_like(full), **extra).logits[0, ids.shape[1] - 1 : -1]
        logits[:, adapter.suppress_token_ids] = float("-inf")
        expected = logits.log_softmax(-1).gather(-1, rollout.completion_ids[row, :n, None]).squeeze(-1)
        assert torch.allclose(logp[row, :n], expected, atol=1e-4)


def test_omni_thinker_trains_with_grpo_and_round_trips_through_load_audio_lm(tmp_path):
    adapter = _omni(max_new_tokens=3)
    assert not any(p.requires_grad for p in adapter.policy.model.audio_tower.parameters())
    cfg = GRPOConfig(iterations=1, prompts_per_iteration=2, num_generations=4, minibatch_size=8, progress=False)
    logs = GRPOTrainer(adapter, _pitch_reward, _pitch_rows(), cfg).train()
    assert len(logs) == 1 and "kl" in logs[0]
    adapter.policy.save_pretrained(tmp_path / "omni")
    adapter.processor.save_pretrained(tmp_path / "omni")
    loaded = load_audio_lm(tmp_path / "omni")
    assert type(loaded.policy).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    for p, q in zip(adapter.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert torch.equal(p, q)
