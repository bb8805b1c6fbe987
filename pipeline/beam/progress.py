"""A progress line for local runs: finished rows, against the inputs counted at the start.

Remote runners show the per-stage Beam counters (records in, out, rejected by reason) in
their own consoles. Locally ``Pipeline.run`` blocks until the end, so a DoFn fused with
the last stage prints as rows finish; rejects are reported in the summary.
"""

from __future__ import annotations

import sys
import time

import apache_beam as beam


class ShowProgress(beam.DoFn):
    """Counts finished rows; prints a line at most every ``every`` seconds."""

    def __init__(self, total: int, every: float = 5.0) -> None:
        self._total, self._every = total, every

    def setup(self) -> None:
        self._written = 0
        self._started = self._shown = time.monotonic()

    def process(self, _row) -> None:
        self._written += 1
        now = time.monotonic()
        if now - self._shown >= self._every:
            self._shown = now
            self._print(now)

    def teardown(self) -> None:
        self._print(time.monotonic())

    def _print(self, now: float) -> None:
        seconds = now - self._started
        print(f"progress: {self._written:,} rows written of {self._total:,} inputs in {seconds:.0f} s "
              f"({self._written / max(seconds, 1e-9):.1f} rows/s)", file=sys.stderr, flush=True)


class Progress(beam.PTransform):
    """``records | Progress(total)``: prints progress, outputs nothing."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self._total = total

    def expand(self, records):
        return records | "Show" >> beam.ParDo(ShowProgress(self._total))
