"""``datasets`` decodes both audio columns of a built dataset (through torchcodec, which
needs ffmpeg's libraries: .ci/run installs both)."""

import os

import pytest


def _torchcodec():
    try:
        import torchcodec.decoders  # noqa: F401  (loads ffmpeg's libraries)
    except (ImportError, OSError, RuntimeError) as error:
        if os.environ.get("REQUIRE_AUDIO_DECODING"):
            raise
        pytest.skip(f"torchcodec cannot load here ({type(error).__name__}); .ci/run installs it with ffmpeg")


def test_datasets_decodes_both_audio_columns_at_their_rates(small_dataset):
    _torchcodec()
    import datasets

    dataset = datasets.load_dataset("parquet", data_dir=str(small_dataset), split="train")
    for row in dataset.select(range(6)):
        for column in ("question", "response"):
            decoded = row[f"{column}_audio"]
            samples = decoded.get_all_samples()
            assert samples.sample_rate == row[f"{column}_sampling_rate"]
            assert samples.data.shape[0] == 1  # mono
            seconds = samples.data.shape[1] / samples.sample_rate
            assert seconds == pytest.approx(row[f"{column}_duration"], abs=1e-3)
            assert float(samples.data.abs().max()) > 0.01
