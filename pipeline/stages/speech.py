"""Stage 4: render the question and the response as speech."""

from __future__ import annotations

import hashlib
import re

from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.tts import make_engine, voices
from pipeline.tts.audio import Clip, audio_problem, hf_audio, join_sentences, to_wav
from pipeline.tts.voice import TTSError, Voice

STAGE = "speech"


def question_voice(record_id: str, config: BuildConfig) -> Voice:
    """A voice from the pool, with rate and pitch jitter, fixed by the id and the seed."""
    digest = hashlib.sha256(f"{config.seed}:{record_id}:voice".encode()).digest()
    pool = voices(config)[0]
    return Voice(pool[digest[0] % len(pool)], rate=160 + digest[1] % 31, pitch=40 + digest[2] % 21,
                 engine=config.tts)


def _synthesize(engine, text: str, voice: Voice):
    try:
        return engine.synthesize(text, voice)
    except TTSError as error:
        raise Reject(STAGE, error.reason, str(error)) from None


def _checked(clip: Clip, text: str, path: str, config: BuildConfig) -> dict:
    problem = audio_problem(clip, len(re.findall(r"\w+", text)),
                            config.min_words_per_second, config.max_words_per_second)
    if problem:
        raise Reject(STAGE, problem[0], f"{path}: {problem[1]}")
    return hf_audio(clip, path)


def speak(record: dict, config: BuildConfig, engine) -> dict:
    """Add question and response audio with their rate, duration and voice, and the
    start and end of each response sentence in the response audio."""
    asker = question_voice(record["id"], config)
    assistant = Voice(voices(config)[1], engine=config.tts)
    question_clip = to_wav(_synthesize(engine, record["question"], asker), engine.sample_rate,
                           config.question_sampling_rate, config.loudness_dbfs)
    question = _checked(question_clip, record["question"], f"{record['id']}-question.wav", config)
    sentences = [sentence["text"] for sentence in record["response"]]
    response_clip, times = join_sentences([_synthesize(engine, text, assistant) for text in sentences],
                                          engine.sample_rate, config.response_sampling_rate,
                                          config.sentence_pause_ms, config.loudness_dbfs)
    response = _checked(response_clip, " ".join(sentences), f"{record['id']}-response.wav", config)
    return {
        **record,
        "question_audio": question,
        "question_sampling_rate": question_clip.sample_rate,
        "question_duration": question_clip.duration,
        "question_voice": str(asker),
        "response_audio": response,
        "response_sampling_rate": response_clip.sample_rate,
        "response_duration": response_clip.duration,
        "response_voice": str(assistant),
        "response_sentence_times": times,
        "checks": {**record["checks"], "audio": "pass"},
    }


def make(config: BuildConfig):
    """Start the engine once per worker."""
    engine = make_engine(config)
    return lambda record: speak(record, config, engine)
