"""espeak-ng through the ``espeakng-loader`` wheel and ctypes: offline, no system package.

espeak-ng keeps state from one utterance to the next (pitch flutter, echo) and draws
breath noise from random generators seeded from the clock, so the same text said twice
gives different samples. To make audio a pure function of (text, voice), a small helper
process initializes the library once and forks a fresh child for every utterance, which
seeds both generators with 0: each child starts from the same state. The next child is
forked while the current one speaks; each child replies on a pipe of its own and the helper
relays whole replies only. The helper also keeps a crash inside the C library away from the
Beam worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import queue
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import asdict
from typing import NamedTuple

import numpy as np

from pipeline.tts.voice import TTSError, Voice

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE, ESPEAK_PITCH = 1, 3
_HEADER = struct.Struct("!iII")  # status, request number, payload length
DEFAULT_TIMEOUT = 10.0  # seconds an utterance may take (the speech stage passes --record_timeout)
STARTUP_SECONDS = 30.0  # a helper's start: Python, numpy and the library's data
PIPE_BYTES = 1 << 20  # a reply pipe's size: 23 s of audio, more than most sentences


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


def _send(stream, status: int, number: int, payload: bytes) -> None:
    stream.write(_HEADER.pack(status, number, len(payload)) + payload)
    stream.flush()


def _widen(pipe: int) -> None:
    """Let a pipe hold a whole reply (seconds of audio), so its writer need not wait for
    the reader; where the system refuses, the pipe keeps its size."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class _Child(NamedTuple):
    pid: int
    requests: int  # the write end of the pipe it reads its one request from
    reply: int  # the read end of the pipe it replies on


def _spare_child(library: _Library) -> _Child:
    """Fork a pristine child that waits for one request line on a pipe of its own, says it,
    replies on another pipe of its own and exits."""
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    child = os.fork()
    if child:
        os.close(request_read)
        os.close(reply_write)
        return _Child(child, request_write, reply_read)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.close(request_write)
    os.close(reply_read)
    _widen(reply_write)
    with os.fdopen(request_read, "rb") as pipe:
        line = pipe.readline()
    if line:
        ctypes.CDLL(None).srand(0)
        library.lib.espeak_ng_SetRandSeed(ctypes.c_long(0))
        number = 0
        with os.fdopen(reply_write, "wb") as replies:
            try:
                request = json.loads(line)
                number = request["number"]
                _send(replies, 0, number, library.synthesize(request["text"], Voice(**request["voice"])))
            except Exception as error:
                _send(replies, 1, number, str(error).encode())
    os._exit(0)


def _dispatch(line: bytes, spare: _Child, library: _Library) -> _Child:
    """Hand a request to the spare child (to a fresh one if the spare has died); returns
    the child that speaks it."""
    try:
        os.write(spare.requests, line + b"\n")
    except BrokenPipeError:
        os.close(spare.requests)
        os.close(spare.reply)
        return _dispatch(line, _spare_child(library), library)
    os.close(spare.requests)
    return spare


def _relay(reply: bytes, number: int, replies) -> None:
    """Pass on a child's reply once its pipe is closed: whole, or, from a child that ended
    before it had replied in full, as a failure. Only the helper writes to the Beam worker,
    so a child that dies can never leave half a reply among the others."""
    if len(reply) >= _HEADER.size:
        _, said, length = _HEADER.unpack_from(reply)
        if said == number and len(reply) == _HEADER.size + length:
            replies.write(reply)
            replies.flush()
            return
    _send(replies, 1, number, b"the synthesis process ended before it had replied")


def _request_number(line: bytes) -> int:
    try:
        return int(json.loads(line)["number"])
    except (ValueError, KeyError, TypeError):
        return 0


def serve(requests: int, replies) -> None:
    """Helper process: answer each JSON request line (read from the file descriptor
    ``requests``) from a pristine forked child, relaying its reply. The child for the next
    request is forked while the current one speaks; children that have exited are reaped
    by the system (SIGCHLD ignored), off the path of the replies."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    library = _Library()
    _widen(replies.fileno())
    _send(replies, 0, 0, str(library.sample_rate).encode())
    spare, pending = _spare_child(library), b""
    speaking: dict[int, tuple[int, bytearray]] = {}  # reply pipe -> (request number, reply so far)
    while True:
        ready, _, _ = select.select([requests, *speaking], [], [])
        for pipe in ready:
            if pipe == requests:
                continue
            chunk = os.read(pipe, PIPE_BYTES)
            number, reply = speaking[pipe]
            if chunk:
                reply += chunk
                continue
            os.close(pipe)
            del speaking[pipe]
            _relay(bytes(reply), number, replies)
        if requests not in ready:
            continue
        chunk = os.read(requests, 1 << 16)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            child = _dispatch(line, spare, library)
            speaking[child.reply] = (_request_number(line), bytearray())
            spare = _spare_child(library)
    os.close(spare.requests)  # the spare reads no request and exits
    with contextlib.suppress(ChildProcessError):
        os.wait()  # with SIGCHLD ignored: returns once every child has exited


class _Helper:
    """One helper process (with the children it forks, a process group of its own), asked
    one utterance at a time; a reply that takes longer than ``timeout`` seconds ends it."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self.process = subprocess.Popen([sys.executable, "-m", "pipeline.tts.espeak"], bufsize=0,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        start_new_session=True)
        self._number = 0
        status, _, payload = self._receive(time.monotonic() + max(timeout, STARTUP_SECONDS))
        if status != 0:
            raise TTSError(payload.decode(), "tts_unavailable")
        self.sample_rate = int(payload)

    def _read(self, size: int, until: float) -> bytes:
        data = b""
        while len(data) < size:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, until - time.monotonic()))
            if not ready:
                self.kill()
                raise TTSError(f"espeak took longer than {self._timeout:g} s", "record_timeout")
            chunk = self.process.stdout.read(size - len(data))
            if not chunk:
                raise TTSError("the espeak helper process stopped")
            data += chunk
        return data

    def _receive(self, until: float) -> tuple[int, int, bytes]:
        status, number, length = _HEADER.unpack(self._read(_HEADER.size, until))
        return status, number, self._read(length, until)

    def synthesize(self, text: str, voice: Voice) -> tuple[int, bytes]:
        """(status, payload) of the reply to this request."""
        self._number += 1
        request = json.dumps({"number": self._number, "text": text, "voice": asdict(voice)}) + "\n"
        unsent = memoryview(request.encode())
        while unsent:
            unsent = unsent[self.process.stdin.write(unsent):]
        status, number, payload = self._receive(time.monotonic() + self._timeout)
        if number != self._number:
            raise TTSError(f"the espeak helper answered request {number} to request {self._number}")
        return status, payload

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        if self.alive:
            self.process.stdin.close()
            self.process.wait(timeout=10)

    def __del__(self) -> None:
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.kill()


class EspeakSpeech:
    """Renders text to mono PCM16 at espeak's native rate (22,050 Hz).

    ``helpers`` helper processes, each saying one utterance at a time (the C library does
    one at a time in a process); threads that call ``synthesize`` at once are spread over
    them, so one worker speaks on as many cores as it has helpers.
    """

    def __init__(self, helpers: int = 1, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._timeout = timeout
        self._helpers = [_Helper(timeout) for _ in range(helpers)]
        self._idle: queue.SimpleQueue[_Helper] = queue.SimpleQueue()
        for helper in self._helpers:
            self._idle.put(helper)
        self.sample_rate = self._helpers[0].sample_rate

    @classmethod
    def from_config(cls, config) -> EspeakSpeech:
        """One helper for each request in flight (``--tts_concurrency``), at most one a
        core; an utterance may take ``--record_timeout`` seconds."""
        return cls(helpers=max(1, min(config.tts_concurrency, os.cpu_count() or 1)),
                   timeout=config.record_timeout)

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        """PCM16 samples of ``text`` said by ``voice``; the same inputs, the same samples,
        whichever helper says them."""
        helper = self._idle.get()
        try:
            status, payload = helper.synthesize(text, voice)
        finally:
            if not helper.alive:  # ended for taking too long: the next request gets a fresh one
                self._helpers.remove(helper)
                helper = _Helper(self._timeout)
                self._helpers.append(helper)
            self._idle.put(helper)
        if status != 0:
            raise TTSError(payload.decode("utf-8", "replace"))
        return np.frombuffer(payload, dtype=np.int16).copy()

    def close(self) -> None:
        for helper in self._helpers:
            helper.close()


if __name__ == "__main__":
    serve(sys.stdin.fileno(), sys.stdout.buffer)
