"""A dataset report that re-checks every row instead of trusting the pipeline's summary.

For each row: it validates against the record schema, re-interleaves the reasoning and
response with the row's own tokenizer and ratio and compares the ids, checks the stream
labels follow the p:q cycle, counts what a listener would hear as wrong in the response
(``pipeline.text.listening``), and reads delays, lengths and audio durations. Rejects are
counted by stage and reason from ``rejects/``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds

import schemas
from pipeline.reject import Reject
from pipeline.stages.interleave import EOS, RESPONSE, RESPONSE_PAD, interleave
from pipeline.text.listening import DEFECTS, response_defects

SKIP_AUDIO = ["question_audio", "response_audio"]


def _rows(folder: Path, columns: list[str] | None = None):
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        return
    for batch in ds.dataset(files, format="parquet").to_batches(columns=columns, batch_size=256):
        yield from batch.to_pylist()


def cycle_ok(streams: list[int], p: int, q: int) -> bool:
    """Response slots (response or its pad) exactly where the p:q cycle puts them; EOS last."""
    if not streams or streams[-1] != EOS:
        return False
    return all((s in (RESPONSE, RESPONSE_PAD)) == (i % (p + q) < p) for i, s in enumerate(streams[:-1]))


def check_row(row: dict) -> list[str]:
    """The problems found in one row (empty when it is sound)."""
    problems = []
    error = schemas.first_error("record", row)
    if error:
        problems.append(f"schema: {error}")
    if not cycle_ok(row["interleaved_streams"], row["p"], row["q"]):
        problems.append("streams do not follow the p:q cycle")
    try:
        again = interleave(row, row["tokenizer"], row["p"], row["q"], 50.0)
    except Reject as reject:
        problems.append(f"re-interleave: {reject.reason}: {reject.detail}")
    else:
        if again["interleaved_ids"] != row["interleaved_ids"]:
            problems.append("re-interleaving gives other ids")
    return problems


def _describe(values: list[float]) -> dict:
    if not values:
        return {}
    return {"median": statistics.median(values), "mean": statistics.fmean(values),
            "min": min(values), "max": max(values)}


def build_report(data_dir: str | Path) -> dict:
    folder = Path(data_dir)
    fields = list(schemas.load("fields")["properties"])
    rows = bad = 0
    problems: Counter = Counter()
    heard: Counter = Counter()  # what a listener would hear as wrong; counted, not failed
    figures: dict[str, list[float]] = {k: [] for k in (
        "first_substantive_seconds", "before_speaking_seconds", "response_words",
        "response_to_reasoning_tokens", "question_seconds", "response_seconds", "pad_share")}
    for row in _rows(folder / "data", columns=fields):
        rows += 1
        found = check_row(row)
        bad += bool(found)
        problems.update(p.split(":")[0] for p in found)
        heard.update(response_defects([sentence["text"] for sentence in row["response"]]))
        stats = row["interleave_stats"]
        figures["first_substantive_seconds"].append(stats["first_substantive_seconds"])
        figures["before_speaking_seconds"].append(stats["before_speaking_seconds"])
        figures["response_words"].append(sum(len(s["text"].split()) for s in row["response"]))
        ratio = stats["response_tokens"] / max(1, stats["reasoning_tokens"])
        figures["response_to_reasoning_tokens"].append(ratio)
        figures["question_seconds"].append(row["question_duration"])
        figures["response_seconds"].append(row["response_duration"])
        figures["pad_share"].append((stats["response_pads"] + stats["reasoning_pads"]) / stats["length"])
    rejects = Counter(f"{r['stage']}/{r['reason']}" for r in _rows(folder / "rejects", ["stage", "reason"]))
    return {
        "rows": rows,
        "rows_with_problems": bad,
        "problems": dict(problems),
        "spoken_defects": {kind: heard[kind] for kind in DEFECTS},
        "rejects": sum(rejects.values()),
        "rejects_by_reason": dict(rejects.most_common()),
        "figures": {name: _describe(values) for name, values in figures.items()},
    }


def to_markdown(report: dict) -> str:
    lines = ["# Dataset report", "",
             f"- rows: {report['rows']} ({report['rows_with_problems']} with problems)",
             "- spoken defects: " + ", ".join(f"{kind} {n}" for kind, n in report["spoken_defects"].items()),
             f"- rejects: {report['rejects']}", ""]
    lines += [f"  - {reason}: {count}" for reason, count in report["rejects_by_reason"].items()]
    lines += ["", "| figure | median | mean | min | max |", "|---|---|---|---|---|"]
    for name, d in report["figures"].items():
        if d:
            cells = " | ".join(f"{d[k]:.3f}" for k in ("median", "mean", "min", "max"))
            lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    ap.add_argument("--data", required=True, help="a dataset folder written by the pipeline")
    ap.add_argument("--out", help="write report.json and report.md into this folder")
    args = ap.parse_args(argv)
    report = build_report(args.data)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "report.md").write_text(to_markdown(report))
    print(to_markdown(report))
    return report
