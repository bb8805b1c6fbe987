"""Speech engines behind one small interface: ``engine.sample_rate`` and
``engine.synthesize(text, voice)`` -> mono PCM16 samples at that rate, or ``TTSError``
with a reject reason."""

from __future__ import annotations

ENGINES = ("espeak", "openai", "edge", "piper")
DEFAULT_VOICES = {
    "espeak": (("en-us", "en-us+m3", "en-us+f2", "en-us+m7", "en-us+f4"), "en-us+f3"),
    "openai": (("alloy", "echo", "fable", "onyx", "shimmer"), "nova"),
    "edge": (("en-US-AriaNeural", "en-US-GuyNeural", "en-GB-SoniaNeural", "en-AU-WilliamNeural",
              "en-US-JennyNeural"), "en-US-EmmaMultilingualNeural"),
}


def make_engine(config):
    """The engine ``config.tts`` names, opened once per worker."""
    if config.tts == "openai":
        from pipeline.tts.openai_speech import OpenAISpeech

        return OpenAISpeech(config.tts_base_url, config.tts_model, config.tts_api_key_env,
                            config.tts_timeout, config.tts_retries)
    if config.tts == "edge":
        from pipeline.tts.edge import EdgeSpeech

        return EdgeSpeech(config.tts_concurrency, config.tts_retries, config.tts_timeout, config.tts_proxy)
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
