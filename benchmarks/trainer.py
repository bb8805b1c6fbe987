"""Trainer overhead: tokens/s of the recipe's stage 3 against a bare PyTorch loop.

Both run in one process on the same model (same seed, same initial weights) and the same
batches: the recipe streams, arranges and collates its own rows, logs, and checkpoints
at the end; the bare loop gets the batches already collated and does only forward,
backward and the optimizer step. Rounds alternate and the best of each is kept, since
this machine is shared and noisy.

    python -m benchmarks.trainer [DATASET]   (default build/dataset, from `make dataset`)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.report import machine, write_section
from training.data import RowStream, example_batches
from training.train import RECIPES, Recipe, batch_loss, build_model, load_recipe

STEPS = 80
ROUNDS = 3


def tokens(batch) -> int:
    return int(((batch.inputs != 0) | batch.heard).sum())


def recipe_run(data: str, out: Path) -> tuple[float, Recipe]:
    recipe = load_recipe(RECIPES / "small.yaml", [f"stages.textual_tis.steps={STEPS}", f"eval_every={10**6}",
                                                  f"checkpoint_every={10**6}"])
    trainer = Recipe(recipe, data, str(out), [3])
    trainer.setup()
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start, trainer


def bare_run(trainer: Recipe) -> tuple[float, int]:
    """The same first batches of stage 3, collated up front, through a plain loop."""
    recipe, phase = trainer.recipe, trainer.stages[0].phases[0]
    stream = RowStream(trainer.files, phase.task.needs, recipe["data"]["holdout"], False, recipe["seed"],
                       recipe["data"]["shuffle_buffer"])
    batches = example_batches(stream, phase.task, trainer.vocab, recipe["data"]["batch_size"])
    collated = [trainer._collate(next(batches)[2]) for _ in range(STEPS)]
    torch.manual_seed(recipe["seed"])
    model = build_model(recipe, trainer.vocab, trainer.p + trainer.q)
    optimizer = torch.optim.AdamW(model.thinker.parameters(), lr=recipe["stages"]["textual_tis"]["lr"])
    start = time.perf_counter()
    for batch in collated:
        loss, _ = batch_loss(model, batch, talking=False)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start, sum(tokens(b) for b in collated)


def main() -> None:
    data = sys.argv[1] if len(sys.argv) > 1 else "build/dataset"
    best_recipe = best_bare = float("inf")
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as folder:
            seconds, trainer = recipe_run(data, Path(folder))
            bare_seconds, count = bare_run(trainer)
        best_recipe, best_bare = min(best_recipe, seconds), min(best_bare, bare_seconds)
    recipe_rate, bare_rate = count / best_recipe, count / best_bare
    lines = [
        "## Trainer against a bare PyTorch loop",
        "",
        f"`python -m benchmarks.trainer {data}` (part of `make bench`) on {machine()}, one torch thread: "
        f"stage 3 (`textual_tis`) of `training/recipes/small.yaml`, {STEPS} steps, best of {ROUNDS} "
        "alternating rounds. The recipe's figure includes streaming the shards, arranging and collating "
        "each batch, the loss log and the end-of-stage checkpoints; the bare loop gets the same batches "
        "already collated.",
        "",
        "| loop | tokens/s |",
        "|---|---|",
        f"| recipe (`python -m training --stages 3`) | {recipe_rate:,.0f} |",
        f"| bare forward/backward/AdamW loop | {bare_rate:,.0f} |",
        f"| ratio | {recipe_rate / bare_rate:.2f}x |",
    ]
    write_section("trainer", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
