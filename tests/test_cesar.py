"""CESAR's process rewards (adrpo_nb.rewards.cesar): exact values on hand-written completions."""

from __future__ import annotations

import math

import pytest

from adrpo_nb.rewards import cesar
from adrpo_nb.rewards.cesar import (
    CESAR_ALPHAS,
    CESAR_COMPONENTS,
    ConsistencyReward,
    KeywordReward,
    OverthinkingReward,
    ParsedCompletion,
    accuracy_reward,
    cesar_breakdown,
    cesar_reward_funcs,
    concept_coverage,
    concept_similarity,
    consistency_reward,
    extract_concepts,
    format_reward,
    keyword_reward,
    load_keywords,
    load_stopwords,
    normalize_answer,
    parse_completion,
)
from adrpo_nb.utils.paths import DataFileError

THINK = "i listen to the first tone and it is low then the second tone is high so the second tone is higher"
GOOD = f"<think> {THINK} </think> <answer> second </answer>"
QUESTION = "which tone is higher , the first or the second ?"
# C(THINK): drop the stopwords i, to, the, and, it, is, then, so ->
#   {listen, first, tone, low, second, high, higher}                       (7 concepts)
THINK_CONCEPTS = {"listen", "first", "tone", "low", "second", "high", "higher"}
# C("second") = {second}, in C(THINK):    cov(think, answer)   = 1 / 1 = 1
# C(QUESTION) = {tone, higher, first, second} (which, is, the, or are stopwords), all 4 in C(THINK):
#                                         cov(think, question) = 4 / 4 = 1
GOOD_CONSISTENCY = 2.0
# THINK has 22 whitespace-separated words
THINK_WORDS = 22
# missing <think> tags: the answer still counts for accuracy, nothing else does
NO_THINK = "i think it is the second one . <answer> second </answer>"


def _all(completions, prompts=None, **columns):
    prompts = prompts if prompts is not None else [QUESTION] * len(completions)
    return cesar_breakdown(prompts, completions, **columns)


# --------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------
def test_parse_valid_with_spaces_and_newlines():
    assert parse_completion(GOOD) == ParsedCompletion(think=THINK, answer="second", valid_format=True)
    text = "\n<think>\nline one\nline two\n</think>\n\n<answer>(b) high</answer>\n"
    assert parse_completion(text) == ParsedCompletion("line one\nline two", "(b) high", True)
    # no whitespace between the blocks, empty think: still valid
    assert parse_completion("<think></think><answer>x</answer>") == ParsedCompletion("", "x", True)


@pytest.mark.parametrize(
    ("text", "think", "answer"),
    [
        (NO_THINK, None, "second"),  # no think tags
        ("<think> a </think> <answer> </answer>", "a", ""),  # empty answer
        ("<think> a </think> <answer> b </answer> extra", "a", "b"),  # text after </answer>
        ("preamble <think> a </think> <answer> b </answer>", "a", "b"),  # text before <think>
        ("<answer> b </answer> <think> a </think>", "a", "b"),  # wrong order
        ("<think> a </think> so <answer> b </answer>", "a", "b"),  # text between the blocks
        ("<think> a </think> <think> c </think> <answer> b </answer>", None, "b"),  # think twice
        ("<think> a </think> <answer> b </answer> <answer> c </answer>", "a", None),  # answer twice
        ("<think> a <answer> b </answer>", None, "b"),  # unclosed think
        ("</think> a <think> <answer> b </answer>", None, "b"),  # closing tag first
        ("just text", None, None),
    ],
)
def test_parse_invalid_still_extracts(text, think, answer):
    parsed = parse_completion(text)
    assert parsed == ParsedCompletion(think=think, answer=answer, valid_format=False)


def test_parse_rejects_non_string():
    with pytest.raises(TypeError, match="string"):
        parse_completion(None)


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Second", "second"),
        ("  The second tone. ", "the second tone"),
        ("(A) The second tone.", "the second tone"),
        ("( b ) high", "high"),
        ("a) low", "low"),
        ("a. low", "low"),
        ("(b)", "b"),  # a bare label is its letter
        ("b .", "b"),  # word-level tokenizer output
        ("c-major", "c major"),
        ("higher  ,  clearly", "higher clearly"),
        ("a second", "a second"),  # "a" without punctuation is not a label
        ("", ""),
    ],
)
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


# --------------------------------------------------------------------------------------
# concepts
# --------------------------------------------------------------------------------------
def test_extract_concepts_of_the_example():
    assert extract_concepts(THINK) == THINK_CONCEPTS
    assert extract_concepts(GOOD) == THINK_CONCEPTS  # tag words think/answer are not concepts
    assert extract_concepts("so then because and therefore") == frozenset()  # connectives are not concepts


def test_extract_concepts_plural_rule():
    # tones -> tone, clicks -> click; bass (ss), chorus (us), analysis (is), yes and was (<= 3 letters) stay
    assert extract_concepts("Tones, CLICKS. bass chorus analysis yes 440hz") == {
        "tone", "click", "bass", "chorus", "analysis", "yes", "440hz"
    }  # fmt: skip
    assert extract_concepts("answers thinks") == frozenset()  # plural of a tag word is dropped too


def test_concept_similarity_by_hand():
    assert concept_similarity(THINK, "second") == pytest.approx(1 / 7)
    assert concept_similarity(THINK, QUESTION) == pytest.approx(4 / 7)
    assert concept_similarity(QUESTION, THINK) == pytest.approx(4 / 7)  # symmetric
    # C = {beep, fast} vs {beep, fast, slow}: 2 / max(2, 3)
    assert concept_similarity("the beeps are fast", "are the beeps fast or slow ?") == pytest.approx(2 / 3)
    assert concept_similarity("tone", "tones") == 1.0
    assert concept_similarity("the and so", "it is") == 0.0  # both empty
    assert concept_similarity("tone", "") == 0.0


def test_stopwords_file():
    stop = load_stopwords()
    assert 100 <= len(stop) <= 150
    assert {"the", "a", "and", "so", "then", "is", "i", "to"} <= stop
    keywords = load_keywords()
    # ordinals and audio terms must stay concepts
    assert not stop & ({"first", "second", "one", "two", "yes", "no", "up", "down"} | set(keywords["audio_terms"]))
    assert set(keywords) == {"analytical", "connectives", "audio_terms"}


def test_missing_data_file(monkeypatch, tmp_path):
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path))
    load_stopwords.cache_clear()
    try:
        with pytest.raises(DataFileError, match=r"stopwords\.txt"):
            load_stopwords()
    finally:
        monkeypatch.delenv("ADRPO_DATA")
        load_stopwords.cache_clear()
    assert "the" in load_stopwords()


# --------------------------------------------------------------------------------------
# the rewards
# --------------------------------------------------------------------------------------
def test_good_completion_all_components():
    out = _all([GOOD], answer=["second"])
    assert list(out) == list(CESAR_COMPONENTS)
    assert out["accuracy"] == [1.0]
    assert out["format"] == [1.0]
    assert out["consistency"][0] == pytest.approx(GOOD_CONSISTENCY)  # 1 + 1
    # analytical: listen, first; connectives: then, so; audio: tone, low, high, higher -> each category saturated
    assert out["keywords"] == [1.0]
    assert out["overthinking"][0] == pytest.approx(1 - THINK_WORDS / 256)  # 234/256 = 0.9140625
    total = sum(a * out[name][0] for a, name in zip(CESAR_ALPHAS, CESAR_COMPONENTS, strict=True))
    assert total == pytest.approx(5 + 1 + 2 + 1 + 234 / 256)


def test_missing_tags_gets_accuracy_but_no_bonus():
    out = _all([NO_THINK], answer=["second"])
    assert out == {"accuracy": [1.0], "format": [0.0], "consistency": [0.0], "keywords": [0.0], "overthinking": [0.0]}


def test_wrong_answer_and_no_answer():
    wrong = GOOD.replace("<answer> second </answer>", "<answer> first </answer>")
    no_answer = f"<think> {THINK} </think>"
    assert accuracy_reward(None, [wrong, no_answer, GOOD], answer=["second"] * 3) == [0.0, 0.0, 1.0]
    assert format_reward(None, [wrong, no_answer, GOOD]) == [1.0, 0.0, 1.0]
    # a None gold answer scores 0.0
    assert accuracy_reward(None, [GOOD], answer=[None]) == [0.0]


def test_accuracy_letters_and_choices():
    choices = [["first", "second"]] * 5
    answers = ["(b)", "b", "b .", "(a)", "(B) second"]
    comps = [f"<think> x </think> <answer> {a} </answer>" for a in answers]
    assert accuracy_reward(None, comps, answer=["second"] * 5, choices=choices) == [1.0, 1.0, 1.0, 0.0, 1.0]
    # without choices a letter is only a letter
    assert accuracy_reward(None, comps[:2], answer=["second"] * 2) == [0.0, 0.0]
    # a gold letter accepts the letter and the text of that choice
    text = ["<think> x </think> <answer> second </answer>", "<think> x </think> <answer> b) </answer>"]
    assert accuracy_reward(None, text, answer=["b", "b"], choices=[["first", "second"]] * 2) == [1.0, 1.0]
    # choices given as labelled strings
    assert accuracy_reward(None, comps[:1], answer=["(b) second"], choices=[["(a) first", "(b) second"]]) == [1.0]
    # a None choices entry falls back to the text only
    assert accuracy_reward(None, comps[:1], answer=["second"], choices=[None]) == [0.0]


def test_conversational_completions_and_prompts():
    chat_prompt = [
        {"role": "system", "content": "answer in tags"},
        {"role": "user", "content": [{"type": "audio", "audio": "tones.wav"}, {"type": "text", "text": QUESTION}]},
    ]
    chat_completion = [{"role": "assistant", "content": GOOD}]
    out = cesar_breakdown([chat_prompt], [chat_completion], answer=["second"])
    assert out["accuracy"] == [1.0] and out["format"] == [1.0] and out["keywords"] == [1.0]
    # the question is the text part of the last user message (the system message is not part of it)
    assert out["consistency"][0] == pytest.approx(GOOD_CONSISTENCY)
    string_content = [{"role": "user", "content": QUESTION}]
    assert consistency_reward([string_content], [chat_completion])[0] == pytest.approx(GOOD_CONSISTENCY)


def test_concept_coverage_by_hand():
    assert concept_coverage(THINK, "second") == 1.0
    assert concept_coverage(THINK, QUESTION) == 1.0
    # C = {beep, fast} covers 2 of {beep, fast, slow}; not symmetric: the reasoning is measured against the reference
    assert concept_coverage("the beeps are fast", "are the beeps fast or slow ?") == pytest.approx(2 / 3)
    assert concept_coverage("are the beeps fast or slow ?", "the beeps are fast") == 1.0
    assert concept_coverage("tone", "the and so") == 0.0  # a reference without concepts
    assert concept_coverage("", "tone") == 0.0


def test_consistency_reward_values():
    # "it beeps quickly" says something the question does not ("quickly"); "so they are fast" states the answer
    beeps = "<think> it beeps quickly so they are fast </think> <answer> fast </answer>"
    question = "are the beeps fast or slow ?"
    short = ConsistencyReward(l_min=0)  # a 7-word think: under the default l_min it earns nothing (below)
    # support 1 (the conclusion after "so" mentions the answer's concept "fast"); relevance: the question's own
    # concepts {beep, slow} (the answer's "fast" left out), "beep" is mentioned -> 1/2; r = 1 * (1 + 1/2)
    assert short([question], [beeps])[0] == pytest.approx(1.5)
    # the question column wins over the prompt; an empty question only leaves the support
    assert short(["ignored"], [beeps], question=[question])[0] == pytest.approx(1.5)
    assert short([question], [beeps], question=[""])[0] == pytest.approx(1.0)
    # a None question entry falls back to the prompt
    assert short([question], [beeps], question=[None])[0] == pytest.approx(1.5)
    # invalid format -> 0 even when the words overlap
    assert short([question], ["it beeps quickly so they are fast <answer> fast </answer>"]) == [0.0]
    # the default l_min = 8: a 7-word think earns no consistency
    assert consistency_reward([question], [beeps]) == [0.0]
    # a think that only restates the question with the answer adds nothing to the prompt: no consistency
    # (the coverage version paid it 1 + 2/3, the question-pasting exploit of issue 21)
    assert short([question], ["<think> the beeps are fast </think> <answer> fast </answer>"]) == [0.0]
    assert consistency_reward.__name__ == "consistency_reward"
    with pytest.raises(ValueError, match="prompts or a 'question' column"):
        short(None, [beeps])


def test_keyword_reward_values():
    def comp(think):
        return f"<think> {think} </think> <answer> x </answer>"

    kw = KeywordReward(l_min=0)  # the short thinks below are for the arithmetic; l_min is tested on its own
    assert keyword_reward.__name__ == "keywords"
    # analytical {listen, first} = 2, connectives {then, so} = 2, audio {tone, low, high, higher} = 4
    assert keyword_reward.category_hits(THINK) == {"analytical": 2, "connectives": 2, "audio_terms": 4}
    assert keyword_reward(None, [comp(THINK)]) == [1.0]
    # targets (2, 3, 5): (min(1, 2/2) + min(1, 2/3) + min(1, 4/5)) / 3 = (1 + 2/3 + 4/5) / 3 = 37/45
    assert KeywordReward(targets=(2, 3, 5))(None, [comp(THINK)])[0] == pytest.approx(37 / 45)
    # whole words only: "highest" is not "high"; a repeated keyword counts once
    assert kw(None, [comp("the pitch pitch pitch is highest")]) == [pytest.approx(1 / 3)]
    # a phrase keyword ("which means") across a comma; no analytical word -> (0 + 1 + 1) / 3
    assert kw(None, [comp("it rises , which means the pitch goes up")]) == [pytest.approx(2 / 3)]
    assert kw(None, [comp("nothing relevant")]) == [0.0]
    # invalid format -> 0
    assert kw(None, [f"{THINK} <answer> second </answer>"]) == [0.0]
    # the default l_min = 8: a 6-word think earns no keyword reward
    assert keyword_reward(None, [comp("the pitch pitch pitch is highest")]) == [0.0]


def test_keyword_reward_custom_and_validation():
    custom = KeywordReward(keywords={"analytical": ["Step By Step"], "connectives": ["so"], "audio_terms": ["hz"],
                                     "_about": "ignored"})  # fmt: skip
    assert custom(None, ["<think> step by step , so it is 440 hz in the end </think> <answer> 440 </answer>"]) == [
        pytest.approx(1.0)]  # fmt: skip
    with pytest.raises(ValueError, match="targets"):
        KeywordReward(targets=(1, 1))
    with pytest.raises(ValueError, match="targets"):
        KeywordReward(targets=(1, 0, 1))
    with pytest.raises(ValueError, match="connectives"):
        KeywordReward(keywords={"analytical": ["a"], "audio_terms": ["b"]})
    with pytest.raises(TypeError, match="audio_terms"):
        KeywordReward(keywords={"analytical": ["a"], "connectives": ["so"], "audio_terms": "tone"})


def test_overthinking_reward_values():
    good = [GOOD]
    assert OverthinkingReward()(None, good)[0] == pytest.approx(1 - 22 / 256)
    assert OverthinkingReward(l_max=44)(None, good) == [0.5]  # 1 - 22/44
    assert OverthinkingReward(l_max=22)(None, good) == [0.0]  # exactly l_max
    assert OverthinkingReward(l_max=10)(None, good) == [0.0]  # overlong: clipped at 0, not negative
    # count_tokens: characters instead of words; "ab cd" has 5 characters -> 1 - 5/10
    chars = OverthinkingReward(l_max=10, count_tokens=len, l_min=0)
    assert chars(None, ["<think> ab cd </think> <answer> x </answer>"]) == [0.5]
    # empty think -> 0.0 (below l_min; the paper's formula would give it 1.0); invalid format -> 0.0
    assert OverthinkingReward()(None, ["<think></think><answer>x</answer>", NO_THINK]) == [0.0, 0.0]
    assert OverthinkingReward(l_min=0)(None, ["<think></think><answer>x</answer>"]) == [1.0]
    # a think of exactly l_min tokens earns it, one token fewer does not
    eight, seven = " ".join(["tone"] * 8), " ".join(["tone"] * 7)
    comps = [f"<think> {eight} </think><answer>x</answer>", f"<think> {seven} </think><answer>x</answer>"]
    assert OverthinkingReward(l_max=16)(None, comps) == [0.5, 0.0]
    assert OverthinkingReward().__name__ == "overthinking"


def test_lengths_are_counted_in_the_models_tokens_when_a_tokenizer_is_given():
    from adrpo_nb.models.tiny_qwen import build_char_tokenizer

    tok = build_char_tokenizer()  # one token per character
    n = len(tok(THINK, add_special_tokens=False)["input_ids"])
    assert n != THINK_WORDS
    assert OverthinkingReward(l_max=256, tokenizer=tok)(None, [GOOD]) == [pytest.approx(1 - n / 256)]
    funcs, _ = cesar_reward_funcs(tokenizer=tok, l_min=n + 1)  # every process term sees tokens, not words
    assert [f(prompts=[QUESTION], completions=[GOOD], answer=["second"])[0] for f in funcs[2:]] == [0.0] * 3
    funcs, _ = cesar_reward_funcs(l_min=THINK_WORDS)  # without a tokenizer: words (22 of them: exactly l_min)
    assert all(f(prompts=[QUESTION], completions=[GOOD], answer=["second"])[0] > 0 for f in funcs[2:])
    with pytest.raises(ValueError, match="not both"):
        OverthinkingReward(tokenizer=tok, count_tokens=len)


# --------------------------------------------------------------------------------------
# the exploits a review measured: each must no longer win
# --------------------------------------------------------------------------------------
_SENTENCES = (
    "i listen carefully to the recording from the beginning . there is a short silence before the first tone "
    "starts softly . the first tone sounds fairly low , like a hum near the bottom of a piano keyboard . it "
    "lasts about half a second before it fades out . after a brief gap the second tone begins . the second tone "
    "is brighter and sits clearly above the first one . i compare the two pitches by humming them back in order "
    ". the jump between them feels like more than an octave . background noise is present but it does not mask "
    "either tone . the loudness of both sounds is similar so volume cannot explain the difference . because the "
    "second pitch is clearly higher the answer should be the second tone ."
)
GENUINE_300 = " ".join([_SENTENCES] * 3).split()[:300]


def _totals(completions, **kw):
    out = cesar_breakdown([QUESTION] * len(completions), completions, answer=["second"] * len(completions), **kw)
    return [sum(a * out[name][i] for a, name in zip(CESAR_ALPHAS, CESAR_COMPONENTS, strict=True))
            for i in range(len(completions))]  # fmt: skip


def test_an_empty_think_no_longer_beats_a_genuine_reasoning():
    empty = "<think></think> <answer> second </answer>"
    genuine = f"<think> {' '.join(GENUINE_300)} </think> <answer> second </answer>"
    assert len(GENUINE_300) == 300
    t_empty, t_genuine = _totals([empty, genuine])
    assert t_empty == pytest.approx(6.0)  # accuracy + format only (it was 7.0: the full overthinking reward)
    assert t_empty < t_genuine


def test_a_keyword_salad_no_longer_beats_a_real_reasoning():
    salad = "<think> second tone higher first </think> <answer> second </answer>"
    t_salad, t_real = _totals([salad, GOOD])
    assert t_salad < t_real  # it was 8.90 against 8.63: consistency divided by the larger concept set
    assert t_salad == pytest.approx(6.0)
    # coverage does not reward brevity: the real reasoning covers the answer and the question fully
    assert cesar_breakdown([QUESTION], [GOOD], answer=["second"])["consistency"] == [2.0]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "256", None])
def test_overthinking_l_max_validation(bad):
    with pytest.raises(ValueError, match=rf"l_max={bad!r}"):
        OverthinkingReward(l_max=bad)


def test_overthinking_count_tokens_validation():
    with pytest.raises(TypeError, match="count_tokens"):
        OverthinkingReward(count_tokens=5)
    with pytest.raises(ValueError, match="count_tokens returned -1"):
        OverthinkingReward(count_tokens=lambda s: -1)(None, [GOOD])


# --------------------------------------------------------------------------------------
# reading a reasoning (analyze_reasoning): what the hardened process terms look at
# --------------------------------------------------------------------------------------
PITCH_Q, PITCH_C = "which tone is higher ?", ["first", "second"]
PITCH_P = "which tone is higher ? choose first or second ."


def _read(think, answer="second", **kw):
    return cesar.analyze_reasoning(think, answer, **{"question": PITCH_Q, "prompt": PITCH_P, "choices": PITCH_C, **kw})


def test_analysis_of_a_genuine_reasoning():
    a = _read("i listen to the first tone , it is low . then the second tone is high . so the second tone is higher .")
    assert a.clauses[0] == ("i", "listen", "to", "the", "first", "tone")
    # "so the second tone is higher" names nothing beyond the prompt and the answer: not content
    assert a.content == (0, 1, 2) and a.well_formed == (0, 1, 2, 3)
    assert a.conclusion == ("the", "second", "tone", "is", "higher") and a.named == (1,) and a.answer_choice == 1
    assert a.supports and not a.hedged and a.fresh == 1.0
    assert a.relate == 1.0  # the question's own concepts {tone, higher}: tone in a content clause, higher concluded
    # the same reasoning does not support another answer, nor a letter for it; it does support the letter "(b)"
    assert not _read(a.text, "first").supports and not _read(a.text, "a").supports and _read(a.text, "(b)").supports


def test_analysis_catches_the_attacks():
    # a keyword salad has no function words: not well-formed, so no content and no support
    salad = _read("listen compare so therefore tone high higher second")
    assert salad.well_formed == () and salad.content == () and not salad.supports
    # a hedge: another choice as a possibility
    assert _read("i listen carefully , maybe it is first , so it is second").hedged
    assert _read("i listen carefully : it could be first or second , so it is second").hedged
    assert not _read("i listen carefully : the first is lower than the second , so it is second").hedged
    # a question the reasoning asks itself is not a hedge, and concludes nothing
    asked = _read("is it the first or the second ? i listen carefully , so it is the second .")
    assert not asked.hedged and asked.supports
    # the prompt pasted in: copied runs of 3+ words are not content
    pasted = _read("which tone is higher ? choose first or second . so the answer is second .")
    assert pasted.content == () and not pasted.supports
    # the conclusion names another choice
    assert _read("i listen carefully , the first tone sounds high , so the first tone is higher").named == (0,)
    # repetition: the repeated clause is dropped, its words are not fresh
    twice = _read("it sounds high at the end , so the second tone is higher . " * 2)
    assert twice.text == "it sounds high at the end , so the second tone is higher ." and twice.fresh == 0.5
    # without choices: the conclusion must mention the answer's concepts
    assert cesar.analyze_reasoning("it sounds high at the end , so the second tone is higher", "second").supports
    assert not cesar.analyze_reasoning("it sounds high at the end , so the first tone is higher", "second").supports


def test_deviations_are_listed_and_summarised_in_the_docstring():
    assert len(cesar.DEVIATIONS) >= 5 and all(title and len(why) > 40 for title, why in cesar.DEVIATIONS)
    assert "Deviations from the paper" in cesar.__doc__
    assert f"{len(cesar.DEVIATIONS)}. **" in cesar.__doc__ and f"{len(cesar.DEVIATIONS) + 1}. **" not in cesar.__doc__


# --------------------------------------------------------------------------------------
# columns
# --------------------------------------------------------------------------------------
def test_column_length_mismatch():
    with pytest.raises(ValueError, match=r"'answer' has 3 entries but there are 2 completions"):
        accuracy_reward(None, [GOOD, GOOD], answer=["second"] * 3)
    with pytest.raises(ValueError, match=r"'choices' has 1 entries but there are 2 completions"):
        accuracy_reward(None, [GOOD, GOOD], answer=["second"] * 2, choices=[["first", "second"]])
    with pytest.raises(ValueError, match=r"'question' has 1 entries but there are 2 completions"):
        consistency_reward([QUESTION] * 2, [GOOD, GOOD], question=[QUESTION])
    with pytest.raises(ValueError, match=r"prompts has 1 entries but there are 2 completions"):
        format_reward([QUESTION], [GOOD, GOOD])


def test_missing_answer_column():
    with pytest.raises(KeyError, match="'answer'"):
        accuracy_reward([QUESTION], [GOOD])
    with pytest.raises(KeyError, match="'answer'"):
        cesar_breakdown([QUESTION], [GOOD], question=[QUESTION])


def test_unknown_columns_and_trl_kwargs_are_ignored():
    extra = {"trainer_state": object(), "log_metric": print, "audio": ["a.wav"], "completion_ids": [[1, 2, 3]]}
    funcs, _ = cesar_reward_funcs()
    values = [fn(prompts=[QUESTION], completions=[GOOD], answer=["second"], **extra)[0] for fn in funcs]
    assert values == pytest.approx([1.0, 1.0, GOOD_CONSISTENCY, 1.0, 1 - 22 / 256])


# --------------------------------------------------------------------------------------
# composition
# --------------------------------------------------------------------------------------
def test_cesar_reward_funcs_default():
    funcs, weights = cesar_reward_funcs()
    assert weights == [5.0, 1.0, 1.0, 1.0, 1.0] == list(CESAR_ALPHAS)
    assert [f.__name__ for f in funcs] == [
        "accuracy_reward", "format_reward", "consistency_reward", "keywords", "overthinking"
    ]  # fmt: skip
    assert isinstance(funcs[2], ConsistencyReward) and isinstance(funcs[3], KeywordReward)
    assert isinstance(funcs[4], OverthinkingReward) and funcs[4].l_max == 256
    assert all(f.l_min == cesar.L_MIN == 8 for f in funcs[2:])
    funcs, _ = cesar_reward_funcs(l_max=44, count_tokens=len, l_min=3)
    assert funcs[4].l_max == 44 and all(f.count_tokens is len and f.l_min == 3 for f in funcs[2:])


def test_outcome_only():
    funcs, weights = cesar_reward_funcs(alphas=(2, 0.5, 1, 1, 1), outcome_only=True)
    assert funcs == [accuracy_reward, format_reward]
    assert weights == [2.0, 0.5]


@pytest.mark.parametrize(
    "bad",
    [(5, 1, 1, 1), (5, 1, 1, 1, 1, 1), (5, -1, 1, 1, 1), (5, 1, math.nan, 1, 1), (5, 1, 1, math.inf, 1),
     (5, 1, 1, 1, "1"), "51111", 5.0],
)  # fmt: skip
def test_alphas_validation(bad):
    with pytest.raises(ValueError, match="alpha"):
        cesar_reward_funcs(alphas=bad)


def test_l_max_and_l_min_validated_by_cesar_reward_funcs():
    with pytest.raises(ValueError, match="l_max=0"):
        cesar_reward_funcs(l_max=0)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match=rf"l_min={bad!r}"):
            cesar_reward_funcs(l_min=bad)
    with pytest.raises(ValueError, match="l_min=44 must be below l_max=44"):
        cesar_reward_funcs(l_max=44, l_min=44)


def test_breakdown_batch():
    comps = [GOOD, NO_THINK, "<think> the beeps are fast </think> <answer> first </answer>"]
    out = cesar_breakdown([QUESTION] * 3, comps, answer=["second"] * 3, l_max=44)
    assert out["accuracy"] == [1.0, 1.0, 0.0]
    assert out["format"] == [1.0, 0.0, 1.0]
    # third: a 4-word think, below l_min = 8: no process term at all
    assert out["consistency"] == pytest.approx([GOOD_CONSISTENCY, 0.0, 0.0])
    assert out["keywords"] == pytest.approx([1.0, 0.0, 0.0])
    # l_max = 44: 1 - 22/44
    assert out["overthinking"] == pytest.approx([0.5, 0.0, 0.0])
    # with l_min = 0 the third is scored: C(think) = {beep, fast} covers none of {first} nor of the question;
    # keywords: audio {fast} -> 1/3; overthinking 1 - 4/44
    out = cesar_breakdown([QUESTION] * 3, comps, answer=["second"] * 3, l_max=44, l_min=0)
    assert [out[k][2] for k in ("consistency", "keywords", "overthinking")] == pytest.approx([0.0, 1 / 3, 40 / 44])
    assert cesar.__all__ and all(hasattr(cesar, name) for name in cesar.__all__)


def test_array_columns_and_string_column():
    np = pytest.importorskip("numpy")
    comp = ["<think> x </think> <answer> (b) </answer>"]
    assert accuracy_reward(None, comp, answer=np.array(["second"]), choices=[np.array(["first", "second"])]) == [1.0]
    with pytest.raises(ValueError, match="'answer' must be a list"):
        accuracy_reward(None, comp, answer="second")
