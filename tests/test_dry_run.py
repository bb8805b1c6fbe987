"""``--dry_run``: projections from a sample, against a real run of the same sources."""

from pathlib import Path

import pytest

from pipeline.cli import run
from pipeline.dry_run import sampled
from pipeline.sources import parse_source


def test_a_source_is_cut_to_its_share_of_the_sample():
    assert sampled(parse_source("generate:5000"), 5000, 200).count == 200
    assert sampled(parse_source("gsm8k:train.jsonl?weight=0.5"), 4000, 200).weight == pytest.approx(0.025)
    assert sampled(parse_source("gsm8k:train.jsonl"), 100, 200).weight == 1.0


def test_dry_run_writes_nothing_and_projects_the_real_run(gsm8k_path, tmp_path, capsys):
    source = f"gsm8k:{gsm8k_path}?limit=40"
    projected = run(["--source", source, "--output", str(tmp_path / "out"), "--dry_run", "--no_progress",
                     "--price_tts", "15", "--price_core_hour", "0.05"])
    assert not (tmp_path / "out").exists()
    assert "dry run: projected from 40 sampled inputs of 40" in capsys.readouterr().out
    summary = run(["--source", source, "--output", str(tmp_path / "out"), "--no_progress"])
    assert projected["inputs"] == summary["inputs"] == 40
    assert projected["rows"] == summary["outputs"] and projected["rejects"] == summary["rejects"]
    assert projected["tts_characters"] == summary["totals"]["tts_characters"]
    assert projected["audio_hours"] == pytest.approx(summary["totals"]["audio_hours"], abs=1e-3)
    written = sum(p.stat().st_size for p in Path(tmp_path / "out").rglob("*.parquet"))
    assert projected["output_bytes"] == pytest.approx(written, rel=0.02)
    assert 0 <= projected["core_hours"] < 1 and projected["estimated_cost"] > 0  # speech is priced
    assert projected["llm_tokens_in"] == projected["llm_tokens_out"] == 0  # the rules send nothing


def test_dry_run_counts_the_prompts_an_llm_run_would_send(gsm8k_path, tmp_path):
    """Nothing listens at the endpoint: a dry run never calls it."""
    projected = run(["--source", f"gsm8k:{gsm8k_path}?limit=12", "--output", str(tmp_path / "out"),
                     "--dry_run", "--no_progress", "--llm", "openai", "--judge", "openai",
                     "--base_url", "http://127.0.0.1:9/v1", "--model", "m"])
    per_row_in = projected["llm_tokens_in"] / projected["rows"]
    per_row_out = projected["llm_tokens_out"] / projected["rows"]
    assert 600 < per_row_in < 3000 and 50 < per_row_out < 1000


def test_dry_run_prices_batch_mode_at_the_batch_price(gsm8k_path, tmp_path):
    from pipeline.dry_run import BATCH_PRICE

    flags = ["--source", f"gsm8k:{gsm8k_path}?limit=12", "--output", str(tmp_path / "out"), "--dry_run",
             "--no_progress", "--llm", "openai", "--base_url", "http://127.0.0.1:9/v1", "--model", "m",
             "--tts", "none", "--price_in", "2000", "--price_out", "8000"]  # LLM tokens are all it prices
    live, batch = run(flags), run([*flags, "--llm_batch"])
    assert batch["llm_tokens_in"] == live["llm_tokens_in"] and live["estimated_cost"] > 10
    assert abs(batch["estimated_cost"] - BATCH_PRICE * live["estimated_cost"]) <= 0.01
