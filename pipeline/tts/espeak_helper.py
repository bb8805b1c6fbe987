"""The espeak helper process: espeak-ng through the ``espeakng-loader`` wheel and ctypes,
one pristine forked child per utterance.

espeak-ng keeps state from one utterance to the next (pitch flutter, echo) and draws
breath noise from random generators seeded from the clock, so the same text said twice
gives different samples. To make audio a pure function of (text, voice), this process
initializes the library once and forks a fresh child for every utterance, which seeds both
generators with 0: each child starts from the same state. The next child is forked while
the current one speaks; each child replies on a pipe of its own and the helper relays
whole replies only.

Run as a script (``python espeak_helper.py``), never imported with the package: it
imports nothing beyond the standard library and the loader, so it stays small (about
15 MB against 75 with the package's imports), and forking and ending a child per
utterance cost a third as much.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import select
import signal
import struct
import sys
from typing import NamedTuple

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE, ESPEAK_PITCH = 1, 3
HEADER = struct.Struct("!iII")  # status, request number, payload length
PIPE_BYTES = 1 << 20  # a reply pipe's size: 23 s of audio, more than most sentences
REPLY_BATCH = 1 << 18  # bytes a child gathers before it writes them to its reply pipe


class Library:
    """The C library, initialized once in the helper process."""

    def __init__(self) -> None:
        import espeakng_loader

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
            raise RuntimeError(f"espeak_Initialize failed ({self.sample_rate})")
        lib.espeak_ListVoices.restype = ctypes.c_void_p
        lib.espeak_ListVoices(None)  # read the voices folder now, not in every child
        self._write = None
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._pass_on)
        lib.espeak_SetSynthCallback(self._callback)
        self.lib = lib

    def _pass_on(self, samples, count, _events) -> int:
        if samples and count > 0:
            self._write((ctypes.c_char * (count * 2)).from_address(samples))
        return 0

    def synthesize(self, text: str, name: str, rate: int, pitch: int, write) -> None:
        """Say ``text`` with the voice ``name`` at ``rate`` words a minute and ``pitch``
        (0-99), handing each block of PCM16 samples to ``write`` as the library makes it
        (the block is the library's own buffer: copy it or write it out at once)."""
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise ValueError(f"unknown espeak voice {name!r}")
        self.lib.espeak_SetParameter(ESPEAK_RATE, rate, 0)
        self.lib.espeak_SetParameter(ESPEAK_PITCH, pitch, 0)
        encoded = text.encode("utf-8") + b"\0"
        self._write = write
        status = self.lib.espeak_Synth(encoded, len(encoded), 0, 0, 0, ESPEAK_CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed ({status})")

    def samples(self, text: str, name: str, rate: int, pitch: int) -> bytes:
        """The PCM16 samples of ``text``, said in this process."""
        blocks: list[bytes] = []
        self.synthesize(text, name, rate, pitch, lambda block: blocks.append(bytes(block)))
        return b"".join(blocks)


def write_all(pipe: int, data) -> None:
    """All of ``data``: a write to a pipe that a signal (SIGCHLD, here) interrupts writes
    only part of it."""
    unsent = memoryview(data).cast("B")
    while unsent:
        unsent = unsent[os.write(pipe, unsent):]


def _send(pipe: int, status: int, number: int, payload) -> None:
    write_all(pipe, HEADER.pack(status, number, len(payload)))
    write_all(pipe, payload)


def _widen(pipe: int) -> None:
    """Let a pipe hold a whole reply (seconds of audio), so its writer need not wait for
    the reader; where the system refuses, the pipe keeps its size."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class _Child(NamedTuple):
    requests: int  # the write end of the pipe it reads its one request from
    reply: int  # the read end of the pipe it replies on


def _speak(line: bytes, library: Library, reply: int) -> None:
    """In a child: write the samples to ``reply`` in batches of ``REPLY_BATCH`` bytes as the
    library makes them, then a trailer: HEADER of (status, request number, length of the
    payload just before it), the payload being the samples, or an error message. A batch,
    not each of the library's blocks of about 4 kB: the helper wakes up for every write,
    and waking up 150 times an utterance cost a fifth of its time."""
    ctypes.CDLL(None).srand(0)
    library.lib.espeak_ng_SetRandSeed(ctypes.c_long(0))
    number, said = 0, 0
    batch = bytearray()

    def write(block) -> None:
        nonlocal said
        batch.extend(block)
        said += len(block)
        if len(batch) >= REPLY_BATCH:
            write_all(reply, batch)
            del batch[:]

    try:
        request = json.loads(line)
        number = request["number"]
        voice = request["voice"]
        library.synthesize(request["text"], voice["name"], voice["rate"], voice["pitch"], write)
        write_all(reply, batch)
        trailer = HEADER.pack(0, number, said)
    except Exception as error:
        message = str(error).encode()
        write_all(reply, message)
        trailer = HEADER.pack(1, number, len(message))
    write_all(reply, trailer)


def _spare_child(library: Library) -> _Child:
    """Fork a pristine child that waits for one request line on a pipe of its own, says it,
    replies on another pipe of its own and exits."""
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    child = os.fork()
    if child:
        os.close(request_read)
        os.close(reply_write)
        return _Child(request_write, reply_read)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.close(request_write)
    os.close(reply_read)
    _widen(reply_write)
    with os.fdopen(request_read, "rb") as pipe:
        line = pipe.readline()
    if line:
        _speak(line, library, reply_write)
    os.close(reply_write)  # the reply ends here, not when the exit has freed this process's memory
    os._exit(0)


def _dispatch(line: bytes, spare: _Child, library: Library) -> _Child:
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


def _relay(reply: bytearray, number: int, replies: int) -> None:
    """Pass on a child's reply once its pipe is closed: whole, or, from a child that ended
    before its trailer, as a failure. Only the helper writes to the Beam worker, so a child
    that dies can never leave half a reply among the others."""
    body = len(reply) - HEADER.size
    if body >= 0:
        status, said, length = HEADER.unpack_from(reply, body)
        if said == number and length <= body and (status != 0 or length == body):
            _send(replies, status, number, memoryview(reply)[body - length:body])
            return
    _send(replies, 1, number, b"the synthesis process ended before it had replied")


def _request_number(line: bytes) -> int:
    try:
        return int(json.loads(line)["number"])
    except (ValueError, KeyError, TypeError):
        return 0


def _reap() -> None:
    """Collect the children that have exited (their CPU time then counts in this process's
    children's time, as tools that measure a build expect)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def serve(requests: int, replies: int) -> None:
    """Helper process: answer each JSON request line (read from the file descriptor
    ``requests``) from a pristine forked child, relaying its reply to ``replies``. The child
    for the next request is forked while the current one speaks, and children are reaped
    once they have exited (SIGCHLD wakes the loop), not waited for: both stay off the path
    of the replies."""
    exited, wake = os.pipe()
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _widen(replies)
    try:
        library = Library()
    except Exception as error:
        _send(replies, 1, 0, f"espeak-ng could not start: {error}".encode())
        return
    _send(replies, 0, 0, str(library.sample_rate).encode())
    spare, pending = _spare_child(library), b""
    speaking: dict[int, tuple[int, bytearray]] = {}  # reply pipe -> (request number, reply so far)
    while True:
        ready, _, _ = select.select([requests, exited, *speaking], [], [])
        for pipe in ready:
            if pipe == exited:
                os.read(exited, 4096)
                _reap()
            if pipe in (requests, exited):
                continue
            chunk = os.read(pipe, PIPE_BYTES)
            number, reply = speaking[pipe]
            if chunk:
                reply += chunk
                continue
            os.close(pipe)
            del speaking[pipe]
            _relay(reply, number, replies)
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
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    with contextlib.suppress(ChildProcessError):
        while True:
            os.wait()


if __name__ == "__main__":
    serve(sys.stdin.fileno(), sys.stdout.fileno())
