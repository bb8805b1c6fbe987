"""Piper voices (``piper-tts``, an optional dependency): any local ``.onnx`` voice with
its ``.onnx.json`` config beside it. The voice pool is a list of such paths. Noise is
off, so the same text gives the same samples."""

from __future__ import annotations

import threading

import numpy as np

from pipeline.tts.audio import resampled
from pipeline.tts.voice import TTSError, Voice

SAMPLE_RATE = 22050


class PiperSpeech:
    """Loads each voice file once per worker; output resampled to one rate for all voices."""

    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError:
            raise TTSError("--tts piper needs the optional dependency: pip install 'spoken-math[piper]'",
                           "tts_unavailable") from None
        self._load, self._settings = PiperVoice.load, SynthesisConfig
        self._voices: dict[str, object] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, _config) -> PiperSpeech:
        return cls()

    def _voice(self, path: str):
        with self._lock:
            if path not in self._voices:
                try:
                    self._voices[path] = self._load(path)
                except (OSError, ValueError, KeyError) as error:
                    raise TTSError(f"cannot load Piper voice {path}: {error}", "tts_unavailable") from None
            return self._voices[path]

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        model = self._voice(voice.name)
        settings = self._settings(length_scale=1 / voice.speed, noise_scale=0.0, noise_w_scale=0.0)
        chunks = [chunk.audio_int16_array for chunk in model.synthesize(text, settings)]
        if not chunks:
            raise TTSError(f"Piper produced no audio for {text[:60]!r}", "tts_bad_audio")
        return resampled(np.concatenate(chunks), model.config.sample_rate, self.sample_rate)
