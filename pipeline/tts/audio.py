"""Audio post-processing and checks: mono PCM16 at a target rate, trimmed, loudness
normalized, as WAV (or FLAC), judged for silence, clipping and an implausible speaking rate."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
import soundfile

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pydub warns about audioop and ffmpeg; raw PCM and WAV need neither
    from pydub import AudioSegment
    from pydub.silence import detect_leading_silence

from pipeline.tts.voice import TTSError

SILENCE_DBFS = -50.0
CLIPPED_FRACTION = 0.001
DEFAULT_LOUDNESS_DBFS = -20.0


@dataclass(frozen=True)
class Clip:
    data: bytes
    format: str
    sample_rate: int
    duration: float
    samples: np.ndarray


def decode_audio(data: bytes, sample_rate: int) -> np.ndarray:
    """Mono PCM16 samples at ``sample_rate`` from an engine's WAV, MP3, FLAC or OGG (read
    in-process with libsndfile, no ffmpeg); bytes that are no audio raise ``TTSError``."""
    try:
        if data[:4] == b"RIFF":
            segment = AudioSegment.from_wav(io.BytesIO(data))
        else:
            pcm, rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
            segment = AudioSegment(pcm.tobytes(), frame_rate=rate, sample_width=2, channels=pcm.shape[1])
        if segment.frame_rate <= 0:
            raise ValueError(f"sample rate {segment.frame_rate}")
        if len(segment) == 0:
            raise TTSError("the engine returned no samples", "tts_bad_audio")
        segment = segment.set_channels(1).set_sample_width(2).set_frame_rate(sample_rate)
    except TTSError:
        raise
    except Exception as error:  # whatever the WAV reader or libsndfile raised
        said = re.sub(r" object at 0x[0-9a-fA-F]+", "", str(error))  # no address: rejects repeat exactly
        raise TTSError(f"{len(data)} bytes that are not audio: {type(error).__name__}: {said}"[:300],
                       "tts_bad_audio") from None
    return np.frombuffer(segment.raw_data, dtype=np.int16).copy()


def resampled(pcm: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate:
        return pcm
    segment = AudioSegment(pcm.tobytes(), frame_rate=source_rate, sample_width=2, channels=1)
    return np.frombuffer(segment.set_frame_rate(target_rate).raw_data, dtype=np.int16).copy()


def _trimmed(pcm: np.ndarray, source_rate: int, target_rate: int) -> AudioSegment:
    segment = AudioSegment(pcm.tobytes(), frame_rate=source_rate, sample_width=2, channels=1)
    segment = segment.set_frame_rate(target_rate)
    start = detect_leading_silence(segment, silence_threshold=SILENCE_DBFS)
    end = len(segment) - detect_leading_silence(segment.reverse(), silence_threshold=SILENCE_DBFS)
    return segment[start:end] if end > start else segment


def _normalized(segment: AudioSegment, loudness_dbfs: float) -> AudioSegment:
    """Average loudness brought to ``loudness_dbfs``, never pushed past full scale. Silence,
    and audio that already reaches full scale, are left as they are for the checks to judge."""
    if segment.rms == 0 or segment.max >= segment.max_possible_amplitude - 1:
        return segment
    gain = min(loudness_dbfs - segment.dBFS, -segment.max_dBFS - 0.1)
    return segment.apply_gain(gain)


SUBTYPES = {"wav": "PCM_16", "flac": "PCM_16", "mp3": "MPEG_LAYER_III"}


def encode(samples: np.ndarray, sample_rate: int, audio_format: str) -> bytes:
    """Mono PCM16 as a WAV, FLAC or MP3 file, encoded in-process with libsndfile."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format=audio_format.upper(), subtype=SUBTYPES[audio_format])
    return buffer.getvalue()


def _clip(segment: AudioSegment, audio_format: str) -> Clip:
    samples = np.frombuffer(segment.raw_data, dtype=np.int16)
    if audio_format == "wav":
        buffer = io.BytesIO()
        segment.export(buffer, format="wav")
        data = buffer.getvalue()
    else:
        data = encode(samples, segment.frame_rate, audio_format)
    return Clip(data, audio_format, segment.frame_rate, len(samples) / segment.frame_rate, samples)


def encode_clip(pcm: np.ndarray, source_rate: int, target_rate: int,
                loudness_dbfs: float = DEFAULT_LOUDNESS_DBFS, audio_format: str = "wav") -> Clip:
    """Mono PCM16 resampled, trimmed of leading and trailing silence, loudness
    normalized, encoded as WAV (or FLAC)."""
    return _clip(_normalized(_trimmed(pcm, source_rate, target_rate), loudness_dbfs), audio_format)


def join_sentences(pieces: list[np.ndarray], source_rate: int, target_rate: int, pause_ms: int,
                   loudness_dbfs: float = DEFAULT_LOUDNESS_DBFS,
                   audio_format: str = "wav") -> tuple[Clip, list[dict]]:
    """One clip from sentences synthesized apart, each trimmed and joined by a pause, with
    the start and end of every sentence in seconds: exact, since they are cut here."""
    joined = AudioSegment.empty().set_frame_rate(target_rate)
    pause = AudioSegment.silent(duration=pause_ms, frame_rate=target_rate)
    times = []
    for number, pcm in enumerate(pieces):
        if number:
            joined += pause
        sentence = _trimmed(pcm, source_rate, target_rate)
        start = len(joined.get_array_of_samples())
        joined += sentence
        times.append({"start": start / target_rate,
                      "end": len(joined.get_array_of_samples()) / target_rate})
    return _clip(_normalized(joined, loudness_dbfs), audio_format), times


def audio_problem(clip: Clip, words: int, min_wps: float, max_wps: float) -> tuple[str, str] | None:
    """(reason, detail) when the clip is unfit to train on; None when it passes."""
    if clip.samples.size == 0:
        return "audio_empty", "no samples"
    power = clip.samples.astype(np.float64)
    rms = float(np.sqrt(np.mean(np.square(power, out=power))))
    if rms == 0 or 20 * np.log10(rms / 32768) < SILENCE_DBFS:
        return "audio_silent", f"rms {rms:.1f}"
    if int(clip.samples.max()) >= 32767 or int(clip.samples.min()) <= -32767:  # any at full scale
        clipped = float(np.mean(np.abs(clip.samples.astype(np.int32)) >= 32767))
        if clipped > CLIPPED_FRACTION:
            return "audio_clipped", f"{clipped:.2%} of samples at full scale"
    rate = words / clip.duration
    if not min_wps <= rate <= max_wps:
        return "audio_rate", f"{words} words in {clip.duration:.2f} s ({rate:.2f} words/s)"
    return None


def hf_audio(clip: Clip, path: str) -> dict:
    """The Hugging Face ``Audio`` storage layout."""
    return {"bytes": clip.data, "path": path}
