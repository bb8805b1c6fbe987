"""BENCHMARKS.md is made of sections, one per benchmark, each rewritten by its own run."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

PATH = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEach section names the command that produced it and the machine it ran on.\n"


def machine() -> str:
    return f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores"


def write_section(name: str, body: str) -> None:
    text = PATH.read_text() if PATH.exists() else HEADER
    block = f"<!-- {name} -->\n{body.rstrip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {name} -->.*?<!-- /{name} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    PATH.write_text(text if text.endswith("\n") else text + "\n")
