"""Stream training sequences from Parquet shards.

A sequence is the spoken question's tokens followed by the interleaved response and
reasoning tokens; the loss covers the interleaved part only (pads and EOS included: the
model must learn when to wait). A row can be re-interleaved for another ratio or
tokenizer with the pipeline's own interleaver.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.dataset as ds
import torch

from pipeline.stages.interleave import interleave

COLUMNS = ["id", "question", "problem", "reasoning", "response", "checks", "question_ids",
           "interleaved_ids", "p", "q", "tokenizer"]


@dataclass(frozen=True)
class Example:
    ids: list[int]
    loss_mask: list[int]


def shard_files(data_dir: str | Path) -> list[str]:
    files = sorted(str(p) for p in Path(data_dir).glob("data/train-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no data/train-*.parquet shards under {data_dir}")
    return files


def iter_rows(data_dir: str | Path, batch_size: int = 256) -> Iterator[dict]:
    """Rows of every shard, read in batches (never the whole dataset in memory)."""
    dataset = ds.dataset(shard_files(data_dir), format="parquet")
    for batch in dataset.to_batches(columns=COLUMNS, batch_size=batch_size):
        yield from batch.to_pylist()


def to_example(row: dict, p: int | None = None, q: int | None = None,
               tokenizer: str | None = None) -> Example:
    """Question ids then interleaved ids; re-interleaved when p, q or tokenizer differ."""
    if (p, q, tokenizer) != (None, None, None):
        row = interleave(row, tokenizer or row["tokenizer"], p or row["p"],
                         q or row["q"], 50.0)
    question, interleaved = row["question_ids"], row["interleaved_ids"]
    return Example(question + interleaved, [0] * len(question) + [1] * len(interleaved))


class Vocab:
    """Dense ids for the token ids a dataset uses, so a model trained from scratch needs an
    embedding table of the data's size, not the tokenizer's 151,936 rows."""

    UNKNOWN = 0

    def __init__(self, token_ids: list[int]) -> None:
        self.token_ids = sorted(set(token_ids))
        self._index = {t: i + 1 for i, t in enumerate(self.token_ids)}

    def __len__(self) -> int:
        return len(self.token_ids) + 1

    def encode(self, ids: list[int]) -> list[int]:
        return [self._index.get(i, self.UNKNOWN) for i in ids]

    def decode(self, dense: list[int]) -> list[int]:
        return [self.token_ids[i - 1] for i in dense if i > 0]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.token_ids))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        return cls(json.loads(path.read_text()))

    @classmethod
    def scan(cls, examples: list[Example]) -> Vocab:
        return cls([t for e in examples for t in e.ids])


def batches(examples: list[Example], vocab: Vocab, batch_size: int, block: int,
            generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (inputs, targets) batches; targets are -100 where the loss is masked."""
    while True:
        order = torch.randperm(len(examples), generator=generator).tolist()
        for start in range(0, len(order) - batch_size + 1, batch_size):
            chosen = [examples[i] for i in order[start:start + batch_size]]
            inputs = torch.zeros(batch_size, block, dtype=torch.long)
            targets = torch.full((batch_size, block), -100, dtype=torch.long)
            for row, example in enumerate(chosen):
                ids = vocab.encode(example.ids)[: block + 1]
                mask = example.loss_mask[: block + 1]
                length = len(ids) - 1
                inputs[row, :length] = torch.tensor(ids[:-1])
                targets[row, :length] = torch.tensor(
                    [t if m else -100 for t, m in zip(ids[1:], mask[1:], strict=True)])
            yield inputs, targets
