"""espeak-ng through the ``espeakng-loader`` wheel and ctypes: offline, no system package.

espeak-ng keeps state from one utterance to the next (pitch flutter, echo) and draws
breath noise from random generators seeded from the clock, so the same text said twice
gives different samples. To make audio a pure function of (text, voice), a small helper
process initializes the library once and forks a fresh child for every utterance, which
seeds both generators with 0: each child starts from the same state. The next child is
forked while the current one speaks. The helper also keeps a
crash inside the C library away from the Beam worker.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import subprocess
import sys
import threading
from dataclasses import asdict

import numpy as np

from pipeline.tts.voice import TTSError, Voice

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE, ESPEAK_PITCH = 1, 3
_HEADER = struct.Struct("!iI")  # status, payload length


class _Library:
    """The C library, initialized once in the helper process."""

    def __init__(self) -> None:
        import espeakng_loader

        self.chunks: list[bytes] = []
        lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        data_parent = os.path.dirname(espeakng_loader.get_data_path())
        self.sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent.encode(), 0)
        if self.sample_rate <= 0:
            raise TTSError(f"espeak_Initialize failed ({self.sample_rate})")
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )
        self._callback = callback_type(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self.lib = lib

    def _collect(self, wav, count, _events) -> int:
        if wav and count > 0:
            self.chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    def synthesize(self, text: str, voice: Voice) -> bytes:
        if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise TTSError(f"unknown espeak voice {voice.name!r}")
        self.lib.espeak_SetParameter(ESPEAK_RATE, voice.rate, 0)
        self.lib.espeak_SetParameter(ESPEAK_PITCH, voice.pitch, 0)
        encoded = text.encode("utf-8") + b"\0"
        status = self.lib.espeak_Synth(encoded, len(encoded), 0, 0, 0, ESPEAK_CHARS_UTF8, None, None)
        if status != 0:
            raise TTSError(f"espeak_Synth failed ({status})")
        return b"".join(self.chunks)


def _send(stream, status: int, payload: bytes) -> None:
    stream.write(_HEADER.pack(status, len(payload)) + payload)
    stream.flush()


def _spare_child(library: _Library, replies) -> tuple[int, int]:
    """Fork a pristine child that waits for one request line on a pipe of its own, says it,
    replies and exits. Returns (its pid, the pipe's write end)."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child:
        os.close(read_end)
        return child, write_end
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        line = pipe.readline()
    if line:
        ctypes.CDLL(None).srand(0)
        library.lib.espeak_ng_SetRandSeed(ctypes.c_long(0))
        try:
            request = json.loads(line)
            _send(replies, 0, library.synthesize(request["text"], Voice(**request["voice"])))
        except Exception as error:
            _send(replies, 1, str(error).encode())
    os._exit(0)


def serve(requests, replies) -> None:
    """Helper process: answer each JSON request line from a pristine forked child. The
    child for the next request is forked while the current one speaks, so the fork is off
    the path of the reply (on a second core)."""
    library = _Library()
    _send(replies, 0, str(library.sample_rate).encode())
    spare = _spare_child(library, replies)
    for line in requests:
        child, pipe = spare
        with os.fdopen(pipe, "wb") as request:
            request.write(line if line.endswith(b"\n") else line + b"\n")
        spare = _spare_child(library, replies)
        _, status = os.waitpid(child, 0)
        if status != 0:
            _send(replies, 1, f"synthesis process ended with status {status}".encode())
    child, pipe = spare
    os.close(pipe)  # the spare reads no request and exits
    os.waitpid(child, 0)


class EspeakSpeech:
    """Renders text to mono PCM16 at espeak's native rate (22,050 Hz).

    One helper process per engine; calls are serialized with a lock (the C library
    does one utterance at a time), so scale with Beam worker processes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._helper = subprocess.Popen(
            [sys.executable, "-m", "pipeline.tts.espeak"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        status, payload = self._receive()
        if status != 0:
            raise TTSError(payload.decode(), "tts_unavailable")
        self.sample_rate = int(payload)

    @classmethod
    def from_config(cls, _config) -> EspeakSpeech:
        return cls()

    def _receive(self) -> tuple[int, bytes]:
        header = self._helper.stdout.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise TTSError("the espeak helper process stopped")
        status, length = _HEADER.unpack(header)
        return status, self._helper.stdout.read(length)

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        """PCM16 samples of ``text`` said by ``voice``; the same inputs, the same samples."""
        request = json.dumps({"text": text, "voice": asdict(voice)}) + "\n"
        with self._lock:
            self._helper.stdin.write(request.encode())
            self._helper.stdin.flush()
            status, payload = self._receive()
        if status != 0:
            raise TTSError(payload.decode("utf-8", "replace"))
        return np.frombuffer(payload, dtype=np.int16).copy()

    def close(self) -> None:
        if self._helper.poll() is None:
            self._helper.stdin.close()
            self._helper.wait(timeout=10)

    def __del__(self) -> None:
        helper = getattr(self, "_helper", None)
        if helper is not None and helper.poll() is None:
            helper.kill()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
