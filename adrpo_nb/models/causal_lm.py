"""Causal language models behind one adapter: prompts in, sampled completions and their log-probs out.

:class:`CausalLMAdapter` implements :class:`~adrpo_nb.types.LMAdapter`, the protocol
:class:`~adrpo_nb.trainers.grpo.GRPOTrainer` asks for, and hides what differs between model families from it:

* **prompt encoding** (:meth:`~CausalLMAdapter.encode_prompts`): plain strings, or chat messages
  through the tokenizer's chat template; it may also return *extra model inputs* per prompt (an
  audio LLM's ``input_features``), which are computed once per prompt and repeated for its K
  completions;
* **generation** (:meth:`~CausalLMAdapter.generate`): pure sampling from ``softmax(logits / T)``
  (top-k/top-p off unless asked for), optional suppressed token ids, reproducible from a
  ``torch.Generator``;
* **per-token log-probs** of completions under the policy (with the token entropy) and under the
  **reference**: a fresh LoRA policy's reference is the same model with its adapters disabled (no
  second copy in memory), a pretrained adapter's is a frozen clone of it (``"ref_adapter"``; what
  ``reference="auto"`` picks when any LoRA ``B`` is non-zero), and a full fine-tune keeps a frozen copy.

Loading goes through :func:`load_causal_lm`, the same ``from_pretrained`` code for a hub id
(``"Qwen/Qwen2-0.5B-Instruct"``) and for a local folder (the tiny Qwen2 in ``data/checkpoints``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from adrpo_nb.types import Rollout
from adrpo_nb.utils.checkpoints import check_module_finite, verify_recorded_sha256
from adrpo_nb.utils.hub import ModelLoadError, hub_offline

__all__ = ["REFERENCE_MODES", "CausalLMAdapter", "ModelLoadError", "Rollout", "load_causal_lm"]

REFERENCE_MODES = ("auto", "copy", "disable_adapter", "ref_adapter")


class CausalLMAdapter:
    """A transformers causal LM (optionally a peft ``PeftModel``) seen the way the GRPO trainer needs it.

    Args:
        model: a ``*ForCausalLM`` or a ``PeftModel`` around one; it is the trainable ``policy``.
        tokenizer: its tokenizer (padding side is set to left for generation).
        reference: ``"auto"`` (a peft model with a *fresh* LoRA, every ``lora_B`` zero → ``"disable_adapter"``;
            a peft model whose adapter is already trained, or not a LoRA → ``"ref_adapter"``, as TRL; a plain
            model → ``"copy"``), ``"copy"`` (a
            frozen deep copy, made now), ``"disable_adapter"`` (the base model under the LoRA: right
            for a *fresh* adapter), ``"ref_adapter"`` (a frozen clone of the current adapter, named
            ``"ref"``: right for a *pretrained* adapter, as TRL does).
        max_new_tokens: longest completion.
        temperature: sampling temperature; log-probs are those of ``softmax(logits / temperature)``.
        top_p, top_k: nucleus / top-k truncation (off by default: then log-probs are exactly those of
            the sampling distribution).
        suppress_token_ids: token ids never sampled (their logits are set to -inf in generation and
            in the log-probs, so both see the same distribution).
        max_prompt_length: prompts longer than this many tokens are cut from the left (``None``: never).
    """

    #: pass 1-D position ids (from the attention mask) to log-prob passes; a multimodal-RoPE model computes its own
    text_positions: bool = True

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, reference: str = "auto", max_new_tokens: int = 64,
                 temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                 suppress_token_ids: Sequence[int] = (), max_prompt_length: int | None = None):  # fmt: skip
        if reference not in REFERENCE_MODES:
            raise ValueError(f"reference must be one of {REFERENCE_MODES}, got reference={reference!r}")
        if not (temperature > 0):
            raise ValueError(f"temperature must be > 0, got temperature={temperature!r}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got max_new_tokens={max_new_tokens!r}")
        self.policy = model
        contiguous_head_input(model)
        self.tokenizer = tokenizer
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.max_new_tokens, self.temperature, self.top_p, self.top_k = max_new_tokens, temperature, top_p, top_k
        self.suppress_token_ids = sorted({int(t) for t in suppress_token_ids})
        self.max_prompt_length = max_prompt_length
        self.eos_token_ids = self._eos_ids(model, tokenizer)
        self.reference_mode = self._resolve_reference(reference)
        self.reference_model: torch.nn.Module | None = None
        if self.reference_mode == "copy":
            self.reference_model = copy.deepcopy(self._unwrapped()).eval().requires_grad_(False)
        elif self.reference_mode == "ref_adapter":
            self._clone_adapter_as_reference()

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _eos_ids(model, tokenizer) -> list[int]:
        ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
            ids.append(tokenizer.eos_token_id)
        if not ids:
            raise ValueError("neither the model's generation_config nor the tokenizer names an end-of-text token")
        return ids

    def _is_peft(self) -> bool:
        return hasattr(self._unwrapped(), "peft_config")

    def _adapter_is_fresh(self) -> bool:
        """True when the active adapter is a LoRA with every ``B`` matrix zero: then the policy *is* the base model.
        An adapter that has been trained (or loaded, or initialised otherwise) has a non-zero ``B``."""
        model = self._unwrapped()
        active = model.active_adapter
        lora_b = [p for name, p in model.named_parameters() if "lora_B" in name or "lora_embedding_B" in name
                  if f".{active}" in name]  # fmt: skip
        return bool(lora_b) and all(not p.detach().any() for p in lora_b)

    def _resolve_reference(self, reference: str) -> str:
        if reference == "auto":
            if not self._is_peft():
                return "copy"
            return "disable_adapter" if self._adapter_is_fresh() else "ref_adapter"
        if reference in ("disable_adapter", "ref_adapter") and not self._is_peft():
            raise ValueError(f"reference={reference!r} needs a peft model (LoRA); this policy is a plain model")
        return reference

    def _clone_adapter_as_reference(self) -> None:
        model = self._unwrapped()
        active = model.active_adapter
        model.add_adapter("ref", model.peft_config[active])
        params = dict(model.named_parameters())
        for name, param in params.items():
            if f".{active}." in name:
                params[name.replace(f".{active}.", ".ref.")].data.copy_(param.data)
        model.set_adapter(active)
        for name, param in model.named_parameters():
            if ".ref." in name:
                param.requires_grad_(False)

    def _unwrapped(self) -> torch.nn.Module:
        model = self.policy
        while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):  # DDP and similar wrappers
            model = model.module
        return model

    def to(self, device: torch.device | str) -> CausalLMAdapter:
        self.policy.to(device)
        if self.reference_model is not None:
            self.reference_model.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.policy.parameters()).device

    # ------------------------------------------------------------------ prompts
    def prompt_text(self, prompt: Any) -> str:
        """A prompt as the model reads it: strings as they are, chat messages through the chat template."""
        if isinstance(prompt, str):
            return prompt
        if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
            return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        raise TypeError(f"a prompt is a string or a list of chat messages, got {type(prompt).__name__}: {prompt!r}")

    def encode_prompts(self, prompts: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(input_ids, attention_mask, extra_model_inputs)`` of a batch of prompts, left-padded.

        The hook for other model families: an audio LLM returns its ``input_features`` here (one row
        per prompt); the trainer repeats every tensor for the K completions of its prompt.
        """
        texts = [self.prompt_text(p) for p in prompts]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        if self.max_prompt_length is not None and ids.shape[1] > self.max_prompt_length:
            ids, mask = ids[:, -self.max_prompt_length :], mask[:, -self.max_prompt_length :]
        if (mask.sum(dim=1) == 0).any():
            empty = (mask.sum(dim=1) == 0).nonzero()[:, 0].tolist()
            raise ValueError(f"prompts at indices {empty} encode to no token: {[prompts[i] for i in empty]!r}")
        return ids, mask, {}

    def model_inputs(self, model: torch.nn.Module, input_ids: torch.Tensor, extra: dict[str, torch.Tensor], *,
                     generation: bool = False) -> dict[str, torch.Tensor]:  # fmt: skip
        """The keyword inputs of ``model(...)`` / ``model.generate(...)`` for token ids and the extra inputs
        :meth:`encode_prompts` returned (repeated per completion). Here: ``input_ids`` plus the extras as
        they are; an audio adapter turns them into ``inputs_embeds`` (its audio encoded once per prompt)."""
        return {"input_ids": input_ids, **extra}

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, prompts: Sequence[Any], num_generations: int, generator: torch.Generator,
                 columns: dict[str, list] | None = None, **generate_kwargs: Any) -> Rollout:  # fmt: skip
        """Sample ``num_generations`` completions per prompt (prompt-major order), reproducibly from ``generator``.

        ``generate_kwargs`` go to ``model.generate`` over the adapter's sampling settings (e.g. a
        ``logits_processor`` that forces a reasoning budget). The log-probs do not see them: use them
        for evaluation, not for rollouts that train.
        """
        if not prompts:
            raise ValueError("generate needs at least one prompt")
        if num_generations < 1:
            raise ValueError(f"num_generations must be >= 1, got {num_generations!r}")
        device = self.device
        ids, mask, extra = self.encode_prompts(prompts)
        k = num_generations
        ids, mask = ids.repeat_interleave(k, 0).to(device), mask.repeat_interleave(k, 0).to(device)
        extra = {name: t.repeat_interleave(k, 0).to(device) for name, t in extra.items()}
        model = self._unwrapped()
        was_training = model.training
        model.eval()
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed)
                out = model.generate(**self.model_inputs(model, ids, extra, generation=True), attention_mask=mask,
                                     **{**self._sampling_kwargs(), **generate_kwargs})  # fmt: skip
        finally:
            model.train(was_training)
        completion_ids = out[:, ids.shape[1] :]
        completion_mask, truncated = self._completion_mask(completion_ids)
        completion_ids = completion_ids.masked_fill(completion_mask == 0, self.tokenizer.pad_token_id)
        texts = self.decode(completion_ids, completion_mask)
        repeated = {name: [v for v in values for _ in range(k)] for name, values in (columns or {}).items()}
        rollout = Rollout(prompts=[p for p in prompts for _ in range(k)], prompt_ids=ids, prompt_mask=mask,
                          completion_ids=completion_ids, completion_mask=completion_mask, completions=texts,
                          columns=repeated, model_inputs=extra, truncated=truncated)  # fmt: skip
        return rollout

    def _sampling_kwargs(self) -> dict[str, Any]:
        kwargs = {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                  "max_new_tokens": self.max_new_tokens, "eos_token_id": self.eos_token_ids,
                  "pad_token_id": self.tokenizer.pad_token_id, "repetition_penalty": 1.0, "min_p": None}  # fmt: skip
        if self.suppress_token_ids:
            kwargs["suppress_tokens"] = self.suppress_token_ids
        return kwargs

    def _completion_mask(self, completion_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        is_eos = torch.isin(completion_ids, torch.tensor(self.eos_token_ids, device=completion_ids.device))
        has_eos = is_eos.any(dim=1)
        first = torch.where(has_eos, is_eos.int().argmax(dim=1), torch.full_like(has_eos, completion_ids.shape[1],
                                                                                  dtype=torch.long))  # fmt: skip
        positions = torch.arange(completion_ids.shape[1], device=completion_ids.device)
        mask = (positions[None, :] <= first[:, None]).long()
        return mask, ~has_eos

    def decode(self, completion_ids: torch.Tensor, completion_mask: torch.Tensor | None = None) -> list[str]:
        """Completion texts without padding and special tokens."""
        rows = completion_ids.tolist() if completion_mask is None else [
            [t for t, m in zip(row, mrow, strict=True) if m] for row, mrow in
            zip(completion_ids.tolist(), completion_mask.tolist(), strict=True)
        ]  # fmt: skip
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True)

    # ------------------------------------------------------------------ log-probs
    def logprobs(self, rollout: Rollout, *, with_entropy: bool = False, model: torch.nn.Module | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        """Per-token log-probs ``(N, C)`` of the completions under ``model`` (default: the policy, with
        gradients), and their token entropies ``(N, C)`` when asked (detached). Padding positions hold 0."""
        model = self.policy if model is None else model
        ids = torch.cat([rollout.prompt_ids, rollout.completion_ids], dim=1)
        mask = torch.cat([rollout.prompt_mask, rollout.completion_mask], dim=1)
        # left padding: positions count real tokens only; None lets a multimodal-RoPE model compute its own
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0) if self.text_positions else None
        c = rollout.completion_ids.shape[1]
        out = model(**self.model_inputs(model, ids, rollout.model_inputs), attention_mask=mask, position_ids=positions,
                    logits_to_keep=c + 1)  # fmt: skip
        # the last c + 1 positions: also right for a model that ignores logits_to_keep
        logits = out.logits[:, -(c + 1) : -1, :].float() / self.temperature
        if self.suppress_token_ids:
            logits[..., self.suppress_token_ids] = float("-inf")
        logp_all = torch.log_softmax(logits, dim=-1)
        logp = logp_all.gather(-1, rollout.completion_ids.unsqueeze(-1)).squeeze(-1)
        logp = logp * rollout.completion_mask
        entropy = None
        if with_entropy:
            with torch.no_grad():
                p = logp_all.exp()
                entropy = -(p * torch.nan_to_num(logp_all, neginf=0.0)).sum(-1) * rollout.completion_mask
        return logp, entropy

    @torch.no_grad()
    def reference_logprobs(self, rollout: Rollout) -> torch.Tensor:
        """Per-token log-probs under the reference (no gradients)."""
        with self.reference() as model:
            logp, _ = self.logprobs(rollout, model=model)
        return logp

    @contextmanager
    def reference(self) -> Iterator[torch.nn.Module]:
        """The reference model for the duration of the block (adapters disabled / ``"ref"`` adapter / the copy)."""
        if self.reference_mode == "copy":
            yield self.reference_model
            return
        model = self._unwrapped()
        if self.reference_mode == "disable_adapter":
            with model.disable_adapter():
                yield self.policy
            return
        active = model.active_adapter
        model.set_adapter("ref")
        try:
            yield self.policy
        finally:
            model.set_adapter(active)
            for name, param in model.named_parameters():
                if ".ref." in name:
                    param.requires_grad_(False)

    # ------------------------------------------------------------------ what a checkpoint holds
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters that train (a LoRA policy: only its adapter weights), on the CPU."""
        return {n: p.detach().cpu().clone() for n, p in self._unwrapped().named_parameters() if p.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`trainable_state_dict` output; raises ``KeyError`` naming missing/unexpected tensors."""
        params = {n: p for n, p in self._unwrapped().named_parameters() if p.requires_grad}
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            raise KeyError(f"trainable weights do not match: missing {missing[:5]}, unexpected {unexpected[:5]}")
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(state[name])


# ---------------------------------------------------------------------- loading (hub id or local folder)
def _contiguous(module: torch.nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(), *args[1:]) if args and isinstance(args[0], torch.Tensor) else args


def contiguous_head_input(model: torch.nn.Module) -> None:
    """Make the output head's input contiguous (a forward pre-hook; once per head).

    ``logits_to_keep`` (generation's prefill, the log-prob passes) hands the head a slice
    ``hidden[:, -k:, :]`` that is not contiguous; with a *frozen* head weight (LoRA, a frozen reference)
    ``torch.matmul`` then runs a ``bmm`` on the weight expanded and copied once per sequence — B × V × H
    elements: 2 GB and 30 s on a CPU for 8 rows of Qwen2-0.5B, 82 GB for 64 rows of Qwen2-Audio-7B. A
    contiguous input folds into one matrix product."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if isinstance(head, torch.nn.Module) and not getattr(head, "_adrpo_contiguous_input", False):
        head.register_forward_pre_hook(_contiguous)
        head._adrpo_contiguous_input = True


#: the files one of which a folder needs for its tokenizer's vocabulary (without one, transformers builds a
#: tokenizer of the special tokens alone, which fails much later)
TOKENIZER_VOCAB_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "vocab.txt")


def check_local_model_folder(name: str) -> None:
    """For a local folder: its tokenizer vocabulary is there and its weights match the ``sha256`` of its
    ``pretrain.json`` (if recorded). A :class:`ModelLoadError` / ``CheckpointError`` names the file."""
    if not os.path.isdir(name):
        return
    if not any(os.path.exists(os.path.join(name, f)) for f in TOKENIZER_VOCAB_FILES):
        raise ModelLoadError(f"{name} has no tokenizer vocabulary (none of {TOKENIZER_VOCAB_FILES}): "
                             f"{os.path.join(name, 'tokenizer.json')} is missing")  # fmt: skip
    verify_recorded_sha256(name)


def load_causal_lm(name_or_path: str | os.PathLike, *, lora: Any = None, dtype: Any = None,
                   device: str | torch.device | None = None, **adapter_kwargs: Any) -> CausalLMAdapter:  # fmt: skip
    """Load a model and its tokenizer with ``from_pretrained`` and wrap them in a :class:`CausalLMAdapter`.

    The same call for a hub id (``"Qwen/Qwen2-0.5B-Instruct"``) and a local folder. ``lora`` is a
    ``peft.LoraConfig`` (the policy becomes a fresh adapter; the reference is the base model with
    adapters disabled) or ``None`` (full fine-tuning with a frozen copy as reference).

    Raises:
        ModelLoadError: neither a local folder nor reachable on the hub (the message says which,
            and that ``HF_HUB_OFFLINE`` is set when it is).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = os.fspath(name_or_path)
    check_local_model_folder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, **({"dtype": dtype} if dtype is not None else {}))
    except (OSError, ValueError) as err:
        where = "a local folder" if os.path.isdir(name) else "not a local folder"
        why = ("HF_HUB_OFFLINE=1 is set, so the hub is not asked" if hub_offline()
               else "and it could not be fetched from the Hugging Face Hub")  # fmt: skip
        raise ModelLoadError(
            f"could not load the model {name!r} ({where}; {why}): {str(err).splitlines()[0][:300]}. "
            "On a machine without the hub use the small path (adrpo_nb.qwen.TINY_MODEL, a folder in data/)."
        ) from err
    check_module_finite(model, name)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if lora is not None:
        from peft import get_peft_model

        model = get_peft_model(model, lora)
    if device is not None:
        model.to(device)
    return CausalLMAdapter(model, tokenizer, **adapter_kwargs)
