"""The ASR round trip: any OpenAI-compatible ``/v1/audio/transcriptions`` endpoint hears
a clip, and the word error rate against the text it should say (``jiwer``) decides
whether the clip says what its record claims."""

from __future__ import annotations

import os

import jiwer

from pipeline.reject import ServiceError
from pipeline.remote import openai_client, openai_failure, redact
from pipeline.text.verbalize import plain_words


def word_error_rate(expected: str, heard: str) -> float:
    """WER over lower-case words and numbers, so punctuation and casing never count."""
    reference = " ".join(plain_words(expected))
    return jiwer.wer(reference, " ".join(plain_words(heard)) or "<nothing>") if reference else 0.0


class OpenAITranscriber:
    def __init__(self, base_url: str, model: str, api_key_env: str, timeout: float, retries: int) -> None:
        self._model, self._key = model, os.environ.get(api_key_env, "")
        self._client = openai_client(base_url, self._key, timeout, retries)

    def transcribe(self, audio: bytes, name: str, mime: str) -> str:
        import openai

        try:
            reply = self._client.audio.transcriptions.create(model=self._model, file=(name, audio, mime))
        except openai.APIError as error:
            reason, detail, _ = openai_failure("asr", error)
            raise ServiceError(f"transcription: {detail}", reason) from None
        return redact(reply.text, self._key)
