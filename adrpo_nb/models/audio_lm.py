"""Audio-text LLMs (Qwen2-Audio) behind the GRPO trainer's adapter: audio + question in, completions out.

TRL's ``GRPOTrainer`` has no audio path (R1-AQA and Ke-Omni-R fork an old TRL trainer to pass
``input_features`` / ``feature_attention_mask``). Here the gap is one subclass of
:class:`~adrpo_nb.models.causal_lm.CausalLMAdapter`, so the trainer, the ``method`` switch and
:func:`adrpo_nb.grpo_loss` are the same as for a text model:

* **prompts** are chat messages whose user turn holds one audio part and the question,
  ``[{"role": "user", "content": [{"type": "audio", "audio": waveform, "sampling_rate": 16000},
  {"type": "text", "text": "which tone is higher ?"}]}]`` (the form transformers' chat templates take);
* **audio is encoded once per prompt**: :meth:`AudioLMAdapter.encode_prompts` runs the processor
  (log-mel features) and the audio tower + projector once per prompt, and every later forward pass
  (K sampled completions, the policy's and the reference's log-probs, each of μ updates) scatters
  those embeddings into the ``<|AUDIO|>`` slots of ``inputs_embeds``. This is exact because the audio
  tower and projector are frozen (the adapter freezes them; LoRA goes on the language model,
  :data:`AUDIO_LORA_TARGETS`), and it is tested against the model's own ``input_features`` path;
* **placeholder tokens are never sampled**: ``<|AUDIO|>``, ``<|audio_bos|>`` and ``<|audio_eos|>`` are
  suppressed in generation and in the log-probs (both see the same distribution);
* **bad audio fails early** (:func:`validate_waveform`): wrong sample rate, empty, silent, NaN,
  multi-channel, longer than the feature extractor's window.

:func:`load_audio_lm` is the same ``from_pretrained`` code for ``Qwen/Qwen2-Audio-7B-Instruct`` and
for the tiny Qwen2-Audio in ``data/checkpoints``. **Qwen2.5-Omni** (the paper's base model) goes through
its thinker, ``Qwen2_5OmniThinkerForConditionalGeneration`` (text out; the talker is not needed), with an
*audio-only* processor: Omni's own processor needs torchvision for its video part, but its audio
placeholders follow Qwen2-Audio's layout and token-count formula, so a ``Qwen2AudioProcessor`` built from
Omni's tokenizer and Whisper feature extractor serves (:func:`omni_audio_processor`). Omni's multimodal
RoPE computes position ids from the audio layout, so for it the adapter passes ``input_features`` with
each forward pass (no embedding cache) and lets the model compute its positions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from adrpo_nb.models.causal_lm import CausalLMAdapter, check_local_model_folder
from adrpo_nb.utils.checkpoints import check_module_finite
from adrpo_nb.utils.hub import ModelLoadError, hub_offline

__all__ = ["AUDIO_LORA_TARGETS", "OMNI_CHAT_TEMPLATE", "AudioLMAdapter", "audio_part", "load_audio_lm",
           "omni_audio_processor", "validate_waveform"]  # fmt: skip

#: LoRA targets of the language model only (the Whisper-style audio tower has q/k/v_proj too: keep it frozen)
AUDIO_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
SUPPORTED_MODEL_TYPES = ("qwen2_audio", "qwen2_5_omni_thinker")
OMNI_TYPES = ("qwen2_5_omni", "qwen2_5_omni_thinker")
#: ChatML with Qwen2-Audio's audio placeholder, the layout Qwen2.5-Omni's template gives an audio part
OMNI_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def validate_waveform(audio: Any, sampling_rate: int | None, expected_rate: int, max_seconds: float | None = None
                      ) -> np.ndarray:  # fmt: skip
    """A mono float32 waveform, or a ``ValueError`` that names what is wrong with it.

    Args:
        audio: 1-D array-like (a ``(1, n)`` array is squeezed); values are expected in [-1, 1].
        sampling_rate: its rate in Hz (``None``: assume ``expected_rate``).
        expected_rate: the rate the feature extractor was built for (16 kHz for Whisper features).
        max_seconds: longest accepted clip (the extractor's window; longer audio would be cut silently).
    """
    if sampling_rate is not None and int(sampling_rate) != int(expected_rate):
        raise ValueError(f"audio sampled at {sampling_rate} Hz, the feature extractor expects {expected_rate} Hz: "
                         "resample it first")  # fmt: skip
    raw = np.asarray(audio)
    if raw.dtype.kind in "iub":  # int16 PCM and friends: their scale is not the model's
        raise ValueError(f"audio must be floats in [-1, 1], got {raw.dtype} samples (int16 PCM: divide by 32768)")
    if raw.dtype.kind not in "f":
        raise ValueError(f"audio must be an array of floats in [-1, 1], got dtype {raw.dtype}")
    x = raw.astype(np.float32)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got an array of shape {x.shape}")
    if x.size == 0:
        raise ValueError("audio is empty (0 samples)")
    if not np.isfinite(x).all():
        raise ValueError(f"audio has {int((~np.isfinite(x)).sum())} NaN/inf samples")
    peak = float(np.abs(x).max())
    if peak < 1e-4:
        raise ValueError(f"audio is silent (peak |x| = {peak:.2e}); an all-zero clip carries no question")
    if peak > 1.0 + 1e-3:
        raise ValueError(f"audio goes beyond [-1, 1]: peak |x| = {peak:.6g} (normalize it; int16 PCM: divide by 32768)")
    if max_seconds is not None and x.size > max_seconds * expected_rate + 1e-6:
        raise ValueError(f"audio is {x.size / expected_rate:.2f} s long, longer than the {max_seconds:g} s window "
                         "of the feature extractor (it would be cut): trim or split it")  # fmt: skip
    return x


def audio_part(prompt: Any) -> dict[str, Any]:
    """The one ``{"type": "audio", "audio": ...}`` part of a chat prompt (``ValueError`` if none or several)."""
    if not (isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt)):
        raise TypeError(f"an audio prompt is a list of chat messages, got {type(prompt).__name__}")
    parts = [part for message in prompt if isinstance(message.get("content"), list)
             for part in message["content"] if isinstance(part, dict) and part.get("type") == "audio"]  # fmt: skip
    if len(parts) != 1:
        raise ValueError(f"an audio prompt needs exactly one audio part, this one has {len(parts)}")
    if "audio" not in parts[0]:
        raise ValueError(f"the audio part needs the waveform under 'audio', got keys {sorted(parts[0])}")
    return parts[0]


def _base_model(model: torch.nn.Module) -> torch.nn.Module:
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class AudioLMAdapter(CausalLMAdapter):
    """A Qwen2-Audio model (optionally with LoRA) seen the way :class:`~adrpo_nb.trainers.grpo.GRPOTrainer` needs it.

    Args:
        model: ``Qwen2AudioForConditionalGeneration`` or a ``PeftModel`` around one.
        processor: its ``Qwen2AudioProcessor`` (feature extractor + tokenizer + chat template).
        cache_audio: encode each prompt's audio once and reuse the embeddings (default). ``False`` passes
            ``input_features`` with every forward pass instead, so the audio tower runs for each of the K
            completions and each log-prob pass (what forks of TRL do; kept for the benchmark).
        **kwargs: as :class:`CausalLMAdapter` (``reference``, ``max_new_tokens``, ``temperature``, …);
            the audio placeholder tokens are added to ``suppress_token_ids``.
    """

    def __init__(self, model: torch.nn.Module, processor: Any, *, cache_audio: bool = True, **kwargs: Any):
        base = _base_model(model)
        model_type = getattr(base.config, "model_type", None)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"AudioLMAdapter supports {SUPPORTED_MODEL_TYPES}, got model_type={model_type!r}")
        tokenizer = processor.tokenizer
        if model_type in OMNI_TYPES:
            cache_audio, self.text_positions = False, False  # mRoPE: the model derives positions from the audio
        self.processor, self.cache_audio = processor, cache_audio
        self.sampling_rate = int(processor.feature_extractor.sampling_rate)
        self.max_seconds = processor.feature_extractor.n_samples / self.sampling_rate
        self.audio_token_id = int(base.config.audio_token_id)
        placeholders = [self.audio_token_id, *(tokenizer.convert_tokens_to_ids(t) for t in
                                               (processor.audio_bos_token, processor.audio_eos_token))]  # fmt: skip
        kwargs["suppress_token_ids"] = sorted({*kwargs.get("suppress_token_ids", ()), *placeholders})
        for name in ("audio_tower", "multi_modal_projector", "visual"):
            if hasattr(base.model, name):  # frozen: what makes encoding the audio once per prompt exact
                getattr(base.model, name).requires_grad_(False)
        super().__init__(model, tokenizer, **kwargs)

    # ------------------------------------------------------------------ prompts
    def prompt_text(self, prompt: Any) -> str:
        """The prompt as the model reads it: the processor's chat template, one audio placeholder."""
        audio_part(prompt)
        return self.processor.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def waveform(self, prompt: Any) -> np.ndarray:
        """The prompt's audio, validated (:func:`validate_waveform`)."""
        part = audio_part(prompt)
        return validate_waveform(part["audio"], part.get("sampling_rate"), self.sampling_rate, self.max_seconds)

    def encode_prompts(self, prompts: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Token ids and mask (left-padded) and, per prompt, the audio's embeddings (computed once, here)."""
        texts = [self.prompt_text(p) for p in prompts]
        audios = [self.waveform(p) for p in prompts]
        enc = self.processor(text=texts, audio=audios, sampling_rate=self.sampling_rate, return_tensors="pt",
                             padding=True)  # fmt: skip
        if not self.cache_audio:
            features = {k: enc[k] for k in ("input_features", "feature_attention_mask")}
            return enc["input_ids"], enc["attention_mask"], features
        embeds, lengths = self.encode_audio(enc["input_features"], enc["feature_attention_mask"])
        slots = (enc["input_ids"] == self.audio_token_id).sum(dim=1)
        if not torch.equal(slots.cpu(), lengths.cpu()):
            raise ValueError(f"audio placeholders per prompt {slots.tolist()} do not match the audio lengths "
                             f"{lengths.tolist()} (a prompt cut by max_prompt_length?)")  # fmt: skip
        return enc["input_ids"], enc["attention_mask"], {"audio_embeds": embeds, "audio_lengths": lengths}

    @torch.no_grad()
    def encode_audio(self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Audio tower + projector on log-mel features: ``(embeddings [P, T, H], valid lengths [P])``.

        The same computation as ``Qwen2AudioModel.forward`` does on every call, done once.
        """
        from transformers.masking_utils import create_bidirectional_mask

        inner = _base_model(self.policy).model
        tower = inner.audio_tower
        device, dtype = tower.conv1.weight.device, tower.conv1.weight.dtype
        features, feature_mask = input_features.to(device, dtype), feature_attention_mask.to(device)
        feat_lengths, out_lengths = tower._get_feat_extract_output_lengths(feature_mask.sum(-1))
        steps = (features.shape[-1] - 2) // 2 + 1
        valid = (torch.arange(steps, device=device)[None, :] < feat_lengths[:, None]).long()
        mask = create_bidirectional_mask(config=tower.config, inputs_embeds=torch.zeros(len(features), steps, 1,
                                         dtype=dtype, device=device), attention_mask=valid)  # fmt: skip
        hidden = tower(features, attention_mask=mask).last_hidden_state
        return inner.multi_modal_projector(hidden), out_lengths

    def model_inputs(self, model: torch.nn.Module, input_ids: torch.Tensor, extra: dict[str, torch.Tensor], *,
                     generation: bool = False) -> dict[str, torch.Tensor]:  # fmt: skip
        """``inputs_embeds``: token embeddings with the cached audio embeddings in the ``<|AUDIO|>`` slots."""
        if not self.cache_audio:
            return super().model_inputs(model, input_ids, extra, generation=generation)
        embeds = model.get_input_embeddings()(input_ids)
        audio, lengths = extra["audio_embeds"], extra["audio_lengths"].to(audio_device := extra["audio_embeds"].device)
        valid = torch.arange(audio.shape[1], device=audio_device)[None, :] < lengths[:, None]
        slots = (input_ids == self.audio_token_id).unsqueeze(-1)
        embeds = embeds.masked_scatter(slots.to(embeds.device), audio[valid].to(embeds.device, embeds.dtype))
        # generate() keeps input_ids to return prompt + completion; a forward pass takes the embeddings alone
        return {"input_ids": input_ids, "inputs_embeds": embeds} if generation else {"inputs_embeds": embeds}


def omni_audio_processor(name_or_path: str | os.PathLike):
    """An audio-only processor for Qwen2.5-Omni: its tokenizer and Whisper feature extractor in a
    ``Qwen2AudioProcessor`` (same ``<|AUDIO|>`` expansion) with :data:`OMNI_CHAT_TEMPLATE`; no torchvision."""
    from transformers import AutoTokenizer, Qwen2AudioProcessor, WhisperFeatureExtractor

    name = os.fspath(name_or_path)
    features, tokenizer = WhisperFeatureExtractor.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    return Qwen2AudioProcessor(feature_extractor=features, tokenizer=tokenizer, chat_template=OMNI_CHAT_TEMPLATE)


def load_audio_lm(name_or_path: str | os.PathLike, *, lora: Any = None, dtype: Any = None,
                  device: str | torch.device | None = None, **adapter_kwargs: Any) -> AudioLMAdapter:  # fmt: skip
    """Load an audio LLM and its processor with ``from_pretrained`` into an :class:`AudioLMAdapter`.

    The same call for ``"Qwen/Qwen2-Audio-7B-Instruct"``, ``"Qwen/Qwen2.5-Omni-7B"`` (its thinker, with
    :func:`omni_audio_processor`) and the tiny model's folder in ``data/``. ``lora`` is a
    ``peft.LoraConfig`` (use ``target_modules=AUDIO_LORA_TARGETS``) or ``None`` (full fine-tuning of the
    language model with a frozen copy as reference).

    Raises:
        ModelLoadError: not a local folder and not reachable on the hub.
        ValueError: a model type this adapter does not support.
    """
    from transformers import AutoConfig, AutoProcessor, Qwen2AudioForConditionalGeneration
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration as OmniThinker

    name = os.fspath(name_or_path)
    check_local_model_folder(name)
    try:
        config = AutoConfig.from_pretrained(name)
        if config.model_type not in (*SUPPORTED_MODEL_TYPES, *OMNI_TYPES):
            raise ValueError(f"{name!r} is a {config.model_type!r} model; load_audio_lm supports "
                             f"{(*SUPPORTED_MODEL_TYPES, 'qwen2_5_omni')}")  # fmt: skip
        omni = config.model_type in OMNI_TYPES
        processor = omni_audio_processor(name) if omni else AutoProcessor.from_pretrained(name)
        cls = OmniThinker if omni else Qwen2AudioForConditionalGeneration
        model = cls.from_pretrained(name, **({"dtype": dtype} if dtype else {}))
    except OSError as err:
        where = "a local folder" if os.path.isdir(name) else "not a local folder"
        why = ("HF_HUB_OFFLINE=1 is set, so the hub is not asked" if hub_offline()
               else "and it could not be fetched from the Hugging Face Hub")  # fmt: skip
        raise ModelLoadError(f"could not load the audio model {name!r} ({where}; {why}): "
                             f"{str(err).splitlines()[0][:300]}. Without the hub use the small path "
                             "(adrpo_nb.audio.TINY_MODEL, a folder in data/).") from err  # fmt: skip
    check_module_finite(model, name)
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    if lora is not None:
        from peft import get_peft_model

        model = get_peft_model(model, lora)
    if device is not None:
        model.to(device)
    return AudioLMAdapter(model, processor, **adapter_kwargs)
