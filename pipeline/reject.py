"""The one way a stage says "this record cannot go on": raise ``Reject``; and the error a
service (a speech engine, a transcriber) raises, which a stage turns into one."""

from __future__ import annotations


class Reject(Exception):
    """A record leaves the pipeline here, for a stated reason.

    ``reason`` is a short stable code (counted in the summary); ``detail`` is free text
    for a person reading the rejects.
    """

    def __init__(self, stage: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{stage}/{reason}: {detail}")
        self.stage = stage
        self.reason = reason
        self.detail = detail


class ServiceError(RuntimeError):
    """A call to a service (a speech engine, a transcriber) failed; ``reason`` is the reject
    reason (``tts_unreachable``, ``asr_throttled``...)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
