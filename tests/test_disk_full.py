"""A build on a disk too small for it: refused before it starts when the projection says
so, and a one-line error with its staging removed when the disk fills during the build;
either way the dataset already there stays whole. Needs a tmpfs mount (root): CI runs it."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=120m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def _build(output: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "--output", str(output), "--no_progress",
                             *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outputs(output: Path) -> int:
    return json.loads((output / "summary.json").read_text())["outputs"]


def test_a_build_too_big_for_the_disk_is_refused_before_it_starts(small_disk):
    output = small_disk / "out"
    assert _build(output, "--source", "generate:20", "--tts", "none").wait() == 0
    before = sorted(p.name for p in (output / "data").iterdir())
    refused = _build(output, "--source", "generate:200")  # about 180 MB of speech
    _, error = refused.communicate()
    assert refused.returncode == 1 and error.count("\n") == 1, error
    assert "MB free on its disk" in error and "needs about" in error
    assert sorted(p.name for p in (output / "data").iterdir()) == before and _outputs(output) == 20
    assert not (small_disk / "out.partial").exists()


def test_a_disk_that_fills_during_the_build_is_one_line_and_no_staging_left(small_disk):
    output = small_disk / "out"
    assert _build(output, "--source", "generate:20", "--tts", "none").wait() == 0
    running = _build(output, "--source", "generate:60")  # passes the check: about 108 MB of 120
    parts = small_disk / "out.partial" / "_parts"
    while not parts.exists() and running.poll() is None:
        time.sleep(0.01)
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:  # another program takes the rest of the disk
        try:
            while True:
                handle.write(b"\0" * 1_000_000)
                handle.flush()
        except OSError:
            pass
    _, error = running.communicate()
    filler.unlink()
    assert running.returncode == 1 and error.strip().count("\n") == 0, error[-2000:]
    assert "disk filled up" in error
    assert not (small_disk / "out.partial").exists() and _outputs(output) == 20
