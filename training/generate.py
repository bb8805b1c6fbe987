"""Talk to a checkpoint: decode with the KV cache, split the streams, speak the response.

    python -m training generate CKPT --question "How much is seven times six?"
    python -m training generate CKPT --audio question.wav --wav response.wav

The Thinker's output is demultiplexed by the pipeline's own inverse of its layouts; the
spoken response and the silent reasoning are printed apart, and the Talker's mel frames
for the response tokens are turned into a WAV by Griffin-Lim.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.stages.interleave import REASONING, RESPONSE, demultiplex
from pipeline.tokenizers import load_tokenizer
from training.audio import MelConfig, resample, write_wav
from training.data import Vocab
from training.train import build_model, load_checkpoint, mel_config


@dataclass
class Generation:
    ids: list[int]        # tokenizer ids, pads and EOS included
    labels: list[int]     # stream of each id
    response: str
    reasoning: str
    mel: torch.Tensor     # (frames, n_mels) the Talker's response audio
    seconds_per_token: float


class Speaker:
    """A trained checkpoint, ready to answer questions."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu") -> None:
        path = Path(checkpoint)
        file = path / "last.pt" if path.is_dir() else path
        state = load_checkpoint(file)
        self.recipe, self.device = state["recipe"], device
        self.vocab = Vocab.from_json(state["vocab"])
        self.tokenizer = load_tokenizer(state["tokenizer"])
        self.mel: MelConfig = mel_config(self.recipe)
        self.model = build_model(self.recipe, self.vocab, state["p"] + state["q"]).to(device).eval()
        self.model.load_state_dict(state["model"])
        self.layout, self.p, self.q = self.recipe["layout"], state["p"], state["q"]

    def _prefix(self, question: str | None, audio: torch.Tensor | None) -> torch.Tensor:
        markers = [self.vocab.markers["<|question_end|>"], self.vocab.markers["<|answer|>"]]
        if audio is None:
            ids = self.vocab.encode(self.tokenizer.encode(question or "")) + markers
            return self.model.thinker.embed(torch.tensor([ids], device=self.device))
        features = self.mel.log_mel(audio)[None].to(self.device)
        heard, _ = self.model.hear(features, torch.tensor([features.shape[1]], device=self.device))
        tail = self.model.thinker.embed(torch.tensor([markers], device=self.device))
        return torch.cat([heard, tail], dim=1)

    def _barred(self) -> torch.Tensor:
        """Ids greedy decoding never emits: the batch pad, the unknown id and the markers
        (none is a token of the tokenizer, so none can stand in a stream)."""
        barred = torch.zeros(len(self.vocab), dtype=torch.bool)
        barred[list(self.vocab.markers.values())] = True
        if not self.vocab.identity_size:
            barred[[Vocab.PAD, Vocab.UNKNOWN]] = True
        return barred.to(self.device)

    @torch.no_grad()
    def answer(self, question: str | None = None, audio: torch.Tensor | None = None,
               max_tokens: int = 400, constrain_slots: bool = False) -> Generation:
        """Greedy decoding until EOS (or ``max_tokens``), with the KV cache. With
        ``constrain_slots`` (``tis``), a response slot cannot take the reasoning pad nor a
        reasoning slot the response pad, so every pad lands in its own stream's slot."""
        special = self.tokenizer.special
        eos, response_pad, reasoning_pad = self.vocab.encode([special.eos, special.response_pad,
                                                              special.reasoning_pad])
        cycle = self.p + self.q
        barred = self._barred()
        by_slot = [barred.clone() for _ in range(cycle)]
        if constrain_slots and self.layout == "tis":
            for slot, bars in enumerate(by_slot):
                bars[reasoning_pad if slot < self.p else response_pad] = True
        slotted = bool(getattr(getattr(self.model.thinker, "config", None), "cycle", 0))
        prefix = self._prefix(question, audio)
        if slotted:  # the last prefix position predicts the layout's first slot
            prefix[:, -1] += self.model.thinker.slots.weight[1]
        start = prefix.shape[1]
        positions = torch.arange(start, device=self.device)[None]
        hidden, logits, cache = self.model.thinker(prefix, positions=positions)
        dense, states, seen = [], list(hidden[0]), [0, 0]
        for _ in range(max_tokens):
            scores = logits[0, -1].float().masked_fill(by_slot[len(dense) % cycle], -torch.inf)
            token = int(scores.argmax())
            side = int(len(dense) % cycle >= self.p)  # its position counts within its side
            position = torch.tensor([[start + seen[side]]], device=self.device)
            seen[side] += 1
            dense.append(token)
            if token == eos:
                break
            slot = torch.tensor([[1 + len(dense) % cycle]], device=self.device) if slotted else None
            hidden, logits, cache = self.model.thinker(
                self.model.thinker.embed(torch.tensor([[token]], device=self.device), slot), cache=cache,
                positions=position)
            states.append(hidden[0, -1])
        ids = self.vocab.decode(dense)
        labels = demultiplex(ids, self.layout, self.p, self.q, special)
        response = [t for t, s in zip(ids, labels, strict=True) if s == RESPONSE]
        reasoning = [t for t, s in zip(ids, labels, strict=True) if s == REASONING]
        speaking = [start + i for i, s in enumerate(labels[:len(states) - start]) if s == RESPONSE]
        if speaking:
            mask = torch.zeros(1, len(states), dtype=torch.bool, device=self.device)
            mask[0, speaking] = True
            frames = self.model.talker(torch.stack(states)[None], mask)[0, speaking]
            mel = frames.reshape(-1, self.mel.n_mels).float().cpu()
        else:
            mel = torch.zeros(0, self.mel.n_mels)
        return Generation(ids, labels, self.tokenizer.decode(response), self.tokenizer.decode(reasoning), mel,
                          self.recipe["talker"]["frames_per_token"] * self.mel.frame_seconds)

    def speak(self, generation: Generation) -> torch.Tensor:
        if len(generation.mel) < 2:
            return torch.zeros(0)
        return self.mel.griffin_lim(generation.mel)


def main(argv: list[str] | None = None) -> Generation:
    ap = argparse.ArgumentParser(prog="python -m training generate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a checkpoint file, or a training folder (its last.pt)")
    given = ap.add_mutually_exclusive_group(required=True)
    given.add_argument("--question", help="the spoken-style question, as text")
    given.add_argument("--audio", help="the question as a WAV or FLAC file")
    ap.add_argument("--wav", default="response.wav", help="where to write the spoken response")
    ap.add_argument("--max_tokens", type=int, default=400)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    speaker = Speaker(args.checkpoint, args.device)
    audio = None
    if args.audio:
        from training.audio import decode

        wave, rate = decode(Path(args.audio).read_bytes())
        audio = resample(wave, rate, speaker.mel.sample_rate)
    generation = speaker.answer(args.question, audio, args.max_tokens)
    print(f"spoken response: {generation.response}")
    print(f"silent reasoning: {generation.reasoning}")
    wave = speaker.speak(generation)
    write_wav(args.wav, wave, speaker.mel.sample_rate)
    print(f"response audio: {args.wav} ({wave.numel() / speaker.mel.sample_rate:.1f} s)")
    return generation
