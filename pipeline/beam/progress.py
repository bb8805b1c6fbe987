"""A progress bar for local runs: records finished (written or rejected) against the
inputs counted at the start, with the rate, the time left and the rejects so far.

Remote runners show the per-stage Beam counters (records in, out, rejected by reason) in
their own consoles. Locally ``Pipeline.run`` blocks until the end, so DoFns fused with
the last stage and with the rejects update one tqdm bar per worker process.
"""

from __future__ import annotations

import sys

import apache_beam as beam
from tqdm import tqdm


class _Bar:
    """A tqdm bar of finished records with the rejects so far as its postfix."""

    def __init__(self, total: int) -> None:
        self.tqdm = tqdm(total=total, unit="rec", desc="records", file=sys.stderr, dynamic_ncols=True,
                         mininterval=0.5 if sys.stderr.isatty() else 5.0, postfix={"rejects": 0})
        self.rejects = 0

    def add(self, rejected: bool) -> None:
        if rejected:
            self.rejects += 1
            self.tqdm.set_postfix(rejects=self.rejects, refresh=False)
        self.tqdm.update(1)


_BARS: dict[int, _Bar] = {}  # one bar per process (the rows' and the rejects' DoFns share it)


class ShowProgress(beam.DoFn):
    """Counts finished records, or rejects, on this process's bar."""

    def __init__(self, total: int, rejects: bool) -> None:
        self._total, self._rejects = total, rejects

    def setup(self) -> None:
        if self._total not in _BARS:
            _BARS[self._total] = _Bar(self._total)
        self._bar = _BARS[self._total]

    def process(self, _element) -> None:
        self._bar.add(self._rejects)

    def teardown(self) -> None:
        self._bar.tqdm.refresh()


def close_progress() -> None:
    """End this process's bars (after the run), so what is printed next starts a line."""
    while _BARS:
        _BARS.popitem()[1].tqdm.close()


class Progress(beam.PTransform):
    """``(records, *rejects) | Progress(total)``: shows progress, outputs nothing. Each
    stage's rejects are counted where they are made (a flattened collection of them would
    be counted only once every stage is done)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self._total = total

    def expand(self, streams):
        records, *rejects = streams
        shown = records | "ShowRows" >> beam.ParDo(ShowProgress(self._total, rejects=False))
        for number, stage_rejects in enumerate(rejects):
            shown = stage_rejects | f"ShowRejects{number}" >> beam.ParDo(
                ShowProgress(self._total, rejects=True))
        return shown
