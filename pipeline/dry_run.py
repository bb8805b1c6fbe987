"""``--dry_run``: what a whole run will cost, projected from a sample of its sources.

The sample (about ``SAMPLE`` inputs, a seeded share of every source) goes through the
real pipeline with the embedded rules and local speech, so nothing is sent to a paid
service; its counts, sizes and CPU time are scaled to the inputs counted in full. LLM
tokens are the prompts the run would send for the sampled records (rendered and counted
with the target tokenizer) and replies the size of what the rules wrote for them.
"""

from __future__ import annotations

import json
import resource
import tempfile
from dataclasses import replace
from pathlib import Path

import prompts
from pipeline.beam.source import count_inputs
from pipeline.config import BuildConfig, RunOptions
from pipeline.dataset.shards import dataset_rows
from pipeline.sources import SourceSpec
from pipeline.stages import judge, rewrite, split
from pipeline.tokenizers import load_tokenizer
from pipeline.tts import REMOTE_ENGINES

SAMPLE = 200
# What the Batch API charges against live calls (OpenAI's: half); --price_in and
# --price_out are the live prices.
BATCH_PRICE = 0.5


def cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for (speech engines
    run in child processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sampled(spec: SourceSpec, total: int, sample: int) -> SourceSpec:
    """The same source, cut to about ``sample`` of its ``total`` inputs."""
    if spec.kind == "generate":
        return replace(spec, count=min(spec.count, sample), limit=None)
    return replace(spec, weight=spec.weight * min(1.0, sample / max(total, 1)))


def llm_tokens(rows: list[dict], config: BuildConfig) -> tuple[int, int]:
    """(prompt, reply) tokens the LLM stages would spend on these finished rows."""
    tokenizer = load_tokenizer(config.tokenizer)

    def count(messages: list[dict]) -> int:
        return sum(len(tokenizer.encode(m["content"])) + 4 for m in messages)

    sent = received = 0
    for row in rows:
        if config.llm == "openai":
            sent += count(prompts.load("rewrite").messages(**rewrite.prompt_values(row)))
            sent += count(prompts.load("split").messages(**split.prompt_values(row, config)))
            received += len(tokenizer.encode(json.dumps({"question": row["question"]})))
            received += len(tokenizer.encode(json.dumps({"reasoning": row["reasoning"],
                                                         "response": row["response"]})))
        if config.judge == "openai":
            sent += count(prompts.load("judge").messages(**judge.prompt_values(row)))
            received += 30
    return sent, received


def project(specs: list[SourceSpec], run_options: RunOptions, config: BuildConfig, build,
            sample: int = SAMPLE) -> dict:
    """The projected figures of the whole run; ``build(specs, output, config)`` runs the
    pipeline on the sample and returns its summary."""
    totals = [count_inputs(spec, run_options.limit, config.seed) for spec in specs]
    share = sample / max(sum(totals), 1)
    cut = [sampled(spec, total, max(1, round(total * share)))
           for spec, total in zip(specs, totals, strict=True)]
    local = replace(config, llm="rules", judge="off", asr="off", llm_cache_dir="",
                    tts="espeak" if config.tts in REMOTE_ENGINES else config.tts)
    with tempfile.TemporaryDirectory(prefix="dry-run-") as folder:
        started = cpu_seconds()
        build([SourceSpec("generate", count=1)], str(Path(folder) / "start-up"), local)
        fixed = cpu_seconds() - started  # Beam's start-up and the one-off loads, for one input
        started = cpu_seconds()
        summary = build(cut, str(Path(folder) / "sample"), local)
        cpu = max(0.0, cpu_seconds() - started - fixed)
        columns = ["problem", "question", "solution", "answer", "reasoning", "response"]
        sample = Path(folder) / "sample"
        rows = list(dataset_rows(sample, "data", columns)) if "openai" in (config.llm, config.judge) else []
        file_bytes = sum(p.stat().st_size for p in sample.rglob("*.parquet"))
    scale = sum(totals) / max(summary["inputs"], 1)
    sent, received = llm_tokens(rows, config)
    projected = {
        "inputs": sum(totals),
        "sampled_inputs": summary["inputs"],
        "rows": round(summary["outputs"] * scale),
        "rejects": round(summary["rejects"] * scale),
        "llm_tokens_in": round(sent * scale),
        "llm_tokens_out": round(received * scale),
        "tts_characters": round(summary["totals"].get("tts_characters", 0) * scale),
        "audio_hours": round(summary["totals"].get("audio_hours", 0) * scale, 3),
        "core_hours": round(cpu * scale / 3600, 6),
        "output_bytes": round(file_bytes * scale),
    }
    llm_price = BATCH_PRICE if config.llm_batch else 1.0
    cost = (llm_price * (projected["llm_tokens_in"] * run_options.price_in
                         + projected["llm_tokens_out"] * run_options.price_out)
            + projected["tts_characters"] * run_options.price_tts) / 1e6
    cost += projected["core_hours"] * run_options.price_core_hour
    if cost:
        projected["estimated_cost"] = round(cost, 2)
    return projected


def format_projection(projected: dict) -> str:
    lines = [f"dry run: projected from {projected['sampled_inputs']:,} sampled inputs "
             f"of {projected['inputs']:,}"]
    lines += [f"  {name:<16} {value:,}" for name, value in projected.items()
              if name not in ("inputs", "sampled_inputs")]
    return "\n".join(lines)
