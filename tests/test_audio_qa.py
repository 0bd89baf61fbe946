"""The synthetic audio QA benchmark: clips that hold what their answers say, text, checks and data files."""

import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest

from adrpo_nb.tasks import audio_qa as aq
from adrpo_nb.tasks.audio_qa import (
    CHOICES,
    CLIP_SAMPLES,
    HEDGES,
    SAMPLE_RATE,
    TASKS,
    AudioQuestion,
    check_audio,
    load_split,
    make_question,
    make_split,
    prompt_text,
    render_audio,
    verify_audio,
    vocabulary,
    worked_completion,
)
from adrpo_nb.utils.paths import DataFileError, data_dir

TAGS = {"<think>", "</think>", "<answer>", "</answer>"}


def _questions(task: str, n: int, seed: int = 0) -> list[AudioQuestion]:
    rng = np.random.default_rng(seed)
    return [make_question(task, rng, f"{task}-{i}") for i in range(n)]


def _peak_hz(x: np.ndarray, lo: float = 50.0) -> float:
    n = 1 << 16
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spec[freqs < lo] = 0
    return float(freqs[np.argmax(spec)])


def _bursts(x: np.ndarray, threshold: float, min_gap_s: float) -> list[int]:
    """Start samples of the runs where |x| exceeds ``threshold``, runs closer than ``min_gap_s`` merged."""
    idx = np.flatnonzero(np.abs(x) > threshold)
    if idx.size == 0:
        return []
    return [int(idx[0])] + [int(b) for a, b in itertools.pairwise(idx) if b - a > min_gap_s * SAMPLE_RATE]


def _window(x: np.ndarray, onset: float, seconds: float) -> np.ndarray:
    i = round(onset * SAMPLE_RATE)
    return x[i : i + round(seconds * SAMPLE_RATE)]


# --------------------------------------------------------------------------------------
# audio
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_render_is_deterministic_and_in_range(task):
    for q in _questions(task, 4, seed=1):
        a, b = render_audio(task, q.params), render_audio(task, json.loads(json.dumps(q.params)))
        assert a.dtype == np.float32 and a.shape == (CLIP_SAMPLES,) == (32000,)
        assert np.array_equal(a, b)
        assert np.abs(a).max() <= 1.0 and np.abs(a).max() > 0.2
        assert np.abs(a[:400]).max() < 0.05  # quiet before the random onset (>= 50 ms)
        np.testing.assert_array_equal(check_audio(a), a)
    q = _questions(task, 1, seed=1)[0]
    other = {**q.params, "noise_seed": q.params["noise_seed"] + 1}
    assert not np.array_equal(render_audio(task, q.params), render_audio(task, other))


def test_pitch_tones_are_where_params_say_and_the_answer_is_right():
    for q in _questions("pitch", 10):
        x, p = q.audio(), q.params
        f1 = _peak_hz(_window(x, p["onset"], p["durations"][0]))
        f2 = _peak_hz(_window(x, p["onset"] + p["durations"][0] + p["gap"], p["durations"][1]))
        assert f1 == pytest.approx(p["freqs"][0], rel=0.01) and f2 == pytest.approx(p["freqs"][1], rel=0.01)
        assert max(f1, f2) / min(f1, f2) > 1.45
        assert q.answer == ("first" if f1 > f2 else "second")


def test_count_bursts_match_the_answer():
    for q in _questions("count", 20):
        starts = _bursts(q.audio(), threshold=0.1, min_gap_s=0.05)
        assert len(starts) == CHOICES["count"].index(q.answer) + 1 == len(q.params["starts"])


def test_chord_peaks_have_the_intervals_of_its_quality():
    for q in _questions("chord", 10):
        x = _window(q.audio(), q.params["onset"], q.params["duration"])
        n = 1 << 17
        spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
        freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        peaks = []
        for _ in range(3):
            f = freqs[np.argmax(spec)]
            peaks.append(f)
            spec[np.abs(freqs - f) < 15] = 0
        root, third, fifth = sorted(peaks)
        assert root == pytest.approx(q.params["root"], rel=0.01)
        semis = 12 * math.log2(third / root), 12 * math.log2(fifth / root)
        expected = (4, 7) if q.answer == "major" else (3, 7)
        assert semis == pytest.approx(expected, abs=0.1)


def test_tempo_onset_rate_matches_the_answer():
    for q in _questions("tempo", 20):
        onsets = _bursts(q.audio(), threshold=0.1, min_gap_s=0.04)
        assert len(onsets) == q.params["clicks"] >= 3
        rate = (len(onsets) - 1) * SAMPLE_RATE / (onsets[-1] - onsets[0])
        assert rate == pytest.approx(q.params["rate"], rel=0.02)
        assert q.answer == ("fast" if rate > 4.5 else "slow")
        assert (2 <= rate <= 3.05) if q.answer == "slow" else (5.9 <= rate <= 8.1)


def test_noise_is_spectrally_flat_and_tone_is_not():
    flatness = {"tone": [], "noise": []}
    for q in _questions("noise", 20):
        x = _window(q.audio(), q.params["onset"] + 0.02, q.params["duration"] - 0.04)
        power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2 + 1e-20
        flatness[q.answer].append(np.exp(np.mean(np.log(power))) / np.mean(power))
    assert flatness["tone"] and flatness["noise"]
    assert min(flatness["noise"]) > 0.3 and max(flatness["tone"]) < 0.01


# --------------------------------------------------------------------------------------
# splits and text
# --------------------------------------------------------------------------------------
def test_split_is_balanced_deterministic_and_json_able():
    qs = make_split(1000, seed=3, prefix="x")
    assert [q.task for q in qs[:10]] == list(TASKS) * 2
    assert Counter(q.task for q in qs) == {t: 200 for t in TASKS}
    for task in TASKS:
        answers = Counter(q.answer for q in qs if q.task == task)
        assert set(answers) == set(CHOICES[task])
        expected = 200 / len(CHOICES[task])
        assert all(abs(c - expected) < 0.3 * expected for c in answers.values()), answers
    again = make_split(1000, seed=3, prefix="x")
    assert [q.to_row() for q in qs] == [q.to_row() for q in again]
    assert [q.params for q in make_split(5, 3, "y")] != [q.params for q in qs[:5]]
    row = qs[0].to_row()
    assert set(row) == {"id", "task", "question", "choices", "answer", "params"}
    assert json.loads(json.dumps(row)) == row and qs[0].id == "x-00000"


def test_prompt_text():
    pitch, count = _questions("pitch", 1)[0], _questions("count", 1)[0]
    assert prompt_text(pitch) == "which tone is higher ? choose first or second ."
    assert prompt_text(count) == "how many beeps do you hear ? choose one , two , three or four ."


def test_vocabulary_covers_every_prompt_and_completion():
    vocab = vocabulary()
    assert vocab == sorted(set(vocab)) == vocabulary() and not TAGS & set(vocab)
    rng = np.random.default_rng(0)
    seen = set()
    for q in make_split(2000, seed=7, prefix="v"):
        for text in (prompt_text(q), *(worked_completion(q, rng, overthink=o)[0] for o in (False, True))):
            seen.update(text.split())
    assert seen - TAGS <= set(vocab), seen - TAGS - set(vocab)
    assert all(t == t.lower() for t in vocab)


@pytest.mark.parametrize("task", TASKS)
def test_plain_completion_states_the_correct_answer(task):
    rng = np.random.default_rng(1)
    for q in _questions(task, 30):
        text, stated = worked_completion(q, rng)
        assert stated == q.answer
        assert text.startswith("<think> ") and text.endswith(f" </think> <answer> {q.answer} </answer>")
        assert text.count("<think>") == 1 and not any(h.split("{")[0] in text for h in HEDGES)


def _hedges(text: str) -> int:
    return sum(text.count(h.split("{")[0]) for h in HEDGES)


def test_overthinking_flips_lower_accuracy_as_hedges_grow():
    rng = np.random.default_rng(2)
    by_hedges: dict[int, list[bool]] = {k: [] for k in range(1, 5)}
    for q in make_split(3000, seed=11, prefix="o"):
        text, stated = worked_completion(q, rng, overthink=True)
        assert text.endswith(f"so the answer is {stated} . </think> <answer> {stated} </answer>")
        by_hedges[_hedges(text)].append(stated == q.answer)
    acc = {k: float(np.mean(v)) for k, v in by_hedges.items()}
    assert all(len(v) > 500 for v in by_hedges.values())
    assert acc[1] > acc[2] > acc[4] and acc[1] > acc[3] and acc[1] < 0.8, acc
    # p = 0: hedging without flipping keeps the answer; p = 1 on two choices: odd numbers of hedges are wrong
    for q in _questions("chord", 20):
        k = int(rng.integers(1, 5))
        assert worked_completion(q, rng, overthink=True, flip_probability=0.0, hedges=k)[1] == q.answer
        stated = worked_completion(q, rng, overthink=True, flip_probability=1.0, hedges=k)[1]
        assert (stated == q.answer) == (k % 2 == 0)
    with pytest.raises(ValueError, match="flip_probability"):
        worked_completion(q, rng, overthink=True, flip_probability=1.5)


# --------------------------------------------------------------------------------------
# check_audio
# --------------------------------------------------------------------------------------
def test_check_audio_pads_squeezes_and_rejects():
    short = np.full((1, 1000), 0.5)
    out = check_audio(short)
    assert out.dtype == np.float32 and out.shape == (CLIP_SAMPLES,) and out[999] == 0.5 and out[1000] == 0
    assert check_audio(np.full(10, 1.0005)).max() == 1.0
    with pytest.raises(ValueError, match="22050"):
        check_audio(np.ones(10) * 0.1, sample_rate=22050)
    with pytest.raises(ValueError, match="silent"):
        check_audio(np.zeros(100))
    with pytest.raises(ValueError, match="empty"):
        check_audio(np.zeros(0))
    bad = np.full(100, 0.1)
    bad[7] = np.nan
    with pytest.raises(ValueError, match="index 7"):
        check_audio(bad)
    with pytest.raises(ValueError, match="inf"):
        check_audio(np.array([0.1, np.inf]))
    with pytest.raises(ValueError, match="32001"):
        check_audio(np.full(CLIP_SAMPLES + 1, 0.1))
    with pytest.raises(ValueError, match=r"1\.5"):
        check_audio(np.array([0.1, 1.5]))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        check_audio(np.full((2, 5), 0.1))


def test_wav_round_trip(tmp_path):
    x = _questions("noise", 1)[0].audio()
    aq.write_wav(tmp_path / "a.wav", x)
    y = aq.read_wav(tmp_path / "a.wav")
    assert y.shape == x.shape and np.abs(y - x).max() < 1 / 32767
    assert np.array_equal(aq.to_pcm16(y), aq.to_pcm16(x))


# --------------------------------------------------------------------------------------
# data files
# --------------------------------------------------------------------------------------
def test_committed_files_load_and_a_few_clips_verify():
    test = load_split("test")
    manifest = json.loads((data_dir() / "audio_qa" / "manifest.json").read_text())
    assert len(test) == manifest["files"]["test.jsonl"]["rows"]
    assert Counter(q.task for q in test) == manifest["files"]["test.jsonl"]["per_task"]
    regenerated = make_split(len(test), manifest["seed"], "test")
    assert [q.to_row() for q in test[:20]] == [q.to_row() for q in regenerated[:20]]
    for q in test[:5]:
        verify_audio(q)
    for task, example in manifest["examples"].items():
        wav = aq.read_wav(data_dir() / "audio_qa" / example["file"])
        q = next(q for q in test if q.id == example["id"])
        assert q.task == task and aq.clip_sha256(wav) == q.sha256


@pytest.fixture
def small_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ADRPO_DATA", str(tmp_path))
    manifest = aq.write_dataset(tmp_path / "audio_qa", n_train=12, n_test=7, seed=5)
    return tmp_path / "audio_qa", manifest


def test_write_and_load_round_trip(small_data):
    folder, manifest = small_data
    assert manifest["files"]["train.jsonl"]["per_task"] == {t: 12 // 5 + (i < 12 % 5) for i, t in enumerate(TASKS)}
    assert sorted(p.name for p in (folder / "examples").iterdir()) == sorted(f"{t}.wav" for t in TASKS)
    train = load_split("train", verify_audio=True)
    assert [q.to_row() for q in train] == [q.to_row() for q in make_split(12, 5, "train")]
    assert all(len(q.sha256) == 64 for q in train)
    with pytest.raises(ValueError, match="'val'"):
        load_split("val")


def test_corrupt_or_missing_files_are_named(small_data):
    folder, _ = small_data
    path = folder / "test.jsonl"
    path.write_text(path.read_text().replace('"answer":"', '"answer":"x', 1))
    with pytest.raises(DataFileError, match=r"test\.jsonl"):
        load_split("test")
    (folder / "train.jsonl").unlink()
    with pytest.raises(DataFileError, match=r"train\.jsonl"):
        load_split("train")
    (folder / "manifest.json").unlink()
    with pytest.raises(DataFileError, match=r"manifest\.json"):
        load_split("test")


def test_a_changed_clip_fails_verification(small_data):
    q = load_split("test")[0]
    changed = AudioQuestion(q.id, q.task, q.question, q.choices, q.answer, {**q.params, "amplitude": 0.31})
    with pytest.raises(DataFileError, match=q.id):
        verify_audio(changed, q.sha256)
    with pytest.raises(ValueError, match="expected sha256"):
        verify_audio(changed)


def test_the_writer_never_defaults_into_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ADRPO_RUNS", str(tmp_path / "runs"))
    aq.write_dataset(n_train=5, n_test=5, seed=5)
    assert (tmp_path / "runs" / "audio_qa" / "manifest.json").exists()
