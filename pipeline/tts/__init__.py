"""Speech engines behind one small interface: ``engine.sample_rate`` and
``engine.synthesize(text, voice)`` -> mono PCM16 samples at that rate, or ``TTSError``
with a reject reason."""

from __future__ import annotations

import threading

from pipeline.tts.voice import TTSError

ENGINES = ("espeak", "openai", "edge", "piper")
REMOTE_ENGINES = ("openai", "edge")
# Clips in a row an online engine failed to reach the endpoint for (each after its own
# retries) before the worker stops asking.
UNREACHABLE_LIMIT = 5
DEFAULT_VOICES = {
    "espeak": (("en-us", "en-us+m3", "en-us+f2", "en-us+m7", "en-us+f4"), "en-us+f3"),
    "openai": (("alloy", "echo", "fable", "onyx", "shimmer"), "nova"),
    "edge": (("en-US-AriaNeural", "en-US-GuyNeural", "en-GB-SoniaNeural", "en-AU-WilliamNeural",
              "en-US-JennyNeural"), "en-US-EmmaMultilingualNeural"),
}


class FailFast:
    """An online engine that stops asking once the endpoint has been unreachable for
    ``limit`` clips in a row: the records left become ``tts_unreachable`` at once, instead
    of each waiting out its timeouts and retries against a dead service."""

    def __init__(self, engine, limit: int = UNREACHABLE_LIMIT) -> None:
        self._engine, self._limit = engine, limit
        self.sample_rate = engine.sample_rate
        self._failures = 0
        self._lock = threading.Lock()

    def synthesize(self, text: str, voice):
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


def make_engine(config):
    """The engine ``config.tts`` names, opened once per worker."""
    if config.tts == "openai":
        from pipeline.tts.openai_speech import OpenAISpeech

        return FailFast(OpenAISpeech(config.tts_base_url, config.tts_model, config.tts_api_key_env,
                                     config.tts_timeout, config.tts_retries))
    if config.tts == "edge":
        from pipeline.tts.edge import EdgeSpeech

        return FailFast(EdgeSpeech(config.tts_retries, config.tts_timeout, config.tts_proxy))
    if config.tts == "piper":
        from pipeline.tts.piper import PiperSpeech

        return PiperSpeech()
    from pipeline.tts.espeak import EspeakEngine

    return EspeakEngine()


def voices(config) -> tuple[tuple[str, ...], str]:
    """(question voice pool, response voice): the configured ones, else the engine's. Piper
    has no built-in voices: its pool is the ``.onnx`` paths given, the first also answering."""
    pool, response = DEFAULT_VOICES.get(config.tts, ((), ""))
    pool = config.question_voices or pool
    return pool, config.response_voice or response or pool[0]
