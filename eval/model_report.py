"""Measure trained checkpoints on held-out rows: accuracy, drift, format, latency, stalls.

    python -m eval model build/train/stage3-textual_tis.pt --data build/dataset

Each checkpoint answers every held-out row (the share its training never saw) from the
spoken question; its stream is scored by ``eval.stream_score``. Accuracy comes with a 95%
bootstrap interval over items, and is broken down like Spoken-MQA.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from eval.stream_score import FORMAT_ERRORS, category, score_stream
from training.data import is_holdout, read_rows, shard_files
from training.generate import Speaker

COLUMNS = ["id", "source", "metadata", "question", "problem", "answer", "reasoning", "response"]


def bootstrap(values: list[bool], seed: int = 0, rounds: int = 1000) -> tuple[float, float]:
    """95% interval of the mean, resampling items."""
    if not values:
        return 0.0, 0.0
    draw = random.Random(seed)
    means = sorted(sum(draw.choices(values, k=len(values))) / len(values) for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def _median(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def evaluate(checkpoint: str, rows: list[dict], decode_rate: float, speaking_rate: float,
             max_tokens: int) -> dict:
    speaker = Speaker(checkpoint)
    scores, kinds = [], []
    for row in rows:
        generation = speaker.answer(question=row["question"], max_tokens=max_tokens)
        ids = [i for i in generation.ids if i >= 0]
        scores.append(score_stream(ids, row, speaker.tokenizer, speaker.layout, speaker.p, speaker.q,
                                   decode_rate, speaking_rate))
        kinds.append(category(row))
    correct = [s.correct for s in scores]
    low, high = bootstrap(correct)
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for kind, score in zip(kinds, scores, strict=True):
        by_kind[kind].append(score.correct)
    errors = Counter(e for s in scores for e in s.format_errors)

    def seconds(value):
        return None if value is None else value / decode_rate

    return {
        "checkpoint": checkpoint, "layout": speaker.layout, "items": len(scores),
        "accuracy": sum(correct) / max(1, len(correct)), "accuracy_95": [low, high],
        "by_category": {kind: {"items": len(v), "accuracy": sum(v) / len(v)}
                        for kind, v in sorted(by_kind.items())},
        "drift_rate": sum(s.drift is not None for s in scores) / max(1, len(scores)),
        "format_errors": {name: errors[name] for name in FORMAT_ERRORS},
        "response_words": _median([s.response_words for s in scores]),
        "first_spoken_tokens": _median([s.first_spoken for s in scores]),
        "first_spoken_seconds": seconds(_median([s.first_spoken for s in scores])),
        "first_substantive_tokens": _median([s.first_substantive for s in scores]),
        "answer_tokens": _median([s.answer_at for s in scores]),
        "answer_seconds": seconds(_median([s.answer_at for s in scores])),
        "stalled_items": sum(s.stalls > 0 for s in scores),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="python -m eval model", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", help="checkpoint files or training folders")
    ap.add_argument("--data", required=True, help="the dataset the checkpoints were trained on")
    ap.add_argument("--holdout", type=float, default=0.1, help="the held-out share used in training")
    ap.add_argument("--limit", type=int, help="at most this many held-out rows")
    ap.add_argument("--decode_rate", type=float, default=50.0, help="generated tokens per second")
    ap.add_argument("--speaking_rate", type=float, default=3.0, help="response tokens spoken per second")
    ap.add_argument("--max_tokens", type=int, default=400)
    ap.add_argument("--out", help="write model_report.json here")
    args = ap.parse_args(argv)
    rows = [r for r in read_rows(shard_files(args.data), COLUMNS) if is_holdout(r["id"], args.holdout)]
    rows = rows[:args.limit] if args.limit else rows
    reports = [evaluate(checkpoint, rows, args.decode_rate, args.speaking_rate, args.max_tokens)
               for checkpoint in args.checkpoints]
    for report in reports:
        low, high = report["accuracy_95"]
        print(f"{report['checkpoint']} ({report['layout']}, {report['items']} items): accuracy "
              f"{report['accuracy']:.1%} [{low:.1%}, {high:.1%}], drift {report['drift_rate']:.1%}, "
              f"format errors {report['format_errors']}, first spoken token {report['first_spoken_tokens']}, "
              f"answer at {report['answer_tokens']} tokens, stalled items {report['stalled_items']}")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "model_report.json").write_text(json.dumps(reports, indent=2))
    return reports
