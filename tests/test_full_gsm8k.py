"""Slow: the whole of GSM8K train through the CLI, with speech."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest


@pytest.mark.slow
def test_all_of_gsm8k_train(gsm8k_path, tmp_path):
    output = tmp_path / "gsm8k"
    subprocess.run([sys.executable, "-m", "pipeline", "--source", f"gsm8k:{gsm8k_path}",
                    "--output", str(output)], check=True)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["inputs"] == 7473
    assert summary["inputs"] == summary["outputs"] + summary["rejects"]
    assert summary["outputs"] / summary["inputs"] >= 0.95
    rows = sum(pq.read_metadata(p).num_rows for p in (output / "data").glob("*.parquet"))
    rejects = pq.read_table(output / "rejects" / "rejects-00000-of-00001.parquet").to_pylist()
    assert rows == summary["outputs"] and len(rejects) == summary["rejects"]
    assert all(r["stage"] and r["reason"] for r in rejects)
    stats = summary["stats"]
    assert stats["first_substantive_seconds"]["median"] < stats["before_speaking_seconds"]["median"]
