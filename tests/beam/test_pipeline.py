"""End to end through Beam: real input files, every stage, real Parquet out."""

import collections
import json
from dataclasses import replace
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that

import schemas
from pipeline.beam.build import build_pipeline
from pipeline.sources import parse_source

BAD_LINES = [
    b'{"question": "Tom has 3 apples", "answer": ',                       # malformed JSON
    b'{"answer": "#### 4"}',                                               # missing field
    b'{"question": "", "answer": "#### 4"}',                               # empty question
    json.dumps({"question": "x" * 1_000_000, "answer": "#### 1"}).encode(),  # 1 MB question
    b'{"question": "caf\xe9 au lait?", "answer": "#### 2"}',               # invalid UTF-8
]
BAD_REASONS = {"source/malformed_json", "source/missing_field", "source/empty_text",
               "source/too_long", "source/invalid_utf8"}


def run_build(source: str | list[str], output: Path, config, **kwargs):
    sources = [source] if isinstance(source, str) else source
    with BeamTestPipeline(runner="DirectRunner") as pipeline:
        records, rejects = build_pipeline(pipeline, [parse_source(s) for s in sources], " + ".join(sources),
                                          str(output), config, **kwargs)
        yield_ids = records | beam.Map(lambda r: r["id"])
        assert_that(yield_ids | beam.combiners.Count.Globally(), lambda n: n[0] > 0, label="Some")
    return json.loads((output / "summary.json").read_text())


def read_rows(folder: Path) -> list[dict]:
    return [row for path in sorted(folder.glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


@pytest.fixture(scope="module")
def gsm8k_build(tmp_path_factory, gsm8k_path, config):
    folder = tmp_path_factory.mktemp("gsm8k")
    source_file = folder / "train.jsonl"
    good = gsm8k_path.read_bytes().splitlines()[:30]
    source_file.write_bytes(b"\n".join(good[:15] + BAD_LINES + good[15:]) + b"\n")
    output = folder / "out"
    summary = run_build(f"gsm8k:{source_file}", output, config, shard_rows=10)
    return summary, output


def test_every_input_is_an_output_or_a_reject(gsm8k_build):
    summary, output = gsm8k_build
    rows, rejects = read_rows(output / "data"), read_rows(output / "rejects")
    assert summary["inputs"] == 35
    assert summary["inputs"] == summary["outputs"] + summary["rejects"] == len(rows) + len(rejects)
    assert summary["balanced"]
    assert len({r["id"] for r in rows} | {r["id"] for r in rejects}) == 35
    assert {f"{r['stage']}/{r['reason']}" for r in rejects} >= BAD_REASONS
    assert all(r["stage"] and r["reason"] and r["detail"] for r in rejects)
    assert len(rows) >= 27


def test_rows_are_complete_and_valid(gsm8k_build):
    summary, output = gsm8k_build
    shards = sorted(p.name for p in (output / "data").glob("*.parquet"))
    assert shards == [f"train-{i:05d}-of-00004.parquet" for i in range(4)]  # 35 inputs, 10 per shard
    for row in read_rows(output / "data"):
        assert schemas.first_error("record", row) is None
        assert row["source"] == "gsm8k" and row["split"] == "train"
        assert row["question_audio"]["bytes"][:4] == b"RIFF"
        assert row["response_audio"]["bytes"][:4] == b"RIFF"
        assert row["interleaved_streams"][-1] == 4
        assert row["response"][0]["after_step"] == 0


def test_datasets_loads_the_folder_with_audio_features(gsm8k_build):
    import datasets

    summary, output = gsm8k_build
    dataset = datasets.load_dataset("parquet", data_dir=str(output), split="train")
    assert dataset.num_rows == summary["outputs"]
    assert isinstance(dataset.features["question_audio"], datasets.Audio)
    assert isinstance(dataset.features["response_audio"], datasets.Audio)
    assert dataset.features["question_audio"].sampling_rate == 16000
    assert dataset.features["response_audio"].sampling_rate == 24000
    card = (output / "README.md").read_text()
    assert card.startswith("---\n") and "151665" in card


def test_the_card_is_complete_and_every_config_loads_without_a_warning(gsm8k_build, caplog):
    import datasets
    from huggingface_hub import DatasetCard, DatasetCardData

    summary, output = gsm8k_build
    card = DatasetCard.load(output / "README.md")
    data = card.data.to_dict()
    assert DatasetCardData(**data).to_dict() == data
    assert data["size_categories"] == ["n<1K"] and data["license"]
    info = {entry["config_name"]: entry for entry in data["dataset_info"]}
    assert info["default"]["splits"][0]["num_examples"] == summary["outputs"]
    assert info["default"]["splits"][0]["num_bytes"] > 0
    assert info["rejects"]["splits"][0]["num_examples"] == summary["rejects"] == 5
    layout = data["spoken_math"]
    assert layout["special_tokens"]["<|response_pad|>"] == 151665 and layout["p"] == 2 and layout["q"] == 8
    assert layout["stream_codes"] == {"response": 0, "reasoning": 1, "response_pad": 2, "reasoning_pad": 3,
                                      "eos": 4}
    shard = next((output / "data").glob("*.parquet"))
    assert json.loads(pq.read_schema(shard).metadata[b"spoken_math"]) == layout
    with caplog.at_level("WARNING"):
        rows = datasets.load_dataset(str(output), split="train")
        rejects = datasets.load_dataset(str(output), "rejects", split="train")
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    assert rows.num_rows == summary["outputs"] and rejects.num_rows == 5
    assert set(rejects.column_names) >= {"stage", "reason", "detail"}
    text = (output / "README.md").read_text()
    assert str(output.parent) not in text and "gsm8k:train.jsonl" in text  # no path of this machine
    assert all(f"\n## {section}\n" in text for section in ("Uses", "Limitations", "Citation"))
    assert "arXiv:2508.15827" in text and "arXiv:2110.14168" in text  # the method and GSM8K


def test_a_build_without_rejects_has_no_rejects_config_and_its_card_says_so(tmp_path):
    from huggingface_hub import DatasetCard

    from pipeline.cli import run

    run(["--source", "generate:6", "--output", str(tmp_path), "--tts", "none", "--no_progress"])
    card = DatasetCard.load(tmp_path / "README.md")
    assert [config["config_name"] for config in card.data.to_dict()["configs"]] == ["default"]
    assert "no rejects in this build, so no rejects config" in card.text


def test_splits_are_chosen_by_id_and_load_as_splits(tmp_path, caplog):
    import datasets
    from huggingface_hub import DatasetCard

    from pipeline.cli import run
    from pipeline.dataset.splits import split_fractions, split_of

    summary = run(["--source", "generate:40", "--output", str(tmp_path / "out"), "--no_progress",
                   "--splits", "train=0.6,validation=0.2,test=0.2"])
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "out" / "data").glob("*.parquet")) == [
        "test", "train", "validation"]
    with caplog.at_level("WARNING"):
        loaded = datasets.load_dataset(str(tmp_path / "out"))
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    assert set(loaded) == {"train", "validation", "test"}
    assert sum(split.num_rows for split in loaded.values()) == summary["outputs"] == 40
    fractions = split_fractions("train=0.6,validation=0.2,test=0.2")
    for name, split in loaded.items():
        assert summary["splits"][name]["num_examples"] == split.num_rows > 0
        assert all(split_of(row_id, fractions) == name for row_id in split["id"])
        assert set(split["category"]) == {"contextual_multi_step"}
    card = DatasetCard.load(tmp_path / "out" / "README.md").data.to_dict()
    assert card["license"] == "apache-2.0"  # the generator's problems are the project's
    assert "rejects" not in {c["config_name"] for c in card["configs"]}  # none to load


def test_summary_reports_delays(gsm8k_build):
    summary, _ = gsm8k_build
    stats = summary["stats"]
    assert stats["first_substantive_seconds"]["median"] < stats["before_speaking_seconds"]["median"]
    assert summary["totals"]["audio_hours"] > 0


def test_same_input_and_seed_give_identical_shards(tmp_path, config):
    first = run_build("generate:24", tmp_path / "a", config, num_shards=2)
    second = run_build("generate:24", tmp_path / "b", config, num_shards=2)
    assert first == second
    for name in ("data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet",
                 "README.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_mixed_sources_are_deduplicated_and_decontaminated(tmp_path, gsm8k_path, math_path, config):
    gsm8k_lines = gsm8k_path.read_bytes().splitlines()
    benchmark = tmp_path / "test.jsonl"
    benchmark.write_bytes(gsm8k_lines[3] + b"\n")  # a "benchmark" question that is also in train
    config = replace(config, decontaminate=(str(benchmark),))
    sources = [f"gsm8k:{gsm8k_path}?limit=12", f"gsm8k:{gsm8k_path}?limit=4",  # 4 exact repeats
               f"math:{math_path}?limit=12"]
    summary = run_build(sources, tmp_path / "out", config)
    rows, rejects = read_rows(tmp_path / "out" / "data"), read_rows(tmp_path / "out" / "rejects")
    assert summary["inputs"] == 28 == summary["outputs"] + summary["rejects"] == len(rows) + len(rejects)
    reasons = collections.Counter(f"{r['stage']}/{r['reason']}" for r in rejects)
    assert reasons["source/duplicate"] == 3 and reasons["source/contaminated"] == 2
    assert all("test.jsonl:0" in r["detail"] for r in rejects if r["reason"] == "contaminated")
    assert {row["source"] for row in rows} == {"gsm8k", "math"}
    assert {row["metadata"]["origin"] for row in rows} == {"train.jsonl", "sample.jsonl"}
    assert len({row["id"] for row in rows}) == len(rows)
