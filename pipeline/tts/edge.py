"""Microsoft Edge's online voices through ``edge-tts`` (MP3, decoded in-process with libsndfile).

Throttling, server errors and dropped connections are retried with exponential backoff and
jitter; a service that cannot be reached is a ``tts_unreachable`` reject, never an empty clip.
Requests in flight are capped by the speech stage (``--tts_concurrency``)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import edge_tts
import numpy as np

from pipeline.remote import backoff_seconds
from pipeline.tts.audio import decode_audio
from pipeline.tts.voice import DEFAULT_PITCH, TTSError, Voice

SAMPLE_RATE = 24000
_RETRIED = (aiohttp.ClientError, asyncio.TimeoutError, edge_tts.exceptions.WebSocketError,
            edge_tts.exceptions.NoAudioReceived, edge_tts.exceptions.UnexpectedResponse)


class EdgeSpeech:
    sample_rate = SAMPLE_RATE

    def __init__(self, retries: int, timeout: float, proxy: str | None = None) -> None:
        self._retries, self._timeout, self._proxy = retries, timeout, proxy or None

    @classmethod
    def from_config(cls, config) -> EdgeSpeech:
        return cls(config.tts_retries, config.tts_timeout, config.tts_proxy)

    async def _fetch(self, text: str, voice: Voice) -> bytes:
        communicate = edge_tts.Communicate(
            text, voice.name, rate=f"{round((voice.speed - 1) * 100):+d}%",
            pitch=f"{voice.pitch - DEFAULT_PITCH:+d}Hz", proxy=self._proxy,
            connect_timeout=int(self._timeout), receive_timeout=int(self._timeout))
        chunks = [chunk["data"] async for chunk in communicate.stream() if chunk["type"] == "audio"]
        return b"".join(chunks)

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        last = None
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(backoff_seconds(attempt))
            try:
                audio = asyncio.run(self._fetch(text, voice))
                return decode_audio(audio, self.sample_rate)
            except _RETRIED as error:
                last = error
        if isinstance(last, aiohttp.ClientResponseError) and last.status == 429:
            reason = "tts_throttled"
        elif isinstance(last, (aiohttp.ClientConnectionError, OSError, asyncio.TimeoutError)):
            reason = "tts_unreachable"
        else:
            reason = "tts_failed"
        raise TTSError(f"edge-tts failed {self._retries + 1} times: {type(last).__name__}: {last}", reason)
