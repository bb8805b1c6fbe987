"""``python -m pipeline.export DATASET OUT --format FORMAT``: a built dataset in the files
other trainers read, each keeping the row's exact token sequence.

A trainer that tokenizes the assistant turn from text does not get ``interleaved_ids``
back: a byte-level BPE merges across the 2:8 slot boundaries (a response slot ending in
``,`` and a reasoning slot starting with ``E`` become one token ``,E``), which shifts every
later slot. So each format carries the ids themselves:

- ``swift``: ms-swift's standard ``messages``/``audios`` JSONL with the assistant turn given
  as ``{"token_ids": [...]}``, which ms-swift's template encodes as they are (absolute audio
  paths).
- ``llamafactory``: LLaMA-Factory's multimodal sharegpt layout (``messages`` with
  ``<audio>`` in the user turn, an ``audios`` list, audio paths relative to OUT, its
  ``dataset_info.json``), the assistant turn as text, and the row's ``interleaved_ids``
  beside it. LLaMA-Factory has no token-id turns, so ``python -m pipeline.export_llamafactory``,
  run where LLaMA-Factory is installed, tokenizes the export with LLaMA-Factory's own
  pipeline and writes the dataset it trains from (``tokenized_path``) with every assistant
  turn exactly its row's ids.
- ``jsonl``: one flat object per row: texts, each response sentence with the reasoning step
  it waits for, the ids, their streams and the audio paths.

Each clip is written once, as the file the dataset stores (WAV, or FLAC when built with
``--audio_format flac``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from pipeline.dataset.arrow import has_audio
from pipeline.dataset.shards import read_rows, shard_files
from pipeline.tokenizers import load_tokenizer

FORMATS = ("llamafactory", "swift", "jsonl")
DATASET_NAME = "spoken_math"
COLUMNS = ["id", "category", "question", "reasoning", "response", "answer", "tokenizer", "p", "q",
           "interleaved_ids", "interleaved_streams", "question_audio", "response_audio"]


def audio_suffix(data: bytes) -> str:
    return ".flac" if data[:4] == b"fLaC" else ".wav"


def clip_name(row_id: str) -> str:
    """A file name for a row's clips: its id where that is a plain name (ours are hex
    hashes), else a hash of it, so an id such as ``../../x`` never becomes a path."""
    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,99}", row_id):
        return row_id
    return "id-" + hashlib.sha256(row_id.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _write_clip(folder: Path, name: str, clip: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{audio_suffix(clip['bytes'])}"
    path.write_bytes(clip["bytes"])
    return path


def conversation(row: dict, question_audio: str | None, target: str | dict) -> dict:
    """One row as a ``messages``/``audios`` sample (LLaMA-Factory's and ms-swift's shape);
    from a text-only build, the question is the user's text."""
    question = row["question"] if question_audio is None else "<audio>"
    sample = {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": target}]}
    if question_audio is not None:
        sample["audios"] = [question_audio]
    return sample


def flat(row: dict, question_audio: str | None, response_audio: str | None, interleaved_text: str) -> dict:
    return {"id": row["id"], "category": row["category"], "question": row["question"],
            "reasoning": row["reasoning"],
            "response": [{"text": s["text"], "after_step": s["after_step"]} for s in row["response"]],
            "answer": row["answer"], "tokenizer": row["tokenizer"], "p": row["p"], "q": row["q"],
            "interleaved": interleaved_text, "interleaved_ids": row["interleaved_ids"],
            "interleaved_streams": row["interleaved_streams"],
            "question_audio": question_audio, "response_audio": response_audio}


def export_rows(dataset: str | Path, out: Path, fmt: str, split: str = "") -> Iterator[dict]:
    """The samples of ``fmt`` for every row of the dataset (one split when given), writing
    each row's clips under ``out/audio`` as it goes."""
    audio = out / "audio"
    tokenizers = {}
    for row in read_rows(shard_files(dataset, split=split), COLUMNS):
        if row["tokenizer"] not in tokenizers:
            tokenizers[row["tokenizer"]] = load_tokenizer(row["tokenizer"])
        text = tokenizers[row["tokenizer"]].decode(row["interleaved_ids"])
        question = response = None
        if has_audio(row):
            question = _write_clip(audio, f"{clip_name(row['id'])}-question", row["question_audio"])
            response = _write_clip(audio, f"{clip_name(row['id'])}-response", row["response_audio"])
        if fmt == "swift":
            ids = {"token_ids": row["interleaved_ids"]}
            yield conversation(row, question and str(question.resolve()), ids)
        elif fmt == "llamafactory":
            sample = conversation(row, question and str(question.relative_to(out)), text)
            yield sample | {"interleaved_ids": row["interleaved_ids"]}
        else:
            yield flat(row, question and str(question.relative_to(out)),
                       response and str(response.relative_to(out)), text)


def dataset_info(file_name: str, audio: bool = True) -> dict:
    """LLaMA-Factory's registration of the exported file (``--dataset spoken_math``)."""
    columns = {"messages": "messages", "audios": "audios"} if audio else {"messages": "messages"}
    return {DATASET_NAME: {"file_name": file_name, "formatting": "sharegpt", "columns": columns,
                           "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                    "assistant_tag": "assistant"}}}


def export(dataset: str | Path, out: str | Path, fmt: str, split: str = "") -> Path:
    """Write the export; returns the JSONL file written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{DATASET_NAME}.jsonl"
    partial = target.with_suffix(".jsonl.partial")
    audio = False
    with partial.open("w", encoding="utf-8") as handle:
        for sample in export_rows(dataset, out, fmt, split):
            audio = audio or "audios" in sample
            handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
    partial.replace(target)
    if fmt == "llamafactory":
        info = dataset_info(target.name, audio)
        (out / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", help="a folder built by python -m pipeline")
    ap.add_argument("out", help="where the export goes (a folder)")
    ap.add_argument("--format", required=True, choices=FORMATS)
    ap.add_argument("--split", default="", help="one split only (train, validation, test); default all")
    args = ap.parse_args(argv)
    try:
        target = export(args.dataset, args.out, args.format, args.split)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(str(error))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
