"""``--tts none``: a text-only build, the same rows as a build with speech minus the audio."""

import json

import pytest

import schemas
from pipeline.cli import run
from pipeline.dataset.arrow import audio_columns
from pipeline.dataset.shards import dataset_rows
from pipeline.export import export

SPEECH_CHECKS = {"audio", "asr_wer"}


@pytest.fixture(scope="module")
def text_only(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text") / "out"
    run(["--source", "generate:48", "--output", str(folder), "--num_shards", "2", "--tts", "none",
         "--no_progress"])
    return folder


def test_a_text_only_build_has_every_row_and_column_but_the_audio(text_only, small_dataset):
    with_speech = {row["id"]: row for row in dataset_rows(small_dataset)}
    rows = list(dataset_rows(text_only))
    assert len(rows) == len(with_speech) == 48
    for row in rows:
        assert schemas.first_error("interleave", row) is None
        spoken = with_speech[row["id"]]
        assert set(spoken) - set(row) == audio_columns()
        for name, value in row.items():
            if name == "checks":
                assert value == {k: v for k, v in spoken["checks"].items() if k not in SPEECH_CHECKS}
            elif name == "provenance":  # says which speech engine ran: none
                assert value == {**spoken["provenance"], "tts": "none"}
            else:
                assert value == spoken[name], name
    summary = json.loads((text_only / "summary.json").read_text())
    assert "audio_hours" not in summary["totals"] and "question_seconds" not in summary["stats"]
    card = (text_only / "README.md").read_text()
    assert "text-only build" in card and "dtype: audio" not in card and "soundfile" not in card


def test_a_text_only_export_asks_in_text(text_only, tmp_path):
    target = export(text_only, tmp_path / "lf", "llamafactory")
    sample = json.loads(target.read_text().splitlines()[0])
    assert "audios" not in sample and "<audio>" not in sample["messages"][0]["content"]
    assert sample["messages"][0]["content"].endswith("?")
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())["spoken_math"]
    assert info["columns"] == {"messages": "messages"} and not (tmp_path / "lf" / "audio").exists()


def test_the_trainer_says_which_stages_need_audio(text_only, tmp_path):
    from training.train import main

    with pytest.raises(SystemExit, match="stage 1 .* needs question_audio"):
        main(["--data", str(text_only), "--out", str(tmp_path / "train"), "--stages", "1-5"])
