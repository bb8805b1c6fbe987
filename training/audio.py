"""Audio for the trainer, in-process: decode WAV/FLAC cells, log-mel features, and a
Griffin-Lim decoder that turns predicted mel frames back into a waveform.

No torchcodec and no ffmpeg: ``soundfile`` reads the bytes the shards hold, torch does
the rest, so training runs on a machine with nothing but Python.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import soundfile
import torch


def decode(cell: dict | bytes) -> tuple[torch.Tensor, int]:
    """A Hugging Face Audio cell (or its bytes) as a mono float waveform and its rate."""
    data = cell["bytes"] if isinstance(cell, dict) else cell
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return torch.from_numpy(samples.mean(axis=1)), rate


def resample(wave: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """Band-limited resampling of a whole clip through its spectrum."""
    if rate == target or wave.numel() == 0:
        return wave
    length = round(wave.numel() * target / rate)
    spectrum = torch.fft.rfft(wave)
    kept = torch.zeros(length // 2 + 1, dtype=spectrum.dtype)
    bins = min(kept.numel(), spectrum.numel())
    kept[:bins] = spectrum[:bins]
    return torch.fft.irfft(kept, n=length) * (length / wave.numel())


def _mel_scale(hz: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def _hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10 ** (mel / 2595.0) - 1.0)


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256
    n_mels: int = 64
    griffin_lim_iters: int = 48

    @property
    def frame_seconds(self) -> float:
        return self.hop / self.sample_rate

    @cached_property
    def filters(self) -> torch.Tensor:
        """Triangular mel filters, (n_mels, n_fft // 2 + 1), HTK scale."""
        bins = torch.linspace(0, self.sample_rate / 2, self.n_fft // 2 + 1)
        edges = _hz(torch.linspace(0, float(_mel_scale(torch.tensor(self.sample_rate / 2))), self.n_mels + 2))
        lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        rising = (bins - lower) / (centre - lower)
        falling = (upper - bins) / (upper - centre)
        return torch.clamp(torch.minimum(rising, falling), min=0.0)

    @cached_property
    def window(self) -> torch.Tensor:
        return torch.hann_window(self.n_fft)

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(frames, n_mels) log-mel features of a waveform at ``sample_rate``."""
        if wave.numel() < self.n_fft:
            wave = torch.nn.functional.pad(wave, (0, self.n_fft - wave.numel()))
        spectrum = torch.stft(wave, self.n_fft, self.hop, window=self.window, return_complex=True)
        return torch.log(self.filters @ spectrum.abs() ** 2 + 1e-6).T

    def features(self, cell: dict | bytes) -> torch.Tensor:
        wave, rate = decode(cell)
        return self.log_mel(resample(wave, rate, self.sample_rate))

    def griffin_lim(self, log_mel: torch.Tensor) -> torch.Tensor:
        """A waveform whose log-mel is close to ``log_mel`` (frames, n_mels): the mel power is
        mapped back to linear magnitudes by least squares, then the phase is estimated."""
        power = torch.exp(log_mel.float().T)
        magnitude = torch.clamp(torch.linalg.pinv(self.filters) @ power, min=0.0).sqrt()
        length = self.hop * (magnitude.shape[1] - 1)
        start = torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(0))
        angles = torch.exp(2j * torch.pi * start)
        wave = torch.zeros(length)
        for _ in range(self.griffin_lim_iters):
            wave = torch.istft(magnitude * angles, self.n_fft, self.hop, window=self.window, length=length)
            rebuilt = torch.stft(wave, self.n_fft, self.hop, window=self.window, return_complex=True)
            angles = torch.exp(1j * rebuilt.angle())
        return wave / wave.abs().max().clamp(min=1e-6) * 0.9


def write_wav(path: str | Path, wave: torch.Tensor, rate: int) -> None:
    soundfile.write(str(path), wave.detach().cpu().numpy(), rate, subtype="PCM_16")
