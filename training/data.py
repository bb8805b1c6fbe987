"""Training examples from the pipeline's Parquet shards, streamed in batches.

A sequence is a question (its tokens, or its audio heard through the adapter), an
explicit ``<|question_end|>`` marker, a task marker saying what follows, then the target:
the question's transcript (stage 1), the worked solution (stage 2) or the response and
reasoning in one of three layouts made by the pipeline's own interleaver (stages 3-5).
Rows are read with pyarrow batch by batch through a seeded shuffle buffer, so the whole
dataset is never in memory and a resumed run sees exactly the batches it would have.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F

from pipeline.dataset.shards import read_rows
from pipeline.stages.interleave import EOS, REASONING, RESPONSE, STREAM_NAMES, arrange
from pipeline.tokenizers import load_tokenizer
from training.audio import MelConfig

TEXT = len(STREAM_NAMES)  # the label of a target token outside an interleaved stream
WEIGHT_NAMES = (*STREAM_NAMES, "text")
MARKERS = ("<|question_end|>", "<|transcript|>", "<|solution|>", "<|answer|>")
TEXT_COLUMNS = ["id", "question_ids", "reasoning", "response", "tokenizer", "p", "q"]
LIGHT_COLUMNS = ["id", "question_ids", "interleaved_ids"]


def is_holdout(record_id: str, fraction: float) -> bool:
    """A fixed share of records, chosen by id, never seen in training."""
    return int(hashlib.sha256(record_id.encode()).hexdigest()[:8], 16) / 2**32 < fraction


class Vocab:
    """Dense ids for a from-scratch model: 0 pads a batch, 1 is unknown, then the markers,
    then every token id the dataset uses, so the embedding table has the data's size, not
    the tokenizer's 151,936 rows. ``identity`` keeps a pretrained model's own ids and puts
    the markers after them."""

    PAD, UNKNOWN = 0, 1

    def __init__(self, token_ids: list[int], identity_size: int = 0) -> None:
        self.identity_size = identity_size
        self.token_ids = sorted(set(token_ids))
        if identity_size:
            self.markers = {m: identity_size + i for i, m in enumerate(MARKERS)}
            self._index = None
        else:
            self.markers = {m: 2 + i for i, m in enumerate(MARKERS)}
            self._index = {t: i + 2 + len(MARKERS) for i, t in enumerate(self.token_ids)}
            self._tokens = {i: t for t, i in self._index.items()}

    def __len__(self) -> int:
        if self.identity_size:
            return self.identity_size + len(MARKERS)
        return 2 + len(MARKERS) + len(self.token_ids)

    def encode(self, ids: list[int]) -> list[int]:
        if self._index is None:
            return list(ids)
        return [self._index.get(i, self.UNKNOWN) for i in ids]

    def decode(self, dense: list[int]) -> list[int]:
        """Token ids back, markers and unknowns left out."""
        if self._index is None:
            return [i for i in dense if i < self.identity_size]
        return [self._tokens[i] for i in dense if i in self._tokens]

    def token(self, dense: int) -> int | None:
        """The token id of one dense id; None for a marker, the pad or an unknown token."""
        if self._index is None:
            return dense if dense < self.identity_size else None
        return self._tokens.get(dense)

    def special_rows(self, tokenizer_name: str) -> list[int]:
        """Dense ids of the markers and of the tokenizer's pads and EOS: the rows stage 1 trains."""
        special = load_tokenizer(tokenizer_name).special
        tokens = [special.response_pad, special.reasoning_pad, special.eos]
        return [*self.markers.values(), *self.encode(tokens)]

    def to_json(self) -> dict:
        return {"token_ids": self.token_ids, "identity_size": self.identity_size}

    @classmethod
    def from_json(cls, data: dict) -> Vocab:
        return cls(data["token_ids"], data["identity_size"])

    @classmethod
    def scan(cls, files: list[str]) -> Vocab:
        """Every token id of the dataset, read a batch at a time."""
        seen: set[int] = set()
        for row in read_rows(files, LIGHT_COLUMNS):
            seen.update(row["question_ids"])
            seen.update(row["interleaved_ids"])
        return cls(sorted(seen))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()))


@dataclass
class Example:
    """One sequence: optional question audio, then token ids (dense) with per-token stream
    labels; ``first_target`` is where the predicted part starts."""

    row_id: str
    audio: dict | None
    ids: list[int]
    labels: list[int]
    first_target: int
    response_audio: dict | None = None
    sentence_times: list[dict] = field(default_factory=list)
    sentence_of_token: list[int] = field(default_factory=list)
    cycle: int = 0  # p + q where the target is the p:q layout, whose slots say each token's stream
    p: int = 0      # response slots of a cycle
    digits: list[int] | None = None  # digit_kinds, where measured (held-out rows)
    question_ids: list[int] = field(default_factory=list)  # tokenizer ids of the question's text

    def positions(self) -> list[int]:
        """Rotary position of each input: its index up to the layout; within the p:q layout,
        where the layout starts plus the token's index among its own slots (response or
        reasoning), so each stream reads as contiguous as it does alone."""
        out = list(range(min(self.first_target, len(self.ids)) if self.cycle else len(self.ids)))
        seen = [0, 0]
        for j in range(len(self.ids) - len(out)):
            side = int(j % self.cycle >= self.p)
            out.append(self.first_target + seen[side])
            seen[side] += 1
        return out

    def next_slots(self) -> list[int]:
        """For each input position, the slot (1 to ``cycle``) of the token it predicts; 0
        outside the layout."""
        return [1 + (t + 1 - self.first_target) % self.cycle if self.cycle and t + 1 >= self.first_target
                else 0 for t in range(len(self.ids))]


@dataclass(frozen=True)
class Task:
    """What a stage asks of a row: ``transcribe``, ``solve``, ``speak`` (a layout), or
    ``talk`` (a layout, with the response audio as the Talker's target); and how the
    question comes in: ``text``, ``audio`` or ``mixed`` (chosen per row, fixed by its id)."""

    kind: str
    question: str
    layout: str = "tis"

    @property
    def needs(self) -> list[str]:
        columns = list(TEXT_COLUMNS)
        if self.question != "text" or self.kind == "transcribe":
            columns.append("question_audio")
        if self.kind == "talk":
            columns += ["response_audio", "response_sentence_times"]
        return columns


def hears(task: Task, row_id: str) -> bool:
    if task.kind == "transcribe" or task.question == "audio":
        return True
    return task.question == "mixed" and int(hashlib.sha256(row_id.encode()).hexdigest()[-1], 16) % 2 == 1


def make_example(row: dict, task: Task, vocab: Vocab) -> Example:
    """The sequence a row gives for a task (no audio decoded yet)."""
    layout, response = arrange(row, row["tokenizer"], task.layout, row["p"], row["q"])
    eos = layout.ids[-1]
    heard = hears(task, row["id"])
    audio = row.get("question_audio") if heard else None
    if heard and not (audio and audio.get("bytes")):
        raise ValueError(f"row {row['id']} has no question audio")
    question = [] if audio is not None else row["question_ids"]
    if task.kind == "transcribe":
        marker, target = "<|transcript|>", [*row["question_ids"], eos]
        labels = [TEXT] * len(row["question_ids"]) + [EOS]
    elif task.kind == "solve":
        target = [t for t, s in zip(layout.ids, layout.streams, strict=True) if s == REASONING] + [eos]
        marker, labels = "<|solution|>", [TEXT] * (len(target) - 1) + [EOS]
    else:
        marker, target, labels = "<|answer|>", layout.ids, layout.streams
    prefix = vocab.encode(question) + [vocab.markers["<|question_end|>"], vocab.markers[marker]]
    cycle = row["p"] + row["q"] if task.layout == "tis" and task.kind in ("speak", "talk") else 0
    example = Example(row["id"], audio, prefix + vocab.encode(target), [TEXT] * len(prefix) + list(labels),
                      len(prefix), cycle=cycle, p=row["p"], question_ids=row["question_ids"])
    if task.kind == "talk":
        example.response_audio = row["response_audio"]
        example.sentence_times = row["response_sentence_times"]
        example.sentence_of_token = [i for i, piece in enumerate(response.pieces) for _ in piece]
    return example


DIGIT_KINDS = ("operand", "result", "response_number")  # codes 1, 2, 3; 0: not a digit


def digit_kinds(example: Example, vocab: Vocab, tokenizer) -> list[int]:
    """For each position of an example, what its token is if it is a digit of a number:
    1 a reasoning operand (the number is in the question), 2 a reasoning result (it is
    not: the model computed it), 3 a number of the spoken response; else 0. Numbers are
    runs of digit tokens within one stream, so a slot boundary inside a number is no break."""
    ids = [vocab.token(t) for t in example.ids[example.first_target:]]  # None: no token (unknown)
    streams = example.labels[example.first_target:]
    question_ids = example.question_ids
    digit = {t: t is not None and tokenizer.decode([t]).isdigit() for t in {*ids, *question_ids}}
    kinds = [0] * len(example.ids)
    asked = {text for text, _ in _numbers(question_ids, list(range(len(question_ids))), digit, tokenizer)}
    for stream in (REASONING, RESPONSE):  # a worked solution's text (stage 2) is reasoning
        positions = [i for i, s in enumerate(streams) if s == stream or (stream == REASONING and s == TEXT)]
        for text, run in _numbers([ids[i] for i in positions], positions, digit, tokenizer):
            kind = 3 if stream == RESPONSE else 1 if text in asked else 2
            for i in run:
                kinds[example.first_target + i] = kind
    return kinds


def _numbers(ids: list[int], positions: list[int], digit: dict[int, bool], tokenizer):
    """(number text, its positions) for each maximal run of digit tokens."""
    run: list[int] = []
    for index, token in enumerate([*ids, None]):
        if token is not None and digit[token]:
            run.append(index)
            continue
        if run:
            yield tokenizer.decode([ids[i] for i in run]), [positions[i] for i in run]
            run = []


@dataclass
class Batch:
    inputs: torch.Tensor          # (B, T) dense ids; 0 at audio and padding positions
    targets: torch.Tensor         # (B, T) the next token, -100 where nothing is predicted
    weights: torch.Tensor         # (B, T) loss weight of each target
    heard: torch.Tensor           # (B, T) True where the input is a question audio frame
    features: torch.Tensor | None  # (B, F, n_mels) question log-mel, padded
    frames: torch.Tensor | None    # (B,) real feature frames per row
    speaking: torch.Tensor | None = None     # (B, T) input is a response token (Talker)
    mel_targets: torch.Tensor | None = None  # (B, T, K, n_mels)
    truncated: int = 0
    slots: torch.Tensor | None = None  # (B, T) the slot each input predicts (Example.next_slots)
    digits: torch.Tensor | None = None  # (B, T) digit_kinds of each target, where measured
    positions: torch.Tensor | None = None  # (B, T) rotary positions (Example.positions)

    def to(self, device: str) -> Batch:
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in vars(self).items()}
        return Batch(**moved)


def _token_frames(mel: torch.Tensor, example: Example, frames_per_token: int, seconds: float) -> torch.Tensor:
    """K mel frames for each response token: each sentence's span of the response audio,
    shared evenly among its tokens."""
    per_sentence: dict[int, int] = {}
    for s in example.sentence_of_token:
        per_sentence[s] = per_sentence.get(s, 0) + 1
    seen: dict[int, int] = {}
    out = []
    for s in example.sentence_of_token:
        j, n = seen.get(s, 0), per_sentence[s]
        seen[s] = j + 1
        times = example.sentence_times[min(s, len(example.sentence_times) - 1)]
        span = times["end"] - times["start"]
        first = int((times["start"] + span * j / n) / seconds)
        last = max(first + 1, int((times["start"] + span * (j + 1) / n) / seconds))
        piece = mel[min(first, len(mel) - 1):min(last, len(mel))]
        out.append(F.interpolate(piece.T[None], size=frames_per_token, mode="linear")[0].T)
    return torch.stack(out) if out else torch.zeros(0, frames_per_token, mel.shape[1])


def collate(examples: list[Example], weights: dict[str, float], block: int, mel: MelConfig,
            frames_per_token: int) -> Batch:
    """Pad a list of examples into tensors; audio is decoded here, only for batches used."""
    weight_of = torch.tensor([weights[name] for name in WEIGHT_NAMES])
    features = [mel.features(e.audio) if e.audio is not None else None for e in examples]
    slots = [0 if f is None else -(-len(f) // 8) for f in features]
    lengths = [s + len(e.ids) - 1 for s, e in zip(slots, examples, strict=True)]
    width = min(block, max(lengths))
    batch = len(examples)
    inputs = torch.zeros(batch, width, dtype=torch.long)
    slot_ids = torch.zeros(batch, width, dtype=torch.long)
    positions = torch.arange(width).repeat(batch, 1)
    digits = torch.zeros(batch, width, dtype=torch.long) if examples[0].digits is not None else None
    targets = torch.full((batch, width), -100, dtype=torch.long)
    loss_weights = torch.zeros(batch, width)
    heard = torch.zeros(batch, width, dtype=torch.bool)
    talking = examples[0].response_audio is not None
    speaking = torch.zeros(batch, width, dtype=torch.bool) if talking else None
    mel_targets = torch.zeros(batch, width, frames_per_token, mel.n_mels) if talking else None
    truncated = 0
    for b, (example, slot) in enumerate(zip(examples, slots, strict=True)):
        ids = torch.tensor(example.ids)
        labels = torch.tensor(example.labels)
        slot = min(slot, width)
        keep = max(0, min(len(ids) - 1, width - slot))
        truncated += keep < len(ids) - 1
        heard[b, :slot] = True
        inputs[b, slot:slot + keep] = ids[:keep]
        slot_ids[b, slot:slot + keep] = torch.tensor(example.next_slots()[:keep], dtype=torch.long)
        positions[b, slot:slot + keep] = slot + torch.tensor(example.positions()[:keep], dtype=torch.long)
        if digits is not None:
            digits[b, slot:slot + keep] = torch.tensor(example.digits[1:keep + 1], dtype=torch.long)
        predicted = torch.arange(1, keep + 1) >= example.first_target
        targets[b, slot:slot + keep] = torch.where(predicted, ids[1:keep + 1], -100)
        loss_weights[b, slot:slot + keep] = torch.where(predicted, weight_of[labels[1:keep + 1]], 0.0)
        if talking:
            response_at = torch.nonzero(labels[:keep] == RESPONSE).flatten()
            frames = _token_frames(mel.features(example.response_audio), example, frames_per_token,
                                   mel.frame_seconds)
            speaking[b, slot + response_at] = True
            mel_targets[b, slot + response_at] = frames[:len(response_at)]
    padded = [f for f in features if f is not None]
    if padded:
        stacked = torch.zeros(batch, max(len(f) for f in padded), mel.n_mels)
        for b, f in enumerate(features):
            if f is not None:
                stacked[b, :len(f)] = f
        frames = torch.tensor([0 if f is None else len(f) for f in features])
    else:
        stacked = frames = None
    return Batch(inputs, targets, loss_weights, heard, stacked, frames, speaking, mel_targets, truncated,
                 slot_ids, digits, positions)


class RowStream:
    """Rows of the training (or held-out) share, in a seeded order per epoch: shard order
    shuffled, then a shuffle buffer over rows. ``held_out`` rows come in file order."""

    def __init__(self, files: list[str], columns: list[str], holdout: float, held_out: bool,
                 seed: int, buffer: int = 256) -> None:
        self.files, self.columns, self.holdout = files, columns, holdout
        self.held_out, self.seed, self.buffer = held_out, seed, buffer

    def _rows(self, files: list[str]) -> Iterator[dict]:
        for row in read_rows(files, self.columns):
            if is_holdout(row["id"], self.holdout) == self.held_out:
                yield row

    def epoch(self, number: int) -> Iterator[dict]:
        if self.held_out:
            yield from self._rows(self.files)
            return
        order = random.Random(f"{self.seed}:{number}")
        files = list(self.files)
        order.shuffle(files)
        pool: list[dict] = []
        for row in self._rows(files):
            pool.append(row)
            if len(pool) >= self.buffer:
                yield pool.pop(order.randrange(len(pool)))
        order.shuffle(pool)
        yield from pool


def example_batches(stream: RowStream, task: Task, vocab: Vocab, batch_size: int, epoch: int = 0,
                    skip: int = 0, endless: bool = True) -> Iterator[tuple[int, int, list[Example], int]]:
    """(epoch, batch index in it, examples, rows skipped as unusable), from a position:
    ``skip`` batches of ``epoch`` are passed over without decoding any audio."""
    while True:
        chosen, index, unusable = [], 0, 0
        for row in stream.epoch(epoch):
            try:
                chosen.append(make_example(row, task, vocab))
            except ValueError:
                unusable += 1
                continue
            if len(chosen) == batch_size:
                if index >= skip:
                    yield epoch, index, chosen, unusable
                    unusable = 0
                chosen, index = [], index + 1
        if chosen and not endless and index >= skip:
            yield epoch, index, chosen, unusable
        if not endless:
            return
        if index == 0:
            raise ValueError(f"fewer usable rows than one batch of {batch_size} for {task.kind}")
        epoch, skip = epoch + 1, 0


def prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """The same items in the same order, made ``depth`` ahead on a thread, so reading,
    arranging and decoding the next batches overlaps the model's step (torch releases the
    GIL). Closing the consumer stops the thread and waits for it: a thread left inside
    torch while the interpreter exits aborts the process."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def offer(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fill() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            offer((done, error))
            return
        offer((done, None))

    worker = threading.Thread(target=fill, daemon=True)
    worker.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()
