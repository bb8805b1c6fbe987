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
from pipeline.stages.interleave import RESPONSE
from training.data import DIGIT_KINDS, Task, collate, digit_kinds, is_holdout, make_example
from training.generate import Speaker
from training.train import digit_accuracy, digit_counts, embed

COLUMNS = ["id", "source", "metadata", "question", "problem", "answer", "reasoning", "response",
           "question_ids", "tokenizer", "p", "q"]


def bootstrap(values: list[bool], seed: int = 0, rounds: int = 1000) -> tuple[float, float]:
    """95% interval of the mean, resampling items."""
    return bootstrap_runs([values], seed, rounds)


def bootstrap_runs(runs: list[list[float]], seed: int = 0, rounds: int = 1000) -> tuple[float, float]:
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


def speaking_rate_of(data: str) -> float | None:
    """Response tokens a second as the dataset's audio speaks them (sentence pauses
    included), or None for a text-only dataset."""
    tokens = seconds = 0.0
    for row in read_rows(shard_files(data), ["interleaved_streams", "response_duration"]):
        if row.get("response_duration"):
            tokens += sum(1 for s in row["interleaved_streams"] if s == RESPONSE)
            seconds += row["response_duration"]
    return round(tokens / seconds, 3) if seconds else None


def mean_95(runs: list[list[float]]) -> dict:
    """Mean with a 95% interval that resamples runs (seeds), then items."""
    pooled = [v for run in runs for v in run]
    if not pooled:
        return {"mean": None, "95": [None, None], "items": 0}
    low, high = bootstrap_runs(runs)
    return {"mean": round(sum(pooled) / len(pooled), 4), "95": [round(low, 4), round(high, 4)],
            "items": len(pooled)}


@torch.no_grad()
def teacher_forced_digits(speaker: Speaker, rows: list[dict], batch_size: int = 16) -> dict[str, float]:
    """Digit accuracy by kind (operands, results, response numbers) when the model is given
    each row's own stream and predicts every next token: whether it copies and computes."""
    recipe, task = speaker.recipe, Task("speak", "text", speaker.layout)
    right, seen = torch.zeros(len(DIGIT_KINDS) + 1), torch.zeros(len(DIGIT_KINDS) + 1)
    for start in range(0, len(rows), batch_size):
        examples = [make_example(row, task, speaker.vocab) for row in rows[start:start + batch_size]]
        for example in examples:
            example.digits = digit_kinds(example, speaker.vocab, speaker.tokenizer)
        batch = collate(examples, recipe["loss_weights"], recipe["data"]["block"], speaker.mel,
                        recipe["talker"]["frames_per_token"]).to(speaker.device)
        _, logits, _ = speaker.model.thinker(embed(speaker.model, batch), positions=batch.positions)
        right, seen = digit_counts(logits, batch, right, seen)
    return digit_accuracy(right, seen)


def evaluate(checkpoint: str, rows: list[dict], decode_rate: float, speaking_rate: float,
             max_tokens: int, constrain_slots: bool = False, device: str = "cpu") -> dict:
    speaker = Speaker(checkpoint, device)
    scores, kinds, lengths = [], [], []
    for row in rows:
        generation = speaker.answer(question=row["question"], max_tokens=max_tokens,
                                    constrain_slots=constrain_slots)
        ids = generation.ids
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

    equations = sum(s.equations for s in scores)
    return {
        "checkpoint": checkpoint, "layout": speaker.layout, "cycle": speaker.p + speaker.q,
        "constrain_slots": constrain_slots, "decode_rate": decode_rate, "speaking_rate": speaking_rate,
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
        "digits": teacher_forced_digits(speaker, rows),
        "first_substantive_heard": mean_95([[s.first_substantive_heard for s in scores
                                             if s.first_substantive_heard is not None]]),
        "answer_heard": mean_95([[s.answer_heard for s in scores if s.answer_heard is not None]]),
        "equations": {"count": equations,
                      "operands_copied": sum(s.operands_copied for s in scores) / max(1, equations),
                      "results_right": sum(s.results_right for s in scores) / max(1, equations)},
        "stalled_items": sum(s.stalls > 0 for s in scores),
        "silent_items": sum(s.first_spoken is None for s in scores),
        "items_detail": [{"id": row["id"], "category": kind, "correct": score.correct,
                          "first_spoken": score.first_spoken, "generated": length, "stalls": score.stalls,
                          "first_substantive_heard": score.first_substantive_heard,
                          "answer_heard": score.answer_heard, "equations": score.equations,
                          "operands_copied": score.operands_copied, "results_right": score.results_right}
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
            "first_substantive_heard": mean_95([[item["first_substantive_heard"] for item in r["items_detail"]
                                                 if item.get("first_substantive_heard") is not None]
                                                for r in group]),
            "answer_heard": mean_95([[item["answer_heard"] for item in r["items_detail"]
                                      if item.get("answer_heard") is not None] for r in group]),
            "operands_copied": _share(group, "operands_copied"),
            "results_right": _share(group, "results_right"),
        }
    return summary


def format_seconds(figure: dict) -> str:
    """A ``mean_95`` figure in seconds with its interval; ``-`` when no item had it."""
    if figure["mean"] is None:
        return "-"
    return f"{figure['mean']:.2f} s [{figure['95'][0]:.2f}, {figure['95'][1]:.2f}]"


def _share(group: list[dict], key: str) -> float | None:
    """Over every equation of a layout's checkpoints, the share with ``key``."""
    equations = sum(item.get("equations", 0) for r in group for item in r["items_detail"])
    if not equations:
        return None
    return sum(item.get(key, 0) for r in group for item in r["items_detail"]) / equations


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
    ap.add_argument("--speaking_rate", type=float,
                    help="response tokens spoken a second (default: as the dataset's audio speaks them, "
                         "else 3)")
    ap.add_argument("--constrain_slots", action="store_true",
                    help="tis: a response slot never takes the reasoning pad, nor a reasoning slot the "
                         "response pad")
    ap.add_argument("--max_tokens", type=int, default=400)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda, for decoding")
    ap.add_argument("--out", help="write model_report.json here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [r for r in read_rows(shard_files(args.data), COLUMNS) if is_holdout(r["id"], args.holdout)]
    if args.unseen_in:
        seen = {r["question"] for r in read_rows(shard_files(args.unseen_in), ["question"])}
        rows = [r for r in rows if r["question"] not in seen]
    rows = rows[:args.limit] if args.limit else rows
    speaking_rate = args.speaking_rate or speaking_rate_of(args.data) or 3.0
    reports = [evaluate(checkpoint, rows, args.decode_rate, speaking_rate, args.max_tokens,
                        args.constrain_slots, args.device) for checkpoint in args.checkpoints]
    for report in reports:
        low, high = report["accuracy_95"]
        print(f"{report['checkpoint']} ({report['layout']}, {report['items']} items): accuracy "
              f"{report['accuracy']:.1%} [{low:.1%}, {high:.1%}], drift {report['drift_rate']:.1%}, "
              f"format errors {report['format_errors']}, first spoken token {report['first_spoken_tokens']}, "
              f"answer at {report['answer_tokens']} tokens, stalled items {report['stalled_items']}")
        heard, answer = report["first_substantive_heard"], report["answer_heard"]
        equations = report["equations"]
        print(f"  heard at {speaking_rate:g} tokens/s: first substantive word {format_seconds(heard)}, "
              f"answer {format_seconds(answer)}; equations {equations['count']}: operands copied "
              f"{equations['operands_copied']:.1%}, results right {equations['results_right']:.1%}")
        print("  teacher-forced digits: " + ", ".join(f"{kind} {value:.1%}"
                                                       for kind, value in report["digits"].items()))
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
