"""The five-stage recipe of a thinking-in-speaking model (Mini-Omni-Reasoner's, DESIGN.md §2).

1 ``alignment``: the audio adapter learns to hear (question audio -> its transcript), then
  the special tokens learn their place (question text -> layout, only their rows train);
2 ``math_pretraining``: the question as audio or as text -> the worked solution;
3 ``textual_tis``: question text -> the layout (response and reasoning interleaved);
4 ``acoustic_tis``: question audio -> the layout;
5 ``talker``: the Talker learns the response audio from the frozen Thinker's states.

One ``Recipe`` with ``setup``, ``train`` and ``save_checkpoint`` (torchtune's shape). A
rerun with the same ``--out`` resumes exactly where the last checkpoint left off.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import torch
import yaml
from torch.nn import functional as F
from tqdm import tqdm

from pipeline.dataset.shards import read_rows, shard_files
from pipeline.tokenizers import load_tokenizer
from training.audio import MelConfig
from training.data import (
    DIGIT_KINDS,
    RowStream,
    Task,
    Vocab,
    collate,
    digit_kinds,
    example_batches,
    prefetch,
)
from training.model import (
    AudioConfig,
    HuggingFaceThinker,
    SpeechModel,
    TalkerConfig,
    Thinker,
    ThinkerConfig,
)

RECIPES = Path(__file__).parent / "recipes"


@dataclass(frozen=True)
class Phase:
    task: Task
    trains: tuple[str, ...]


@dataclass(frozen=True)
class Stage:
    number: int
    name: str
    phases: tuple[Phase, ...]


def stages_for(recipe: dict) -> list[Stage]:
    """The five stages, with what each trains (everything else is frozen). Stage 2 hears
    the question as audio or text by row (``mixed``), or as set by its ``question`` key."""
    layout = recipe["layout"]
    solve = recipe["stages"]["math_pretraining"].get("question", "mixed")
    return [
        Stage(1, "alignment", (Phase(Task("transcribe", "audio", layout), ("audio_encoder", "adapter")),
                               Phase(Task("speak", "text", layout), ("special_tokens",)))),
        Stage(2, "math_pretraining", (Phase(Task("solve", solve, layout), ("thinker", "adapter")),)),
        Stage(3, "textual_tis", (Phase(Task("speak", "text", layout), ("thinker",)),)),
        Stage(4, "acoustic_tis", (Phase(Task("speak", "audio", layout), ("thinker", "adapter")),)),
        Stage(5, "talker", (Phase(Task("talk", "text", layout), ("talker",)),)),
    ]


def parse_stages(text: str) -> list[int]:
    """``1-5``, ``3``, ``3,4`` or ``2-3,5``."""
    chosen: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        chosen.update(range(int(first), int(last or first) + 1))
    if not chosen <= {1, 2, 3, 4, 5}:
        raise ValueError(f"stages are 1 to 5, got {text!r}")
    return sorted(chosen)


def load_recipe(path: str | Path, overrides: list[str]) -> dict:
    """A YAML recipe, with ``key.sub=value`` overrides (values read as YAML)."""
    recipe = yaml.safe_load(Path(path).read_text())
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"an override is key=value, got {item!r}")
        *parents, leaf = key.split(".")
        node = recipe
        for name in parents:
            if not isinstance(node.get(name), dict):
                raise ValueError(f"unknown recipe key {key!r}")
            node = node[name]
        if leaf not in node:
            raise ValueError(f"unknown recipe key {key!r}")
        node[leaf] = yaml.safe_load(value)
    return recipe


def pick_device(name: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def mel_config(recipe: dict) -> MelConfig:
    audio = recipe["audio"]
    return MelConfig(audio["sample_rate"], audio["n_fft"], audio["hop"], audio["n_mels"])


def build_model(recipe: dict, vocab: Vocab, cycle: int) -> SpeechModel:
    """The model a recipe names; ``cycle`` (p + q) sizes the slot embedding of a ``tis``
    Thinker when the recipe asks for one (``slot_embedding``; ``stream_positions`` too)."""
    audio, talker = recipe["audio"], recipe["talker"]
    tis = recipe["layout"] == "tis"
    slots = cycle if recipe.get("slot_embedding") and tis else 0
    stream_positions = bool(recipe.get("stream_positions")) and tis
    if recipe["thinker"] == "scratch":
        thinker = Thinker(ThinkerConfig(len(vocab), **recipe["model"], cycle=slots,
                                        stream_positions=stream_positions))
    elif slots or stream_positions:
        raise ValueError("slot_embedding and stream_positions are for the scratch Thinker")
    elif recipe["thinker"].startswith("hf:"):
        thinker = HuggingFaceThinker(recipe["thinker"][3:], len(vocab), recipe["lora_rank"])
    else:
        raise ValueError(f"thinker is scratch or hf:PATH, got {recipe['thinker']!r}")
    return SpeechModel(thinker, AudioConfig(audio["n_mels"], audio["encoder_width"], audio["encoder_layers"]),
                       TalkerConfig(audio["n_mels"], talker["frames_per_token"], talker["width"],
                                    talker["layers"]))


def embed(model: SpeechModel, batch) -> torch.Tensor:
    """Token embeddings, with the question's audio frames in the slots that hear it."""
    x = model.thinker.embed(batch.inputs, batch.slots)
    if batch.features is not None:
        audio, _ = model.hear(batch.features, batch.frames)
        placed = torch.zeros_like(x)
        width = min(audio.shape[1], x.shape[1])
        placed[:, :width] = audio[:, :width].to(x.dtype)
        x = torch.where(batch.heard[..., None], placed, x)
    return x


def batch_loss(model: SpeechModel, batch, talking: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, its weight): weighted next-token loss, or the Talker's L1 on mel frames."""
    hidden, logits, _ = model.thinker(embed(model, batch), positions=batch.positions)
    if talking:
        predicted = model.talker(hidden.detach(), batch.speaking)
        chosen = batch.speaking
        error = (predicted[chosen].float() - batch.mel_targets[chosen]).abs().mean(dim=(1, 2))
        return error.mean(), torch.tensor(float(chosen.sum()))
    return token_loss(logits, batch)


def token_loss(logits: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, its weight): the next-token loss weighted per target (``loss_weights``)."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), batch.targets.flatten(), ignore_index=-100,
                             reduction="none")
    weight = batch.weights.flatten()
    total = weight.sum()
    return (losses * weight).sum() / total.clamp(min=1e-9), total


def digit_counts(logits: torch.Tensor, batch, right: torch.Tensor, seen: torch.Tensor):
    """``right`` and ``seen`` (indexed by digit kind, 0: not a digit) plus a batch's
    teacher-forced predictions of its targets (``batch.digits``)."""
    hit = (logits.argmax(-1) == batch.targets).float().cpu().flatten()
    kinds = batch.digits.cpu().flatten()
    return right.index_add(0, kinds, hit), seen.index_add(0, kinds, torch.ones(kinds.numel()))


def digit_accuracy(right: torch.Tensor, seen: torch.Tensor) -> dict[str, float]:
    """Accuracy by digit kind (``DIGIT_KINDS``), and ``all`` of them pooled."""
    digits = {name: round(float(right[i + 1] / seen[i + 1]), 4)
              for i, name in enumerate(DIGIT_KINDS) if seen[i + 1]}
    if seen[1:].sum():
        digits["all"] = round(float(right[1:].sum() / seen[1:].sum()), 4)
    return digits


class Recipe:
    def __init__(self, recipe: dict, data: str, out: str, stages: list[int]) -> None:
        self.recipe, self.data, self.out = recipe, data, Path(out)
        self.stage_numbers = stages
        self.device = pick_device(recipe["device"])
        self.stop_requested = False
        self.truncated = 0

    # ---- set-up -------------------------------------------------------------------------
    def setup(self) -> None:
        recipe = self.recipe
        torch.set_num_threads(recipe["threads"])
        torch.manual_seed(recipe["seed"])
        self.files = readable_shards(self.data)
        first = next(read_rows(self.files, ["tokenizer", "p", "q"]))
        self.tokenizer, self.p, self.q = first["tokenizer"], first["p"], first["q"]
        last = self.out / "last.pt"
        state = load_checkpoint(last) if last.exists() else None
        fresh = state is None and recipe.get("init_from")
        base = load_checkpoint(Path(recipe["init_from"])) if fresh else None
        if state is not None:
            self._check_resume(state["recipe"])
            kept = {"device": recipe["device"], "threads": recipe["threads"]}
            self.recipe = recipe = {**state["recipe"], **kept}
            self.vocab = Vocab.from_json(state["vocab"])
        elif base is not None:
            if (base["tokenizer"], base["p"], base["q"]) != (self.tokenizer, self.p, self.q):
                raise SystemExit(f"init_from {recipe['init_from']}: trained on {base['tokenizer']} "
                                 f"{base['p']}:{base['q']}, this data is {self.tokenizer} {self.p}:{self.q}")
            self.vocab = Vocab.from_json(base["vocab"])
        elif recipe["thinker"].startswith("hf:") and HuggingFaceThinker.has_weights(recipe["thinker"][3:]):
            self.vocab = Vocab([], identity_size=load_tokenizer(self.tokenizer).special.eos + 1)
        else:
            self.vocab = Vocab.scan(self.files)
        self.mel = mel_config(recipe)
        self.model = build_model(recipe, self.vocab, self.p + self.q).to(self.device)
        if base is not None:  # the base's weights; only a slot embedding it lacks starts new
            missing, unexpected = self.model.load_state_dict(base["model"], strict=False)
            if unexpected or any(not key.startswith("thinker.slots.") for key in missing):
                raise SystemExit(f"init_from {recipe['init_from']}: another model shape "
                                 f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.stages = [s for s in stages_for(recipe) if s.number in self.stage_numbers]
        present = set(pq.read_schema(self.files[0]).names)
        for stage in self.stages:
            missing = {c for phase in stage.phases for c in phase.task.needs} - present
            if missing:
                raise SystemExit(f"stage {stage.number} ({stage.name}) needs {', '.join(sorted(missing))}, "
                                 f"which {self.data} has not (a text-only build, --tts none?); "
                                 "choose stages with --stages")
        self.position = {"stage": self.stages[0].number if self.stages else 0, "phase": 0, "step": 0,
                         "global_step": 0, "epoch": 0, "batch": 0}
        self.done: list[int] = []
        self.best: dict[str, float] = {}
        self.optimizer_state = None
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.position, self.done, self.best = state["position"], state["done"], state["best"]
            self.optimizer_state = state["optimizer"]
            torch.set_rng_state(state["rng"])
        self._truncate_log()

    def _check_resume(self, saved: dict) -> None:
        """A resumed run keeps its saved recipe: refuse settings that would silently not apply."""
        ignored = {"device", "threads"}
        changed = [f"{key} {before!r} -> {after!r}" for key, before, after in _differences(saved, self.recipe)
                   if key.split(".")[0] not in ignored]
        if changed:
            raise SystemExit(f"{self.out} holds a run with other settings ({'; '.join(changed)}): resume it "
                             "with the same settings, or train into a new --out")

    def _truncate_log(self) -> None:
        """The loss log holds exactly the steps up to the checkpoint resumed from."""
        if not (self.out / "losses.jsonl").exists():
            return
        kept = [e for e in read_log(self.out) if e["step"] <= self.position["global_step"]]
        (self.out / "losses.jsonl").write_text("".join(json.dumps(e) + "\n" for e in kept))

    # ---- one phase -----------------------------------------------------------------------
    def _freeze(self, trains: tuple[str, ...]) -> tuple[list, list[int] | None]:
        """Trainable parameters of a phase; ``special_tokens`` trains only the rows of the
        markers, pads and EOS in the Thinker's token tables."""
        self.model.requires_grad_(False)
        params: list = []
        for name in trains:
            if name == "special_tokens":
                continue
            module = getattr(self.model, name)
            module.requires_grad_(True)
            params += [p for p in module.parameters() if p.requires_grad]
        rows = None
        if "special_tokens" in trains:
            rows = self.vocab.special_rows(self.tokenizer)
            for table in self.model.thinker.token_tables():
                table.requires_grad_(True)
                params.append(table)
        return params, rows

    def _schedule(self, step: int, steps: int, lr: float) -> float:
        """Linear warm-up over a twentieth, then cosine decay to a tenth."""
        warmup = max(1, steps // 20)
        if step < warmup:
            return lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    def _autocast(self):
        if self.device.startswith("cuda"):
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _collate(self, examples):
        return collate(examples, self.recipe["loss_weights"], self.recipe["data"]["block"], self.mel,
                       self.recipe["talker"]["frames_per_token"])

    @torch.no_grad()
    def holdout_loss(self, stage: Stage) -> tuple[float | None, dict[str, float]]:
        """Mean loss over the whole held-out share, for each of the stage's tasks, and the
        teacher-forced accuracy of each kind of digit (``digit_kinds``) where the task
        writes reasoning or a response: the figure that shows whether a model computes."""
        self.model.eval()
        data = self.recipe["data"]
        means = []
        right, seen = torch.zeros(len(DIGIT_KINDS) + 1), torch.zeros(len(DIGIT_KINDS) + 1)
        tokenizer = load_tokenizer(self.tokenizer)
        for phase in stage.phases:
            stream = RowStream(self.files, phase.task.needs, data["holdout"], True, self.recipe["seed"])
            total = weight = 0.0
            measured = phase.task.kind in ("solve", "speak")
            for _, _, examples, _ in example_batches(stream, phase.task, self.vocab, data["batch_size"],
                                                     endless=False):
                if measured:
                    for example in examples:
                        example.digits = digit_kinds(example, self.vocab, tokenizer)
                batch = self._collate(examples).to(self.device)
                with self._autocast():
                    if measured:
                        _, logits, _ = self.model.thinker(embed(self.model, batch),
                                                          positions=batch.positions)
                        loss, w = token_loss(logits, batch)
                        right, seen = digit_counts(logits, batch, right, seen)
                    else:
                        loss, w = batch_loss(self.model, batch, phase.task.kind == "talk")
                total += loss.item() * float(w)
                weight += float(w)
            if weight:
                means.append(total / weight)
        self.model.train()
        return (round(sum(means) / len(means), 5) if means else None), digit_accuracy(right, seen)

    def run_phase(self, stage: Stage, index: int, steps: int, log) -> None:
        phase, data, lr = stage.phases[index], self.recipe["data"], self.recipe["stages"][stage.name]["lr"]
        params, rows = self._freeze(phase.trains)
        special_only = rows is not None
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0 if special_only else 0.01)
        if self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
            self.optimizer_state = None
        row_mask = None
        if special_only:
            row_mask = torch.zeros(self.model.thinker.token_tables()[0].shape[0], 1, dtype=torch.bool,
                                   device=self.device)
            row_mask[rows] = True
        self.optimizer = optimizer
        position = self.position
        stream = RowStream(self.files, phase.task.needs, data["holdout"], False, self.recipe["seed"],
                           data["shuffle_buffer"])
        examples = example_batches(stream, phase.task, self.vocab, data["batch_size"], position["epoch"],
                                   position["batch"])
        batches = prefetch((epoch, number, self._collate(chosen)) for epoch, number, chosen, _ in examples)
        self.model.train()
        bar = tqdm(total=steps, initial=position["step"], desc=f"{stage.number} {stage.name}", leave=True)
        try:
            while position["step"] < steps:
                epoch, number, batch = next(batches)
                batch = batch.to(self.device)
                self.truncated += batch.truncated
                for group in optimizer.param_groups:
                    group["lr"] = self._schedule(position["step"], steps, lr)
                with self._autocast():
                    loss, _ = batch_loss(self.model, batch, phase.task.kind == "talk")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if row_mask is not None:
                    for table in self.model.thinker.token_tables():
                        if table.grad is not None:
                            table.grad.mul_(row_mask)
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                position.update(step=position["step"] + 1, global_step=position["global_step"] + 1,
                                epoch=epoch, batch=number + 1)
                entry = {"step": position["global_step"], "stage": stage.name, "phase": index,
                         "loss": round(loss.item(), 5)}
                finished = position["step"] == steps
                if position["step"] % self.recipe["eval_every"] == 0 or finished:
                    entry["holdout_loss"], entry["holdout_digits"] = self.holdout_loss(stage)
                    held = entry["holdout_loss"]
                    if held is not None and held < self.best.get(stage.name, math.inf):
                        self.best[stage.name] = held
                        self.save_checkpoint(f"best-{stage.name}.pt")
                    if self._plateaued(stage.name, entry["holdout_digits"].get("all")):
                        entry["plateau"], finished = True, True
                log.write(json.dumps(entry) + "\n")
                log.flush()
                bar.set_postfix(loss=entry["loss"])
                bar.update(1)
                if position["step"] % self.recipe["checkpoint_every"] == 0 or finished or self.stop_requested:
                    self.save_checkpoint()
                if finished:
                    break
                if self.stop_requested:
                    print(f"stopped: checkpoint at step {position['global_step']} in {self.out / 'last.pt'}; "
                          "run the same command again to resume", file=sys.stderr)
                    raise SystemExit(143)
        finally:
            bar.close()
            batches.close()

    def _plateaued(self, stage_name: str, digits: float | None) -> bool:
        """Whether the held-out digit accuracy has not risen for ``plateau`` evaluations in a
        row (never, with ``plateau: 0``): a stage trained that far has learned what it can."""
        patience = self.recipe.get("plateau", 0)
        if not patience or digits is None:
            return False
        key = f"{stage_name}/digits"
        if digits > self.best.get(key, -1.0) + 1e-3:
            self.best[key], self.position["stale"] = digits, 0
        else:
            self.position["stale"] = self.position.get("stale", 0) + 1
        return self.position["stale"] >= patience

    # ---- the whole recipe ----------------------------------------------------------------
    def train(self) -> list[dict]:
        self.out.mkdir(parents=True, exist_ok=True)
        previous = signal.signal(signal.SIGTERM, self._request_stop)
        try:
            with (self.out / "losses.jsonl").open("a") as log:
                for stage in self.stages:
                    if stage.number in self.done:
                        continue
                    if self.position["stage"] != stage.number:
                        self.position.update(stage=stage.number, phase=0, step=0, epoch=0, batch=0, stale=0)
                    steps = self.recipe["stages"][stage.name]["steps"]
                    shares = [steps // len(stage.phases) + (i < steps % len(stage.phases))
                              for i in range(len(stage.phases))]
                    for index in range(self.position["phase"], len(stage.phases)):
                        if index != self.position["phase"]:
                            self.position.update(phase=index, step=0, epoch=0, batch=0, stale=0)
                        self.run_phase(stage, index, shares[index], log)
                        self.position.update(phase=index + 1, step=0, epoch=0, batch=0)
                    self.done.append(stage.number)
                    self.save_checkpoint()
                    self.save_checkpoint(f"stage{stage.number}-{stage.name}.pt")
                    self.plot(stage.name)
                    if self.truncated:
                        tqdm.write(f"warning: {self.truncated} sequences were cut to "
                                   f"data.block={self.recipe['data']['block']} tokens in {stage.name}")
                        self.truncated = 0
        finally:
            signal.signal(signal.SIGTERM, previous)
        return read_log(self.out)

    def _request_stop(self, signum, frame) -> None:
        self.stop_requested = True

    def save_checkpoint(self, name: str = "last.pt") -> None:
        """Everything a resume needs: weights, optimizer, data position, RNG, loss bests."""
        self.out.mkdir(parents=True, exist_ok=True)
        optimizer = getattr(self, "optimizer", None)
        state = {"model": self.model.state_dict(), "optimizer": optimizer.state_dict() if optimizer else None,
                 "position": dict(self.position), "done": list(self.done), "best": dict(self.best),
                 "recipe": self.recipe, "vocab": self.vocab.to_json(), "rng": torch.get_rng_state(),
                 "tokenizer": self.tokenizer, "p": self.p, "q": self.q}
        if self.position["phase"] >= 1 and self.position["step"] == 0:
            state["optimizer"] = None
        temporary = self.out / f"{name}.tmp"
        torch.save(state, temporary)
        temporary.replace(self.out / name)

    def plot(self, stage_name: str) -> None:
        """Training and held-out loss of one stage as ``curves/STAGE.png``."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot

        entries = [e for e in read_log(self.out) if e["stage"] == stage_name]
        if not entries:
            return
        figure, axes = pyplot.subplots(figsize=(6, 3.5))
        axes.plot([e["step"] for e in entries], [e["loss"] for e in entries], lw=0.8, label="train")
        held = [e for e in entries if e.get("holdout_loss") is not None]
        axes.plot([e["step"] for e in held], [e["holdout_loss"] for e in held], "o-", label="held-out")
        axes.set(xlabel="step", ylabel="loss", title=stage_name)
        axes.legend()
        figure.tight_layout()
        (self.out / "curves").mkdir(exist_ok=True)
        figure.savefig(self.out / "curves" / f"{stage_name}.png", dpi=100)
        pyplot.close(figure)


def _differences(saved: dict, given: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """(dotted key, saved value, given value) for every leaf where two recipes differ (a key
    the saved recipe predates is not a difference)."""
    found = []
    for key in sorted(saved, key=str):
        before, after = saved[key], given.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            found += _differences(before, after, f"{prefix}{key}.")
        elif before != after:
            found.append((f"{prefix}{key}", before, after))
    return found


def readable_shards(data: str) -> list[str]:
    """The training shards of a dataset folder, each checked readable (its Parquet footer and
    schema) before training starts: a missing, empty, truncated or foreign file is a one-line
    error naming it, not a traceback an hour in."""
    try:
        files = shard_files(data, split="train")
    except FileNotFoundError as error:
        raise SystemExit(f"{data}: {error}") from None
    rows = 0
    for file in files:
        try:
            shard = pq.ParquetFile(file)
        except Exception as error:  # pyarrow raises several kinds for a broken file
            raise SystemExit(f"{file}: not a readable Parquet shard ({str(error)[:200]})") from None
        metadata = shard.metadata
        missing = {"question_ids", "interleaved_ids", "tokenizer", "p", "q"} - set(shard.schema_arrow.names)
        if missing:
            raise SystemExit(f"{file}: not a shard of this pipeline (no {', '.join(sorted(missing))})")
        rows += metadata.num_rows
    if not rows:
        raise SystemExit(f"{data}: its training shards hold no rows")
    return files


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's state, read as data only (``weights_only``: a pickle cannot run code);
    a missing, truncated or foreign file is a one-line error naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such checkpoint") from None
    except Exception as error:  # torch raises several kinds for a broken or unsafe file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SystemExit(f"{path}: not a checkpoint this trainer wrote ({reason[:200]})") from None
    if not isinstance(state, dict) or not {"model", "recipe", "vocab"} <= set(state):
        raise SystemExit(f"{path}: not a checkpoint this trainer wrote (no model, recipe and vocab)")
    return state


def read_log(out: str | Path) -> list[dict]:
    """The loss log's complete lines: a run killed while writing one leaves it half written."""
    path = Path(out) / "losses.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n")[:-1] if line]


def main(argv: list[str] | None = None) -> list[dict]:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m training", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="to talk to a checkpoint: python -m training generate -h")
    ap.add_argument("--data", required=True, help="a dataset folder written by the pipeline")
    ap.add_argument("--out", required=True, help="checkpoint folder; an existing one is resumed")
    ap.add_argument("--recipe", default=str(RECIPES / "small.yaml"), help="a YAML recipe")
    ap.add_argument("--stages", default="1-5", help="which stages to run: 1-5, 3, 3,4 ...")
    ap.add_argument("--layout", help="tis, tbs or direct (recipe key layout)")
    ap.add_argument("--thinker", help="scratch or hf:PATH (recipe key thinker)")
    ap.add_argument("--threads", type=int, help="torch threads (recipe key threads)")
    ap.add_argument("--device", help="auto, cpu or cuda (recipe key device)")
    ap.add_argument("--seed", type=int, help="recipe key seed")
    ap.add_argument("overrides", nargs="*", metavar="key=value",
                    help="any recipe key, e.g. data.batch_size=8")
    args = ap.parse_intermixed_args(argv)
    shortcuts = [f"{key}={value}" for key in ("layout", "thinker", "threads", "device", "seed")
                 if (value := getattr(args, key)) is not None]
    try:
        recipe = load_recipe(args.recipe, [*shortcuts, *args.overrides])
        stages = parse_stages(args.stages)
    except ValueError as error:
        ap.error(str(error))
    trainer = Recipe(recipe, args.data, args.out, stages)
    trainer.setup()
    return trainer.train()
