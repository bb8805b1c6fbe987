import io
import wave
from dataclasses import replace

import numpy as np
import pytest

import schemas
from pipeline.reject import Reject
from pipeline.stages.speech import question_voice, speak
from pipeline.tts.audio import audio_problem, encode_clip
from pipeline.tts.espeak import EspeakSpeech
from tests.records import NATALIA, interleaved


@pytest.fixture(scope="module")
def engine():
    return EspeakSpeech()


def test_speak_adds_real_wav_audio(config, engine):
    record = interleaved(NATALIA, config)
    out = speak(record, config, engine)
    for column, rate in (("question", 16000), ("response", 24000)):
        audio = out[f"{column}_audio"]
        with wave.open(io.BytesIO(audio["bytes"])) as wav:
            assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
            assert wav.getframerate() == out[f"{column}_sampling_rate"] == rate
            assert wav.getnframes() / rate == pytest.approx(out[f"{column}_duration"])
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        loudness = 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) / 32768)
        assert loudness == pytest.approx(config.loudness_dbfs, abs=0.5)
        assert audio["path"].endswith(f"-{column}.wav")
    assert 4 < out["question_duration"] < 20
    assert out["question_voice"] == str(question_voice(record["id"], config))
    assert schemas.first_error("record", out) is None


def test_sentence_times_are_monotonic_inside_the_audio_one_per_sentence(config, engine):
    record = interleaved(NATALIA, config)
    out = speak(record, config, engine)
    times = out["response_sentence_times"]
    assert len(times) == len(out["response"])
    ends = [0.0]
    for span in times:
        assert ends[-1] <= span["start"] < span["end"] <= out["response_duration"]
        ends.append(span["end"])
    assert times[-1]["end"] == pytest.approx(out["response_duration"])
    pause = config.sentence_pause_ms / 1000
    gaps = [after["start"] - before["end"] for before, after in zip(times, times[1:], strict=False)]
    assert gaps == pytest.approx([pause] * len(gaps), abs=1e-3)


def test_flac_is_written_when_asked_for(config, engine):
    from dataclasses import replace

    from pipeline.tts.audio import decode_audio

    record = interleaved(NATALIA, config)
    out = speak(record, replace(config, audio_format="flac"), engine)
    audio = out["response_audio"]
    assert audio["bytes"][:4] == b"fLaC" and audio["path"].endswith("-response.flac")
    samples = decode_audio(audio["bytes"], out["response_sampling_rate"])
    assert samples.size / out["response_sampling_rate"] == pytest.approx(out["response_duration"], abs=0.01)


def test_voice_is_fixed_by_id_and_seed(config):
    assert question_voice("abc", config) == question_voice("abc", config)
    from pipeline.tts import voices

    chosen = {question_voice(str(i), config).name for i in range(50)}
    assert chosen == set(voices(config)[0])


def test_question_rate_jitter_sets_the_spread_of_speaking_rates(config):
    rates = {question_voice(str(i), config).rate for i in range(200)}
    assert min(rates) == 160 and max(rates) == 190
    steady = replace(config, question_rate_jitter=0)
    assert {question_voice(str(i), steady).rate for i in range(200)} == {160}


def test_audio_checks(engine):
    speech = encode_clip(engine.synthesize("Natalia sold 24 clips in May.", _voice()), engine.sample_rate,
                         16000)
    assert audio_problem(speech, 6, 1.2, 5.0) is None
    assert audio_problem(speech, 60, 1.2, 5.0)[0] == "audio_rate"
    silence = encode_clip(np.zeros(16000, dtype=np.int16), 16000, 16000)
    assert audio_problem(silence, 3, 1.2, 5.0)[0] == "audio_silent"
    loud = encode_clip(np.full(16000, 32767, dtype=np.int16), 16000, 16000)
    assert audio_problem(loud, 3, 1.2, 5.0)[0] == "audio_clipped"


def test_unknown_voice_is_a_reject(config, engine):
    from dataclasses import replace

    record = interleaved(NATALIA, config)
    with pytest.raises(Reject) as caught:
        speak(record, replace(config, response_voice="zz-none"), engine)
    assert caught.value.reason == "tts_failed"


def _voice():
    from pipeline.tts.espeak import Voice

    return Voice("en-us")


def test_a_response_longer_than_its_limit_in_audio_is_a_reject(config, engine):
    record = interleaved(NATALIA, config)
    with pytest.raises(Reject) as caught:
        speak(record, replace(config, max_response_seconds=0.5), engine)
    assert caught.value.reason == "response_too_long"
