"""Any OpenAI-compatible ``/v1/audio/speech`` endpoint (OpenAI, a local Kokoro or
Orpheus server...), asked for WAV. The client retries throttling (429, honouring
``Retry-After``), server errors and dropped connections with backoff."""

from __future__ import annotations

import os

import numpy as np

from pipeline.remote import openai_client, openai_failure
from pipeline.tts.audio import decode_audio
from pipeline.tts.voice import TTSError, Voice

SAMPLE_RATE = 24000


class OpenAISpeech:
    sample_rate = SAMPLE_RATE

    def __init__(self, base_url: str, model: str, api_key_env: str, timeout: float, retries: int) -> None:
        self._model = model
        self._client = openai_client(base_url, os.environ.get(api_key_env, ""), timeout, retries)

    @classmethod
    def from_config(cls, config) -> OpenAISpeech:
        return cls(config.tts_base_url, config.tts_model, config.tts_api_key_env, config.tts_timeout,
                   config.tts_retries)

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        import openai

        try:
            reply = self._client.audio.speech.create(model=self._model, voice=voice.name, input=text,
                                                     response_format="wav", speed=round(voice.speed, 3))
        except openai.APIError as error:
            reason, detail, _ = openai_failure("tts", error)
            raise TTSError(f"speech: {detail}", reason) from None
        return decode_audio(reply.content, self.sample_rate)
