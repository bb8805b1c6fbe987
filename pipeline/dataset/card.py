"""The dataset card: ``README.md`` with the YAML front matter the Hub and ``datasets`` read."""

from __future__ import annotations

import pyarrow as pa
import yaml

import schemas
from pipeline.stages.interleave import STREAM_NAMES


def _features_yaml(schema: pa.Schema) -> list:
    import datasets

    return datasets.Features.from_arrow_schema(schema)._to_yaml_list()


def dataset_card(summary: dict, schema: pa.Schema) -> str:
    front = {
        "pretty_name": "Spoken math problems for thinking-in-speaking",
        "language": ["en"],
        "task_categories": ["text-generation", "text-to-speech", "automatic-speech-recognition"],
        "tags": ["math", "speech", "reasoning", "thinking-in-speaking", "synthetic"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": "train", "path": "data/train-*"}]}],
        "dataset_info": {
            "features": _features_yaml(schema),
            "splits": [{"name": "train", "num_examples": summary["outputs"]}],
        },
    }
    fields = schemas.load("fields")["properties"]
    columns = "\n".join(f"- `{name}`: {prop.get('description', '')}".rstrip(": ")
                        for name, prop in fields.items())
    special = "\n".join(f"- `{name}`: id {token_id}"
                        for name, token_id in summary["special_tokens"].items())
    reasons = "\n".join(f"- {reason}: {count}" for reason, count in summary["rejects_by_reason"].items())
    config = summary["config"]
    stats = summary["stats"]

    def median(name: str) -> str:
        return f"{stats[name]['median']:.2f}" if name in stats else "n/a"

    return f"""---
{yaml.safe_dump(front, sort_keys=False)}---

# Spoken math problems, interleaved for thinking-in-speaking

Each row is a math word problem turned into training data for a speech model that
reasons silently while it speaks: a spoken-style question (text and audio), a silent
reasoning stream, a short spoken response whose sentences each wait for the reasoning
step they depend on, and both streams interleaved at token level in cycles of
{config['p']} response tokens then {config['q']} reasoning tokens.

Built from `{summary['source']}` with seed {config['seed']}, the `{config['llm']}` text
backend, `{config['tts']}` speech and the `{config['tokenizer']}` tokenizer.

## Counts

- inputs: {summary['inputs']}
- rows: {summary['outputs']}
- rejected: {summary['rejects']} (in `rejects/`, each with its stage and reason)

{reasons}

Median delay to the first substantive spoken token: {median('first_substantive_seconds')} s
interleaved, against {median('before_speaking_seconds')} s when all reasoning comes first
(at {config['decode_rate']:g} tokens/s). Median response-to-reasoning length:
{median('response_to_reasoning_tokens')} (tokens).

## Interleaving

`interleaved_streams` labels every position of `interleaved_ids`:
{", ".join(f"{i} = {name}" for i, name in enumerate(STREAM_NAMES))}.
Special tokens:

{special}

## Columns

{columns}

## Loading

```python
import datasets
ds = datasets.load_dataset("parquet", data_dir="PATH/TO/THIS/FOLDER", split="train")
```
"""
