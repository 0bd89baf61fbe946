"""The memory planner and the real configurations: parameter counts (exact for the tiny models, the published
sizes for the real ones), LoRA counts, the JSON output, clear errors, and the stand-in tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from adrpo_nb.experiments import plan as planner
from adrpo_nb.models import real_size
from adrpo_nb.utils.paths import data_path


def _count(model: torch.nn.Module, trainable: bool | None = None) -> int:
    return sum(p.numel() for p in model.parameters() if trainable is None or p.requires_grad == trainable)


# ----------------------------------------------------------------------------- tiny models: exact
def test_plan_counts_equal_the_shipped_tiny_qwen():
    from adrpo_nb.experiments.qwen.family import load_tiny, tiny_model_path

    plan = planner.make_plan(str(tiny_model_path()))
    model = load_tiny().policy
    assert plan.params_total == _count(model)
    assert sum(plan.params_by_module.values()) == plan.params_total


def test_plan_counts_equal_the_shipped_tiny_sd3():
    from adrpo_nb.experiments.sd3.run import load_tiny_pipeline

    pipe = load_tiny_pipeline()
    plan = planner.make_plan(str(data_path("checkpoints", "sd3_tiny")))
    for part in real_size.SD3_PARTS:
        assert plan.params_by_module[part] == _count(getattr(pipe, part)), part


def test_plan_counts_equal_the_shipped_tiny_qwen2_audio():
    from adrpo_nb.experiments.audio.family import load_tiny, tiny_model_path

    plan = planner.make_plan(str(tiny_model_path()))
    assert plan.params_total == _count(load_tiny().policy)


def test_plan_counts_equal_the_tiny_builders(tmp_path):
    from adrpo_nb.models.tiny_qwen import build_char_tokenizer, tiny_qwen2
    from adrpo_nb.models.tiny_qwen_audio import (
        build_tiny_audio_processor,
        build_word_tokenizer,
        tiny_omni_thinker,
        tiny_qwen2_audio,
    )

    processor = build_tiny_audio_processor(build_word_tokenizer(["a", "b"]))
    models = {"qwen": tiny_qwen2(build_char_tokenizer(), hidden_size=64, layers=2),
              "audio": tiny_qwen2_audio(processor), "omni": tiny_omni_thinker(processor)}  # fmt: skip
    for name, model in models.items():
        model.config.save_pretrained(tmp_path / name)
        assert planner.make_plan(str(tmp_path / name)).params_total == _count(model), name


def test_lora_count_equals_peft_on_the_tiny_models():
    from peft import LoraConfig, get_peft_model

    from adrpo_nb.experiments.audio.family import load_tiny as load_audio
    from adrpo_nb.experiments.qwen.family import load_tiny
    from adrpo_nb.experiments.sd3.run import load_tiny_pipeline
    from adrpo_nb.models.audio_lm import AUDIO_LORA_TARGETS
    from adrpo_nb.models.sd3 import LORA_TARGETS

    lm = load_tiny().policy
    want = planner.count_lora_parameters(lm, planner.LM_LORA_TARGETS, 4)
    assert _count(get_peft_model(lm, LoraConfig(r=4, target_modules=list(planner.LM_LORA_TARGETS))), True) == want
    audio = load_audio().policy
    want = planner.count_lora_parameters(audio, AUDIO_LORA_TARGETS, 4)
    assert _count(get_peft_model(audio, LoraConfig(r=4, target_modules=AUDIO_LORA_TARGETS)), True) == want
    transformer = load_tiny_pipeline().transformer
    want = planner.count_lora_parameters(transformer, LORA_TARGETS, 4)
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=4, target_modules=list(LORA_TARGETS)))
    assert _count(transformer, True) == want > 0


# ----------------------------------------------------------------------------- real configs: published sizes
@pytest.mark.parametrize(("model", "module", "published", "tolerance"), [
    ("stabilityai/stable-diffusion-3-medium-diffusers", "transformer", 2.03e9, 0.01),
    ("stabilityai/stable-diffusion-3-medium-diffusers", "text_encoder_3", 4.76e9, 0.01),
    ("Qwen/Qwen2-0.5B-Instruct", None, 494_032_768, 0.0),
    ("Qwen/Qwen3-0.6B", None, 0.596e9, 0.005),
    ("Qwen/Qwen2-Audio-7B-Instruct", None, 8.4e9, 0.01),
    ("Qwen/Qwen2.5-Omni-7B", None, 8.93e9, 0.01),
])  # fmt: skip
def test_real_configs_have_the_published_sizes(model, module, published, tolerance):
    plan = planner.make_plan(model)
    n = plan.params_by_module[module] if module else plan.params_total
    assert abs(n - published) <= tolerance * published, f"{model} {module or 'total'}: {n:,} vs {published:,.0f}"


def test_plan_json_and_budget(capsys):
    from adrpo_nb.bench import main

    main(["plan", "--model", "Qwen/Qwen2-0.5B-Instruct", "--batch", "8", "--json"])
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"params_total", "params_by_module", "params_trainable", "total_gib"} <= set(data)
    assert data["params_trainable"] == 24 * 16 * (4 * 896 + 2 * (896 + 128))  # r·(in + out) on q, k, v, o
    assert data["total_gib"] == pytest.approx(sum(data["bytes"].values()) / 2**30, abs=1e-3)
    # the reference: 0 with adapters disabled, a second copy of the frozen weights otherwise
    copy = planner.make_plan("qwen2", reference="copy")
    assert copy.bytes["reference"] == copy.params_total * 2
    assert planner.make_plan("qwen2").bytes["reference"] == 0
    # optimizer: Adam 8 B, 8-bit Adam 2 B per trainable parameter; checkpointing lowers activations
    eight = planner.make_plan("qwen2", optimizer="adam8bit")
    assert eight.bytes["optimizer"] * 4 == planner.make_plan("qwen2").bytes["optimizer"]
    assert eight.activations_with_checkpointing < eight.activations_without_checkpointing


def test_plan_refuses_an_unknown_model_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"Qwen/Qwen2-0.5B-Instruct"):
        planner.make_plan("org/not-a-model")
    with pytest.raises(ValueError, match="batch"):
        planner.make_plan("qwen2", batch=0)


def test_lm_activation_model_tracks_autograd_on_a_real_width_layer():
    """The planner's saved-activation count against what autograd keeps for a one-layer Qwen2-0.5B-wide model."""
    from peft import LoraConfig, get_peft_model

    from adrpo_nb.experiments.realsize import saved_tensor_bytes

    spec = real_size.load_spec("qwen2")
    spec["config"]["vocab_size"] = 1024  # the head term is exact (4·V per token); keep it small here
    model = get_peft_model(real_size.build_causal_lm(spec, dtype=torch.bfloat16, layers=1),
                           LoraConfig(r=16, target_modules=list(planner.LM_LORA_TARGETS)))  # fmt: skip
    ids = torch.randint(0, 1000, (2, 48))
    record: dict[str, int] = {}
    with saved_tensor_bytes(record, model):
        logits = model(input_ids=ids, logits_to_keep=17).logits[:, :-1].float()
        torch.log_softmax(logits, -1).sum().backward()
    predicted = planner.lm_activation_bytes(model.config, batch=2, prompt_length=32, length=16, checkpointing=False,
                                            transients=False)  # fmt: skip
    assert 0.7 < predicted / record["bytes"] < 1.3, (predicted, record["bytes"])


# ----------------------------------------------------------------------------- stand-in tokenizers
@pytest.mark.parametrize("model", ["qwen2", "qwen3", "qwen2_audio", "omni"])
def test_stand_in_tokenizers_have_the_real_sizes_and_special_ids(model):
    spec = real_size.load_spec(model)
    tok = real_size.build_qwen_tokenizer(spec["tokenizer"])
    assert len(tok) == max(spec["tokenizer"]["special_tokens"].values()) + 1
    for name, index in spec["tokenizer"]["special_tokens"].items():
        assert tok.convert_tokens_to_ids(name) == index
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id == 151643
    assert len(tok) <= spec["config"].get("vocab_size", spec["config"].get("text_config", {}).get("vocab_size"))


def test_stand_in_tokenizer_encodes_the_chat_template_the_adapter_builds():
    from adrpo_nb.models.causal_lm import CausalLMAdapter

    spec = real_size.load_spec("qwen2")
    tok = real_size.build_qwen_tokenizer(spec["tokenizer"])
    model = real_size.build_causal_lm(spec, device="meta", layers=1)
    adapter = CausalLMAdapter.__new__(CausalLMAdapter)
    adapter.tokenizer = tok
    text = adapter.prompt_text([{"role": "user", "content": "2 + 2 ?"}])
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n2 + 2 ?<|im_end|>\n"
                    "<|im_start|>assistant\n")  # fmt: skip
    ids = tok(text, add_special_tokens=False).input_ids
    assert ids[0] == 151644 and ids.count(151645) == 2 and max(ids) < model.config.vocab_size
    assert tok.decode(ids) == text


def test_stand_in_audio_processor_expands_the_audio_placeholder():
    spec = real_size.load_spec("qwen2_audio")
    processor = real_size.build_audio_processor(spec)
    clip = np.sin(np.linspace(0, 880 * np.pi, 32000)).astype(np.float32)  # 2 s
    prompt = [{"role": "user", "content": [{"type": "audio", "audio": clip}, {"type": "text", "text": "pitch ?"}]}]
    text = processor.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    assert "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>" in text
    enc = processor(text=[text], audio=[clip], sampling_rate=16000, return_tensors="pt", padding=True)
    assert enc["input_features"].shape[1:] == (128, 3000)  # 128 mel bands, the 30 s window
    assert int((enc["input_ids"] == 151646).sum()) == 50  # 2 s → 200 frames → 50 audio tokens


def test_stand_in_sd3_tokenizers():
    toks = real_size.load_spec("sd3")["tokenizers"]
    clip = real_size.build_clip_tokenizer(toks["tokenizer"])
    ids = clip("a red cube", padding="max_length", max_length=77).input_ids
    assert len(clip) == 49408 and ids[0] == 49406 and 49407 in ids and len(ids) == 77
    assert real_size.build_clip_tokenizer(toks["tokenizer_2"]).pad_token_id == 0
    t5 = real_size.build_t5_tokenizer(toks["tokenizer_3"])
    assert len(t5) == 32100 and t5.pad_token_id == 0 and t5("a cube").input_ids[-1] == 1


def test_adapter_makes_the_frozen_head_input_contiguous():
    """A LoRA policy's frozen head must get a contiguous input (else torch copies its weight once per row)."""
    from peft import LoraConfig, get_peft_model

    from adrpo_nb.experiments.qwen.family import load_tiny
    from adrpo_nb.models.causal_lm import CausalLMAdapter

    tiny = load_tiny()
    model = get_peft_model(tiny.policy, LoraConfig(r=2, target_modules=["q_proj"]))
    CausalLMAdapter(model, tiny.tokenizer)
    seen = []
    model.get_output_embeddings().register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous()))
    with torch.no_grad():
        model(input_ids=torch.randint(0, 10, (3, 9)), logits_to_keep=4)
    assert seen == [True]


def test_the_chapters_memory_tables_are_the_planners_output():
    """Each row of ``plan --chapters`` appears verbatim in its chapter, or the chapter displays its table from the
    committed ``plans.json`` (``plan.chapter_table``), whose rows must then be today's planner's: prose and planner
    cannot drift apart."""
    _, markdown = planner.chapter_tables()
    root = Path(__file__).parents[1]
    committed = json.loads((root / "data" / "results" / "realsize" / "plans.json").read_text())["markdown"]
    pages = {"4": "04_sd3", "5": "05_qwen_grpo", "6": "06_audio"}
    chapter = None
    for line in markdown.splitlines():
        if line.startswith("Chapter "):
            chapter = line.split()[1]
            nb = json.loads((root / "book" / "chapters" / f"{pages[chapter]}.ipynb").read_text())
            text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
            code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
            if f'chapter_table(plans["markdown"], "{chapter}")' in code:
                text = planner.chapter_table(committed, chapter)
        elif line.startswith("| ") and not line.startswith("| set-up"):
            assert line in text, f"chapter {chapter} lacks the planner's row:\n{line}"


def test_chapter_table_takes_one_chapters_rows():
    markdown = "Chapter 4 (x)\n\n| set-up | a |\n|---|---|\n| sd3 | 1 |\n\nChapter 5 (x)\n\n| set-up | a |\n| q | 2 |"
    assert planner.chapter_table(markdown, "5") == "| set-up | a |\n| q | 2 |"
    with pytest.raises(ValueError, match="no chapter '7'"):
        planner.chapter_table(markdown, "7")
