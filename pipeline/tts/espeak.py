"""espeak-ng, offline and with no system package, spoken by helper processes
(``espeak_helper.py``): audio is a pure function of (text, voice), and a crash inside the
C library stays away from the Beam worker."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from pipeline.tts import espeak_helper
from pipeline.tts.espeak_helper import HEADER, write_all
from pipeline.tts.voice import TTSError, Voice

DEFAULT_TIMEOUT = 10.0  # seconds an utterance may take (the speech stage passes --record_timeout)
STARTUP_SECONDS = 30.0  # a helper's start: Python and the library's data


class _Helper:
    """One helper process (with the children it forks, a process group of its own), asked
    one utterance at a time; a reply that takes longer than ``timeout`` seconds ends it."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        # -P: the helper's folder (this package's modules) stays off its import path
        self.process = subprocess.Popen([sys.executable, "-P", Path(espeak_helper.__file__)], bufsize=0,
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
        status, number, length = HEADER.unpack(self._read(HEADER.size, until))
        return status, number, self._read(length, until)

    def synthesize(self, text: str, voice: Voice) -> tuple[int, bytes]:
        """(status, payload) of the reply to this request."""
        self._number += 1
        request = json.dumps({"number": self._number, "text": text, "voice": asdict(voice)}) + "\n"
        write_all(self.process.stdin.fileno(), request.encode())
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
