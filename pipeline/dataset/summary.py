"""Per-record statistics and the run summary (``summary.json``)."""

from __future__ import annotations

QUANTILES = ("min", "q1", "median", "q3", "max")


def record_stats(record: dict) -> list[tuple[str, float]]:
    """The per-record figures whose distribution the summary reports."""
    stats = record["interleave_stats"]
    return [
        ("first_substantive_position", stats["first_substantive_position"]),
        ("first_substantive_seconds", stats["first_substantive_seconds"]),
        ("before_speaking_position", stats["before_speaking_position"]),
        ("before_speaking_seconds", stats["before_speaking_seconds"]),
        ("response_to_reasoning_tokens", stats["response_tokens"] / max(1, stats["reasoning_tokens"])),
        ("interleaved_length", stats["length"]),
        ("question_seconds", record["question_duration"]),
        ("response_seconds", record["response_duration"]),
    ]


def record_totals(record: dict) -> list[tuple[str, float]]:
    stats = record["interleave_stats"]
    return [
        ("audio_hours", (record["question_duration"] + record["response_duration"]) / 3600),
        ("interleaved_tokens", stats["length"]),
        ("response_pads", stats["response_pads"]),
        ("reasoning_pads", stats["reasoning_pads"]),
    ]


def build_summary(source: str, config: dict, inputs: int, outputs: int, rejects: int,
                  reasons: dict[str, int], quantiles: dict[str, list[float]],
                  totals: dict[str, float], shards: int, special_tokens: dict[str, int]) -> dict:
    return {
        "source": source,
        "inputs": inputs,
        "outputs": outputs,
        "rejects": rejects,
        "balanced": inputs == outputs + rejects,
        "rejects_by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "stats": {name: dict(zip(QUANTILES, values, strict=False))
                  for name, values in sorted(quantiles.items())},
        "totals": {name: round(value, 6) for name, value in sorted(totals.items())},
        "shards": shards,
        "special_tokens": special_tokens,
        "config": config,
    }


def format_summary(summary: dict) -> str:
    """The lines a run prints at its end."""
    lines = [
        f"inputs {summary['inputs']} = outputs {summary['outputs']} + rejects {summary['rejects']}"
        + ("" if summary["balanced"] else "  (UNBALANCED)"),
    ]
    lines += [f"  rejected {count:>6}  {reason}" for reason, count in summary["rejects_by_reason"].items()]
    for name in ("first_substantive_seconds", "before_speaking_seconds", "response_to_reasoning_tokens"):
        if name in summary["stats"]:
            lines.append(f"  median {name}: {summary['stats'][name]['median']:.3f}")
    if "audio_hours" in summary["totals"]:
        lines.append(f"  audio: {summary['totals']['audio_hours']:.2f} hours")
    return "\n".join(lines)
