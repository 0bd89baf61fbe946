"""The chapters' real models built from their published configurations, with random weights.

``adrpo_nb/models/real_configs/*.json`` hold the published ``config.json`` of each real model the
chapters use (SD3 Medium's transformer, VAE and three text encoders; Qwen2-0.5B-Instruct,
Qwen2.5-0.5B-Instruct, Qwen3-0.6B; Qwen2-Audio-7B-Instruct; Qwen2.5-Omni-7B's thinker), each with
its source named, and what a *stand-in* tokenizer needs: the real vocabulary size, the special
tokens at their real ids and the chat template. Nothing is downloaded: the builders here make the
same ``transformers`` / ``diffusers`` classes from those configs, on any device — ``"meta"`` for a
memory plan (:mod:`adrpo_nb.experiments.plan`), the CPU or a GPU for a dry run at real size
(:mod:`adrpo_nb.experiments.realsize`). The adapters then run unchanged.

The stand-in tokenizers are byte-level BPEs (every byte, then every byte pair, merged) padded to the
real vocabulary with never-produced filler tokens: a prompt is about twice as many tokens as with
the real merges, which the dry runs say where it matters.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Iterator
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "ALIASES",
    "REAL_CONFIGS",
    "build_audio_lm",
    "build_audio_processor",
    "build_causal_lm",
    "build_clip_tokenizer",
    "build_qwen_tokenizer",
    "build_reward_clip",
    "build_sd3_pipeline",
    "build_sd3_component",
    "build_t5_tokenizer",
    "known_models",
    "load_spec",
]

#: hub id → the JSON file (in ``real_configs/``) with its published configuration
REAL_CONFIGS = {
    "stabilityai/stable-diffusion-3-medium-diffusers": "sd3_medium.json",
    "Qwen/Qwen2-0.5B-Instruct": "qwen2_0_5b_instruct.json",
    "Qwen/Qwen2.5-0.5B-Instruct": "qwen2_5_0_5b_instruct.json",
    "Qwen/Qwen3-0.6B": "qwen3_0_6b.json",
    "Qwen/Qwen2-Audio-7B-Instruct": "qwen2_audio_7b_instruct.json",
    "Qwen/Qwen2.5-Omni-7B": "qwen2_5_omni_7b.json",
}
#: the short names the experiments' CLIs use for the same models
ALIASES = {"sd3": "stabilityai/stable-diffusion-3-medium-diffusers", "qwen2": "Qwen/Qwen2-0.5B-Instruct",
           "qwen2.5": "Qwen/Qwen2.5-0.5B-Instruct", "qwen3": "Qwen/Qwen3-0.6B",
           "qwen2_audio": "Qwen/Qwen2-Audio-7B-Instruct", "omni": "Qwen/Qwen2.5-Omni-7B"}  # fmt: skip


def known_models() -> list[str]:
    """The hub ids (and their short names) that have a configuration in the repository."""
    return [*REAL_CONFIGS, *ALIASES]


def load_spec(model: str | os.PathLike) -> dict[str, Any]:
    """The specification of ``model``: a known hub id, a short name (``qwen2``, ``sd3``, …) or a local folder
    with a ``config.json`` (a ``transformers`` model; its ``model_type`` picks the family).

    Raises:
        ValueError: an unknown id (the message lists the known ones) or a folder without ``config.json``.
    """
    name = os.fspath(model)
    if os.path.isdir(name):
        return _spec_from_folder(Path(name))
    name = ALIASES.get(name, name)
    if name not in REAL_CONFIGS:
        raise ValueError(f"no configuration for model {os.fspath(model)!r}: known hub ids are {list(REAL_CONFIGS)} "
                         f"(short names {list(ALIASES)}), or pass a local folder with a config.json")  # fmt: skip
    return copy.deepcopy(_read_config_file(REAL_CONFIGS[name]))


@cache
def _read_config_file(filename: str) -> dict[str, Any]:
    return json.loads(resources.files("adrpo_nb.models").joinpath("real_configs", filename).read_text())


def _spec_from_folder(folder: Path) -> dict[str, Any]:
    """A spec for a local model folder: diffusers pipelines (``model_index.json``) or a ``config.json``."""
    if (folder / "model_index.json").exists():
        comps = {}
        for part in ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3", "scheduler"):
            files = [folder / part / "config.json", folder / part / "scheduler_config.json"]
            found = next((f for f in files if f.exists()), None)
            if found is not None:
                comps[part] = json.loads(found.read_text())
        return {"hub_id": str(folder), "source": f"{folder}/*/config.json", "kind": "sd3", "components": comps}
    path = folder / "config.json"
    if not path.exists():
        raise ValueError(f"{folder} has no config.json (nor model_index.json): not a model folder")
    config = json.loads(path.read_text())
    kind = "audio_lm" if config.get("model_type") in ("qwen2_audio", "qwen2_5_omni_thinker", "qwen2_5_omni") else \
        "causal_lm"  # fmt: skip
    if config.get("model_type") == "qwen2_5_omni":
        config = {**config["thinker_config"], "model_type": "qwen2_5_omni_thinker"}
    return {"hub_id": str(folder), "source": str(path), "kind": kind, "config": config}


# ----------------------------------------------------------------------------- devices and dtypes
@contextlib.contextmanager
def default_dtype(dtype: torch.dtype | None) -> Iterator[None]:
    """Create parameters directly in ``dtype`` (no float32 copy first: a 2 B model built for bf16 needs 4 GB,
    not 12)."""
    before = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


@contextlib.contextmanager
def _building(device: str | torch.device, dtype: torch.dtype | None, seed: int) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(default_dtype(dtype))
        stack.enter_context(torch.random.fork_rng(devices=[]))
        torch.manual_seed(seed)
        if torch.device(device).type == "meta":
            stack.enter_context(torch.device("meta"))
        yield


# ----------------------------------------------------------------------------- tokenizers
def _byte_alphabet() -> list[str]:
    from tokenizers import pre_tokenizers

    return sorted(pre_tokenizers.ByteLevel.alphabet())


def _filler(used: set[str], alphabet: list[str], count: int, suffix: str = "") -> Iterator[str]:
    """``count`` distinct strings of alphabet characters not in ``used`` (never produced by encoding)."""
    made = 0
    for a in alphabet:
        for b in alphabet:
            for c in alphabet:
                token = a + b + c + suffix
                if token not in used:
                    yield token
                    made += 1
                    if made == count:
                        return


@lru_cache(maxsize=8)
def _qwen_tokenizer_cached(spec_json: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(spec_json)
    alphabet = _byte_alphabet()
    vocab: dict[str, int] = {c: i for i, c in enumerate(alphabet)}
    merges = []
    for a in alphabet:  # every byte pair is one token: ≈ 2 bytes per token (the real merges give ≈ 4)
        for b in alphabet:
            vocab[a + b] = len(vocab)
            merges.append((a, b))
    regular = int(spec["regular_tokens"])
    for token in _filler(set(vocab), alphabet, regular - len(vocab)):
        vocab[token] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = sorted(spec["special_tokens"].items(), key=lambda kv: kv[1])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, clean_up_tokenization_spaces=False, padding_side="left")
    for name, index in specials:
        if index < len(tok):
            raise AssertionError(f"special token {name} at id {index} would not get its real id (len {len(tok)})")
        while len(tok) < index:  # a gap in the published ids: fill it so the next special lands on its id
            tok.add_tokens([f"<|reserved_{len(tok)}|>"], special_tokens=True)
        tok.add_tokens([name], special_tokens=True)
    tok.eos_token, tok.pad_token = spec["eos_token"], spec["pad_token"]
    tok.chat_template = spec["chat_template"]
    return tok


def build_qwen_tokenizer(spec: dict[str, Any]):
    """A stand-in for a Qwen tokenizer: byte-level BPE of the real size, the special tokens at their real ids,
    the published chat template, eos/pad as published. ``spec`` is the ``"tokenizer"`` entry of a model spec."""
    return copy.deepcopy(_qwen_tokenizer_cached(json.dumps(spec, sort_keys=True)))


def build_clip_tokenizer(spec: dict[str, Any]):
    """A ``CLIPTokenizer`` with CLIP's vocabulary size (49,408), ``<|startoftext|>``/``<|endoftext|>`` at 49406/49407
    and its pad token; one token per character (the fillers stand for CLIP's merged words)."""
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    vocab = {c: i for i, c in enumerate(alphabet)}
    for c in alphabet:
        vocab[c + "</w>"] = len(vocab)
    bos, eos = spec["bos_token"][0], spec["eos_token"][0]
    for token in _filler(set(vocab), alphabet, int(spec["vocab_size"]) - 2 - len(vocab), "</w>"):
        vocab[token] = len(vocab)
    vocab[bos], vocab[eos] = len(vocab), len(vocab) + 1
    pad = spec["pad_token"][0]
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=int(spec["model_max_length"]), pad_token=pad,
                         bos_token=bos, eos_token=eos, unk_token=eos)  # fmt: skip


def build_t5_tokenizer(spec: dict[str, Any]):
    """A ``T5Tokenizer`` (unigram) with T5's 32,000 pieces + 100 sentinel ids, ``<pad>``/``</s>``/``<unk>`` at 0/1/2."""
    from transformers import T5Tokenizer

    alphabet = [c for c in map(chr, range(33, 127))]
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)] + [(c, -5.0) for c in alphabet]
    pieces += [("▁" + c, -3.0) for c in alphabet]
    used = {p for p, _ in pieces}
    for token in _filler(used, [chr(c) for c in range(0x4E00, 0x4E00 + 40)], 32000 - len(pieces)):
        pieces.append((token, -20.0))
    return T5Tokenizer(vocab=pieces, extra_ids=int(spec["vocab_size"]) - 32000, model_max_length=512)


# ----------------------------------------------------------------------------- causal LMs
def _cut_layers(config: Any, layers: int | None, attr: str = "num_hidden_layers") -> None:
    if layers is not None:
        full = getattr(config, attr)
        if not 1 <= layers <= full:
            raise ValueError(f"layers must be in [1, {full}], got layers={layers!r}")
        setattr(config, attr, layers)
        for name in ("layer_types", "max_window_layers"):
            value = getattr(config, name, None)
            if isinstance(value, list):
                setattr(config, name, value[:layers])


def causal_lm_config(spec: dict[str, Any], layers: int | None = None):
    """The ``transformers`` config of a causal-LM spec (optionally cut to ``layers`` decoder layers)."""
    from transformers import AutoConfig

    cfg = dict(spec["config"])
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    _cut_layers(config, layers)
    return config


def build_causal_lm(spec: dict[str, Any], *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                    layers: int | None = None, seed: int = 0):  # fmt: skip
    """``AutoModelForCausalLM`` from a spec's published config, randomly initialised (``device="meta"``: no memory)."""
    from transformers import AutoModelForCausalLM, GenerationConfig

    config = causal_lm_config(spec, layers)
    with _building(device, dtype, seed):
        model = AutoModelForCausalLM.from_config(config, **({"dtype": dtype} if dtype is not None else {}))
    if "generation_config" in spec:
        model.generation_config = GenerationConfig(**spec["generation_config"])
    return model


# ----------------------------------------------------------------------------- audio LMs
def audio_lm_config(spec: dict[str, Any], *, text_layers: int | None = None, audio_layers: int | None = None,
                    vision_layers: int | None = None):  # fmt: skip
    """The config of an audio-LM spec (Qwen2-Audio or Omni's thinker), optionally cut in depth."""
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2AudioConfig

    cfg = copy.deepcopy(spec["config"])
    cls = Qwen2AudioConfig if cfg.pop("model_type") == "qwen2_audio" else Qwen2_5OmniThinkerConfig
    cfg.pop("architectures", None)
    config = cls(**cfg)
    _cut_layers(config.text_config, text_layers)
    _cut_layers(config.audio_config, audio_layers, "encoder_layers")
    if hasattr(config, "vision_config") and vision_layers is not None:
        _cut_layers(config.vision_config, vision_layers, "depth")
        config.vision_config.fullatt_block_indexes = [i for i in config.vision_config.fullatt_block_indexes
                                                      if i < vision_layers] or [vision_layers - 1]  # fmt: skip
    return config


def build_audio_lm(spec: dict[str, Any], *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                   text_layers: int | None = None, audio_layers: int | None = None, vision_layers: int | None = None,
                   seed: int = 0):  # fmt: skip
    """``Qwen2AudioForConditionalGeneration`` / ``Qwen2_5OmniThinkerForConditionalGeneration`` from a spec,
    randomly initialised, optionally with fewer layers (full widths)."""
    from transformers import (
        GenerationConfig,
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2AudioForConditionalGeneration,
    )

    config = audio_lm_config(spec, text_layers=text_layers, audio_layers=audio_layers, vision_layers=vision_layers)
    cls = Qwen2AudioForConditionalGeneration if config.model_type == "qwen2_audio" else \
        Qwen2_5OmniThinkerForConditionalGeneration  # fmt: skip
    with _building(device, dtype, seed):
        model = cls._from_config(config, **({"dtype": dtype} if dtype is not None else {}))
    model.generation_config = GenerationConfig(**spec.get("generation_config", {}))
    return model


def build_audio_processor(spec: dict[str, Any]):
    """The processor the adapter uses: a ``Qwen2AudioProcessor`` with the stand-in tokenizer, the published Whisper
    feature extractor (128 mel bands, 30 s window) and chat template (Omni: :data:`~adrpo_nb.models.audio_lm.
    OMNI_CHAT_TEMPLATE`, as :func:`~adrpo_nb.models.audio_lm.omni_audio_processor` builds it)."""
    from transformers import Qwen2AudioProcessor, WhisperFeatureExtractor

    from adrpo_nb.models.audio_lm import OMNI_CHAT_TEMPLATE

    tokenizer = build_qwen_tokenizer(spec["tokenizer"])
    features = WhisperFeatureExtractor(**spec["feature_extractor"])
    omni = spec["config"]["model_type"] != "qwen2_audio"
    template = OMNI_CHAT_TEMPLATE if omni else spec["tokenizer"]["chat_template"]
    return Qwen2AudioProcessor(feature_extractor=features, tokenizer=tokenizer, chat_template=template)


# ----------------------------------------------------------------------------- SD3
SD3_PARTS = ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3")


def build_sd3_component(spec: dict[str, Any], part: str, *, device: str | torch.device = "cpu",
                        dtype: torch.dtype | None = None, layers: int | None = None, seed: int = 0):  # fmt: skip
    """One SD3 component from the spec's published config (``layers`` cuts the transformer's depth)."""
    from diffusers import AutoencoderKL, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    if part not in SD3_PARTS:
        raise ValueError(f"part must be one of {SD3_PARTS}, got part={part!r}")
    cfg = {k: v for k, v in spec["components"][part].items() if not k.startswith("_") and k != "architectures"}
    with _building(device, dtype, seed):
        if part == "transformer":
            if layers is not None:
                cfg["num_layers"] = layers
            return SD3Transformer2DModel.from_config(cfg)
        if part == "vae":
            return AutoencoderKL.from_config(cfg)
        if part == "text_encoder_3":
            cfg.pop("model_type", None)
            return T5EncoderModel(T5Config(**cfg))
        cfg.pop("model_type", None)
        return CLIPTextModelWithProjection(CLIPTextConfig(**cfg))


def build_sd3_pipeline(spec: dict[str, Any], *, dtype: torch.dtype | None = torch.bfloat16, with_t5: bool = True,
                       transformer_layers: int | None = None, seed: int = 0):  # fmt: skip
    """A ``StableDiffusion3Pipeline`` of the published configs with random weights, frozen and in eval mode like
    :func:`~adrpo_nb.models.sd3.load_sd3_pipeline`'s; ``with_t5=False`` drops T5-XXL (``text_encoder_3=None``,
    a setting diffusers supports: the pipeline then pads zeros for T5's tokens)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline

    parts = {part: build_sd3_component(spec, part, dtype=dtype, layers=transformer_layers if part == "transformer"
                                       else None, seed=seed + i) for i, part in enumerate(SD3_PARTS)
             if with_t5 or part != "text_encoder_3"}  # fmt: skip
    toks = spec["tokenizers"]
    sched = {k: v for k, v in spec["components"]["scheduler"].items() if not k.startswith("_")}
    pipe = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**sched), tokenizer=build_clip_tokenizer(toks["tokenizer"]),
        tokenizer_2=build_clip_tokenizer(toks["tokenizer_2"]),
        tokenizer_3=build_t5_tokenizer(toks["tokenizer_3"]) if with_t5 else None,
        text_encoder_3=parts.pop("text_encoder_3", None), **parts,
    )  # fmt: skip
    for part in SD3_PARTS:
        module = getattr(pipe, part)
        if module is not None:
            module.requires_grad_(False).eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_reward_clip(spec: dict[str, Any], *, dtype: torch.dtype | None = None, seed: int = 0):
    """``(CLIPModel, tokenizer)`` of CLIPScore's default model (CLIP ViT-L/14) from the SD3 spec's ``reward_clip``
    entry, randomly initialised: pass them to :class:`~adrpo_nb.rewards.images.CLIPScore` as ``model``/``tokenizer``."""
    from transformers import CLIPConfig, CLIPModel

    cfg = spec["reward_clip"]
    config = CLIPConfig(text_config=cfg["text_config"], vision_config=cfg["vision_config"],
                        projection_dim=cfg["projection_dim"], logit_scale_init_value=cfg["logit_scale_init_value"])
    with _building("cpu", dtype, seed):
        model = CLIPModel(config)
    return model, build_clip_tokenizer(spec["tokenizers"]["tokenizer"])
