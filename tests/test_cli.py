"""The command line, as a user runs it."""

import json
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.cli import run
from tests.fakes.openai_server import OpenAIServer


def test_help_explains_every_flag():
    result = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True,
                            text=True, check=True)
    for flag in ("--source", "--output", "--limit", "--llm", "--tts", "--tokenizer", "--p", "--q",
                 "--seed", "--base_url", "--model", "--num_shards", "--judge", "--field",
                 "--decontaminate", "--ngram", "--shard_bytes", "--no_progress"):
        assert flag in result.stdout


def test_cli_builds_a_dataset_and_prints_the_summary(tmp_path, capsys):
    summary = run(["--source", "generate:10", "--output", str(tmp_path), "--num_shards", "2",
                   "--seed", "7", "--direct_num_workers=1"])
    assert summary["inputs"] == summary["outputs"] == 10
    assert summary["config"]["seed"] == 7
    assert "inputs 10 = outputs 10 + rejects 0" in capsys.readouterr().out
    rows = sum(pq.read_metadata(p).num_rows for p in (tmp_path / "data").glob("*.parquet"))
    assert rows == 10


def test_a_byte_target_sets_the_shard_count(tmp_path):
    from pipeline.beam.build import ESTIMATED_ROW_BYTES

    run(["--source", "generate:12", "--output", str(tmp_path), "--no_progress",
         "--shard_bytes", f"{4 * ESTIMATED_ROW_BYTES}B"])
    assert len(list((tmp_path / "data").glob("train-*-of-00003-*.parquet"))) == 3


def test_progress_counts_rows_and_rejects_against_the_inputs(tmp_path, gsm8k_path, capsys):
    source = tmp_path / "problems.jsonl"
    source.write_bytes(b"".join(gsm8k_path.read_bytes().splitlines(keepends=True)[:3]) + b"{not json\n")
    run(["--source", f"gsm8k:{source}", "--output", str(tmp_path / "out")])
    final = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "4/4" in final and "rejects=1" in final and "100%" in final


def test_rebuild_leaves_no_stale_shard(tmp_path):
    run(["--source", "generate:6", "--output", str(tmp_path), "--num_shards", "3"])
    run(["--source", "generate:6", "--output", str(tmp_path), "--num_shards", "2"])
    assert [p.name.rsplit("-", 1)[0] for p in sorted((tmp_path / "data").iterdir())] == [
        "train-00000-of-00002", "train-00001-of-00002"]


@pytest.mark.parametrize("argv", [
    ["--source", "nope:x"], ["--source", "generate:0"], ["--p", "0"], ["--llm", "openai"],
])
def test_bad_arguments_stop_with_a_message(tmp_path, argv):
    with pytest.raises(SystemExit):
        run(["--output", str(tmp_path), *argv])


def test_openai_backend_end_to_end_leaks_no_key(tmp_path, gsm8k_path):
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"".join(gsm8k_path.read_bytes().splitlines(keepends=True)[:8]))
    output = tmp_path / "out"
    key = "sk-never-write-me-4242"
    with OpenAIServer() as server:
        env = {"PATH": "/usr/bin:/bin", "LLM_KEY": key}
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", "--source", f"gsm8k:{source}", "--output",
             str(output), "--llm", "openai", "--base_url", server.base_url, "--model", "m",
             "--api_key_env", "LLM_KEY"],
            capture_output=True, text=True, env=env, check=True)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["inputs"] == 8 and summary["balanced"] and summary["outputs"] >= 7
    assert server.authorizations == {f"Bearer {key}"}
    written = [p.read_bytes() for p in output.rglob("*") if p.is_file()]
    assert len(list((output / "llm_cache").rglob("*.json"))) >= 16  # replies, cached
    assert (output / "llm_usage.json").exists()
    assert all(key.encode() not in blob for blob in written)
    assert key not in result.stdout + result.stderr


def test_the_written_recipe_reproduces_the_run_byte_for_byte(tmp_path):
    first = tmp_path / "first"
    run(["--source", "generate:8", "--output", str(first), "--num_shards", "2", "--seed", "3", "--p", "3",
         "--voices", "en-us,en-us+f2", "--max_response_ratio", "0.6", "--no_progress"])
    recipe = yaml.safe_load((first / "recipe.yaml").read_text())
    assert recipe["seed"] == 3 and recipe["p"] == 3 and recipe["voices"] == ["en-us", "en-us+f2"]
    assert recipe["source"] == ["generate:8"] and recipe["base_url"] == ""  # flag names, every setting
    again = tmp_path / "again"
    run(["--config", str(first / "recipe.yaml"), "--output", str(again)])  # a flag overrides the recipe
    shards = sorted(p.relative_to(first) for p in first.glob("*/*.parquet"))
    assert shards and shards == sorted(p.relative_to(again) for p in again.glob("*/*.parquet"))
    assert all((first / p).read_bytes() == (again / p).read_bytes() for p in shards)


@pytest.mark.parametrize(("recipe", "message"), [
    ("output: OUT\nsede: 3\n", "unknown key 'sede'"),
    ("output: OUT\np: 0\n", "p: 0 is below the smallest allowed value"),
    ("output: OUT\ntts: festival\n", "tts is one of espeak, openai, edge, piper"),
    ("output: OUT\nno_progress: 3\n", "no_progress takes true or false"),
    ("- a list\n", "a recipe is a mapping"),
])
def test_a_bad_recipe_is_a_one_line_error(tmp_path, recipe, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe.replace("OUT", str(tmp_path / "out")))
    with pytest.raises(SystemExit) as stopped:
        run(["--config", str(path)])
    assert message in str(stopped.value)
    assert not (tmp_path / "out").exists()


def test_the_written_recipe_keeps_no_password():
    from pipeline.flags import resolve, resolved_recipe

    run_options, config, _ = resolve(["--output", "out", "--llm", "openai", "--model", "m",
                                      "--base_url", "http://user:secret@host:8000/v1?token=abc"])
    recipe = yaml.safe_load(resolved_recipe(run_options, config))
    assert recipe["base_url"] == "http://host:8000/v1" and recipe["llm"] == "openai"


def test_credentials_in_an_endpoint_url_are_refused_at_once(tmp_path):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pipeline", "--source", "generate:6", "--output",
                             str(tmp_path / "out"), "--llm", "openai", "--model", "m",
                             "--base_url", "http://user:pw@127.0.0.1:9/v1"], capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--base_url" in result.stderr and "pw" not in result.stderr
    assert time.monotonic() - started < 60 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--limt", "5"], "unknown flag --limt (did you mean --limit?)"),
    (["--ouput", "x"], "unknown flag --ouput (did you mean --output?)"),
    (["--tts", "espek"], "argument --tts: invalid choice: 'espek'"),
    (["--direct_num_workrs", "2"], "unknown flag --direct_num_workrs (did you mean --direct_num_workers?)"),
])
def test_a_mistyped_flag_is_one_line_naming_it_and_nothing_is_built(tmp_path, flags, message):
    """Beam ignores a flag it does not know (``--limt 5`` would build the whole source)."""
    result = subprocess.run([sys.executable, "-m", "pipeline", "--source", "generate:4", "--output",
                             str(tmp_path / "out"), *flags], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_beam_flags_pass_through():
    from pipeline.flags import resolve

    _, _, beam_args = resolve(["--output", "out", "--runner", "DirectRunner", "--direct_num_workers=2",
                               "--direct_running_mode", "multi_processing"])
    assert beam_args == ["--runner", "DirectRunner", "--direct_num_workers=2", "--direct_running_mode",
                         "multi_processing"]
