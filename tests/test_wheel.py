"""The built wheel carries its prompts and schemas and runs outside the source tree."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_installed_wheel_runs_a_pipeline_outside_the_source_tree(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path / "dist"), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("spoken_math-*.whl"))
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import pipeline, prompts, schemas; from training.train import RECIPES; "
         "assert (RECIPES / 'small.yaml').exists(); "
         "print(pipeline.__file__, prompts.load('split').sha256, len(schemas.load('fields')))"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=env).stdout
    assert where.startswith(str(target))
    output = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "pipeline", "--source", "generate:4", "--output", str(output)],
                   check=True, cwd=tmp_path, env=env, capture_output=True)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["outputs"] == 4 and summary["balanced"]
