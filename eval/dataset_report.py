"""A dataset report that re-checks every row instead of trusting the pipeline's summary.

For each row: it validates against the record schema, re-interleaves the reasoning and
response with the row's own tokenizer and ratio and compares the ids, checks the stream
labels follow the p:q cycle, counts what a listener would hear as wrong in the response
(``pipeline.text.listening``), and reads delays, lengths and audio durations. Rejects are
counted by stage and reason from ``rejects/``. With ``--out``, plots of those figures and
``report.html``, a sample browser that opens with no server, are written beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import Counter
from pathlib import Path

import schemas
from eval.browser import write_browser
from eval.dataset_plots import write_plots
from pipeline.config import BuildConfig
from pipeline.dataset.arrow import has_audio
from pipeline.dataset.shards import dataset_rows
from pipeline.reject import Reject
from pipeline.stages.interleave import EOS, RESPONSE, RESPONSE_PAD, interleave
from pipeline.text.answers import numeric
from pipeline.text.listening import DEFECTS, response_defects, row_defects, spoken_defects
from pipeline.text.quantities import signed_values

SKIP_AUDIO = ["question_audio", "response_audio"]


def cycle_ok(streams: list[int], p: int, q: int) -> bool:
    """Response slots (response or its pad) exactly where the p:q cycle puts them; EOS last."""
    if not streams or streams[-1] != EOS:
        return False
    return all((s in (RESPONSE, RESPONSE_PAD)) == (i % (p + q) < p) for i, s in enumerate(streams[:-1]))


def check_row(row: dict) -> list[str]:
    """The problems found in one row (empty when it is sound)."""
    problems = []
    error = schemas.first_error("record" if has_audio(row) else "interleave", row)
    if error:
        problems.append(f"schema: {error}")
    if not cycle_ok(row["interleaved_streams"], row["p"], row["q"]):
        problems.append("streams do not follow the p:q cycle")
    try:
        # the ids do not depend on the decode rate (only the delay statistics do)
        again = interleave(row, row["tokenizer"], row["p"], row["q"], BuildConfig().decode_rate)
    except Reject as reject:
        problems.append(f"re-interleave: {reject.reason}: {reject.detail}")
    else:
        if again["interleaved_ids"] != row["interleaved_ids"]:
            problems.append("re-interleaving gives other ids")
    return problems


def heard_defects(row: dict) -> list[str]:
    """What a listener would hear as wrong in a row: in the response and the question, an
    answer of the other sign than gold, a response longer than its reasoning or its time."""
    sentences = [sentence["text"] for sentence in row["response"]]
    opener = bool(row["response"]) and row["response"][0]["after_step"] == 0
    found = set(response_defects(sentences, opener)) | set(spoken_defects(row["question"]))
    spoken = [row["question"], *sentences]
    found |= set(row_defects(row["problem"], spoken, row["reasoning"], row["response"]))
    gold = numeric(row["answer"])
    if gold and sentences:
        said = signed_values(sentences[-1])
        negated = gold < 0 and re.search(r"\b(?:negative|minus)\b", sentences[-1])
        if gold not in said and -gold in said and not negated:
            found.add("sign_mismatch")
    stats = row["interleave_stats"]
    if (stats["response_tokens"] > stats["reasoning_tokens"]
            or (row.get("response_duration") or 0) > BuildConfig.max_response_seconds):
        found.add("long_response")
    return sorted(found)


def _describe(values: list[float]) -> dict:
    if not values:
        return {}
    return {"median": statistics.median(values), "mean": statistics.fmean(values),
            "min": min(values), "max": max(values)}


def build_report(data_dir: str | Path) -> dict:
    return scan(data_dir)[0]


def scan(data_dir: str | Path) -> tuple[dict, dict[str, list[float]], Counter]:
    """The report, the per-row values behind its figures, and the rejects by reason."""
    folder = Path(data_dir)
    fields = list(schemas.load("fields")["properties"])
    rows = bad = 0
    problems: Counter = Counter()
    heard: Counter = Counter()  # what a listener would hear as wrong; counted, not failed
    figures: dict[str, list[float]] = {k: [] for k in (
        "first_substantive_seconds", "before_speaking_seconds", "response_words",
        "response_to_reasoning_tokens", "question_seconds", "response_seconds", "pad_share",
        "response_tokens", "reasoning_tokens", "question_words_per_second", "response_words_per_second")}
    for row in dataset_rows(folder, "data", fields):
        rows += 1
        found = check_row(row)
        bad += bool(found)
        problems.update(p.split(":")[0] for p in found)
        heard.update(heard_defects(row))
        stats = row["interleave_stats"]
        figures["first_substantive_seconds"].append(stats["first_substantive_seconds"])
        figures["before_speaking_seconds"].append(stats["before_speaking_seconds"])
        words = sum(len(s["text"].split()) for s in row["response"])
        figures["response_words"].append(words)
        figures["response_tokens"].append(stats["response_tokens"])
        figures["reasoning_tokens"].append(stats["reasoning_tokens"])
        if row.get("question_duration"):  # none in a text-only build
            question_words = len(row["question"].split())
            figures["question_words_per_second"].append(question_words / row["question_duration"])
            figures["question_seconds"].append(row["question_duration"])
        if row.get("response_duration"):
            figures["response_words_per_second"].append(words / row["response_duration"])
            figures["response_seconds"].append(row["response_duration"])
        ratio = stats["response_tokens"] / max(1, stats["reasoning_tokens"])
        figures["response_to_reasoning_tokens"].append(ratio)
        figures["pad_share"].append((stats["response_pads"] + stats["reasoning_pads"]) / stats["length"])
    rejects = Counter(f"{r['stage']}/{r['reason']}"
                      for r in dataset_rows(folder, "rejects", ["stage", "reason"]))
    report = {
        "rows": rows,
        "rows_with_problems": bad,
        "problems": dict(problems),
        "spoken_defects": {kind: heard[kind] for kind in DEFECTS},
        "rejects": sum(rejects.values()),
        "rejects_by_reason": dict(rejects.most_common()),
        "figures": {name: _describe(values) for name, values in figures.items()},
    }
    return report, figures, rejects


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
    ap.add_argument("--out", help="write report.json, report.md, the plots and report.html into this folder")
    ap.add_argument("--browse", type=int, default=1000,
                    help="kept rows (and as many rejects) in the report.html sample browser, every one "
                         "searchable, a page at a time; audio for the first 40")
    args = ap.parse_args(argv)
    report, values, rejects = scan(args.data)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        plots = write_plots(values, rejects, out)
        images = "".join(f"\n![{p.stem}]({p.name})\n" for p in plots)
        (out / "report.md").write_text(to_markdown(report) + images)
        write_browser(args.data, out / "report.html", plots, args.browse, args.browse)
    print(to_markdown(report))
    return report
