"""The training recipe: textual thinking-in-speaking (question -> interleaved stream).

One recipe class with ``setup``, ``train`` and ``save_checkpoint`` (torchtune's shape);
a rerun with the same ``--out`` resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from training.data import Vocab, batches, iter_rows, to_example
from training.model import ModelConfig, Thinker


@dataclass
class TrainConfig:
    data: str
    out: str
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    block: int = 384
    layers: int = 2
    heads: int = 4
    width: int = 128
    seed: int = 0
    holdout: float = 0.1
    eval_every: int = 50
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    p: int | None = None
    q: int | None = None
    tokenizer: str | None = None


def is_holdout(record_id: str, fraction: float) -> bool:
    """A fixed share of records, chosen by id, never seen in training."""
    return int(hashlib.sha256(record_id.encode()).hexdigest()[:8], 16) / 2**32 < fraction


class Recipe:
    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.out = Path(config.out)
        self.step = 0

    def setup(self) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        train, held = [], []
        for row in iter_rows(cfg.data):
            example = to_example(row, cfg.p, cfg.q, cfg.tokenizer)
            (held if is_holdout(row["id"], cfg.holdout) else train).append(example)
        if len(train) < cfg.batch_size:
            raise ValueError(f"{len(train)} training rows, fewer than one batch of {cfg.batch_size}")
        self.train_examples, self.holdout_examples = train, held
        checkpoint = self.out / "checkpoint.pt"
        self.vocab = (Vocab.load(self.out / "vocab.json") if checkpoint.exists()
                      else Vocab.scan(train + held))
        self.model_config = ModelConfig(len(self.vocab), cfg.block, cfg.layers, cfg.heads, cfg.width)
        self.model = Thinker(self.model_config).to(cfg.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.01)
        if checkpoint.exists():
            state = torch.load(checkpoint, map_location=cfg.device)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = state["step"]
        self.generator = torch.Generator().manual_seed(cfg.seed + self.step)

    def learning_rate(self) -> float:
        """Linear warm-up, then cosine decay to a tenth."""
        cfg = self.config
        warmup = max(1, cfg.steps // 20)
        if self.step < warmup:
            return cfg.lr * (self.step + 1) / warmup
        progress = (self.step - warmup) / max(1, cfg.steps - warmup)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    @torch.no_grad()
    def holdout_loss(self) -> float | None:
        if not self.holdout_examples:
            return None
        self.model.eval()
        stream = batches(self.holdout_examples, self.vocab, min(len(self.holdout_examples), 16),
                         self.config.block, torch.Generator().manual_seed(0))
        inputs, targets = next(stream)
        _, loss = self.model(inputs.to(self.config.device), targets.to(self.config.device))
        self.model.train()
        return round(loss.item(), 5)

    def train(self) -> list[dict]:
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        log = []
        stream = batches(self.train_examples, self.vocab, cfg.batch_size, cfg.block, self.generator)
        self.model.train()
        with tqdm(total=cfg.steps, initial=self.step, desc="train") as progress, \
                (self.out / "losses.jsonl").open("a") as losses:
            while self.step < cfg.steps:
                inputs, targets = next(stream)
                for group in self.optimizer.param_groups:
                    group["lr"] = self.learning_rate()
                _, loss = self.model(inputs.to(cfg.device), targets.to(cfg.device))
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                self.step += 1
                entry = {"step": self.step, "loss": round(loss.item(), 5)}
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    entry["holdout_loss"] = self.holdout_loss()
                    self.save_checkpoint()
                losses.write(json.dumps(entry) + "\n")
                log.append(entry)
                progress.set_postfix(loss=entry["loss"])
                progress.update(1)
        return log

    def save_checkpoint(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.vocab.save(self.out / "vocab.json")
        temporary = self.out / "checkpoint.pt.tmp"
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "step": self.step, "model_config": asdict(self.model_config),
                    "train_config": asdict(self.config)}, temporary)
        temporary.replace(self.out / "checkpoint.pt")


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    ap.add_argument("--data", required=True, help="a dataset folder written by the pipeline")
    ap.add_argument("--out", required=True, help="checkpoint folder; an existing one is resumed")
    for field in ("steps", "batch_size", "block", "layers", "heads", "width", "seed", "eval_every"):
        ap.add_argument(f"--{field}", type=int, default=TrainConfig.__dataclass_fields__[field].default)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--device", default=TrainConfig.device)
    ap.add_argument("--p", type=int, help="re-interleave with this many response slots per cycle")
    ap.add_argument("--q", type=int, help="re-interleave with this many reasoning slots per cycle")
    ap.add_argument("--tokenizer", help="re-interleave with this tokenizer")
    recipe = Recipe(TrainConfig(**vars(ap.parse_args(argv))))
    recipe.setup()
    return recipe.train()
