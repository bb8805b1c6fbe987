"""Peak resident memory of a whole local build (speech on) at two sizes.

The pipeline streams: rows leave for part files every 100 rows and shards are merged
one at a time, so the peak should not grow with the number of items.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.report import machine, write_section


def peak_mb(count: int) -> tuple[float, float]:
    """(peak RSS of the pipeline process in MB, wall seconds) for generate:count."""
    with tempfile.TemporaryDirectory() as output:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "pipeline", "--source", f"generate:{count}",
                                  "--output", output], stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        if status != 0:
            raise SystemExit(f"generate:{count} failed with status {status}")
        return usage.ru_maxrss / 1024, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large", type=int, default=20000)
    args = ap.parse_args(argv)
    small, small_s = peak_mb(args.small)
    large, large_s = peak_mb(args.large)
    lines = [
        "## Peak memory",
        "",
        f"`make bench-memory` (`python -m benchmarks.memory`) on {machine()}; one run each, "
        "DirectRunner, speech on.",
        "",
        "| items | peak RSS | wall time |",
        "|---|---|---|",
        f"| {args.small:,} | {small:,.0f} MB | {small_s:,.0f} s |",
        f"| {args.large:,} | {large:,.0f} MB | {large_s:,.0f} s |",
        "",
        f"Ratio {args.large:,} / {args.small:,} items: {large / small:.2f}x.",
    ]
    write_section("memory", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
