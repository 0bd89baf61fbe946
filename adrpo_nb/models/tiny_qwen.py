"""The small path's language model: a real ``Qwen2ForCausalLM`` with a tiny config and a character-level
tokenizer built for the countdown task.

Both are written with ``save_pretrained`` and read back with the ``from_pretrained`` code a hub id
goes through (:func:`adrpo_nb.models.causal_lm.load_causal_lm`), so the CPU path and the GPU path
(``Qwen/Qwen2-0.5B-Instruct``) share every line after loading.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CHARACTERS", "TAG_TOKENS", "build_char_tokenizer", "tiny_qwen2", "tiny_qwen2_config"]

#: the characters of countdown prompts and completions
CHARACTERS = tuple("0123456789+-=,:")
#: the format tags, one token each (kept when decoding, unlike special tokens)
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
PAD, EOS, UNK = "<|pad|>", "<|endoftext|>", "<|unk|>"


def build_char_tokenizer(characters: Sequence[str] = CHARACTERS, tags: Sequence[str] = TAG_TOKENS):
    """A ``PreTrainedTokenizerFast`` with one token per character and per tag; pads on the left (for generation).

    Special tokens: ``<|pad|>``, ``<|endoftext|>`` (end of a completion, as in Qwen) and ``<|unk|>``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if len(set(characters)) != len(characters) or any(len(c) != 1 for c in characters):
        raise ValueError(f"characters must be distinct single characters, got {list(characters)!r}")
    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK, *tags, *characters])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                        padding_side="left", clean_up_tokenization_spaces=False)  # fmt: skip
    tokenizer.add_tokens(list(tags))  # already in the vocabulary: makes each tag one token before splitting
    return tokenizer


def tiny_qwen2_config(vocab_size: int, *, hidden_size: int = 96, layers: int = 3, heads: int = 4, kv_heads: int = 2,
                      intermediate_size: int = 256, max_positions: int = 64, pad_token_id: int = 0,
                      eos_token_id: int = 1):  # fmt: skip
    """A ``Qwen2Config`` with the architecture of Qwen2 (RoPE, GQA, SwiGLU, RMSNorm) at a CPU size."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, tie_word_embeddings=True, pad_token_id=pad_token_id,
        eos_token_id=eos_token_id, bos_token_id=None, use_cache=True,
    )  # fmt: skip


def tiny_qwen2(tokenizer, seed: int = 0, **config_kwargs):
    """A freshly initialised tiny ``Qwen2ForCausalLM`` for ``tokenizer`` (train mode, like any model from a config)."""
    import torch
    from transformers import Qwen2ForCausalLM

    config = tiny_qwen2_config(len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                               eos_token_id=tokenizer.eos_token_id, **config_kwargs)  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Qwen2ForCausalLM(config)
