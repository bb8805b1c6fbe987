"""Exports for LLaMA-Factory and ms-swift, checked line by line against their documented
dataset formats (LLaMA-Factory's data/README.md, "Multimodal Audio Dataset" with the
OpenAI-style tags; ms-swift's "Custom Dataset", standard ``messages``/``audios``, with a
token-id assistant turn). ``make check-exports`` runs the trainers' own pipelines on them."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from pipeline.dataset.shards import read_rows, shard_files
from pipeline.export import DATASET_NAME, export, main
from pipeline.tokenizers import load_tokenizer

MESSAGE = {
    "type": "object",
    "properties": {"role": {"enum": ["system", "user", "assistant"]}, "content": {"type": "string"}},
    "required": ["role", "content"],
    "additionalProperties": False,
}
IDS = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}
# ms-swift's token-backed turn: {"token_ids": [...]} encoded as it is (swift.template.utils).
TOKEN_MESSAGE = MESSAGE | {"properties": MESSAGE["properties"] | {
    "content": {"anyOf": [{"type": "string"},
                          {"type": "object", "properties": {"token_ids": IDS}, "required": ["token_ids"],
                           "additionalProperties": False}]}}}
# LLaMA-Factory's sharegpt layout: messages, and the audios column its dataset_info names.
LLAMAFACTORY = {
    "type": "object",
    "properties": {"messages": {"type": "array", "items": MESSAGE, "minItems": 2},
                   "audios": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                   "interleaved_ids": IDS},
    "required": ["messages", "audios", "interleaved_ids"],
    "additionalProperties": False,
}
# ms-swift's standard keys: messages is required; audios holds paths or URLs.
SWIFT_KEYS = {"messages", "rejected_response", "label", "images", "videos", "audios", "tools", "objects"}
SWIFT = {
    "type": "object",
    "properties": {"messages": {"type": "array", "items": TOKEN_MESSAGE, "minItems": 1},
                   "audios": {"type": "array", "items": {"type": "string"}}},
    "required": ["messages"],
    "propertyNames": {"enum": sorted(SWIFT_KEYS)},
}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_turns(sample: dict) -> None:
    """What both trainers require beyond the shape: user and assistant turns alternate
    (after an optional system turn), and there are as many ``<audio>`` tags as audios."""
    roles = [m["role"] for m in sample["messages"] if m["role"] != "system"]
    assert roles == ["user", "assistant"] * (len(roles) // 2) and roles
    tags = sum(m["content"].count("<audio>") for m in sample["messages"] if isinstance(m["content"], str))
    assert tags == len(sample["audios"])


@pytest.fixture(scope="module")
def rows(small_dataset):
    return list(read_rows(shard_files(small_dataset),
                          ["id", "tokenizer", "interleaved_ids", "interleaved_streams", "response"]))


def test_llamafactory_export_follows_its_documented_format(small_dataset, rows, tmp_path):
    out = tmp_path / "lf"
    target = export(small_dataset, out, "llamafactory")
    info = json.loads((out / "dataset_info.json").read_text())[DATASET_NAME]
    assert info["formatting"] == "sharegpt" and (out / info["file_name"]) == target
    assert info["columns"] == {"messages": "messages", "audios": "audios"}
    assert info["tags"] == {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                            "assistant_tag": "assistant"}
    validator = Draft202012Validator(LLAMAFACTORY)
    samples = lines(target)
    assert len(samples) == len(rows)
    tokenizer = load_tokenizer(rows[0]["tokenizer"])
    for sample, row in zip(samples, rows, strict=True):
        validator.validate(sample)
        check_turns(sample)
        audio = out / sample["audios"][0]  # relative to the dataset_dir, LLaMA-Factory's media_dir
        assert audio.is_file() and audio.read_bytes()[:4] == b"RIFF"
        assert sample["messages"][1]["content"] == tokenizer.decode(row["interleaved_ids"])
        assert sample["messages"][1]["content"].endswith("<|response_end|>")
        assert sample["interleaved_ids"] == row["interleaved_ids"]


def test_swift_export_follows_its_documented_format(small_dataset, rows, tmp_path):
    target = export(small_dataset, tmp_path / "swift", "swift")
    validator = Draft202012Validator(SWIFT)
    samples = lines(target)
    assert len(samples) == len(rows)
    for sample, row in zip(samples, rows, strict=True):
        validator.validate(sample)
        check_turns(sample)
        assert all(Path(path).is_absolute() and Path(path).is_file() for path in sample["audios"])
        assert sample["messages"][1]["content"] == {"token_ids": row["interleaved_ids"]}


def test_jsonl_export_has_texts_and_both_clips(small_dataset, rows, tmp_path, capsys):
    main([str(small_dataset), str(tmp_path / "flat"), "--format", "jsonl", "--split", "train"])
    assert "wrote" in capsys.readouterr().out
    samples = lines(tmp_path / "flat" / f"{DATASET_NAME}.jsonl")
    assert [s["id"] for s in samples] == [r["id"] for r in rows]
    for sample, row in zip(samples, rows, strict=True):
        assert sample["question"] and sample["reasoning"] and sample["interleaved"]
        said = [{"text": s["text"], "after_step": s["after_step"]} for s in row["response"]]
        assert sample["response"] == said
        assert sample["interleaved_ids"] == row["interleaved_ids"]
        assert sample["interleaved_streams"] == row["interleaved_streams"]
        assert sample["tokenizer"] == row["tokenizer"] and (sample["p"], sample["q"]) == (2, 8)
        assert (tmp_path / "flat" / sample["question_audio"]).is_file()
        assert (tmp_path / "flat" / sample["response_audio"]).is_file()


def test_export_of_a_folder_without_shards_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no data/"):
        main([str(tmp_path), str(tmp_path / "out"), "--format", "swift"])


def test_a_row_id_never_becomes_a_path(small_dataset, tmp_path):
    import pyarrow.parquet as pq

    table = pq.read_table(shard_files(small_dataset)[0])
    ids = table.column("id").to_pylist()
    ids[0], ids[1] = "../../escaped", str(tmp_path / "absolute")
    hostile = tmp_path / "hostile" / "data"
    hostile.mkdir(parents=True)
    pq.write_table(table.set_column(table.schema.get_field_index("id"), "id", [ids]),
                   hostile / "train-00000-of-00001.parquet")
    out = tmp_path / "deep" / "export"
    export(hostile.parent, out, "llamafactory")
    clips = sorted(p for p in tmp_path.rglob("*") if p.suffix in (".wav", ".flac"))
    assert clips and all(p.parent == out / "audio" for p in clips)
    assert len(clips) == 2 * table.num_rows


def test_llamafactory_targets_become_the_rows_ids(small_dataset, rows, tmp_path, hf_tokenizer_file):
    """``pipeline.export_llamafactory`` without LLaMA-Factory: an example tokenized the way its
    template does (prompt masked, the target text re-tokenized, then the end of turn) gets the
    row's ids in place of the re-tokenized text, and a target cut short is an error."""
    from transformers import PreTrainedTokenizerFast

    from pipeline.export_llamafactory import IGNORE_INDEX, exported_ids, with_exact_target

    out = tmp_path / "lf"
    export(small_dataset, out, "llamafactory")
    by_text = exported_ids(str(out), [DATASET_NAME])
    assert sorted(map(tuple, by_text.values())) == sorted(tuple(r["interleaved_ids"]) for r in rows)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=hf_tokenizer_file)
    text, ids = next(iter(by_text.items()))
    prompt, end = tokenizer.encode("a question"), tokenizer.encode("!\n")
    retokenized = tokenizer.encode(text)
    example = {"input_ids": prompt + retokenized + end,
               "labels": [IGNORE_INDEX] * len(prompt) + retokenized + end}
    example["attention_mask"] = [1] * len(example["input_ids"])
    exact = with_exact_target(example, tokenizer, by_text)
    assert exact["input_ids"] == prompt + ids + end
    assert exact["labels"] == [IGNORE_INDEX] * len(prompt) + ids + end
    assert exact["attention_mask"] == [1] * len(exact["input_ids"])
    cut = {"input_ids": prompt + retokenized[:5], "attention_mask": [1] * (len(prompt) + 5),
           "labels": [IGNORE_INDEX] * len(prompt) + retokenized[:5]}
    with pytest.raises(SystemExit, match="cutoff_len"):
        with_exact_target(cut, tokenizer, by_text)
