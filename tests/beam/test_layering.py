"""The Beam layer is generic: it runs stages and counts by namespace, knowing no LLM or TTS."""

import ast
from pathlib import Path

BEAM = Path(__file__).resolve().parents[2] / "pipeline" / "beam"


def test_the_beam_layer_imports_nothing_from_llm_or_tts():
    for path in sorted(BEAM.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                assert not name.startswith(("pipeline.llm", "pipeline.tts")), f"{path.name} imports {name}"
