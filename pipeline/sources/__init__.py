"""Where problems come from: the built-in generator and JSONL files."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.sources.records import FORMATS


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``--source`` value: ``generate:N`` or ``FORMAT:PATH`` (e.g. ``gsm8k:train.jsonl``)."""

    kind: str
    path: str = ""
    count: int = 0

    @property
    def name(self) -> str:
        return "generated" if self.kind == "generate" else self.kind


def parse_source(spec: str) -> SourceSpec:
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ValueError(f"source {spec!r} is not KIND:VALUE (generate:N or gsm8k:PATH)")
    if kind == "generate":
        if not rest.isdigit() or int(rest) < 1:
            raise ValueError(f"generate:N needs a positive count, got {rest!r}")
        return SourceSpec("generate", count=int(rest))
    if kind not in FORMATS:
        raise ValueError(f"unknown source kind {kind!r}; known: generate, {', '.join(FORMATS)}")
    return SourceSpec(kind, path=rest)
