"""CESAR's reasoning-process rewards, as plain callables in TRL's reward signature.

CESAR ("Consistent, Effective and Scalable Audio Reasoners", Fan et al., 2025, arXiv:2510.20867)
fine-tunes audio LLMs with GRPO. Outcome-only GRPO for audio question answering (R1-AQA,
Ke-Omni-R) rewards a completion for the right answer and the right format; CESAR argues that
this leaves the reasoning itself unsupervised (it drifts, contradicts the answer, grows long and
gets *worse* with more test-time thinking) and adds three rewards on the reasoning *process*.
A completion is expected to look like::

    <think> i listen to the first tone , it is low . then the second tone is high . so the second tone is higher .
    </think> <answer> second </answer>

and is scored by five rewards, each a function of one completion (and its dataset row):

========================  =========  ==============================================================================
reward                    range      definition (``t`` = think text, ``a`` = answer text, ``q`` = question)
========================  =========  ==============================================================================
``accuracy_reward``       {0, 1}     ``1[norm(a) == norm(gold)]`` (or ``a`` is the gold choice's letter)
``format_reward``         {0, 1}     ``1[text == <think>t</think> <answer>a</answer>]``
``consistency_reward``    [0, 2]     ``f · s · (1 + rel)``: ``s`` = the reasoning concludes ``a`` (and no other
                                     choice, no hedge), ``rel`` = share of ``q``'s concepts it relates
``keyword_reward``        [0, 1]     ``f · mean_c min(1, hits_c / target_c)``, keywords counted in sentences that
                                     carry content; 0 when ``s`` = 0 (with choices)
``OverthinkingReward``    [0, 1]     ``max(0, 1 - n(t) / L_max)``, ``n`` = length of ``t`` in the model's tokens
========================  =========  ==============================================================================

The three process terms (consistency, keywords, overthinking) are 0 unless the format is valid *and* the think,
with repeated clauses removed, has at least ``l_min`` tokens (:data:`L_MIN` = 8); accuracy is an outcome reward and
is scored whenever one ``<answer>…</answer>`` pair is present.

How the process terms read a reasoning (:func:`analyze_reasoning`, :class:`ReasoningAnalysis`). The think is split
into sentences and clauses; a clause said again is dropped. A clause is *well-formed* when it reads as language
(function words such as ``the``, ``is``, ``to``: at least one, and a fifth of its words), and carries *content* when
it is well-formed and names a concept (:func:`extract_concepts`: content words) that is not in the question, the
prompt, the choices or the answer, runs of three or more words copied from the question or the prompt ignored.
The *conclusion* is the end of the last sentence that names a choice, after its last ``so`` / ``therefore`` /
``which means`` …; *support* ``s`` = 1 when the reasoning has content, its conclusion names the given answer and
no other choice, and no clause entertains another choice (``maybe`` / ``could`` … / ``X or Y``); without a
``choices`` column, when the conclusion mentions every concept of the answer. *Relevance* ``rel`` is the share of
the question's own concepts (choice and answer words left out) that the content clauses or the conclusion mention.
``f`` (*fresh*) is the share of the think's words that do not repeat an earlier run of five words.

Deviations from the paper (:data:`DEVIATIONS` lists them, with the reasons and the scores that led to them; the
book renders that list), in short:

1. **Length unit.** Tokens when the policy's ``tokenizer`` is passed, as in the paper; else whitespace words.
2. **A minimum reasoning length** ``l_min`` (not in the paper): below it no process term is paid.
3. **Consistency checks that the reasoning leads to its answer**, not how many words they share.
4. **Relevance counts what the reasoning adds to the question**, not the question's words pasted in.
5. **Keywords count in sentences with content**, and not for a reasoning that argues for another answer.
6. **Repetition earns nothing**: repeated clauses are dropped, repeated runs scale the credit down.
7. **Keyword lists and stopwords written for this project**; a light plural rule, no lemmatiser.

tests/test_cesar_attacks.py holds the attacks these answer: on every task of the synthetic benchmark, a genuine
worked reasoning must outscore a keyword salad, a hedge naming every choice, the question's words pasted in, a
reasoning that argues for another answer than the one given, and repetition.

What remains gameable: the checks are lexical. A list of keywords dressed with enough function words reads as a
sentence; a choice referred to by a synonym ("the latter") is not recognised; only the conclusion and the hedges
are read, so evidence that points to one choice followed by a confident conclusion for another is not caught;
hedge words and conclusion markers are English lists. And the overthinking term rewards brevity by design, so
the *shortest* reasoning that has content and concludes the answer (about ``l_min`` tokens) scores above a longer
genuine one.

Composition. GRPO's scalar reward is the weighted sum

    R = λ_acc r_acc + λ_fmt r_fmt + λ_cons r_cons + λ_kw r_kw + λ_len r_over,

with the paper's weights :data:`CESAR_ALPHAS` ``= (λ_acc, λ_fmt, λ_cons, λ_kw, λ_len) = (5, 1, 1, 1, 1)`` (the book's
letters; the code keeps the name ``alphas``), so ``R ∈ [0, 10]`` and a
correct answer (5) outweighs a perfect reasoning process (at most 1 + 2 + 1 + 1 = 5) — the process
terms break ties among completions with the same outcome, they cannot buy a wrong answer a higher
reward than a right one with an equally good process. Both this package's
:class:`~adrpo_nb.trainers.grpo.GRPOTrainer` and TRL's take the five callables and the weights
separately and form the sum themselves::

    funcs, weights = cesar_reward_funcs()                     # outcome_only=True: accuracy + format
    trainer = GRPOTrainer(model, reward_funcs=funcs, args=GRPOConfig(reward_weights=weights, ...), ...)

Dataset columns: ``answer`` (the correct choice's text, required by accuracy), ``choices``
(optional list of choice strings: for letter answers, and for the process terms to check the reasoning's
conclusion against the other choices; without it that check is weaker), ``question`` (optional; else the
prompt's text is the question of the consistency reward). Completions may be strings or TRL conversational
lists ``[{"role": "assistant", "content": "..."}]``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from adrpo_nb.utils.paths import DataFileError, data_path, read_json

__all__ = [
    "CESAR_ALPHAS",
    "DEVIATIONS",
    "CONCLUSION_MARKERS",
    "HEDGE_WORDS",
    "MIN_FUNCTION_SHARE",
    "COPY_SPAN",
    "REPEAT_SPAN",
    "ReasoningAnalysis",
    "analyze_reasoning",
    "CESAR_COMPONENTS",
    "KEYWORD_CATEGORIES",
    "ParsedCompletion",
    "parse_completion",
    "normalize_answer",
    "load_stopwords",
    "load_keywords",
    "extract_concepts",
    "concept_coverage",
    "concept_similarity",
    "completion_text",
    "question_text",
    "accuracy_reward",
    "format_reward",
    "ConsistencyReward",
    "consistency_reward",
    "KeywordReward",
    "keyword_reward",
    "OverthinkingReward",
    "L_MIN",
    "token_counter",
    "cesar_reward_funcs",
    "cesar_breakdown",
]

#: Where this implementation departs from CESAR's paper (Fan et al., 2025, §3), and why: ``(title, explanation)``
#: pairs, Markdown, for the book. Scores are totals at ``L_max`` = 64 (the audio chapter's) measured by
#: ``tests/test_cesar_attacks.py`` against the weakest genuine worked reasoning of the same item.
DEVIATIONS: tuple[tuple[str, str], ...] = (
    ("Length unit",
     "The paper counts the reasoning's length in tokens. Pass the policy's `tokenizer` to do the same; without one, "
     "lengths are whitespace-separated words (the same count for the tiny audio model's word tokenizer)."),
    ("A minimum reasoning length `l_min` = 8 tokens",
     "Not in the paper. The overthinking term gives its full 1.0 to an empty think, so a correct answer with no "
     "reasoning scored 7.0, above a genuine 300-word reasoning (6.58 at `L_max` = 256). Below `l_min` tokens "
     "(counted after repeated clauses are removed) no process term is paid."),
    ("Consistency checks that the reasoning leads to its answer",
     "The paper rewards the overlap of key concepts between the reasoning and the answer. Overlap cannot tell a "
     "reasoning for the answer from one for another choice that mentions both (a pitch trace for `first` answered "
     "`second` scored 9.61, as much as the genuine one), and a hedge naming every choice overlaps with any answer "
     "(9.86 against 8.51). Here the reasoning must conclude the given answer: the last sentence that names a "
     "choice names it and no other after its last `so`/`therefore`/..., and no clause entertains another choice "
     "(`maybe`, `could`, `X or Y`). Otherwise consistency and keywords are 0 (now 6.61 and 6.86)."),
    ("Relevance counts what the reasoning adds, not the question's words",
     "The paper rewards the overlap between the reasoning and the question, which pasting the question satisfies "
     "(9.78 against 8.70 on a count item). Here only the question's own concepts count (choice and answer words "
     "left out), mentioned in clauses that carry content (a well-formed clause with a concept beyond the prompt, "
     "the choices and the answer; runs of 3+ words copied from the prompt ignored) or in the conclusion; a "
     "reasoning with no content earns no consistency and no keywords (now 6.78)."),
    ("Keywords count in sentences, not in lists",
     "The paper counts structure keywords anywhere in the reasoning; eight of them and the answer scored 9.54 "
     "against 8.51. Here keywords count only in clauses with content and in the conclusion, and not at all when "
     "the reasoning does not lead to its answer (now 6.88)."),
    ("Repetition earns nothing",
     "Not addressed in the paper. A clause said again is dropped before any term is read (and before `l_min` is "
     "measured); consistency and keywords are scaled by the share of words that do not repeat an earlier run of "
     "five words, and the overthinking term counts every token (a repeated genuine sentence: 9.78 against 9.53, "
     "now 7.78)."),
    ("Keyword lists and stopwords written for this project",
     "The paper names the keyword categories (analytical patterns, logical connectives, audio domain terms) "
     "without publishing lists: `data/cesar/keywords.json` and `data/cesar/stopwords.txt` were written here, and "
     "key concepts use a light plural rule, not a lemmatiser. The hedge words and conclusion markers are English "
     "lists in this module."),
)  # fmt: skip
#: Paper weights of (accuracy, format, consistency, keywords, overthinking).
CESAR_ALPHAS: tuple[float, float, float, float, float] = (5.0, 1.0, 1.0, 1.0, 1.0)
#: The shortest think (tokens, repeated clauses removed) that earns a process bonus: not in the paper.
L_MIN = 8
#: Names of the five components, in the order of :data:`CESAR_ALPHAS` (keys of :func:`cesar_breakdown`).
CESAR_COMPONENTS: tuple[str, ...] = ("accuracy", "format", "consistency", "keywords", "overthinking")
#: The keyword categories of ``data/cesar/keywords.json``, in the order of ``KeywordReward(targets=...)``.
KEYWORD_CATEGORIES: tuple[str, str, str] = ("analytical", "connectives", "audio_terms")

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_FORMAT = re.compile(r"<think>(.*)</think>\s*<answer>(.*)</answer>", re.S)
_WORD = re.compile(r"[a-z0-9]+")
_TAG_WORDS = frozenset({"think", "answer"})
# a leading choice label: "(a)", "( a )", "a)", "a." — the letter, then the rest of the answer
_LABEL = re.compile(r"^(?:\(\s*([a-z])\s*\)\s*|([a-z])\s*\)\s*|([a-z])\s*\.(?:\s+|$))")


# --------------------------------------------------------------------------------------
# parsing and normalisation
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedCompletion:
    """A completion split into its reasoning and its answer.

    Attributes:
        think: the stripped text between the one ``<think>`` and the one ``</think>`` (``None`` unless
            each tag occurs exactly once, in that order).
        answer: the stripped text between the one ``<answer>`` and the one ``</answer>`` (same rule).
        valid_format: the whole text, ignoring outer whitespace, is exactly
            ``<think>…</think>`` + optional whitespace + ``<answer>…</answer>`` with each tag once and a
            non-empty answer.
    """

    think: str | None
    answer: str | None
    valid_format: bool


def _between(text: str, open_tag: str, close_tag: str) -> str | None:
    if text.count(open_tag) != 1 or text.count(close_tag) != 1:
        return None
    start, end = text.index(open_tag) + len(open_tag), text.index(close_tag)
    return text[start:end].strip() if start <= end else None


def parse_completion(text: str) -> ParsedCompletion:
    """Parse ``<think>…</think> <answer>…</answer>``; see :class:`ParsedCompletion` for the rules.

    Whitespace around and inside the tags' contents is ignored (a word-level tokenizer decodes
    ``<think> i listen … </think> <answer> second </answer>``); anything before the first tag or
    after ``</answer>`` makes the format invalid. The think and the answer are still extracted from
    an invalid completion when their own pair of tags occurs exactly once (accuracy uses that).
    """
    if not isinstance(text, str):
        raise TypeError(f"a completion must be a string, got {type(text).__name__}: {text!r:.80}")
    think = _between(text, "<think>", "</think>")
    answer = _between(text, "<answer>", "</answer>")
    valid = (
        think is not None
        and bool(answer)
        and all(text.count(tag) == 1 for tag in _TAGS)
        and _FORMAT.fullmatch(text.strip()) is not None
    )
    return ParsedCompletion(think=think, answer=answer, valid_format=valid)


def normalize_answer(text: str) -> str:
    """Canonical form of an answer, for exact-match accuracy.

    Lowercase; strip; drop one leading choice label ``(a)``, ``a)`` or ``a.`` (an answer that *is*
    only a label becomes its letter: ``"(b)" -> "b"``); replace punctuation by spaces; collapse
    whitespace. ``"(A) The second tone." -> "the second tone"``, ``"b ." -> "b"``.
    """
    s = str(text).lower().strip()
    label = _LABEL.match(s)
    if label:
        rest = s[label.end() :].strip()
        s = rest if rest else next(g for g in label.groups() if g)
    s = re.sub(r"[^\w\s]|_", " ", s)
    return " ".join(s.split())


# --------------------------------------------------------------------------------------
# key concepts
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def load_stopwords() -> frozenset[str]:
    """The stopwords of ``data/cesar/stopwords.txt`` (one word a line, ``#`` comments); cached."""
    path = data_path("cesar", "stopwords.txt")
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.split("#", 1)[0].strip().lower()
        if word:
            words.add(word)
    if not words:
        raise DataFileError(f"{path} holds no stopwords")
    return frozenset(words)


@lru_cache(maxsize=1)
def _keywords_items() -> tuple[tuple[str, tuple[str, ...]], ...]:
    path = data_path("cesar", "keywords.json")
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataFileError(f"{path} must hold a JSON object, got {type(raw).__name__}")
    try:
        return tuple((c, _clean_keywords(c, raw.get(c))) for c in KEYWORD_CATEGORIES)
    except (TypeError, ValueError) as err:
        raise DataFileError(f"{path}: {err}") from None


def load_keywords() -> dict[str, tuple[str, ...]]:
    """``{category: keywords}`` of ``data/cesar/keywords.json`` for :data:`KEYWORD_CATEGORIES` (cached read)."""
    return dict(_keywords_items())


def _clean_keywords(category: str, words: Any) -> tuple[str, ...]:
    if words is None:
        raise ValueError(f"keyword category {category!r} is missing")
    if isinstance(words, str) or not isinstance(words, Sequence | set | frozenset):
        raise TypeError(f"keyword category {category!r} must be a list of strings, got {words!r:.80}")
    out: list[str] = []
    for word in words:
        if not isinstance(word, str):
            raise TypeError(f"keyword category {category!r} holds a non-string entry {word!r}")
        norm = " ".join(_WORD.findall(word.lower()))
        if not norm:
            raise ValueError(f"keyword category {category!r} holds an entry with no letters or digits: {word!r}")
        if norm not in out:
            out.append(norm)
    return tuple(out)


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def extract_concepts(text: str) -> frozenset[str]:
    """The key concepts ``C(x)`` of a text: its content words.

    ``C(x) = { sing(w) : w ∈ words(lower(x)), w ∉ S, sing(w) ∉ S }`` where ``words`` are the runs of
    ``[a-z0-9]`` (punctuation and tags split words; other characters are dropped), ``S`` is the
    stopwords of ``data/cesar/stopwords.txt`` plus the tag words ``think`` and ``answer``, and
    ``sing`` is a light plural normalisation: drop a trailing ``s`` when the word has more than 3
    letters and does not end in ``ss``, ``us`` or ``is`` (``tones -> tone``, ``clicks -> click``;
    ``bass``, ``chorus``, ``this`` and ``yes`` stay; ``pitches -> pitche`` is *not* matched to
    ``pitch``). Connectives (``so``, ``then``, ``because``) are stopwords: they count for the keyword
    reward, never as concepts.
    """
    stop = load_stopwords() | _TAG_WORDS
    concepts = set()
    for word in _WORD.findall(str(text).lower()):
        if word in stop:
            continue
        single = _singular(word)
        if single not in stop:
            concepts.add(single)
    return frozenset(concepts)


def concept_similarity(x: str, y: str) -> float:
    """``|C(x) ∩ C(y)| / max(|C(x)|, |C(y)|)`` in [0, 1], 0.0 when both have no concepts.

    Symmetric; 1.0 iff both texts have the same (non-empty) concept set. Dividing by the *larger*
    set means a long reasoning that mentions the one-word answer scores ``1 / |C(think)|``, not 1.
    """
    cx, cy = extract_concepts(x), extract_concepts(y)
    denom = max(len(cx), len(cy))
    return len(cx & cy) / denom if denom else 0.0


def concept_coverage(think: str, reference: str) -> float:
    """``|C(think) ∩ C(reference)| / |C(reference)|`` in [0, 1]: the share of the reference's concepts the
    reasoning mentions (0.0 when the reference has none). Unlike :func:`concept_similarity` it does not
    grow as the reasoning shrinks: a think that only echoes the answer covers it no better than a full
    reasoning that also states it."""
    cr = extract_concepts(reference)
    return len(extract_concepts(think) & cr) / len(cr) if cr else 0.0


# --------------------------------------------------------------------------------------
# completions, prompts and columns
# --------------------------------------------------------------------------------------
def _content_text(content: Any) -> str:
    """A message's content as text: a string, or the ``text`` of its ``{"type": "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") == "text":
                parts.append(str(part.get("text", "")))
        return "\n".join(parts)
    raise TypeError(f"a message content must be a string or a list of parts, got {type(content).__name__}")


def completion_text(completion: Any) -> str:
    """A completion as text: a string as it is, TRL's ``[{"role": "assistant", "content": ...}]`` as its content.

    With several messages the contents of the assistant messages are joined by newlines (all of
    them if no message has a role).
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    if isinstance(completion, Sequence) and all(isinstance(m, Mapping) for m in completion):
        messages = [m for m in completion if m.get("role") == "assistant"] or list(completion)
        return "\n".join(_content_text(m.get("content")) for m in messages)
    raise TypeError(
        "a completion must be a string or a list of chat messages ({'role': ..., 'content': ...}), "
        f"got {type(completion).__name__}: {completion!r:.80}"
    )


def question_text(prompt: Any) -> str:
    """The question of a prompt: a string as it is; for chat messages, the text parts of the last user message.

    Content may be a string or a list of parts (``{"type": "text", "text": ...}``,
    ``{"type": "audio", ...}``: only text parts count). Without a user message, the last message.
    """
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Mapping):
        prompt = [prompt]
    if isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        if not prompt:
            return ""
        users = [m for m in prompt if m.get("role") == "user"]
        return _content_text((users or list(prompt))[-1].get("content"))
    raise TypeError(f"a prompt must be a string or a list of chat messages, got {type(prompt).__name__}")


def _is_listlike(x: Any) -> bool:
    """A list, tuple, NumPy array… of entries (not a string or a mapping)."""
    return not isinstance(x, str | bytes | Mapping) and hasattr(x, "__len__") and hasattr(x, "__iter__")


def _column(columns: Mapping[str, Any], name: str, n: int, *, required: bool, reward: str) -> list | None:
    """Column ``name`` as a list of ``n`` entries; ``None`` if optional and absent."""
    values = columns.get(name)
    if values is None:
        if required:
            raise KeyError(
                f"{reward} needs the dataset column {name!r} (one entry per completion); got columns {sorted(columns)}"
            )
        return None
    if not _is_listlike(values):
        raise ValueError(f"column {name!r} must be a list with one entry per completion, got {type(values).__name__}")
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} entries but there are {n} completions")
    return list(values)


def _texts(completions: Sequence[Any]) -> list[str]:
    if isinstance(completions, str):
        raise TypeError("completions must be a list of completions, got a single string")
    return [completion_text(c) for c in completions]


def _check_prompts(prompts: Sequence[Any] | None, n: int) -> None:
    if prompts is not None and len(prompts) != n:
        raise ValueError(f"prompts has {len(prompts)} entries but there are {n} completions")


# --------------------------------------------------------------------------------------
# what a reasoning says: clauses, content, conclusion (the hardened process terms read it)
# --------------------------------------------------------------------------------------
#: Words after which a reasoning states its conclusion (the last one that is followed by a choice wins).
CONCLUSION_MARKERS: tuple[str, ...] = ("so", "therefore", "thus", "hence", "consequently", "which means",
                                       "answer is", "it must be")  # fmt: skip
#: Words that mark a choice as a mere possibility: a clause naming another choice with one of them is a hedge.
HEDGE_WORDS: frozenset[str] = frozenset({"maybe", "perhaps", "possibly", "probably", "could", "might", "either",
                                         "whether", "unsure", "uncertain"})  # fmt: skip
#: A clause is well-formed when at least this share of its words are function words (see :func:`analyze_reasoning`).
MIN_FUNCTION_SHARE = 0.2
#: A run of this many words (or more) that occurs in the question or the prompt is a copy: it is ignored when a
#: clause is judged well-formed and when its content is read.
COPY_SPAN = 3
#: A run of this many words that already occurred earlier in the think is a repeat (see ``ReasoningAnalysis.fresh``).
REPEAT_SPAN = 5

_SENTENCE_END = re.compile(r"[.!?;\n]")
_PIECE = re.compile(r"[^.!?;\n,:]+|[.!?;\n,:]+")


@lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    """Stopwords that are not themselves structure keywords (``the``, ``is``, ``to``; not ``so``, ``then``)."""
    keywords = {w for words in load_keywords().values() for w in words if " " not in w}
    return frozenset(load_stopwords() - keywords)


def _phrase_in(words: Sequence[str], phrase: Sequence[str]) -> list[int]:
    """Start indices of ``phrase`` (a word sequence) in ``words``."""
    k = len(phrase)
    return [i for i in range(len(words) - k + 1) if tuple(words[i : i + k]) == tuple(phrase)] if k else []


@dataclass(frozen=True)
class ReasoningAnalysis:
    """What :func:`analyze_reasoning` reads from a think text; the hardened process rewards are functions of it.

    Attributes:
        text: the think with repeated clauses removed (the first occurrence of each clause stays); ``l_min`` is
            measured on it.
        clauses: the remaining clauses, each as its words (lowercase ``[a-z0-9]+`` runs).
        well_formed: indices into ``clauses`` of the clauses that read as language, not as a list of words: at
            least one function word (a stopword that is not a structure keyword: ``the``, ``is``, ``to``; not
            ``so``) and a share of at least :data:`MIN_FUNCTION_SHARE` of them, counted without the runs of
            :data:`COPY_SPAN` or more words copied from the question or the prompt.
        content: indices of the well-formed clauses that, copied runs aside, name a concept which is not in the
            question, the prompt, the choices or the answer: what the reasoning adds to what it was given.
        conclusion: the words of the conclusion: in the last (non-question) sentence that names a choice (without
            choices: the last sentence), the words after the last conclusion marker that is followed by a choice
            (or by anything, without choices), else the whole sentence.
        conclusion_clauses: indices of the well-formed clauses of the conclusion's sentence.
        named: indices of the choices the conclusion names (empty without choices).
        answer_choice: the index of the choice the given answer is (its text, its letter, or the one choice it
            names), ``None`` when it is none of them or there are no choices.
        hedged: some clause of a non-question sentence names a choice other than ``answer_choice`` as a
            possibility: with a word of :data:`HEDGE_WORDS`, or with ``or`` and another choice.
        supports: the reasoning leads to the given answer: with ``answer_choice``, the conclusion names that
            choice and no other and nothing is hedged; otherwise the conclusion mentions every concept of the answer.
            Never without content: a reasoning that adds nothing to the prompt supports nothing.
        relate: the share of the question's own concepts (not the choices' or the answer's) that the content
            clauses or the conclusion's well-formed clauses mention; 0.0 when the question has none.
        fresh: the share of the think's words that do not repeat it: a word is a repeat when it lies in a run of
            :data:`REPEAT_SPAN` words that already occurred earlier in the think (1.0 for an empty think).
    """

    text: str
    clauses: tuple[tuple[str, ...], ...]
    well_formed: tuple[int, ...]
    content: tuple[int, ...]
    conclusion: tuple[str, ...]
    conclusion_clauses: tuple[int, ...]
    named: tuple[int, ...]
    answer_choice: int | None
    hedged: bool
    supports: bool
    relate: float
    fresh: float

    def counted_words(self) -> str:
        """The clauses keywords are counted in: the content clauses and the conclusion's well-formed clauses."""
        picked = sorted(set(self.content) | set(self.conclusion_clauses))
        return " , ".join(" ".join(self.clauses[i]) for i in picked)


def _choice_words(choices: Any) -> list[tuple[str, ...]]:
    if choices is None:
        return []
    if not _is_listlike(choices):
        raise TypeError(f"a 'choices' entry must be a list of choice strings, got {choices!r:.80}")
    return [tuple(normalize_answer(c).split()) for c in choices]


def _named_choices(words: Sequence[str], choice_words: Sequence[tuple[str, ...]]) -> list[int]:
    """Indices of the choices named in ``words``, in order of first mention; a mention inside a longer choice's
    mention (``dog`` inside ``dog barking``) does not count."""
    spans = [(i, i + len(c), j) for j, c in enumerate(choice_words) for i in _phrase_in(words, c)]
    kept = [s for s in spans if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] > s[1] - s[0] for o in spans)]
    out: list[int] = []
    for _, _, j in sorted(kept):
        if j not in out:
            out.append(j)
    return out


def _answer_choice(answer: str, choice_words: Sequence[tuple[str, ...]]) -> int | None:
    a = tuple(normalize_answer(answer).split())
    if not a or not choice_words:
        return None
    if a in choice_words:
        return choice_words.index(a)
    if len(a) == 1 and len(a[0]) == 1 and "a" <= a[0] <= "z" and ord(a[0]) - ord("a") < len(choice_words):
        return ord(a[0]) - ord("a")
    named = _named_choices(a, choice_words)
    return named[0] if len(named) == 1 else None


def _uncopied(words: Sequence[str], sources: Sequence[Sequence[str]]) -> list[str]:
    """``words`` without the runs of :data:`COPY_SPAN` or more words that occur, in that order, in one of ``sources``
    (the question, the prompt): words copied from the prompt say nothing of the reasoning's own."""
    copied = [False] * len(words)
    for src in sources:
        grams = {tuple(src[j : j + COPY_SPAN]) for j in range(len(src) - COPY_SPAN + 1)}
        for i in range(len(words) - COPY_SPAN + 1):
            if tuple(words[i : i + COPY_SPAN]) in grams:
                copied[i : i + COPY_SPAN] = [True] * COPY_SPAN
    return [w for w, c in zip(words, copied, strict=True) if not c]


def _fresh_share(words: Sequence[str]) -> float:
    """The share of ``words`` outside every run of :data:`REPEAT_SPAN` words that occurred earlier in ``words``."""
    if not words:
        return 1.0
    repeat = [False] * len(words)
    seen: set[tuple[str, ...]] = set()
    for i in range(len(words) - REPEAT_SPAN + 1):
        gram = tuple(words[i : i + REPEAT_SPAN])
        if gram in seen:
            repeat[i : i + REPEAT_SPAN] = [True] * REPEAT_SPAN
        seen.add(gram)
    return 1.0 - sum(repeat) / len(words)


def _conclusion(words: Sequence[str], choice_words: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """The words after the last conclusion marker that is followed by a choice (anything, without choices)."""
    starts = [i + len(marker.split()) for marker in CONCLUSION_MARKERS for i in _phrase_in(words, marker.split())]
    starts = [j for j in starts if j < len(words) and (not choice_words or _named_choices(words[j:], choice_words))]
    return tuple(words[max(starts) :] if starts else words)


def _split(think: str) -> tuple[str, list[tuple[str, ...]], list[tuple[list[int], bool]]]:
    """``(think without repeated clauses, clauses as words, sentences as (clause indices, is a question))``."""
    kept: list[str] = []
    clauses: list[tuple[str, ...]] = []
    sentences: list[tuple[list[int], bool]] = [([], False)]
    dropped = keep_next_delimiter = False
    for piece in _PIECE.findall(think):
        if not re.search(r"[^.!?;\n,:]", piece):  # a run of delimiters
            if keep_next_delimiter:
                kept.append(piece)
            if _SENTENCE_END.search(piece):
                sentences[-1] = (sentences[-1][0], "?" in piece)
                sentences.append(([], False))
            continue
        words = tuple(_WORD.findall(piece.lower()))
        keep_next_delimiter = not words or words not in clauses
        if not keep_next_delimiter:
            dropped = True
            continue
        kept.append(piece)
        if words:
            sentences[-1][0].append(len(clauses))
            clauses.append(words)
    text = "".join(kept).strip() if dropped else think
    return text, clauses, [s for s in sentences if s[0]]


def analyze_reasoning(think: str, answer: str = "", *, question: str = "", prompt: str = "",
                      choices: Sequence[str] | None = None) -> ReasoningAnalysis:  # fmt: skip
    """Read a think text as the hardened process rewards do (see :class:`ReasoningAnalysis` for every field).

    The think is split into sentences (at ``. ! ? ;`` and line breaks) and clauses (also at ``,`` and ``:``); a
    clause whose words already occurred as a clause is dropped (saying something twice adds nothing). ``answer``
    is the completion's own answer (not the gold one); ``question`` is the question the reasoning should be about
    (the row's ``question`` column, else the prompt's text: the rewards pass that), ``prompt`` the prompt's text
    (its words, like the question's, are not content); ``choices`` the row's choices (optional).
    """
    think, answer = str(think or ""), str(answer or "")
    choice_words = _choice_words(choices)
    choice_concepts = extract_concepts(" ".join(" ".join(c) for c in choice_words))
    text, clauses, sentences = _split(think)
    given = extract_concepts(question) | extract_concepts(prompt) | extract_concepts(answer) | choice_concepts
    function_words = _function_words()
    sources = [tuple(_WORD.findall(t.lower())) for t in (question, prompt)]
    well_formed, content = [], []
    for i, words in enumerate(clauses):
        own = _uncopied(words, sources)
        n_function = sum(w in function_words for w in own)
        if n_function and n_function >= MIN_FUNCTION_SHARE * len(own):
            well_formed.append(i)
            if extract_concepts(" ".join(own)) - given:
                content.append(i)

    answer_choice = _answer_choice(answer, choice_words)
    statements = [s for s, is_question in sentences if not is_question]  # a question asked concludes nothing
    if answer_choice is not None:
        hedged = False
        for i in (i for s in statements for i in s):
            named = _named_choices(clauses[i], choice_words)
            if any(j != answer_choice for j in named) and (
                HEDGE_WORDS & set(clauses[i]) or ("or" in clauses[i] and len(named) >= 2)
            ):
                hedged = True
        final = next((s for s in reversed(statements) if any(_named_choices(clauses[i], choice_words) for i in s)), [])
        conclusion = _conclusion([w for i in final for w in clauses[i]], choice_words)
        named = tuple(_named_choices(conclusion, choice_words))
        supports = named == (answer_choice,) and not hedged
    else:
        hedged, named = False, ()
        final = statements[-1] if statements else []
        conclusion = _conclusion([w for i in final for w in clauses[i]], [])
        needed = extract_concepts(answer)
        supports = bool(needed) and needed <= extract_concepts(" ".join(conclusion))
    conclusion_clauses = tuple(i for i in final if i in well_formed)

    own = extract_concepts(question) - extract_concepts(answer) - choice_concepts
    said = set().union(*(extract_concepts(" ".join(clauses[i])) for i in (*content, *conclusion_clauses)))
    return ReasoningAnalysis(
        text=text, clauses=tuple(clauses), well_formed=tuple(well_formed), content=tuple(content),
        conclusion=conclusion, conclusion_clauses=conclusion_clauses, named=named, answer_choice=answer_choice,
        hedged=hedged, supports=supports and bool(content), relate=len(own & said) / len(own) if own else 0.0,
        fresh=_fresh_share(_WORD.findall(think.lower())),
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# the five rewards
# --------------------------------------------------------------------------------------
def _letter(i: int) -> str | None:
    return chr(ord("a") + i) if 0 <= i < 26 else None


def _accepted_answers(gold: Any, choices: Any) -> set[str]:
    """Normalised answers counted as correct: the gold text, and with choices the gold choice's letter.

    When ``gold`` is itself a letter naming a choice (and no choice's text equals it), that choice's
    text is accepted as well.
    """
    g = normalize_answer(gold)
    accepted = {g} if g else set()
    if choices is None or not g:
        return accepted
    if not _is_listlike(choices):
        raise TypeError(f"a 'choices' entry must be a list of choice strings, got {choices!r:.80}")
    norm_choices = [normalize_answer(c) for c in choices]
    if g in norm_choices:
        letter = _letter(norm_choices.index(g))
        if letter:
            accepted.add(letter)
    elif len(g) == 1 and "a" <= g <= "z" and ord(g) - ord("a") < len(norm_choices):
        accepted.add(norm_choices[ord(g) - ord("a")])
    accepted.discard("")
    return accepted


def accuracy_reward(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                    **columns: Any) -> list[float]:  # fmt: skip
    """Outcome reward ``r_acc ∈ {0, 1}``: is the answer in ``<answer>…</answer>`` correct?

    ``r_acc = 1[norm(a) ∈ A]`` where ``a`` is the text of the completion's one ``<answer>`` pair and
    ``A = {norm(answer)}``, plus the letter (``a``, ``b``, …) of the correct choice when the row has
    ``choices`` (and, if ``answer`` is a letter, that choice's text). ``norm`` is
    :func:`normalize_answer`. No answer pair (or an empty answer, or a ``None`` gold answer) gives
    0.0. The rest of the format is not checked: accuracy is the outcome, format has its own reward.

    Columns: ``answer`` (required), ``choices`` (optional); others are ignored.
    """
    texts = _texts(completions)
    n = len(texts)
    _check_prompts(prompts, n)
    golds = _column(columns, "answer", n, required=True, reward="accuracy_reward")
    choices = _column(columns, "choices", n, required=False, reward="accuracy_reward") or [None] * n
    out = []
    for text, gold, row_choices in zip(texts, golds, choices, strict=True):
        guess = parse_completion(text).answer
        if guess is None or gold is None:
            out.append(0.0)
            continue
        g = normalize_answer(guess)
        out.append(float(bool(g) and g in _accepted_answers(gold, row_choices)))
    return out


def format_reward(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                  **columns: Any) -> list[float]:  # fmt: skip
    """``r_fmt = 1[valid format]``: exactly ``<think>…</think> <answer>…</answer>`` (see :func:`parse_completion`)."""
    texts = _texts(completions)
    _check_prompts(prompts, len(texts))
    return [float(parse_completion(t).valid_format) for t in texts]


def _count_words(text: str) -> int:
    return len(text.split())


class _TokenCounter:
    """``len(tokenizer(text, add_special_tokens=False).input_ids)``: a think's length in the model's tokens."""

    def __init__(self, tokenizer: Any):
        if not callable(tokenizer):
            raise TypeError(f"tokenizer must be a callable Hugging Face tokenizer, got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def __repr__(self) -> str:
        return f"tokens of {type(self.tokenizer).__name__}"


def token_counter(tokenizer: Any = None, count_tokens: Callable[[str], int] | None = None) -> Callable[[str], int]:
    """How a think's length is counted: the model's tokens when ``tokenizer`` is given (as the paper counts),
    ``count_tokens`` when given, else whitespace-separated words (a stand-in where no tokenizer is at hand)."""
    if tokenizer is not None and count_tokens is not None:
        raise ValueError("pass tokenizer or count_tokens, not both")
    if count_tokens is not None and not callable(count_tokens):
        raise TypeError(f"count_tokens must be a callable str -> int or None, got {count_tokens!r}")
    if tokenizer is not None:
        return _TokenCounter(tokenizer)
    return count_tokens or _count_words


def _check_l_min(l_min: Any) -> int:
    if not isinstance(l_min, numbers.Integral) or isinstance(l_min, bool) or l_min < 0:
        raise ValueError(f"l_min must be an integer >= 0 (the shortest think, in tokens, that earns a process "
                         f"bonus), got l_min={l_min!r}")  # fmt: skip
    return int(l_min)


class _ProcessReward:
    """What the three process rewards share: 0 unless the format is valid and the think, with repeated clauses
    removed (:func:`analyze_reasoning`), has at least ``l_min`` tokens (counted by :func:`token_counter`); then
    :meth:`score`."""

    __name__ = "process"

    def __init__(self, l_min: int = L_MIN, tokenizer: Any = None, count_tokens: Callable[[str], int] | None = None):
        self.l_min = _check_l_min(l_min)
        self.count_tokens: Callable[[str], int] = token_counter(tokenizer, count_tokens)

    def length(self, think: str) -> int:
        """The think's length in tokens (checked: an integer >= 0)."""
        n = self.count_tokens(think)
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
            raise ValueError(f"count_tokens returned {n!r} for a think text; expected an integer >= 0")
        return int(n)

    def _gated(self, prompts: Sequence[Any] | None, completions: Sequence[Any], columns: Mapping[str, Any],
               score: Callable[[ParsedCompletion, ReasoningAnalysis], float]) -> list[float]:  # fmt: skip
        """``score(parsed, analysis)`` for completions with a valid format whose think, repeated clauses removed,
        has ``>= l_min`` tokens, else 0. ``analysis`` reads the think against the row's ``question`` column (else
        the prompt's text), the prompt's text and the row's ``choices``."""
        texts = _texts(completions)
        n = len(texts)
        _check_prompts(prompts, n)
        questions = _column(columns, "question", n, required=False, reward=self.__name__) or [None] * n
        choices = _column(columns, "choices", n, required=False, reward=self.__name__) or [None] * n
        out = []
        for i, text in enumerate(texts):
            parsed = parse_completion(text)
            if not parsed.valid_format:
                out.append(0.0)
                continue
            prompt = question_text(prompts[i]) if prompts is not None else ""
            question = str(questions[i]) if questions[i] is not None else prompt
            analysis = _analyze(parsed.think, parsed.answer, question, prompt, _hashable(choices[i]))
            out.append(score(parsed, analysis) if self.length(analysis.text) >= self.l_min else 0.0)
        return out

    def _counter_repr(self) -> str:
        return "words" if self.count_tokens is _count_words else repr(self.count_tokens)


def _hashable(choices: Any) -> tuple[str, ...] | None:
    if choices is None:
        return None
    if not _is_listlike(choices):
        raise TypeError(f"a 'choices' entry must be a list of choice strings, got {choices!r:.80}")
    return tuple(str(c) for c in choices)


@lru_cache(maxsize=4096)
def _analyze(think: str, answer: str, question: str, prompt: str, choices: tuple[str, ...] | None) -> ReasoningAnalysis:
    """:func:`analyze_reasoning`, cached: the three process rewards read the same completion."""
    return analyze_reasoning(think, answer, question=question, prompt=prompt, choices=choices)


class ConsistencyReward(_ProcessReward):
    """Consistency ``r_cons ∈ [0, 2]``: does the reasoning lead to the answer it gives, and is it about the question?

    ``r_cons = f · s · (1 + rel)`` for a valid format and a think of at least ``l_min`` tokens (repeated clauses
    removed), else 0, where (:func:`analyze_reasoning`, which defines each term):

    * ``s ∈ {0, 1}``, *support* (the paper's reasoning–answer consistency): the reasoning carries content (a
      well-formed clause with a concept beyond the prompt, the choices and the answer) and its conclusion names the
      given answer: with the row's ``choices``, the last sentence that names a choice concludes (after its last
      ``so``/``therefore``/…) with that choice and no other, and no clause entertains another choice as a
      possibility (``maybe``, ``could``, ``… or …``); without choices, the conclusion mentions every concept of
      the answer;
    * ``rel ∈ [0, 1]``, *relevance* (reasoning–question consistency): the share of the question's own concepts (the
      row's ``question`` column, else the prompt's text; choice and answer words excluded) that the content clauses
      or the conclusion mention. Copying the question adds no content, so it earns no relevance;
    * ``f ∈ [0, 1]``, *fresh*: the share of the think's words that do not repeat an earlier run of five words.

    A reasoning that does not lead to its answer earns no consistency at all, however relevant its words.
    """

    __name__ = "consistency_reward"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **columns: Any) -> list[float]:  # fmt: skip
        n = len(_texts(completions))
        questions = _column(columns, "question", n, required=False, reward="consistency_reward") or [None] * n
        if prompts is None and any(q is None for q in questions):
            raise ValueError("consistency_reward needs the prompts or a 'question' column")
        return self._gated(prompts, completions, columns, lambda p, a: a.fresh * a.supports * (1.0 + a.relate))

    def __repr__(self) -> str:
        return f"ConsistencyReward(l_min={self.l_min}, count_tokens={self._counter_repr()})"


#: :class:`ConsistencyReward` with ``l_min`` = :data:`L_MIN`, lengths in words (pass a tokenizer for tokens).
consistency_reward = ConsistencyReward()


class KeywordReward(_ProcessReward):
    """Structured-reasoning reward ``r_kw ∈ [0, 1]``: does the reasoning use analysis, logic and domain words?

    ``r_kw = (1/3) Σ_c min(1, hits_c / target_c)`` for a valid format and a think of at least ``l_min`` tokens
    (repeated clauses removed), else 0, over the categories ``c`` of :data:`KEYWORD_CATEGORIES` (analytical
    patterns, logical connectives, audio domain terms), where ``hits_c`` is the number of *distinct* keywords of
    ``c`` found as whole words or phrases (words are runs of ``[a-z0-9]``; ``higher`` does not count as ``high``)
    in the clauses that carry content and the conclusion's well-formed clauses
    (:meth:`ReasoningAnalysis.counted_words`): a list of keywords without the grammar of a sentence, or the
    question's words copied, counts nothing. When the row has ``choices`` and the reasoning does not lead to its
    answer (:class:`ConsistencyReward`'s support is 0), ``r_kw = 0``: the structure words of an argument for
    another choice, or of a hedge, do not describe a reasoning for this answer. The value is scaled by the share
    of the think's words that do not repeat it (``ReasoningAnalysis.fresh``).

    Args:
        targets: ``target_c`` for (analytical, connectives, audio_terms); positive numbers.
        keywords: ``{category: [keywords]}`` with the three categories (other keys are ignored);
            default: ``data/cesar/keywords.json``.
        l_min, tokenizer, count_tokens: the shortest think (tokens) that earns the reward, and how tokens are
            counted (:func:`token_counter`).
    """

    __name__ = "keywords"

    def __init__(self, targets: Sequence[float] = (1, 1, 1), keywords: Mapping[str, Sequence[str]] | None = None, *,
                 l_min: int = L_MIN, tokenizer: Any = None,
                 count_tokens: Callable[[str], int] | None = None):  # fmt: skip
        super().__init__(l_min, tokenizer, count_tokens)
        targets = tuple(targets)
        if len(targets) != len(KEYWORD_CATEGORIES) or not all(
            isinstance(t, numbers.Real) and not isinstance(t, bool) and math.isfinite(t) and t > 0 for t in targets
        ):
            raise ValueError(f"targets must be {len(KEYWORD_CATEGORIES)} finite positive numbers (one per category "
                             f"{KEYWORD_CATEGORIES}), got targets={targets!r}")  # fmt: skip
        self.targets: tuple[float, ...] = tuple(float(t) for t in targets)
        self._keywords: dict[str, tuple[str, ...]] | None = None  # None: data/cesar/keywords.json, read on first use
        if keywords is not None:
            if not isinstance(keywords, Mapping):
                raise TypeError(f"keywords must be a mapping {{category: [keywords]}}, got {type(keywords).__name__}")
            self._keywords = {c: _clean_keywords(c, keywords.get(c)) for c in KEYWORD_CATEGORIES}

    @property
    def keywords(self) -> dict[str, tuple[str, ...]]:
        """``{category: normalised keywords}`` (lowercase, words joined by one space)."""
        if self._keywords is None:
            self._keywords = load_keywords()
        return self._keywords

    def category_hits(self, think: str) -> dict[str, int]:
        """``{category: number of distinct keywords of the category in think}`` (all of the text: no clause rule)."""
        padded = f" {' '.join(_WORD.findall(str(think).lower()))} "
        return {c: sum(f" {kw} " in padded for kw in kws) for c, kws in self.keywords.items()}

    def _value(self, text: str) -> float:
        hits = self.category_hits(text)
        return sum(min(1.0, hits[c] / t) for c, t in zip(KEYWORD_CATEGORIES, self.targets, strict=True)) / len(
            self.targets
        )

    def score(self, think: str, answer: str = "", *, question: str = "", prompt: str = "",
              choices: Sequence[str] | None = None) -> float:  # fmt: skip
        """``(1/3) Σ_c min(1, hits_c / target_c)`` of one think text, counted where the reward counts them (no
        format or length check); ``answer``, ``question``, ``prompt``, ``choices`` as for :func:`analyze_reasoning`."""
        return self._of(analyze_reasoning(think, answer, question=question, prompt=prompt, choices=choices))

    def _of(self, analysis: ReasoningAnalysis) -> float:
        if analysis.answer_choice is not None and not analysis.supports:
            return 0.0
        return analysis.fresh * self._value(analysis.counted_words())

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **columns: Any) -> list[float]:  # fmt: skip
        return self._gated(prompts, completions, columns, lambda p, a: self._of(a))

    def __repr__(self) -> str:
        sizes = {c: len(k) for c, k in self.keywords.items()}
        return (f"KeywordReward(targets={self.targets}, keywords sizes={sizes}, l_min={self.l_min}, "
                f"count_tokens={self._counter_repr()})")


#: :class:`KeywordReward` with targets (1, 1, 1) and the keywords of ``data/cesar/keywords.json`` (read on first call).
keyword_reward = KeywordReward()


class OverthinkingReward(_ProcessReward):
    """Calibrated-depth reward ``r_over ∈ [0, 1]``: shorter reasoning is better, from ``l_min`` up to ``l_max``.

    ``r_over = max(0, 1 - n / L_max)`` for a valid format and a think that, with repeated clauses removed, has
    at least ``l_min`` tokens, else 0, with ``n`` the *whole* think's length in tokens (the model's when a
    ``tokenizer`` is given; see :func:`token_counter`): a repetition pays for its length and does not count
    towards ``l_min``. A think of ``L_max`` tokens or more earns 0, and so does one shorter than ``l_min`` (an
    empty think would otherwise earn the full 1.0: see the module docstring). Weighted against accuracy
    (λ_acc = 5 vs λ_len = 1) it trims reasoning that does not pay off in correct answers.

    Args:
        l_max: ``L_max``, the think length (tokens) at which the reward reaches 0; an integer >= 1.
        count_tokens: ``str -> int``; default: the model's tokens with ``tokenizer``, else whitespace words.
        tokenizer: the policy's tokenizer (counts its tokens).
        l_min: the shortest think (tokens) that earns the reward; an integer >= 0, below ``l_max``.
    """

    __name__ = "overthinking"

    def __init__(self, l_max: int = 256, count_tokens: Callable[[str], int] | None = None, *, tokenizer: Any = None,
                 l_min: int = L_MIN):  # fmt: skip
        if not isinstance(l_max, numbers.Integral) or isinstance(l_max, bool) or l_max < 1:
            raise ValueError(f"l_max must be an integer >= 1 (the think length, in tokens, at which the "
                             f"overthinking reward reaches 0), got l_max={l_max!r}")  # fmt: skip
        super().__init__(l_min, tokenizer, count_tokens)
        if self.l_min >= l_max:
            raise ValueError(f"l_min={self.l_min} must be below l_max={l_max}")
        self.l_max = int(l_max)

    def score(self, think: str) -> float:
        """``max(0, 1 - n / l_max)`` of one think text of ``n`` tokens, 0 when it has fewer than ``l_min`` tokens
        once repeated clauses are removed (no format check)."""
        if self.length(analyze_reasoning(think).text) < self.l_min:
            return 0.0
        return max(0.0, 1.0 - self.length(think) / self.l_max)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **columns: Any) -> list[float]:  # fmt: skip
        return self._gated(prompts, completions, columns,
                           lambda p, a: max(0.0, 1.0 - self.length(p.think) / self.l_max))  # fmt: skip

    def __repr__(self) -> str:
        return f"OverthinkingReward(l_max={self.l_max}, l_min={self.l_min}, count_tokens={self._counter_repr()})"


# --------------------------------------------------------------------------------------
# composition
# --------------------------------------------------------------------------------------
def _check_alphas(alphas: Sequence[float]) -> tuple[float, ...]:
    if isinstance(alphas, str) or not isinstance(alphas, Sequence) or len(alphas) != len(CESAR_COMPONENTS):
        raise ValueError(f"alphas must be {len(CESAR_COMPONENTS)} weights, one per {CESAR_COMPONENTS}, "
                         f"got alphas={alphas!r}")  # fmt: skip
    for name, a in zip(CESAR_COMPONENTS, alphas, strict=True):
        if not isinstance(a, numbers.Real) or isinstance(a, bool) or not math.isfinite(a) or a < 0:
            raise ValueError(f"alpha of {name!r} must be a finite number >= 0, got {a!r} (alphas={alphas!r})")
    return tuple(float(a) for a in alphas)


def cesar_reward_funcs(alphas: Sequence[float] = CESAR_ALPHAS, l_max: int = 256,
                       count_tokens: Callable[[str], int] | None = None, outcome_only: bool = False, *,
                       tokenizer: Any = None, l_min: int = L_MIN,
                       ) -> tuple[list[Callable[..., list[float]]], list[float]]:  # fmt: skip
    """CESAR's ``(reward_funcs, reward_weights)``: pass them as ``reward_funcs=`` and ``GRPOConfig(reward_weights=)``.

    The trainer's reward is ``R = Σ_k λ_k r_k`` over (accuracy, format, consistency, keywords,
    overthinking) with ``alphas`` = (λ_acc, λ_fmt, λ_cons, λ_kw, λ_len) (paper: :data:`CESAR_ALPHAS` =
    (5, 1, 1, 1, 1), ``R ∈ [0, 10]``).
    The process terms (consistency, keywords, overthinking) only count when the format is valid and the
    think has at least ``l_min`` tokens, so skipping the tags or the reasoning cannot earn them.

    Args:
        alphas: 5 finite non-negative weights.
        l_max: of the :class:`OverthinkingReward`.
        count_tokens, tokenizer: how think lengths are counted (:func:`token_counter`): pass the policy's
            ``tokenizer`` to count its tokens, as the paper does; without either, whitespace words.
        outcome_only: return ``[accuracy_reward, format_reward]`` with weights ``[alphas[0], alphas[1]]``:
            the outcome-only GRPO baseline (accuracy + format, as R1-AQA and Ke-Omni-R).
        l_min: the shortest think (tokens) that earns a process bonus (:data:`L_MIN`).
    """
    weights = list(_check_alphas(alphas))
    if outcome_only:
        return [accuracy_reward, format_reward], weights[:2]
    length = {"l_min": l_min, "tokenizer": tokenizer, "count_tokens": count_tokens}
    funcs: list[Callable[..., list[float]]] = [
        accuracy_reward,
        format_reward,
        ConsistencyReward(**length),
        KeywordReward(**length),
        OverthinkingReward(l_max=l_max, **length),
    ]
    return funcs, weights


def cesar_breakdown(prompts: Sequence[Any], completions: Sequence[Any], *, l_max: int = 256,
                    count_tokens: Callable[[str], int] | None = None, tokenizer: Any = None, l_min: int = L_MIN,
                    **columns: Any) -> dict[str, list[float]]:  # fmt: skip
    """Every CESAR component per completion: ``{name: [value per completion]}`` for plots and tables.

    Keys are :data:`CESAR_COMPONENTS` (accuracy, format, consistency, keywords, overthinking), unweighted;
    the total of :func:`cesar_reward_funcs` is ``Σ_k alphas[k] * breakdown[name_k][i]``. ``columns`` as for
    the rewards (``answer`` required; ``choices``, ``question`` optional); the length settings as there.
    """
    funcs, _ = cesar_reward_funcs(l_max=l_max, count_tokens=count_tokens, tokenizer=tokenizer, l_min=l_min)
    return {name: list(fn(prompts, completions, **columns)) for name, fn in zip(CESAR_COMPONENTS, funcs, strict=True)}
