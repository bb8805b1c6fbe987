from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def gsm8k_path() -> Path:
    path = SHARED_DATA / "gsm8k" / "train.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is not here (it lives in ../shared beside the checkout)")
    return path


@pytest.fixture(scope="session")
def config():
    from pipeline.config import BuildConfig

    return BuildConfig()


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    from tests.built_dataset import build_small_dataset

    return build_small_dataset(tmp_path_factory.mktemp("small_dataset"))
