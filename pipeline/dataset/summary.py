"""Per-record statistics and the run summary (``summary.json``)."""

from __future__ import annotations

from fractions import Fraction

DECIMALS = 3


def record_stats(record: dict) -> list[tuple[str, float]]:
    """The per-record figures whose distribution the summary reports, rounded so that a
    histogram of them stays small: quantiles are then exact and computed in one pass."""
    stats = record["interleave_stats"]
    figures = [
        ("first_substantive_position", stats["first_substantive_position"]),
        ("first_substantive_seconds", stats["first_substantive_seconds"]),
        ("before_speaking_position", stats["before_speaking_position"]),
        ("before_speaking_seconds", stats["before_speaking_seconds"]),
        ("response_to_reasoning_tokens", stats["response_tokens"] / max(1, stats["reasoning_tokens"])),
        ("interleaved_length", stats["length"]),
    ]
    if "question_duration" in record:  # not in a text-only build
        figures += [("question_seconds", record["question_duration"]),
                    ("response_seconds", record["response_duration"])]
    return [(name, round(value, DECIMALS)) for name, value in figures]


def histogram_quantiles(histogram: dict[float, int]) -> dict[str, float]:
    """min, quartiles (nearest rank), median (mean of the middle two) and max."""
    values = sorted(histogram)
    total = sum(histogram.values())

    def at(rank: int) -> float:  # the value at 0-based rank in sorted order
        seen = 0
        for value in values:
            seen += histogram[value]
            if rank < seen:
                return value
        return values[-1]

    middle = (at((total - 1) // 2) + at(total // 2)) / 2
    return {"min": values[0], "q1": at((total - 1) // 4), "median": round(middle, DECIMALS + 1),
            "q3": at(3 * (total - 1) // 4), "max": values[-1]}


def quantiles_by_name(counts: list[tuple[tuple[str, float], int]]) -> dict[str, dict[str, float]]:
    """From ((name, value), count) pairs to quantiles per name."""
    histograms: dict[str, dict[float, int]] = {}
    for (name, value), count in counts:
        histograms.setdefault(name, {})[value] = count
    return {name: histogram_quantiles(h) for name, h in sorted(histograms.items())}


def record_totals(record: dict) -> list[tuple[str, float]]:
    stats = record["interleave_stats"]
    totals = [
        ("interleaved_tokens", stats["length"]),
        ("response_pads", stats["response_pads"]),
        ("reasoning_pads", stats["reasoning_pads"]),
    ]
    if "question_duration" in record:  # exact, so the sum is the same in any order the runner adds it
        seconds = Fraction(record["question_duration"]) + Fraction(record["response_duration"])
        totals += [("audio_hours", seconds / 3600),
                   ("tts_characters", tts_characters(record))]
    return totals


def tts_characters(record: dict) -> int:
    """Characters sent to the speech engine for a record: its question and its response."""
    return len(record["question"]) + sum(len(sentence["text"]) for sentence in record["response"])


def build_summary(source: str, config: dict, inputs: int, outputs: int, rejects: int,
                  reasons: dict[str, int], quantiles: dict[str, dict[str, float]],
                  totals: dict[str, float], shards: int, special_tokens: dict[str, int],
                  splits: dict[str, dict], rejects_split: dict, license_ids: list[str]) -> dict:
    return {
        "source": source,
        "inputs": inputs,
        "outputs": outputs,
        "rejects": rejects,
        "balanced": inputs == outputs + rejects,
        "rejects_by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "stats": quantiles,
        "totals": {name: round(float(value), 6) for name, value in sorted(totals.items())},
        "shards": shards,
        "splits": splits,
        "rejects_split": rejects_split,
        "license": license_ids,
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
    totals = summary["totals"]
    if "audio_hours" in totals:
        lines.append(f"  audio: {totals['audio_hours']:.2f} hours from {totals['tts_characters']:,.0f} "
                     "characters of speech" + (f" (estimated cost {totals['tts_estimated_cost']:,.2f})"
                                               if "tts_estimated_cost" in totals else ""))
    return "\n".join(lines)
