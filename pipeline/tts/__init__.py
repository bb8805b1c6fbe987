"""Speech engines behind one protocol (``SpeechEngine``) and one registry (``ENGINES``).

An engine is a class named ``<Name>Speech`` with ``sample_rate``, ``synthesize(text, voice)``
-> mono PCM16 samples at that rate (or ``TTSError`` with a reject reason), and
``from_config(config)``, which opens it once per worker. Its module is imported only when a
build uses it, so an optional dependency is needed only by the builds that ask for it.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.tts.voice import TTSError, Voice

# Clips in a row an online engine failed to reach the endpoint for (each after its own
# retries) before the worker stops asking.
UNREACHABLE_LIMIT = 5


class SpeechEngine(Protocol):
    sample_rate: int

    def synthesize(self, text: str, voice: Voice) -> np.ndarray: ...


@dataclass(frozen=True)
class Engine:
    """A registered engine: where its class is, whether it is behind a network (it then
    fails fast when the endpoint is gone), whether it may be asked from several threads at
    once (records are then spoken many at a time), its question voice pool and its response
    voice."""

    target: str  # "module:Class"
    remote: bool = False
    voices: tuple[str, ...] = ()
    response_voice: str = ""
    concurrent: bool = False

    def open(self, config) -> SpeechEngine:
        module, name = self.target.split(":")
        engine = getattr(importlib.import_module(module), name).from_config(config)
        return FailFast(engine) if self.remote else engine


ENGINES = {
    "espeak": Engine("pipeline.tts.espeak:EspeakSpeech",
                     voices=("en-us", "en-us+m3", "en-us+f2", "en-us+m7", "en-us+f4"),
                     response_voice="en-us+f3", concurrent=True),
    "openai": Engine("pipeline.tts.openai_speech:OpenAISpeech", remote=True,
                     voices=("alloy", "echo", "fable", "onyx", "shimmer"), response_voice="nova",
                     concurrent=True),
    "edge": Engine("pipeline.tts.edge:EdgeSpeech", remote=True,
                   voices=("en-US-AriaNeural", "en-US-GuyNeural", "en-GB-SoniaNeural",
                           "en-AU-WilliamNeural", "en-US-JennyNeural"),
                   response_voice="en-US-EmmaMultilingualNeural", concurrent=True),
    # no built-in voices: the pool is the .onnx paths given with --question_voices
    "piper": Engine("pipeline.tts.piper:PiperSpeech"),
}
REMOTE_ENGINES = tuple(name for name, engine in ENGINES.items() if engine.remote)
CONCURRENT_ENGINES = tuple(name for name, engine in ENGINES.items() if engine.concurrent)


class FailFast:
    """An online engine that stops asking once the endpoint has been unreachable for
    ``limit`` clips in a row: the records left become ``tts_unreachable`` at once, instead
    of each waiting out its timeouts and retries against a dead service."""

    def __init__(self, engine: SpeechEngine, limit: int = UNREACHABLE_LIMIT) -> None:
        self._engine, self._limit = engine, limit
        self.sample_rate = engine.sample_rate
        self._failures = 0
        self._lock = threading.Lock()

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        if self._failures >= self._limit:
            raise TTSError(f"not asked: the speech endpoint was unreachable for {self._failures} "
                           "clips in a row", "tts_unreachable")
        try:
            samples = self._engine.synthesize(text, voice)
        except TTSError as error:
            if error.reason == "tts_unreachable":
                with self._lock:
                    self._failures += 1
            raise
        with self._lock:
            self._failures = 0
        return samples


def make_engine(config) -> SpeechEngine:
    """The engine ``config.tts`` names, opened once per worker; a remote one reads the clips
    it spoke before from ``config.tts_cache_dir`` (``pipeline.tts.cache``)."""
    engine = ENGINES[config.tts].open(config)
    if not config.tts_cache_dir:
        return engine
    from pipeline.tts.cache import CachedSpeech

    return CachedSpeech(engine, config.tts_cache_dir, {"engine": config.tts, "base_url": config.tts_base_url,
                                                       "model": config.tts_model})


def voices(config) -> tuple[tuple[str, ...], str]:
    """(question voice pool, response voice): the configured ones, else the engine's. Piper
    has no built-in voices: its pool is the ``.onnx`` paths given, the first also answering."""
    engine = ENGINES[config.tts]
    pool = config.question_voices or engine.voices
    return pool, config.response_voice or engine.response_voice or pool[0]
