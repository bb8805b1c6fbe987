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


@pytest.fixture(scope="session")
def hf_tokenizer_file(tmp_path_factory) -> str:
    """A real byte-level BPE tokenizer.json, trained here on a little text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = ["Natalia sold 48 clips in April and 24 clips in May, 72 in all.",
              "The answer is seventy-two. Let me think this through, step by step.",
              "She pays 12 dollars and 50 cents; the discount is 25 percent."] * 20
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer)
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    tokenizer.save(str(path))
    return str(path)


@pytest.fixture(scope="session")
def math_path() -> Path:
    path = SHARED_DATA / "math" / "sample.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is not here (it lives in ../shared beside the checkout)")
    return path
