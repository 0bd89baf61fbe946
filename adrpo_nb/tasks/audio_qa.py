r"""A synthetic, MMAU-style audio question-answering benchmark, generated with numpy.

Five tasks, each a multiple-choice question about a 2-second mono clip at 16 kHz, with one-word
answers:

=========  =================================  ==========================================================
task       question                           what the clip holds
=========  =================================  ==========================================================
``pitch``  which tone is higher ?             two tones in sequence, 200–2000 Hz, frequency ratio ≥ 1.5
``count``  how many beeps do you hear ?       1–4 short beeps (80–150 ms) of one frequency
``chord``  is the chord major or minor ?      a sustained triad: root 400–800 Hz, +4/+7 or +3/+7 semitones
``tempo``  is the tempo fast or slow ?        clicks at 2–3 per second (slow) or 6–8 per second (fast)
``noise``  is this a tone or noise ?          a white-noise burst or a pure tone, 0.5–1.5 s
=========  =================================  ==========================================================

Every clip has a random amplitude (0.3–0.8), short raised-cosine fades (no clicks at the edges of a
tone), a random onset and a faint white background noise (σ = 0.005). A clip is a deterministic
function of a small JSON-able ``params`` dict (:func:`render_audio`), so the data files hold the
params only and the audio is rendered when needed; each row also stores the SHA-256 of the clip's
16-bit PCM so that a re-render can be checked (:func:`verify_audio`).

Prompts and reasoning traces use a small fixed vocabulary (:func:`vocabulary`): lowercase words with
punctuation as separate space-separated tokens, so a tiny word-level tokenizer covers them all::

    which tone is higher ? choose first or second .
    <think> i listen to the first tone , it is low . then the second tone is high . so the second
    tone is higher . </think> <answer> second </answer>

The traces use the analytical words, connectives and audio terms of ``data/cesar/keywords.json``
(listen, compare, count, so, therefore, pitch, beep, …), the structure that a reasoning-pattern
reward looks for.

**Inverse test-time scaling is built in, on purpose.** :func:`worked_completion` with
``overthink=True`` appends 1–4 hedging segments ("wait , let me listen again .") to a correct trace,
and each segment, independently with probability ``flip_probability``, switches the running
conclusion to a different choice. The stated answer is the conclusion after the last segment, so the
more a completion hedges, the more often its answer is wrong: for a two-choice task the accuracy after
``k`` hedges is ``(1 + (1 - 2p)^k) / 2`` (0.65, 0.55, 0.51, 0.50 for ``p = 0.35``; for the four-choice
``count`` task ``1/4 + 3/4 (1 - 4p/3)^k``: 0.65, 0.46, 0.36, 0.31). This is how the
book builds "longer reasoning, lower accuracy" into the weak starting model's supervised data: it is
an explicit, stated mechanism of this generator, not a finding about audio models.

**Held out by meaning.** Two questions are the same item when they ask the same question about the same
sound, as the tiny model's front end hears it (Whisper log-mel features: 64 mel bands, a 10 ms hop), up to
where it starts, how loud it is and the background noise. :func:`canonical_form` is that: the task, the answer
and the answer-determining sound parameters (frequencies as the nearest of 64 Slaney-mel band centres up to
8 kHz, times relative to the first sound as whole 10 ms frames), without ``onset``, ``amplitude`` or
``noise_seed`` (so two noise bursts of one length in frames are one item). The near-duplicates it finds are
the ones quantization puts in one cell; two sounds on either side of a band or frame boundary stay apart. The
splits (:func:`split_questions`, :func:`splits`): ``"eval"`` is the test file, and the training side
(``"rl_train"`` = ``"pretrain"``) is the train file less every question whose form an eval question has, so
the two are disjoint under the form by construction and the evaluation stays the committed 400 questions.

Run ``python -m adrpo_nb.tasks.audio_qa`` to (re)write ``data/audio_qa/`` (train/test jsonl,
``manifest.json`` with checksums and the command, and one example WAV per task).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import re
import wave
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adrpo_nb.utils.paths import (
    DataFileError,
    atomic_write_bytes,
    atomic_write_json,
    data_path,
    read_json,
    runs_dir,
)

__all__ = [
    "SAMPLE_RATE",
    "CLIP_SECONDS",
    "CLIP_SAMPLES",
    "NOISE_SIGMA",
    "TASKS",
    "QUESTIONS",
    "CHOICES",
    "HEDGES",
    "GENERATOR_VERSION",
    "AudioQuestion",
    "render_audio",
    "make_question",
    "make_split",
    "prompt_text",
    "worked_completion",
    "vocabulary",
    "SPLITS",
    "canonical_form",
    "split_questions",
    "splits",
    "check_audio",
    "to_pcm16",
    "clip_sha256",
    "write_wav",
    "read_wav",
    "write_dataset",
    "load_split",
    "verify_audio",
]

SAMPLE_RATE = 16000
CLIP_SECONDS = 2
CLIP_SAMPLES = SAMPLE_RATE * CLIP_SECONDS
NOISE_SIGMA = 0.005  #: standard deviation of the white background noise under every clip
GENERATOR_VERSION = 1  #: bump when a change alters the params drawn or the audio rendered from them

TASKS = ("pitch", "count", "chord", "tempo", "noise")
QUESTIONS: dict[str, str] = {
    "pitch": "which tone is higher ?",
    "count": "how many beeps do you hear ?",
    "chord": "is the chord major or minor ?",
    "tempo": "is the tempo fast or slow ?",
    "noise": "is this a tone or noise ?",
}
CHOICES: dict[str, tuple[str, ...]] = {
    "pitch": ("first", "second"),
    "count": ("one", "two", "three", "four"),
    "chord": ("major", "minor"),
    "tempo": ("fast", "slow"),
    "noise": ("tone", "noise"),
}

_FADE_S = 0.01  # raised-cosine fade of tones and noise bursts
_BEEP_FADE_S = 0.005
_CLICK_S, _CLICK_ATTACK_S, _CLICK_DECAY_S = 0.015, 0.001, 0.003
_MARGIN_S = 0.05  # no sound in the first and last 50 ms of a clip
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def _samples(seconds: float) -> int:
    """Seconds to a whole number of samples (round half to even)."""
    return int(np.rint(seconds * SAMPLE_RATE))


def _fade(n: int, fade_s: float) -> np.ndarray:
    """An envelope of ``n`` ones with raised-cosine ramps of ``fade_s`` seconds at both ends."""
    env = np.ones(n)
    f = min(_samples(fade_s), n // 2)
    if f > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(f) / f)
        env[:f] = ramp
        env[n - f :] = ramp[::-1]
    return env


def _sines(freqs, seconds: float) -> np.ndarray:
    """The mean of unit sines at ``freqs`` (Hz), ``seconds`` long, phase 0 at the start."""
    t = np.arange(_samples(seconds)) / SAMPLE_RATE
    return np.mean([np.sin(2 * np.pi * f * t) for f in freqs], axis=0)


def _place(clip: np.ndarray, start_s: float, segment: np.ndarray) -> None:
    i = _samples(start_s)
    if i < 0 or i + len(segment) > len(clip):
        raise ValueError(f"a sound at {start_s} s of {len(segment)} samples does not fit in the clip")
    clip[i : i + len(segment)] += segment


def _click(freq: float) -> np.ndarray:
    n = _samples(_CLICK_S)
    t = np.arange(n) / SAMPLE_RATE
    env = np.exp(-t / _CLICK_DECAY_S) * np.minimum(1.0, t / _CLICK_ATTACK_S)
    env[-_samples(0.002) :] *= np.linspace(1, 0, _samples(0.002))
    return env * np.sin(2 * np.pi * freq * t)


def _chord_freqs(root: float, quality: str) -> list[float]:
    third = {"major": 4, "minor": 3}[quality]
    return [root, root * 2 ** (third / 12), root * 2 ** (7 / 12)]


def render_audio(task: str, params: dict) -> np.ndarray:
    """The clip of a question: float32 ``[CLIP_SAMPLES]`` in [-1, 1], a deterministic function of ``params``.

    ``params`` is what :func:`make_question` draws (frequencies in Hz, times in seconds, ``amplitude``
    and an integer ``noise_seed`` for the background noise and, for a noise burst, the burst itself).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got task={task!r}")
    try:
        clip = np.zeros(CLIP_SAMPLES)
        amp = float(params["amplitude"])
        rng = np.random.default_rng(int(params["noise_seed"]))
        background = rng.standard_normal(CLIP_SAMPLES) * NOISE_SIGMA
        if task == "pitch":
            start = params["onset"]
            for freq, dur in zip(params["freqs"], params["durations"], strict=True):
                _place(clip, start, amp * _sines([freq], dur) * _fade(_samples(dur), _FADE_S))
                start += dur + params["gap"]
        elif task == "count":
            for start, dur in zip(params["starts"], params["durations"], strict=True):
                n = _samples(dur)
                _place(clip, start, amp * _sines([params["freq"]], dur) * _fade(n, _BEEP_FADE_S))
        elif task == "chord":
            dur = params["duration"]
            tone = _sines(_chord_freqs(params["root"], params["quality"]), dur)
            _place(clip, params["onset"], amp * tone * _fade(len(tone), _FADE_S))
        elif task == "tempo":
            click = amp * _click(params["click_freq"])
            for k in range(int(params["clicks"])):
                _place(clip, params["onset"] + k / params["rate"], click)
        else:  # noise
            dur = params["duration"]
            n = _samples(dur)
            if params["kind"] == "noise":
                sound = np.clip(rng.standard_normal(n) / 3.0, -1.0, 1.0)
            elif params["kind"] == "tone":
                sound = _sines([params["freq"]], dur)
            else:
                raise ValueError(f"params['kind'] must be 'tone' or 'noise', got {params['kind']!r}")
            _place(clip, params["onset"], amp * sound * _fade(n, _FADE_S))
    except KeyError as err:
        raise ValueError(f"params of a {task!r} clip lack the key {err.args[0]!r}: {params}") from None
    return np.clip(clip + background, -1.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------------
# Questions and splits
# --------------------------------------------------------------------------------------
@dataclass
class AudioQuestion:
    """One benchmark item. ``params`` determine the clip (:meth:`audio`); ``sha256`` is the stored clip hash, if any."""

    id: str
    task: str
    question: str
    choices: list[str]
    answer: str
    params: dict
    sha256: str | None = field(default=None, compare=False, repr=False)

    def audio(self) -> np.ndarray:
        """The rendered clip, float32 ``[CLIP_SAMPLES]``."""
        return render_audio(self.task, self.params)

    @property
    def prompt(self) -> str:
        return prompt_text(self)

    def to_row(self) -> dict:
        """A JSON-able dict with keys ``id, task, question, choices, answer, params``."""
        return {
            "id": self.id,
            "task": self.task,
            "question": self.question,
            "choices": list(self.choices),
            "answer": self.answer,
            "params": self.params,
        }

    @classmethod
    def from_row(cls, row: dict) -> AudioQuestion:
        return cls(row["id"], row["task"], row["question"], list(row["choices"]), row["answer"], row["params"],
                   sha256=row.get("sha256"))  # fmt: skip


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _t(x: float) -> float:
    """A time in seconds, rounded to 0.1 ms (the params files stay short)."""
    return round(float(x), 4)


def _hz(x: float) -> float:
    return round(float(x), 2)


def _draw_params(task: str, answer: str, rng: np.random.Generator) -> dict:
    amplitude = round(float(rng.uniform(0.3, 0.8)), 3)
    if task == "pitch":
        while True:
            fa, fb = (_hz(_loguniform(rng, 200, 2000)) for _ in range(2))
            if max(fa, fb) / min(fa, fb) >= 1.5:
                break
        low, high = sorted((fa, fb))
        freqs = [high, low] if answer == "first" else [low, high]
        durations = [_t(rng.uniform(0.3, 0.7)), _t(rng.uniform(0.3, 0.7))]
        gap = _t(rng.uniform(0.1, 0.3))
        total = sum(durations) + gap
        params = {"freqs": freqs, "durations": durations, "gap": gap,
                  "onset": _t(rng.uniform(_MARGIN_S, CLIP_SECONDS - _MARGIN_S - total))}  # fmt: skip
    elif task == "count":
        k = CHOICES["count"].index(answer) + 1
        durations = [_t(d) for d in rng.uniform(0.08, 0.15, size=k)]
        min_gap = 0.1
        slack = CLIP_SECONDS - 2 * _MARGIN_S - sum(durations) - (k - 1) * min_gap - 0.01
        parts = rng.dirichlet(np.ones(k + 1)) * slack
        starts, s = [], _MARGIN_S + parts[0]
        for i in range(k):
            starts.append(_t(s))
            s += durations[i] + min_gap + parts[i + 1]
        params = {"freq": _hz(_loguniform(rng, 500, 1500)), "starts": starts, "durations": durations}
    elif task == "chord":
        duration = _t(rng.uniform(1.0, 1.6))
        params = {"root": _hz(_loguniform(rng, 400, 800)), "quality": answer, "duration": duration,
                  "onset": _t(rng.uniform(_MARGIN_S, CLIP_SECONDS - _MARGIN_S - duration))}  # fmt: skip
    elif task == "tempo":
        rate = round(float(rng.uniform(2.0, 3.0) if answer == "slow" else rng.uniform(6.0, 8.0)), 3)
        clicks = int(rng.uniform(1.2, 1.7) * rate) + 1
        span = (clicks - 1) / rate + _CLICK_S
        params = {"rate": rate, "clicks": clicks, "click_freq": _hz(_loguniform(rng, 2000, 4000)),
                  "onset": _t(rng.uniform(_MARGIN_S, CLIP_SECONDS - _MARGIN_S - span))}  # fmt: skip
    elif task == "noise":
        duration = _t(rng.uniform(0.5, 1.5))
        params = {"kind": answer, "duration": duration,
                  "onset": _t(rng.uniform(_MARGIN_S, CLIP_SECONDS - _MARGIN_S - duration))}  # fmt: skip
        if answer == "tone":
            params["freq"] = _hz(_loguniform(rng, 250, 2500))
    else:
        raise ValueError(f"task must be one of {TASKS}, got task={task!r}")
    params["amplitude"] = amplitude
    params["noise_seed"] = int(rng.integers(2**31))
    return params


def make_question(task: str, rng: np.random.Generator, id: str) -> AudioQuestion:
    """Draw one question of ``task``: the answer uniformly among the choices, then params that make it true."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got task={task!r}")
    choices = CHOICES[task]
    answer = choices[int(rng.integers(len(choices)))]
    return AudioQuestion(id, task, QUESTIONS[task], list(choices), answer, _draw_params(task, answer, rng))


def make_split(n: int, seed: int, prefix: str) -> list[AudioQuestion]:
    """``n`` questions, tasks in round robin, ids ``f"{prefix}-{i:05d}"``; the same list for the same (seed, prefix).

    The random stream depends on ``prefix`` too, so ``"train"`` and ``"test"`` with one seed do not repeat.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got n={n!r}")
    rng = np.random.default_rng([int(seed), zlib.crc32(prefix.encode())])
    return [make_question(TASKS[i % len(TASKS)], rng, f"{prefix}-{i:05d}") for i in range(n)]


# --------------------------------------------------------------------------------------
# Text: prompts, worked completions, vocabulary
# --------------------------------------------------------------------------------------
def _or_list(words) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else " , ".join(words[:-1]) + " or " + words[-1]


def prompt_text(question: AudioQuestion) -> str:
    """``"which tone is higher ? choose first or second ."`` (lowercase, punctuation as separate tokens)."""
    return f"{question.question} choose {_or_list(question.choices)} ."


# Templates per task; ``{name}`` fields are filled from _fields() (values from _FIELD_VALUES only).
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pitch": (
        "i listen to the first tone , it is {p1} . then the second tone is {p2} . so the {ans} tone is higher .",
        "first i hear a {p1} tone , next a {p2} tone . i compare the pitch : the {ans} one is {degree} higher "
        "than the {other} one , thus the {ans} tone is higher .",
        "i compare the frequency of the two tones . the {other} tone is lower , however the {ans} tone is {degree} "
        "higher . therefore the {ans} tone is higher .",
    ),
    "count": (
        "i count the beeps : {enum} . so there {verb} {n} {noun} .",
        "i listen : {beeps} , then it is quiet . so i count {n} {noun} .",
        "i notice each beep and count : {enum} . finally the sound stops , which means {n} {noun} .",
    ),
    "chord": (
        "the chord has three notes . the middle note is a {ans} third above the root , so it is {ans} .",
        "i listen to the root , then the third and the fifth . the third is {semis} semitones above the root , "
        "which means a {ans} third , so the chord is {ans} .",
        "the harmony sounds {mood} and the root is fairly {register} . i check the interval from the root to the "
        "middle note : it is a {ans} third . therefore the chord is {ans} .",
    ),
    "tempo": (
        "the clicks come {adverb} , the rhythm is {ans} .",
        "i count about {k} clicks per second . that is {amount} , so the tempo is {ans} .",
        "i analyze the rhythm . the gap from one click to the next is {gaplen} , since the clicks come {adverb} . "
        "thus the tempo is {ans} .",
    ),
    "noise": (
        "the sound has {has_pitch} , it is {texture} , so it is {ans} .",
        "i listen for a pitch . it is {ans} , because i hear {heard} .",
        "i identify the sound : it is {length} and {spread} . the volume is {loudness} . therefore it is {ans} .",
    ),
}
_FIELD_VALUES: dict[str, tuple[str, ...]] = {
    "p1": ("low", "high"),
    "p2": ("low", "high"),
    "degree": ("a little", "much"),
    "enum": tuple(" , ".join(_NUMBER_WORDS[1 : k + 1]) for k in range(1, 5)),
    "beeps": tuple(" , ".join(["beep"] * k) for k in range(1, 5)),
    "verb": ("is", "are"),
    "n": _NUMBER_WORDS[1:5],
    "noun": ("beep", "beeps"),
    "semis": ("four", "three"),
    "mood": ("bright", "dark"),
    "register": ("low", "high"),
    "adverb": ("quickly", "slowly"),
    "k": ("two", "three", "six", "seven", "eight"),
    "amount": ("many", "few"),
    "gaplen": ("short", "long"),
    "has_pitch": ("a clear pitch", "no clear pitch"),
    "texture": ("a steady tone", "a hiss"),
    "heard": ("one clear note at a single frequency", "no single note , only a hiss"),
    "length": ("short", "long"),
    "loudness": ("loud", "quiet"),
    "spread": ("its energy sits at one frequency", "its energy is spread over every frequency"),
}
#: the hedging segments of an overthinking trace; ``{alt}`` is another choice
HEDGES = (
    "wait , let me listen again .",
    "hmm , maybe i heard it wrong .",
    "but the other one could be {alt} .",
    "let me check that once more .",
)
_FLIP = ("now i think it is {new} .", "so maybe it is {new} instead .")
_KEEP = ("no , it is still {cur} .", "i still think it is {cur} .")
_FINAL = "so the answer is {cur} ."


def _fields(q: AudioQuestion) -> dict[str, str]:
    """The template fields of ``q``, read from its params (so a trace describes the clip it comes with)."""
    p, ans = q.params, q.answer
    if q.task == "pitch":
        hi = 0 if ans == "first" else 1
        ratio = max(p["freqs"]) / min(p["freqs"])
        return {"ans": ans, "other": CHOICES["pitch"][1 - hi], "p1": "high" if hi == 0 else "low",
                "p2": "high" if hi == 1 else "low", "degree": "a little" if ratio < 2 else "much"}  # fmt: skip
    if q.task == "count":
        k = len(p["starts"])
        return {"enum": _FIELD_VALUES["enum"][k - 1], "beeps": _FIELD_VALUES["beeps"][k - 1], "n": _NUMBER_WORDS[k],
                "verb": "is" if k == 1 else "are", "noun": "beep" if k == 1 else "beeps"}  # fmt: skip
    if q.task == "chord":
        major = p["quality"] == "major"
        return {"ans": p["quality"], "semis": "four" if major else "three", "mood": "bright" if major else "dark",
                "register": "low" if p["root"] < 565 else "high"}  # fmt: skip
    if q.task == "tempo":
        fast = p["rate"] > 4.5
        return {"ans": "fast" if fast else "slow", "adverb": "quickly" if fast else "slowly",
                "k": _NUMBER_WORDS[math.floor(p["rate"] + 0.5)], "amount": "many" if fast else "few",
                "gaplen": "short" if fast else "long"}  # fmt: skip
    tone = p["kind"] == "tone"
    i = 0 if tone else 1
    return {"ans": p["kind"], "has_pitch": _FIELD_VALUES["has_pitch"][i], "texture": _FIELD_VALUES["texture"][i],
            "heard": _FIELD_VALUES["heard"][i], "spread": _FIELD_VALUES["spread"][i],
            "length": "short" if p["duration"] < 1.0 else "long",
            "loudness": "loud" if p["amplitude"] >= 0.55 else "quiet"}  # fmt: skip


def worked_completion(
    q: AudioQuestion,
    rng: np.random.Generator,
    *,
    overthink: bool = False,
    flip_probability: float = 0.35,
    hedges: int | None = None,
) -> tuple[str, str]:
    """``(completion, stated_answer)``: ``"<think> … </think> <answer> X </answer>"`` and the ``X`` it states.

    The trace is one of a few templates of ``q.task`` filled from ``q.params``, and states the correct
    answer. With ``overthink=True`` it goes on with ``hedges`` (default: 1–4 at random) hedging segments
    from :data:`HEDGES`; in each, independently with probability ``flip_probability``, the running
    conclusion switches to another choice (uniformly among the others: wrong, or right again), and the
    trace ends with ``"so the answer is X ."``. ``stated_answer`` is that final ``X`` and may be wrong:
    this is the built-in inverse test-time scaling described in the module docstring.
    """
    if not 0.0 <= flip_probability <= 1.0:
        raise ValueError(f"flip_probability must be in [0, 1], got flip_probability={flip_probability!r}")
    if hedges is not None and (not overthink or hedges < 1):
        raise ValueError(f"hedges needs overthink=True and hedges >= 1, got hedges={hedges!r}, overthink={overthink}")
    templates = _TEMPLATES[q.task]
    parts = [templates[int(rng.integers(len(templates)))].format(**_fields(q))]
    cur = q.answer
    if overthink:
        n = int(rng.integers(1, 5)) if hedges is None else int(hedges)
        for _ in range(n):
            others = [c for c in q.choices if c != cur]
            alt = others[int(rng.integers(len(others)))]
            parts.append(HEDGES[int(rng.integers(len(HEDGES)))].format(alt=alt))
            if rng.random() < flip_probability:
                cur = alt
                parts.append(_FLIP[int(rng.integers(len(_FLIP)))].format(new=cur))
            else:
                parts.append(_KEEP[int(rng.integers(len(_KEEP)))].format(cur=cur))
        parts.append(_FINAL.format(cur=cur))
    return f"<think> {' '.join(parts)} </think> <answer> {cur} </answer>", cur


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    return [s for item in obj for s in _strings(item)]


def vocabulary() -> list[str]:
    """Every token (space-separated unit) that :func:`prompt_text` and :func:`worked_completion` can emit.

    Sorted; the four tags ``<think> </think> <answer> </answer>`` are not included.
    """
    sources = [_TEMPLATES, _FIELD_VALUES, HEDGES, _FLIP, _KEEP, _FINAL, QUESTIONS, CHOICES, "choose or , ."]
    tokens = set()
    for text in _strings(sources):
        tokens.update(re.sub(r"\{\w+\}", " ", text).split())
    return sorted(tokens)


# --------------------------------------------------------------------------------------
# Audio checks, PCM, WAV
# --------------------------------------------------------------------------------------
def check_audio(audio, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A clip as float32 ``[CLIP_SAMPLES]``, or a ``ValueError`` that names what is wrong.

    Accepts shape ``[n]`` or ``[1, n]``; pads a shorter clip with zeros at the end; rejects another
    sample rate, an empty, non-finite or silent (max |x| < 1e-4) clip, values beyond [-1, 1] by more
    than 1e-3 (smaller excursions are clipped) and clips longer than ``CLIP_SECONDS``.
    """
    if int(sample_rate) != SAMPLE_RATE:
        raise ValueError(f"sample_rate={sample_rate} but clips must be {SAMPLE_RATE} Hz (resample first)")
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1:
        raise ValueError(f"audio must be mono, shape [n] or [1, n], got shape {tuple(x.shape)}")
    if x.size == 0:
        raise ValueError("audio is empty (0 samples)")
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"audio holds {int(bad.sum())} non-finite samples (first at index {i}: {x[i]})")
    peak = float(np.max(np.abs(x)))
    if peak < 1e-4:
        raise ValueError(f"audio is silent: max |x| = {peak:.3g} < 1e-4")
    if peak > 1.0 + 1e-3:
        raise ValueError(f"audio goes beyond [-1, 1]: max |x| = {peak:.6g} (normalize it, or int16 PCM / 32768)")
    if x.size > CLIP_SAMPLES:
        raise ValueError(f"audio has {x.size} samples ({x.size / SAMPLE_RATE:.3f} s), more than {CLIP_SAMPLES} "
                         f"({CLIP_SECONDS} s)")  # fmt: skip
    out = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    out[: x.size] = np.clip(x, -1.0, 1.0)
    return out


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """16-bit PCM (little-endian int16) of a clip in [-1, 1]: ``round(x * 32767)``."""
    return np.round(np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0) * 32767).astype("<i2")


def clip_sha256(audio: np.ndarray) -> str:
    """SHA-256 of the clip's 16-bit PCM bytes (quantizing first makes the hash robust to last-bit float noise)."""
    return hashlib.sha256(to_pcm16(audio).tobytes()).hexdigest()


def _wav_bytes(audio: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(to_pcm16(audio).tobytes())
    return buf.getvalue()


def write_wav(path: str | os.PathLike, audio: np.ndarray) -> None:
    """Write a clip as a 16-bit PCM mono WAV at ``SAMPLE_RATE`` (stdlib ``wave``)."""
    atomic_write_bytes(path, _wav_bytes(check_audio(audio)))


def read_wav(path: str | os.PathLike) -> np.ndarray:
    """Read a 16-bit mono WAV at ``SAMPLE_RATE`` as float32 in [-1, 1] (``int16 / 32767``)."""
    try:
        with wave.open(str(path), "rb") as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, SAMPLE_RATE):
                raise ValueError(f"{path}: expected mono 16-bit {SAMPLE_RATE} Hz, got {wav.getnchannels()} channels, "
                                 f"{8 * wav.getsampwidth()}-bit, {wav.getframerate()} Hz")  # fmt: skip
            expected = wav.getnframes()
            frames = wav.readframes(expected)
    except (wave.Error, EOFError) as err:
        raise ValueError(f"{path} is not a readable WAV file ({type(err).__name__}: {err})") from None
    if len(frames) != 2 * expected:  # a cut file: its header promises more than it holds
        raise ValueError(f"{path} is truncated: its header says {expected} frames ({2 * expected} bytes), it holds "
                         f"{len(frames)} bytes")  # fmt: skip
    return (np.frombuffer(frames, dtype="<i2") / 32767).astype(np.float32)


# --------------------------------------------------------------------------------------
# The data files
# --------------------------------------------------------------------------------------
_SPLITS = ("train", "test")


def _jsonl(questions: list[AudioQuestion]) -> bytes:
    lines = []
    for q in questions:
        row = {**q.to_row(), "sha256": clip_sha256(q.audio())}
        lines.append(json.dumps(row, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def _counts(questions: list[AudioQuestion]) -> dict:
    per_task = Counter(q.task for q in questions)
    per_answer = {t: dict(sorted(Counter(q.answer for q in questions if q.task == t).items())) for t in TASKS}
    return {"rows": len(questions), "per_task": {t: per_task[t] for t in TASKS}, "per_answer": per_answer}


def write_dataset(folder: str | os.PathLike | None = None, n_train: int = 2000, n_test: int = 400,
                  seed: int = 2025) -> dict:  # fmt: skip
    """Write ``train.jsonl``, ``test.jsonl``, ``manifest.json`` and ``examples/<task>.wav`` to ``folder``.

    ``folder`` defaults to ``runs/audio_qa`` (the committed copy is written with ``--out data/audio_qa``).
    Each jsonl line is a :meth:`AudioQuestion.to_row` plus ``"sha256"`` of the clip's 16-bit PCM. The examples
    are the first question of each task in the test split. Returns the manifest.
    """
    folder = Path(folder) if folder is not None else runs_dir() / "audio_qa"
    splits = {"train": make_split(n_train, seed, "train"), "test": make_split(n_test, seed, "test")}
    manifest: dict = {
        "about": "Synthetic MMAU-style audio QA (adrpo_nb.tasks.audio_qa): params only; render with render_audio.",
        "generator": "adrpo_nb.tasks.audio_qa",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "clip_seconds": CLIP_SECONDS,
        "command": f"python -m adrpo_nb.tasks.audio_qa --n-train {n_train} --n-test {n_test} --seed {seed}",
        "numpy_version": np.__version__,
        "files": {},
        "examples": {},
    }
    for name, questions in splits.items():
        payload = _jsonl(questions)
        atomic_write_bytes(folder / f"{name}.jsonl", payload)
        manifest["files"][f"{name}.jsonl"] = {"sha256": hashlib.sha256(payload).hexdigest(), **_counts(questions)}
    for task in TASKS:
        q = next(q for q in [*splits["test"], *splits["train"]] if q.task == task)
        path = folder / "examples" / f"{task}.wav"
        payload = _wav_bytes(q.audio())
        atomic_write_bytes(path, payload)
        manifest["examples"][task] = {"file": f"examples/{task}.wav", "id": q.id, "answer": q.answer,
                                      "sha256": hashlib.sha256(payload).hexdigest()}  # fmt: skip
    atomic_write_json(folder / "manifest.json", manifest)
    return manifest


def verify_audio(q: AudioQuestion, expected_sha256: str | None = None) -> None:
    """Re-render ``q``; :class:`DataFileError` if its PCM hash is not ``expected_sha256`` (default: ``q.sha256``)."""
    expected = expected_sha256 if expected_sha256 is not None else q.sha256
    if expected is None:
        raise ValueError(f"no expected sha256 for question {q.id!r} (pass expected_sha256, or load it with load_split)")
    digest = clip_sha256(q.audio())
    if digest != expected:
        raise DataFileError(
            f"question {q.id!r} renders to a clip with sha256 {digest}, the data file says {expected}: the "
            f"generator (version {GENERATOR_VERSION}) or numpy ({np.__version__}) renders differently"
        )


_verify_one = verify_audio  # load_split's keyword argument has the same name


def load_split(name: str, *, verify_audio: bool = False) -> list[AudioQuestion]:
    """The questions of ``data/audio_qa/<name>.jsonl`` (``name`` in ``{"train", "test"}``), checksum-verified.

    The file's SHA-256 must match ``manifest.json`` (else :class:`DataFileError` naming the file).
    ``verify_audio=True`` also re-renders every clip and checks its hash (a few seconds per thousand rows).
    """
    if name not in _SPLITS:
        raise ValueError(f"name must be 'train' or 'test', got name={name!r}")
    path = data_path("audio_qa", f"{name}.jsonl")
    manifest_path = data_path("audio_qa", "manifest.json")
    entry = read_json(manifest_path).get("files", {}).get(f"{name}.jsonl")
    if not entry or "sha256" not in entry:
        raise DataFileError(f"{manifest_path} has no sha256 for {name}.jsonl")
    payload = path.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    if digest != entry["sha256"]:
        raise DataFileError(
            f"corrupt data file {path}: its sha256 is {digest}, manifest.json says {entry['sha256']} "
            f"(regenerate with: python -m adrpo_nb.tasks.audio_qa)"
        )
    questions = []
    for lineno, line in enumerate(payload.decode().splitlines(), start=1):
        try:
            questions.append(AudioQuestion.from_row(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataFileError(f"{path}, line {lineno}: not a question row ({err!r})") from None
    if "rows" in entry and len(questions) != entry["rows"]:
        raise DataFileError(f"{path} holds {len(questions)} rows, manifest.json says {entry['rows']}")
    if verify_audio:
        for q in questions:
            _verify_one(q)
    return questions


# --------------------------------------------------------------------------------------
# Splits by meaning
# --------------------------------------------------------------------------------------
SPLITS = ("pretrain", "rl_train", "eval")
#: the resolution of canonical_form: the tiny model's front end (64 mel bands to 8 kHz, 10 ms hop)
_FORM_MEL_BANDS, _FORM_MAX_HZ, _FORM_FRAME_S = 64, SAMPLE_RATE / 2, 0.01


def _slaney_mel(hz: float) -> float:
    """Hz to the Slaney mel scale (linear below 1 kHz, logarithmic above), as Whisper's features use."""
    return hz / (200 / 3) if hz < 1000 else 15 + math.log(hz / 1000) / (math.log(6.4) / 27)


def _band(hz: float) -> int:
    """The mel band (0..63) whose centre is nearest ``hz``: the centres are evenly spaced in mel from 0 to 8 kHz."""
    step = _slaney_mel(_FORM_MAX_HZ) / (_FORM_MEL_BANDS + 1)
    return min(_FORM_MEL_BANDS - 1, max(0, round(_slaney_mel(float(hz)) / step) - 1))


def _frames(seconds: float) -> int:
    return round(float(seconds) / _FORM_FRAME_S)


def canonical_form(q: AudioQuestion) -> tuple:
    """What a question *is*: ``(task, answer, …)`` with the sound's answer-determining parameters at the front
    end's resolution (module docstring): pitch: the bands of the two tones, their lengths and the gap in frames;
    count: the beeps' band, lengths and starts after the first; chord: the root's band and the length; tempo: the
    clicks' band and each click's frame after the first; noise: the tone's band (None for noise) and the length.
    Not in it: ``onset``, ``amplitude``, ``noise_seed``. The answer is a function of the rest; it is kept for
    reading."""
    p = q.params
    if q.task == "pitch":
        return ("pitch", q.answer, tuple(_band(f) for f in p["freqs"]), tuple(_frames(d) for d in p["durations"]),
                _frames(p["gap"]))  # fmt: skip
    if q.task == "count":
        return ("count", q.answer, _band(p["freq"]), tuple(_frames(d) for d in p["durations"]),
                tuple(_frames(t - p["starts"][0]) for t in p["starts"]))  # fmt: skip
    if q.task == "chord":
        return ("chord", q.answer, _band(p["root"]), _frames(p["duration"]))
    if q.task == "tempo":
        clicks = tuple(_frames(k / p["rate"]) for k in range(int(p["clicks"])))
        return ("tempo", q.answer, _band(p["click_freq"]), clicks)
    if q.task == "noise":
        return ("noise", q.answer, _band(p["freq"]) if p["kind"] == "tone" else None, _frames(p["duration"]))
    raise ValueError(f"task must be one of {TASKS}, got task={q.task!r}")


def split_questions(split: str, *, verify_audio: bool = False) -> list[AudioQuestion]:
    """The questions of one split: ``"eval"`` = the test file (:func:`load_split` ``("test")``, all 400); the
    training side ``"rl_train"`` = ``"pretrain"`` = ``"train"``: the train file less every question that shares
    a :func:`canonical_form` with an eval question (file order kept)."""
    if split not in ("train", *SPLITS):
        raise ValueError(f"split must be one of {('train', *SPLITS)}, got split={split!r}")
    test = load_split("test", verify_audio=verify_audio)
    if split == "eval":
        return test
    held = {canonical_form(q) for q in test}
    return [q for q in load_split("train", verify_audio=verify_audio) if canonical_form(q) not in held]


def splits() -> dict[str, list[str]]:
    """``{"pretrain": [...], "rl_train": [...], "eval": [...]}``: the clip SHA-256 (16-bit PCM, as stored in
    the jsonl files and checked by :func:`verify_audio`) of each split's questions."""
    return {name: [q.sha256 for q in split_questions(name)] for name in SPLITS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the synthetic audio QA benchmark (the committed copy: "
                                     "--out data/audio_qa).")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", type=Path, default=None, help="default: runs/audio_qa")
    args = parser.parse_args(argv)
    folder = args.out or runs_dir() / "audio_qa"
    manifest = write_dataset(folder, n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    for name, entry in manifest["files"].items():
        print(f"{folder / name}: {entry['rows']} rows, per task {entry['per_task']}")
    print(f"{folder / 'manifest.json'}; examples: {', '.join(e['file'] for e in manifest['examples'].values())}")


if __name__ == "__main__":
    main()
