"""Time limits on work that must never hang a worker.

``deadline(seconds)`` bounds the Python work of one record on the calling thread: a
watchdog thread raises ``RecordTimeout`` in it when time is up (CPython's
``PyThreadState_SetAsyncExc``), so a stage stuck in a loop gives up at its next bytecode.
One long C call (a huge integer power inside sympy) cannot be stopped that way; it runs
to its end first. That is why numbers are capped before they are computed, and why
``Isolated`` runs such a library in a child process that is killed when it overruns.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

WATCH_SECONDS = 0.02  # how late past its deadline a record may be stopped


class RecordTimeout(Exception):
    reject_reason = "record_timeout"


_LOCK = threading.Lock()
_ACTIVE: dict[int, deadline] = {}  # thread ident -> its running deadline
_WATCHDOG: threading.Thread | None = None


def _raise_in(ident: int, error: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(error)
                                               if error else None)


def _watch() -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        now = time.monotonic()
        with _LOCK:
            for ident, limit in _ACTIVE.items():
                if not limit.fired and now >= limit.ends:
                    limit.fired = True
                    _raise_in(ident, RecordTimeout)


class deadline:  # noqa: N801  (used as a context manager, like contextlib's)
    """``with deadline(seconds): ...`` raises ``RecordTimeout`` once ``seconds`` have passed,
    also when the body caught the watchdog's exception and raised another one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False

    def __enter__(self) -> deadline:
        global _WATCHDOG
        self.ends = time.monotonic() + self.seconds
        self._ident = threading.get_ident()
        with _LOCK:
            if _WATCHDOG is None:
                _WATCHDOG = threading.Thread(target=_watch, name="record-deadline", daemon=True)
                _WATCHDOG.start()
            _ACTIVE[self._ident] = self
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        while True:
            try:
                with _LOCK:
                    _ACTIVE.pop(self._ident, None)
                if self.fired:
                    _raise_in(self._ident, None)  # not delivered yet: it must not fire later
                break
            except RecordTimeout:  # delivered while leaving
                continue
        if self.fired and kind is not RecordTimeout:
            raise RecordTimeout(f"over the {self.seconds:g} s limit per record") from error
        if kind is RecordTimeout:
            raise RecordTimeout(f"over the {self.seconds:g} s limit per record") from None
        return False


def _serve(target: str, warm_up: str) -> None:
    """The child's loop: one JSON line of arguments in, one JSON line of result out, after
    one call on ``warm_up`` (a library's lazy imports are not a call's time)."""
    if sys.platform == "linux":  # die with the parent, even when it is killed
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    module, name = target.split(":")
    function = getattr(importlib.import_module(module), name)
    function(*json.loads(warm_up))
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            reply = {"value": function(*json.loads(line))}
        except Exception as error:  # the caller decides what a failure means
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


class Isolated:
    """The function ``target`` names (``"module:function"``, JSON in and out) run in a child
    Python process, one call at a time, each within ``seconds`` (after one untimed call on
    ``warm_up``): an overrun raises
    ``TimeoutError`` and kills the child (a new one starts on the next call). The child
    starts on first use, so a run that never needs it never pays for it."""

    def __init__(self, target: str, seconds: float, warm_up: tuple = ()) -> None:
        self._target, self._seconds, self._warm_up = target, seconds, warm_up
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None
        self._pending = b""

    def _line(self, seconds: float | None) -> bytes:
        ends = None if seconds is None else time.monotonic() + seconds
        while b"\n" not in self._pending:
            wait = None if ends is None else max(0.0, ends - time.monotonic())
            if not select.select([self._child.stdout], [], [], wait)[0]:
                raise TimeoutError(f"over {self._seconds:g} s")
            chunk = os.read(self._child.stdout.fileno(), 65536)
            if not chunk:
                raise ChildProcessError(f"{self._target} exited with {self._child.wait()}")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line

    def _start(self) -> None:
        self._child = subprocess.Popen([sys.executable, "-m", "pipeline.deadline", self._target,
                                        json.dumps(self._warm_up)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._pending = b""
        self._line(None)  # imports done: only the calls are timed

    def _stop(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            self._child.stdin.close()
            self._child.stdout.close()
        self._child = None

    def __call__(self, *args):
        with self._lock:
            try:
                if self._child is None:
                    self._start()
                self._child.stdin.write(json.dumps(args).encode() + b"\n")
                self._child.stdin.flush()
                reply = json.loads(self._line(self._seconds))
            except BaseException:  # an overrun, a dead child, or the record's own deadline
                self._stop()
                raise
        if "error" in reply:
            raise ValueError(reply["error"])
        return reply["value"]


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
