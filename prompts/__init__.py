"""Prompt templates for the LLM backend, shipped inside the package.

A template is a Markdown file with a ``# system`` and a ``# user`` section; ``$name``
placeholders are filled with ``string.Template``. Its hash goes into each record's
provenance, so a changed prompt is visible in the data it made.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from string import Template


@dataclass(frozen=True)
class Prompt:
    name: str
    system: Template
    user: Template
    sha256: str

    def messages(self, **values: str) -> list[dict]:
        return [{"role": "system", "content": self.system.substitute(values)},
                {"role": "user", "content": self.user.substitute(values)}]


@cache
def load(name: str) -> Prompt:
    text = files(__package__).joinpath(f"{name}.md").read_text("utf-8")
    sections = dict(re.findall(r"^# (system|user)\n(.*?)(?=^# |\Z)", text, flags=re.S | re.M))
    if set(sections) != {"system", "user"}:
        raise ValueError(f"prompt {name!r} needs a '# system' and a '# user' section")
    return Prompt(name, Template(sections["system"].strip()), Template(sections["user"].strip()),
                  hashlib.sha256(text.encode()).hexdigest()[:16])
