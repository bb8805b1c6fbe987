import json
import statistics

from pipeline.cli import run
from pipeline.config import without_credentials
from pipeline.dataset.summary import histogram_quantiles, quantiles_by_name


def test_histogram_quantiles_are_exact():
    values = [3, 1, 4, 1, 5, 9, 2, 6]
    histogram = {v: values.count(v) for v in set(values)}
    q = histogram_quantiles(histogram)
    assert q["median"] == statistics.median(values)
    assert (q["min"], q["max"]) == (1, 9)
    assert q["q1"] == sorted(values)[(len(values) - 1) // 4]


def test_quantiles_by_name():
    counts = [(("a", 1.0), 2), (("a", 3.0), 1), (("b", 0.5), 4)]
    assert quantiles_by_name(counts)["a"]["median"] == 1.0
    assert quantiles_by_name(counts)["b"]["max"] == 0.5


def test_summary_keeps_no_credentials_of_an_endpoint(tmp_path):
    url = "https://reader:hunter2@speech.example.com:8443/v1?api-key=abc123"
    run(["--source", "generate:4", "--output", str(tmp_path / "out"), "--no_progress",
         "--tts_base_url", url, "--base_url", url])
    written = (tmp_path / "out" / "summary.json").read_text() + (tmp_path / "out" / "README.md").read_text()
    assert "hunter2" not in written and "abc123" not in written and "reader" not in written
    config = json.loads((tmp_path / "out" / "summary.json").read_text())["config"]
    assert config["tts_base_url"] == config["llm_base_url"] == "https://speech.example.com:8443/v1"
    assert without_credentials("gs://bucket/cache") == "gs://bucket/cache"
