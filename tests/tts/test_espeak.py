import numpy as np
import pytest

from pipeline.tts.espeak import EspeakSpeech, TTSError, Voice

TEXT = "Natalia sold 24 clips in May. So the answer is 72."


def test_same_text_and_voice_give_the_same_samples_whatever_came_before():
    first_engine, second_engine = EspeakSpeech(), EspeakSpeech()
    first = first_engine.synthesize(TEXT, Voice("en-us+f3"))
    second_engine.synthesize("Something else, said with another voice.", Voice("en-us+m3", 190, 40))
    second = second_engine.synthesize(TEXT, Voice("en-us+f3"))
    assert first.dtype == np.int16 and first.size > first_engine.sample_rate
    assert np.array_equal(first, second)
    assert np.array_equal(first, first_engine.synthesize(TEXT, Voice("en-us+f3")))


def test_voice_settings_change_the_audio():
    engine = EspeakSpeech()
    slow = engine.synthesize(TEXT, Voice("en-us", rate=140))
    fast = engine.synthesize(TEXT, Voice("en-us", rate=220))
    assert slow.size > fast.size * 1.3


def test_unknown_voice_fails_clearly_and_the_engine_goes_on():
    engine = EspeakSpeech()
    with pytest.raises(TTSError, match="unknown espeak voice"):
        engine.synthesize(TEXT, Voice("xx-none"))
    assert engine.synthesize(TEXT, Voice("en-us")).size > 0
