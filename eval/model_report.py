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

import torch

from eval.stream_score import FORMAT_ERRORS, category, score_stream
from pipeline.dataset.shards import read_rows, shard_files
from training.data import is_holdout
from training.generate import Speaker

COLUMNS = ["id", "source", "metadata", "question", "problem", "answer", "reasoning", "response"]


def bootstrap(values: list[bool], seed: int = 0, rounds: int = 1000) -> tuple[float, float]:
    """95% interval of the mean, resampling items."""
    return bootstrap_runs([values], seed, rounds)


def bootstrap_runs(runs: list[list[bool]], seed: int = 0, rounds: int = 1000) -> tuple[float, float]:
    """95% interval of the mean over several runs (seeds) of one layout: each round resamples
    the runs, then the items within each, so the interval holds both sources of spread."""
    runs = [run for run in runs if run]
    if not runs:
        return 0.0, 0.0
    draw = random.Random(seed)
    means = []
    for _ in range(rounds):
        picked = [draw.choices(run, k=len(run)) for run in draw.choices(runs, k=len(runs))]
        means.append(sum(map(sum, picked)) / sum(map(len, picked)))
    means.sort()
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def median(values: list) -> float | None:
    """The median of the values present (None where an item has none)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def evaluate(checkpoint: str, rows: list[dict], decode_rate: float, speaking_rate: float,
             max_tokens: int) -> dict:
    speaker = Speaker(checkpoint)
    scores, kinds, lengths = [], [], []
    for row in rows:
        generation = speaker.answer(question=row["question"], max_tokens=max_tokens)
        ids = [i for i in generation.ids if i >= 0]
        lengths.append(len(ids))
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
        "checkpoint": checkpoint, "layout": speaker.layout, "cycle": speaker.p + speaker.q,
        "items": len(scores),
        "accuracy": sum(correct) / max(1, len(correct)), "accuracy_95": [low, high],
        "by_category": {kind: {"items": len(v), "accuracy": sum(v) / len(v)}
                        for kind, v in sorted(by_kind.items())},
        "drift_rate": sum(s.drift is not None for s in scores) / max(1, len(scores)),
        "format_errors": {name: errors[name] for name in FORMAT_ERRORS},
        "response_words": median([s.response_words for s in scores]),
        "first_spoken_tokens": median([s.first_spoken for s in scores]),
        "first_spoken_seconds": seconds(median([s.first_spoken for s in scores])),
        "first_substantive_tokens": median([s.first_substantive for s in scores]),
        "answer_tokens": median([s.answer_at for s in scores]),
        "answer_seconds": seconds(median([s.answer_at for s in scores])),
        "stalled_items": sum(s.stalls > 0 for s in scores),
        "silent_items": sum(s.first_spoken is None for s in scores),
        "items_detail": [{"id": row["id"], "category": kind, "correct": score.correct,
                          "first_spoken": score.first_spoken, "generated": length, "stalls": score.stalls}
                         for row, kind, score, length in zip(rows, kinds, scores, lengths, strict=True)],
    }


def summarize_layouts(reports: list[dict]) -> dict[str, dict]:
    """One line per layout over its checkpoints (seeds): mean accuracy with an interval over
    seeds and items, overall and per category, and the latency medians over every item (an
    item that never speaks is heard at the end of its generation)."""

    def heard_at(item: dict) -> int:
        return item["generated"] if item["first_spoken"] is None else item["first_spoken"]

    summary = {}
    for layout in sorted({r["layout"] for r in reports}):
        group = [r for r in reports if r["layout"] == layout]
        runs = [[item["correct"] for item in r["items_detail"]] for r in group]
        items = [item for r in group for item in r["items_detail"]]
        by_category = {}
        for kind in sorted({item["category"] for item in items}):
            chosen = [[item["correct"] for item in r["items_detail"] if item["category"] == kind]
                      for r in group]
            pooled = [c for run in chosen for c in run]
            by_category[kind] = {"items": len(pooled), "accuracy": sum(pooled) / len(pooled),
                                 "accuracy_95": list(bootstrap_runs(chosen))}
        pooled = [c for run in runs for c in run]
        summary[layout] = {
            "runs": len(group), "items": len(pooled),
            "accuracy": sum(pooled) / max(1, len(pooled)), "accuracy_95": list(bootstrap_runs(runs)),
            "accuracy_by_run": [r["accuracy"] for r in group],
            "by_category": by_category,
            "first_spoken_tokens": median([heard_at(item) for item in items]),
            "first_spoken_by_run": [median([heard_at(item) for item in r["items_detail"]]) for r in group],
            "silent_items": sum(r["silent_items"] for r in group),
            "answer_tokens": median([r["answer_tokens"] for r in group]),
            "drift_rate": statistics.mean(r["drift_rate"] for r in group),
            "stalled_items": sum(r["stalled_items"] for r in group),
            "format_errors": dict(sum((Counter(r["format_errors"]) for r in group), Counter())),
        }
    return summary


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="python -m eval model", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", help="checkpoint files or training folders")
    ap.add_argument("--data", required=True, help="the dataset the checkpoints were trained on")
    ap.add_argument("--holdout", type=float, default=0.1,
                    help="the held-out share used in training (1: every row, for a separate test set)")
    ap.add_argument("--unseen_in", metavar="DATASET",
                    help="drop rows whose question this dataset (the training set) also holds")
    ap.add_argument("--limit", type=int, help="at most this many held-out rows")
    ap.add_argument("--decode_rate", type=float, default=50.0, help="generated tokens per second")
    ap.add_argument("--speaking_rate", type=float, default=3.0, help="response tokens spoken per second")
    ap.add_argument("--max_tokens", type=int, default=400)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--out", help="write model_report.json here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [r for r in read_rows(shard_files(args.data), COLUMNS) if is_holdout(r["id"], args.holdout)]
    if args.unseen_in:
        seen = {r["question"] for r in read_rows(shard_files(args.unseen_in), ["question"])}
        rows = [r for r in rows if r["question"] not in seen]
    rows = rows[:args.limit] if args.limit else rows
    reports = [evaluate(checkpoint, rows, args.decode_rate, args.speaking_rate, args.max_tokens)
               for checkpoint in args.checkpoints]
    for report in reports:
        low, high = report["accuracy_95"]
        print(f"{report['checkpoint']} ({report['layout']}, {report['items']} items): accuracy "
              f"{report['accuracy']:.1%} [{low:.1%}, {high:.1%}], drift {report['drift_rate']:.1%}, "
              f"format errors {report['format_errors']}, first spoken token {report['first_spoken_tokens']}, "
              f"answer at {report['answer_tokens']} tokens, stalled items {report['stalled_items']}")
    layouts = summarize_layouts(reports)
    for layout, line in layouts.items():
        if line["runs"] > 1:
            low, high = line["accuracy_95"]
            print(f"{layout} over {line['runs']} checkpoints: accuracy {line['accuracy']:.1%} "
                  f"[{low:.1%}, {high:.1%}] (seeds and items)")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "model_report.json").write_text(
            json.dumps({"checkpoints": reports, "layouts": layouts}, indent=2))
    return reports
