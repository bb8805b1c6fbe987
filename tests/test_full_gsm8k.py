"""Slow: the whole of GSM8K train through the CLI, with speech, after a dry run of it."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest


@pytest.mark.slow
def test_all_of_gsm8k_train_as_its_dry_run_projected(gsm8k_path, tmp_path):
    from pipeline.cli import run

    output = tmp_path / "gsm8k"
    projected = run(["--source", f"gsm8k:{gsm8k_path}", "--output", str(output), "--dry_run",
                     "--no_progress"])
    assert projected["inputs"] == 7473 and projected["sampled_inputs"] < 400 and not output.exists()
    subprocess.run([sys.executable, "-m", "pipeline", "--source", f"gsm8k:{gsm8k_path}",
                    "--output", str(output)], check=True)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["inputs"] == 7473
    assert summary["inputs"] == summary["outputs"] + summary["rejects"]
    assert summary["outputs"] / summary["inputs"] >= 0.95
    rows = sum(pq.read_metadata(p).num_rows for p in (output / "data").glob("*.parquet"))
    rejects = pq.read_table(output / "rejects").to_pylist()
    assert rows == summary["outputs"] and len(rejects) == summary["rejects"]
    assert all(r["stage"] and r["reason"] for r in rejects)
    stats = summary["stats"]
    assert stats["first_substantive_seconds"]["median"] < stats["before_speaking_seconds"]["median"]
    written = sum(p.stat().st_size for p in output.rglob("*.parquet"))
    for name, real in [("rows", summary["outputs"]), ("tts_characters", summary["totals"]["tts_characters"]),
                       ("audio_hours", summary["totals"]["audio_hours"]), ("output_bytes", written)]:
        assert projected[name] == pytest.approx(real, rel=0.10), name
