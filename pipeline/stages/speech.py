"""Stage 4: render the question and the response as speech."""

from __future__ import annotations

import hashlib
import re

from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.tts.audio import audio_problem, hf_audio, to_wav
from pipeline.tts.espeak import EspeakEngine, TTSError, Voice

STAGE = "speech"
QUESTION_RATE, RESPONSE_RATE = 16000, 16000


def question_voice(record_id: str, config: BuildConfig) -> Voice:
    """A voice from the pool, with rate and pitch jitter, fixed by the id and the seed."""
    digest = hashlib.sha256(f"{config.seed}:{record_id}:voice".encode()).digest()
    name = config.question_voices[digest[0] % len(config.question_voices)]
    return Voice(name, rate=160 + digest[1] % 31, pitch=40 + digest[2] % 21)


def _render(engine: EspeakEngine, text: str, voice: Voice, rate: int, path: str,
            config: BuildConfig) -> tuple[dict, float]:
    try:
        pcm = engine.synthesize(text, voice)
    except TTSError as error:
        raise Reject(STAGE, "tts_failed", str(error)) from None
    clip = to_wav(pcm, engine.sample_rate, rate)
    problem = audio_problem(clip, len(re.findall(r"\w+", text)),
                            config.min_words_per_second, config.max_words_per_second)
    if problem:
        raise Reject(STAGE, problem[0], f"{path}: {problem[1]}")
    return hf_audio(clip, path), clip.duration


def speak(record: dict, config: BuildConfig, engine: EspeakEngine) -> dict:
    """Add question and response audio, with their rate, duration and voice."""
    asker = question_voice(record["id"], config)
    assistant = Voice(config.response_voice)
    response_text = " ".join(s["text"] for s in record["response"])
    question, question_seconds = _render(engine, record["question"], asker, QUESTION_RATE,
                                         f"{record['id']}-question.wav", config)
    response, response_seconds = _render(engine, response_text, assistant, RESPONSE_RATE,
                                         f"{record['id']}-response.wav", config)
    return {
        **record,
        "question_audio": question,
        "question_sampling_rate": QUESTION_RATE,
        "question_duration": question_seconds,
        "question_voice": str(asker),
        "response_audio": response,
        "response_sampling_rate": RESPONSE_RATE,
        "response_duration": response_seconds,
        "response_voice": str(assistant),
        "checks": {**record["checks"], "audio": "pass"},
    }


def make(config: BuildConfig):
    """Start the engine once per worker."""
    engine = EspeakEngine()
    return lambda record: speak(record, config, engine)
