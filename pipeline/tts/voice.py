"""What every speech engine shares: a voice, and the error an engine raises."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.reject import ServiceError

DEFAULT_RATE, DEFAULT_PITCH = 175, 50


@dataclass(frozen=True)
class Voice:
    """A voice name in its engine's terms ("en-us+f3", "alloy", "en-US-AriaNeural"), a
    speaking rate in words per minute and a pitch from 0 to 99 (50 is the voice's own)."""

    name: str
    rate: int = DEFAULT_RATE
    pitch: int = DEFAULT_PITCH
    engine: str = "espeak"

    def __str__(self) -> str:
        return f"{self.engine}:{self.name} rate={self.rate} pitch={self.pitch}"

    @property
    def speed(self) -> float:
        """The rate as a multiple of the engine's normal speed."""
        return self.rate / DEFAULT_RATE


class TTSError(ServiceError):
    """The engine could not render the text; ``reason`` is the reject reason."""

    def __init__(self, message: str, reason: str = "tts_failed") -> None:
        super().__init__(message, reason)
