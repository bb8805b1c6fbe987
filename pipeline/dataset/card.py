"""The dataset card: ``README.md`` with the YAML front matter the Hub and ``datasets`` read.

Everything a loader or a trainer needs is machine-readable in the front matter: the
license, the splits with their sizes, the features with each audio column's sampling
rate, the rejects as a second config, and (under ``interleaving``) the tokenizer, p:q,
special token ids, stream codes and the rules that laid the sequence out.
"""

from __future__ import annotations

import json

import pyarrow as pa
import yaml

import schemas
from pipeline.dataset.arrow import INTERLEAVING_KEY, REJECT_SCHEMA, has_audio
from pipeline.sources import CITATIONS, public_source

# The method this data is made for (the paper's own dataset was never published).
METHOD = ("miniomnireasoner2025", "Mini-Omni-Reasoner: Token-Level Thinking-in-Speaking in Large Speech "
          "Models", "", "arXiv:2508.15827", 2025)

# The Hub's size buckets: (upper bound, label).
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                   (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"),
                   (1_000_000_000, "100M<n<1B"))


def size_category(rows: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if rows < bound), "n>1T")


def _features_yaml(schema: pa.Schema) -> list:
    import datasets

    return datasets.Features.from_arrow_schema(schema)._to_yaml_list()


def bibtex(key: str, title: str, author: str, venue: str, year: int) -> str:
    by = f"  author={{{author} and others}},\n" if author else ""
    return f"@misc{{{key},\n  title={{{title}}},\n{by}  note={{{venue}}},\n  year={{{year}}}\n}}"


def _public_tokenizer(name: str) -> str:
    """A tokenizer as the card names it: a local file by its base name, not its path."""
    kind, _, location = name.partition(":")
    if kind == "hf" and location.startswith(("/", ".", "~")):
        return f"hf:{location.rstrip('/').rsplit('/', 1)[-1]}"
    return name


def _split_info(name: str, sizes: dict) -> dict:
    return {"name": name, "num_bytes": sizes["num_bytes"], "num_examples": sizes["num_examples"]}


def shard_glob(part: str, prefix: str, version: str = "") -> str:
    """The files of one split (or of the rejects) in a dataset folder: in a published one
    their names end in the dataset's version, so a card never matches another build's
    shards (see ``publish``)."""
    return f"{part}/{prefix}-*{'-' + version if version else ''}.parquet"


def card_metadata(summary: dict, schema: pa.Schema, version: str = "") -> dict:
    """The card's YAML front matter, as a mapping. A split or config without rows is left
    out: ``datasets`` refuses to load a split that has no data."""
    splits = {name: sizes for name, sizes in summary["splits"].items() if sizes["num_examples"]}
    rejects = summary["rejects_split"]
    licenses = summary["license"] or ["unknown"]
    data_files = [{"split": name, "path": shard_glob("data", name, version)} for name in splits]
    configs = [{"config_name": "default", "default": True, "data_files": data_files}]
    info = [{"config_name": "default", "features": _features_yaml(schema),
             "splits": [_split_info(name, sizes) for name, sizes in splits.items()],
             "download_size": sum(sizes["file_bytes"] for sizes in splits.values()),
             "dataset_size": sum(sizes["num_bytes"] for sizes in splits.values())}]
    if rejects["num_examples"]:
        rejects_files = [{"split": "train", "path": shard_glob("rejects", "rejects", version)}]
        configs.append({"config_name": "rejects", "data_files": rejects_files})
        info.append({"config_name": "rejects", "features": _features_yaml(REJECT_SCHEMA),
                     "splits": [_split_info("train", rejects)],
                     "download_size": rejects["file_bytes"], "dataset_size": rejects["num_bytes"]})
    layout = json.loads(schema.metadata[INTERLEAVING_KEY.encode()])
    layout["tokenizer"] = _public_tokenizer(layout["tokenizer"])
    return {
        "pretty_name": "Spoken math problems for thinking-in-speaking",
        "license": licenses[0] if len(licenses) == 1 else licenses,
        "language": ["en"],
        "size_categories": [size_category(summary["outputs"])],
        "task_categories": ["text-generation", "text-to-speech", "automatic-speech-recognition"]
        if has_audio(schema.names) else ["text-generation"],
        "tags": ["math", "speech", "reasoning", "thinking-in-speaking", "synthetic"],
        "configs": configs,
        "dataset_info": info,
        INTERLEAVING_KEY: layout,
    }


AUDIO_HELP = """
Decoding the audio columns with `datasets` needs FFmpeg's shared libraries (torchcodec).
Without them, read the bytes and decode them with `soundfile`:

```python
import io, soundfile
ds = ds.cast_column("question_audio", datasets.Audio(decode=False))
samples, rate = soundfile.read(io.BytesIO(ds["train"][0]["question_audio"]["bytes"]))
```
"""


def dataset_card(summary: dict, schema: pa.Schema, version: str = "") -> str:
    front = card_metadata(summary, schema, version)
    layout = front[INTERLEAVING_KEY]
    fields = schemas.load("fields")["properties"]
    columns = "\n".join(f"- `{name}`: {prop.get('description', '')}".rstrip(": ")
                        for name, prop in fields.items())
    special = "\n".join(f"- `{name}`: id {token_id}" for name, token_id in layout["special_tokens"].items())
    codes = ", ".join(f"{code} = {name}" for name, code in sorted(layout["stream_codes"].items(),
                                                                   key=lambda item: item[1]))
    rules = "\n".join(f"{number}. {rule}" for number, rule in enumerate(layout["rules"], 1))
    reasons = "\n".join(f"- {reason}: {count}" for reason, count in summary["rejects_by_reason"].items())
    split_lines = "\n".join(f"- `{name}`: {sizes['num_examples']} rows in {sizes['shards']} shard(s) "
                            f"(`{shard_glob('data', name, version)}`)"
                            for name, sizes in summary["splits"].items())
    config = summary["config"]
    stats = summary["stats"]
    license_text = ", ".join(front["license"]) if isinstance(front["license"], list) else front["license"]
    if has_audio(schema.names):
        speech = f"`{config['tts']}` speech"
        audio_help = AUDIO_HELP
        speech_limit = (f"Synthetic speech (`{config['tts']}`): one voice per clip, clean audio, no noise "
                        "and no disfluencies; a model trained only on it may hear real speakers less well.")
    else:
        speech = "no speech (a text-only build, `--tts none`: every column but the audio)"
        audio_help = ""
        speech_limit = "No speech: a text-only build; a model that hears or speaks needs a build with clips."

    kinds = sorted({source.partition(":")[0] for source in summary["source"].split(" + ")})
    citations = "\n\n".join(bibtex(*CITATIONS[kind]) for kind in kinds if kind in CITATIONS)
    sources_cited = (f"and the datasets its problems come from:\n\n```bibtex\n{citations}\n```"
                     if citations else "(its problems come from no published dataset: "
                     f"{', '.join(kinds)})")
    rejects_loading = ('rejects = datasets.load_dataset("PATH/TO/THIS/FOLDER", "rejects", split="train")'
                       if summary["rejects"] else "# no rejects in this build, so no rejects config")

    def median(name: str) -> str:
        return f"{stats[name]['median']:.2f}" if name in stats else "n/a"

    return f"""---
{yaml.safe_dump(front, sort_keys=False)}---

# Spoken math problems, interleaved for thinking-in-speaking

Each row is a math word problem turned into training data for a speech model that
reasons silently while it speaks: a spoken-style question (text and audio), a silent
reasoning stream, a short spoken response whose sentences each wait for the reasoning
step they depend on, and both streams interleaved at token level in cycles of
{layout['p']} response tokens then {layout['q']} reasoning tokens.

Built from `{public_source(summary['source'])}` with seed {config['seed']}, the `{config['llm']}` text
backend, {speech} and the `{layout['tokenizer']}` tokenizer
({layout['tokenizer_version']}).

License: {license_text} (from the sources; a build sets its own with `--license`).

## Counts and splits

- inputs: {summary['inputs']}
- rows: {summary['outputs']}
- rejected: {summary['rejects']} (`rejects/`, each with its stage and reason; the `rejects` config
  when there are any)

{split_lines}

A row's split is chosen by a hash of its `id`, so it stays in the same split across runs
and sources. The `split` column is the split of the *source* the problem came from.

{reasons}

Median delay to the first substantive spoken token: {median('first_substantive_seconds')} s
interleaved, against {median('before_speaking_seconds')} s when all reasoning comes first
(at {config['decode_rate']:g} tokens/s). Median response-to-reasoning length:
{median('response_to_reasoning_tokens')} (tokens).

## Interleaving

`interleaved_streams` labels every position of `interleaved_ids`: {codes}.
The same facts are in the front matter (`{INTERLEAVING_KEY}`) and in every shard's Parquet
schema metadata (key `{INTERLEAVING_KEY}`, JSON). Special tokens:

{special}

How `interleaved_ids` is laid out, enough to re-interleave `reasoning` and `response`
without this toolkit:

{rules}

## Columns

{columns}

## Loading

```python
import datasets
ds = datasets.load_dataset("PATH/TO/THIS/FOLDER")            # train and any other splits
{rejects_loading}
```
{audio_help}
## Uses

Training and evaluating speech models that reason silently while they speak: the
`interleaved_ids` target (with the two audio columns for a speech model), the `tbs` or
`direct` layouts rebuilt from `reasoning` and `response` for comparison, and the rejects as
hard cases for the pipeline itself. It is not a benchmark: the questions are rewritten from
public training sets, so a model trained on it must be tested on other problems.

## Limitations

- {speech_limit}
- The spoken responses and reasoning are written by rules or by an LLM from the source's own
  solution, and checked by rules (anticipation drift, answers, what a listener hears), not
  by people: a kept row can still word a step oddly.
- English only; math word problems only; the answer check compares final numbers and
  expressions, not every intermediate step.
- The licenses of the sources hold for the problems: check them before using a build.

## Citation

Cite the method this data is made for,

```bibtex
{bibtex(*METHOD)}
```

{sources_cited}
"""
