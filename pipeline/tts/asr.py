"""The ASR round trip: any OpenAI-compatible ``/v1/audio/transcriptions`` endpoint hears
a clip, and the word error rate against the text it should say (``jiwer``) decides
whether the clip says what its record claims."""

from __future__ import annotations

import os

import jiwer
import openai

from pipeline.text.verbalize import plain_words
from pipeline.tts.voice import TTSError


def word_error_rate(expected: str, heard: str) -> float:
    """WER over lower-case words and numbers, so punctuation and casing never count."""
    reference = " ".join(plain_words(expected))
    return jiwer.wer(reference, " ".join(plain_words(heard)) or "<nothing>") if reference else 0.0


class OpenAITranscriber:
    def __init__(self, base_url: str, model: str, api_key_env: str, timeout: float, retries: int) -> None:
        self._model = model
        self._client = openai.OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "none",
                                     timeout=timeout, max_retries=retries)

    def transcribe(self, audio: bytes, name: str, mime: str) -> str:
        try:
            reply = self._client.audio.transcriptions.create(model=self._model, file=(name, audio, mime))
        except (openai.APIConnectionError, openai.APITimeoutError) as error:
            raise TTSError(f"transcription endpoint unreachable: {type(error).__name__}",
                           "asr_unreachable") from None
        except openai.APIStatusError as error:
            raise TTSError(f"transcription endpoint answered HTTP {error.status_code}",
                           "asr_http_error") from None
        return reply.text
