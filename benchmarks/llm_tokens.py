"""LLM tokens per item for each prompt, for the cost projection in the README.

Prompt tokens are exact: each template filled with a GSM8K item and counted with the
Qwen2.5 tokenizer. Reply tokens are an estimate: the rules backend's output for the
same item, written as the JSON reply the prompt asks for.
"""

from __future__ import annotations

import json
import statistics
import sys

import prompts
from benchmarks.report import machine, write_section
from benchmarks.run import source_records
from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.stages import rewrite, split
from pipeline.tokenizers import load_tokenizer

ITEMS = 500


def _tokens(tokenizer, messages: list[dict]) -> int:
    return sum(len(tokenizer.encode(m["content"])) for m in messages)


def main() -> None:
    config = BuildConfig()
    tokenizer = load_tokenizer("qwen2.5")
    label, records = source_records()
    counts: dict[str, tuple[list[int], list[int]]] = {name: ([], [])
                                                      for name in ("rewrite", "split", "judge")}
    for record in records[:ITEMS]:
        try:
            done = split.split(rewrite.rewrite(record, config), config)
        except Reject:
            continue
        reasoning = "\n".join(f"{n}. {s}" for n, s in enumerate(done["reasoning"], start=1))
        response = "\n".join(f"[after step {s['after_step']}] {s['text']}" for s in done["response"])
        calls = {
            "rewrite": (dict(problem=record["problem"]), {"question": done["question"]}),
            "split": (dict(problem=record["problem"], question=done["question"], solution=record["solution"],
                           answer=record["answer"], ratio=config.response_ratio),
                      {"reasoning": done["reasoning"], "response": done["response"]}),
            "judge": (dict(question=done["question"], reasoning=reasoning, response=response),
                      {"drift": False, "colloquial": True, "reason": "every number is derived first"}),
        }
        for name, (values, reply) in calls.items():
            counts[name][0].append(_tokens(tokenizer, prompts.load(name).messages(**values)))
            counts[name][1].append(len(tokenizer.encode(json.dumps(reply))))
    lines = ["## LLM tokens per item", "",
             f"`python -m benchmarks.llm_tokens` on {machine()}: {len(counts['split'][0])} {label} items, "
             "Qwen2.5 tokenizer. Prompt tokens exact; reply tokens estimated from the rules backend's output "
             "written as the reply JSON. One call per prompt when the first reply passes its checks "
             "(a failed check adds one repair call).", "",
             "| prompt | tokens in (mean) | tokens out (mean) |", "|---|---:|---:|"]
    for name, (tokens_in, tokens_out) in counts.items():
        lines.append(f"| {name} | {statistics.mean(tokens_in):.0f} | {statistics.mean(tokens_out):.0f} |")
    write_section("llm-tokens", "\n".join(lines))
    print("\n".join(lines), file=sys.stdout)


if __name__ == "__main__":
    main()
