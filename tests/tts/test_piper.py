"""Piper through the real ``piper-tts`` loading and phonemizing code, on a voice generated
here: a tiny ONNX graph with Piper's inputs and outputs that sings a tone per phoneme."""

import json

import numpy as np
import pytest

from pipeline.config import BuildConfig
from pipeline.tts import make_engine
from pipeline.tts.voice import TTSError, Voice

onnx = pytest.importorskip("onnx")
pytest.importorskip("piper")

HOP, RATE = 768, 16000


@pytest.fixture(scope="module")
def voice_path(tmp_path_factory) -> str:
    """input [1, N] ids, input_lengths [1], scales [3] -> audio [1, 1, N * HOP]."""
    from onnx import TensorProto, helper, numpy_helper
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    ramp = numpy_helper.from_array((np.arange(HOP, dtype=np.float32) / RATE)[None, None, :], "ramp")
    pitch = numpy_helper.from_array(np.array(2 * np.pi * 4.0, dtype=np.float32), "pitch")
    shape = numpy_helper.from_array(np.array([1, 1, -1], dtype=np.int64), "shape")
    axes = numpy_helper.from_array(np.array([2], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Cast", ["input"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids", "axes"], ["column"]),
        helper.make_node("Mul", ["column", "ramp"], ["time"]),
        helper.make_node("Mul", ["time", "pitch"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Reshape", ["wave", "shape"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "tone_voice",
        [helper.make_tensor_value_info("input", TensorProto.INT64, [1, None]),
         helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, None])],
        [ramp, pitch, shape, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = tmp_path_factory.mktemp("piper")
    path = folder / "tone.onnx"
    onnx.save(model, path)
    config = {"audio": {"sample_rate": RATE}, "espeak": {"voice": "en-us"}, "num_symbols": 256,
              "num_speakers": 1, "phoneme_id_map": DEFAULT_PHONEME_ID_MAP}
    (folder / "tone.onnx.json").write_text(json.dumps(config))
    return str(path)


def test_a_piper_voice_renders_deterministic_samples(voice_path):
    engine = make_engine(BuildConfig(tts="piper", question_voices=(voice_path,)))
    voice = Voice(voice_path, engine="piper")
    first = engine.synthesize("Natalia sold 48 clips in April.", voice)
    assert first.dtype == np.int16 and first.size > engine.sample_rate
    assert np.array_equal(first, engine.synthesize("Natalia sold 48 clips in April.", voice))


def test_a_build_speaks_with_piper_voices(voice_path, tmp_path):
    from pipeline.cli import run

    summary = run(["--source", "generate:4", "--output", str(tmp_path), "--tts", "piper",
                   "--voices", voice_path])
    assert summary["inputs"] == 4 == summary["outputs"] + summary["rejects"]
    assert summary["outputs"] == 4, summary["rejects_by_reason"]


def test_a_missing_voice_is_a_reason(tmp_path):
    engine = make_engine(BuildConfig(tts="piper"))
    with pytest.raises(TTSError) as failed:
        engine.synthesize("Hello.", Voice(str(tmp_path / "none.onnx"), engine="piper"))
    assert failed.value.reason == "tts_unavailable"
