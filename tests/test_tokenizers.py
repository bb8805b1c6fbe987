import pytest

from pipeline.tokenizers import SPECIAL_NAMES, load_tokenizer

TEXT = "Natalia sold 48 clips, café ≥ 3½ — then 24 more.\nSo 72."


@pytest.fixture(params=["qwen2.5", "cl100k", "hf"])
def tokenizer(request, hf_tokenizer_file):
    return load_tokenizer(f"hf:{hf_tokenizer_file}" if request.param == "hf" else request.param)


def test_round_trip_and_ends(tokenizer):
    ids, ends = tokenizer.encode_with_ends(TEXT)
    assert ids == tokenizer.encode(TEXT)
    assert tokenizer.decode(ids) == TEXT
    assert ends == sorted(ends) and ends[-1] == len(TEXT)
    for i in range(len(ids)):
        decoded = tokenizer.decode(ids[: i + 1])
        if "\ufffd" not in decoded:  # a character cut between tokens decodes as U+FFFD
            assert decoded == TEXT[: ends[i]]


def test_special_tokens_never_collide_with_text(tokenizer):
    special = set(tokenizer.special.as_dict().values())
    assert len(special) == 3
    assert not special & set(tokenizer.encode(TEXT + " " + " ".join(SPECIAL_NAMES)))


def test_qwen_ids_match_qwen2():
    qwen = load_tokenizer("qwen2.5")
    assert qwen.encode("Hello") == [9707]
    assert qwen.encode(" 48") == [220, 19, 23]  # one token per digit
    assert qwen.special.as_dict() == {"<|response_pad|>": 151665, "<|reasoning_pad|>": 151666,
                                      "<|response_end|>": 151667}


def test_unknown_tokenizer_is_refused():
    with pytest.raises(ValueError):
        load_tokenizer("nope")
