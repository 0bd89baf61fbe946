"""The audio chapter's small model: a real ``Qwen2AudioForConditionalGeneration`` at a CPU size.

Same classes as ``Qwen/Qwen2-Audio-7B-Instruct`` — Whisper-style audio encoder (conv stem,
transformer, 2× average pooling), linear projector, Qwen2 language model — with a tiny config, a
``WhisperFeatureExtractor`` for 2-second clips at 16 kHz (64 mel bands, 200 frames → 50 audio
tokens) and a word-level tokenizer over the synthetic benchmark's vocabulary. Everything is written
with ``save_pretrained`` and read back by :func:`adrpo_nb.models.audio_lm.load_audio_lm`, the same
code that loads the 7B model.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AUDIO_TOKENS", "CHAT_TEMPLATE", "TAG_TOKENS", "build_tiny_audio_processor", "build_word_tokenizer",
           "tiny_omni_thinker", "tiny_qwen2_audio"]  # fmt: skip

PAD, EOS, UNK = "<|pad|>", "<|endoftext|>", "<|unk|>"
#: chat and audio special tokens, as in Qwen2-Audio's tokenizer
AUDIO_TOKENS = ("<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>")
#: the format tags, one token each (kept when decoding, unlike special tokens)
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
#: a short chat template in Qwen2-Audio's layout (no system turn: every token costs CPU time here)
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_word_tokenizer(words: Sequence[str]):
    """A ``PreTrainedTokenizerFast`` with one token per whitespace-separated word (lower-cased), per tag and
    per special token; decoding joins words with spaces. Words outside ``words`` become ``<|unk|>``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    reserved = {PAD, EOS, UNK, *AUDIO_TOKENS, *TAG_TOKENS, "user", "assistant"}
    extra = sorted({w.lower() for w in words} - reserved)
    if any(not w or any(c.isspace() for c in w) for w in extra):
        raise ValueError("words must be non-empty and contain no whitespace")
    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK, *AUDIO_TOKENS, *TAG_TOKENS, "user", "assistant", *extra])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins tokens with single spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                        additional_special_tokens=list(AUDIO_TOKENS), padding_side="left",
                                        clean_up_tokenization_spaces=False)  # fmt: skip
    tokenizer.add_tokens(list(TAG_TOKENS))  # in the vocabulary already: makes each tag one token before splitting
    return tokenizer


def build_tiny_audio_processor(tokenizer, *, n_mels: int = 64, clip_seconds: int = 2):
    """A ``Qwen2AudioProcessor``: Whisper log-mel features (16 kHz, 25 ms window, 10 ms hop) over
    ``clip_seconds`` clips, the tokenizer and :data:`CHAT_TEMPLATE`."""
    from transformers import Qwen2AudioProcessor, WhisperFeatureExtractor

    features = WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=16000, hop_length=160, n_fft=400,
                                       chunk_length=clip_seconds, return_attention_mask=True)  # fmt: skip
    return Qwen2AudioProcessor(feature_extractor=features, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def tiny_qwen2_audio(processor, seed: int = 0, *, d_audio: int = 64, audio_layers: int = 2, hidden_size: int = 96,
                     layers: int = 3, heads: int = 4, kv_heads: int = 2, intermediate_size: int = 256,
                     max_positions: int = 256):  # fmt: skip
    """A freshly initialised tiny ``Qwen2AudioForConditionalGeneration`` for ``processor`` (train mode, as
    any model built from a config). The encoder's window matches the feature extractor's frames."""
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration

    tok, features = processor.tokenizer, processor.feature_extractor
    audio = dict(num_mel_bins=features.feature_size, encoder_layers=audio_layers, encoder_attention_heads=4,
                 encoder_ffn_dim=4 * d_audio, d_model=d_audio, max_source_positions=features.nb_max_frames // 2)
    text = dict(model_type="qwen2", vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=intermediate_size,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                max_position_embeddings=max_positions, tie_word_embeddings=True, pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id, bos_token_id=None)  # fmt: skip
    config = Qwen2AudioConfig(audio_config=audio, text_config=text,
                              audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"))  # fmt: skip
    config.pad_token_id = tok.pad_token_id
    return _seeded_model(Qwen2AudioForConditionalGeneration, config, seed, tok)


def tiny_omni_thinker(processor, seed: int = 0, *, d_audio: int = 32, hidden_size: int = 32, layers: int = 1,
                      heads: int = 2, kv_heads: int = 1, intermediate_size: int = 64):  # fmt: skip
    """A freshly initialised tiny ``Qwen2_5OmniThinkerForConditionalGeneration`` (Qwen2.5-Omni's text-out part:
    windowed audio encoder, a vision tower that stays unused, Qwen2 language model with multimodal RoPE)."""
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

    tok, features = processor.tokenizer, processor.feature_extractor
    ids, n = tok.convert_tokens_to_ids, len(tok)
    half = hidden_size // heads // 2  # rotary pairs per head, split over (time, height, width)
    sections = [half // 4, (half - half // 4) // 2, half - half // 4 - (half - half // 4) // 2]
    audio = dict(num_mel_bins=features.feature_size, encoder_layers=1, encoder_attention_heads=2,
                 encoder_ffn_dim=2 * d_audio, d_model=d_audio, output_dim=hidden_size, n_window=50,
                 max_source_positions=features.nb_max_frames // 2)  # fmt: skip
    vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=hidden_size,
                  fullatt_block_indexes=[0])  # fmt: skip
    text = dict(vocab_size=n, hidden_size=hidden_size, intermediate_size=intermediate_size, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=512,
                rope_scaling={"type": "default", "mrope_section": sections}, pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id, bos_token_id=None)  # fmt: skip
    config = Qwen2_5OmniThinkerConfig(
        audio_config=audio, vision_config=vision, text_config=text, audio_token_index=ids("<|AUDIO|>"),
        audio_start_token_id=ids("<|audio_bos|>"), audio_end_token_id=ids("<|audio_eos|>"), user_token_id=ids("user"),
        image_token_index=n + 1, video_token_index=n + 2, vision_start_token_id=n + 3, vision_end_token_id=n + 4,
    )  # fmt: skip  (image/video ids outside the vocabulary: this tiny model never sees pictures)
    return _seeded_model(Qwen2_5OmniThinkerForConditionalGeneration, config, seed, tok)


def _seeded_model(cls, config, seed: int, tokenizer):
    """``cls(config)`` initialised from ``seed`` (without touching the global RNG), generating with the
    tokenizer's pad and end-of-text tokens."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = cls(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
