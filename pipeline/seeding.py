"""The one way a choice is drawn: from the seed and what the choice is about, joined with
":". The same parts give the same draw on every worker and runner, and a choice never
depends on the order records arrive in."""

from __future__ import annotations

import hashlib
import random


def _key(parts: tuple) -> str:
    return ":".join(str(part) for part in parts)


def seeded_bytes(*parts: object) -> bytes:
    """32 bytes fixed by ``parts`` (their sha256): for a choice or two per record."""
    return hashlib.sha256(_key(parts).encode()).digest()


def seeded_random(*parts: object) -> random.Random:
    """A generator fixed by ``parts``: for the many draws of a generated problem."""
    return random.Random(_key(parts))
