"""The layout experiment: given a model that can reason, does thinking-in-speaking keep its
accuracy while it speaks early?

    python -m eval experiment --out build/experiment      (or: make experiment)

The paper's protocol at CPU scale. A train set and a test set come from the built-in
generator (``--level easy`` by default: what a small model can learn here; different
seeds; a test question also seen in training is dropped). Per seed, one shared base is
trained on worked solutions (stage 2, the question as text -> the reasoning) until its
held-out digit accuracy plateaus; then each layout (``tis``, ``tbs``, ``direct``) is
fine-tuned from that same base (stage 3) until its own plateau, within the same step
limit. The variants tried to help ``tis`` learn as well as ``tbs`` and the from-scratch
ablation are rows of their own. Every checkpoint answers every test question; the report
gives accuracy, digit accuracy, equations, format errors and latency *as heard* (speech
plays at the test set's own speaking rate, a token cannot play before it is generated)
with 95% intervals over seeds and items, and judges each claim from the figures.

A rerun with the same ``--out`` reuses every set, base, run and evaluation whose settings
are unchanged, and redoes (with what depends on it) every one whose settings changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval.model_report import format_seconds, summarize_layouts
from training.train import read_log

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = "settings.json"


@dataclass
class Job:
    """Commands that make ``folder``, once the jobs it depends on are done. ``settings``
    are everything that changes its result: the folder is reused only when they match."""

    name: str
    folder: Path
    commands: list[list[str]]
    settings: dict
    after: list[str] = field(default_factory=list)

    def done(self) -> bool:
        path = self.folder / SETTINGS
        return path.exists() and json.loads(path.read_text()) == self.settings


@dataclass(frozen=True)
class Arm:
    """A row of the report: a layout trained one way."""

    name: str
    layout: str
    overrides: tuple[str, ...] = ()
    from_base: bool = True
    constrain_slots: bool = False
    tried: str = ""  # what this row tries, for the report
    checkpoint_of: str = ""  # another row whose checkpoints this one only decodes otherwise
    variant: bool = False  # trained with the first --variant_seeds seeds only (a tried option, an ablation)
    after_arm: str = ""  # fine-tuned from this row's checkpoint instead of the base (a curriculum)


ARMS = [
    Arm("tis", "tis", ("slot_embedding=true",), constrain_slots=True, after_arm="tbs",
        tried="fine-tuned from the tbs checkpoint of its seed (a tbs->tis curriculum, at most "
              "--curriculum_steps more steps)"),
    Arm("tbs", "tbs"),
    Arm("direct", "direct"),
    Arm("tis, free decoding", "tis", checkpoint_of="tis",
        tried="the tis checkpoints decoded without the slot constraint (format errors with and without it)"),
    Arm("tis from the base", "tis", ("slot_embedding=true",), constrain_slots=True, variant=True,
        tried="fine-tuned from the base like tbs and direct, with the same step limit (no curriculum)"),
    Arm("tis from scratch", "tis", ("slot_embedding=true",), from_base=False, constrain_slots=True,
        variant=True, tried="ablation: no base, stage 3 only"),
    Arm("tbs from scratch", "tbs", from_base=False, variant=True, tried="ablation: no base, stage 3 only"),
    Arm("direct from scratch", "direct", from_base=False, variant=True,
        tried="ablation: no base, stage 3 only"),
]
# Rows tried and not kept, run on request (--rows): each a recipe key.
OPTIONAL_ARMS = [
    Arm("tis from the base, no slot embedding", "tis", constrain_slots=True, variant=True,
        tried="fine-tuned from the base without the per-slot stream embedding (`slot_embedding`)"),
    Arm("tis, stream positions", "tis", ("slot_embedding=true", "stream_positions=true"),
        constrain_slots=True, variant=True,
        tried="rotary positions counted within each stream (`stream_positions`)"),
    Arm("tis, pads weighted 0.1", "tis", ("slot_embedding=true", "loss_weights.response_pad=0.1",
                                          "loss_weights.reasoning_pad=0.1"), constrain_slots=True,
        variant=True, tried="pad targets weighted 0.1 instead of 0.5 (`loss_weights`)"),
]


def run_jobs(jobs: list[Job], parallel: int, logs: Path) -> int:
    """Run the jobs not done yet, ``parallel`` at a time, each after those it depends on;
    a job's folder is cleared before it runs and its settings written when it succeeds.
    Stops everything on the first failure. Returns how many were reused."""
    by_name = {job.name: job for job in jobs}
    stale: set[str] = set()
    for job in jobs:  # a job redone makes every job after it redone too
        if not job.done() or any(name in stale for name in job.after):
            stale.add(job.name)
    pending = [job for job in jobs if job.name in stale]
    running: list[tuple[subprocess.Popen, Job, list[list[str]]]] = []
    finished = {job.name for job in jobs if job.name not in stale}
    logs.mkdir(parents=True, exist_ok=True)

    def start(job: Job, commands: list[list[str]]) -> None:
        print("running", job.name, flush=True)
        with (logs / f"{job.name}.log").open("a") as handle:
            process = subprocess.Popen(commands[0], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        running.append((process, job, commands[1:]))

    try:
        while pending or running:
            ready = [job for job in pending if all(name in finished for name in job.after)]
            while ready and len(running) < parallel:
                job = ready.pop(0)
                pending.remove(job)
                shutil.rmtree(job.folder, ignore_errors=True)
                (logs / f"{job.name}.log").unlink(missing_ok=True)
                start(job, job.commands)
            if not running and pending:
                raise SystemExit(f"jobs wait on jobs that never run: {[job.name for job in pending]}")
            time.sleep(0.05)
            for entry in list(running):
                process, job, rest = entry
                if process.poll() is None:
                    continue
                running.remove(entry)
                if process.returncode:
                    raise SystemExit(f"{job.name} failed (exit {process.returncode}): see "
                                     f"{logs / (job.name + '.log')}")
                if rest:
                    start(job, rest)
                else:
                    (job.folder / SETTINGS).write_text(json.dumps(job.settings, indent=1, sort_keys=True))
                    finished.add(job.name)
    finally:  # a failure or Ctrl-C stops the other runs (a trainer checkpoints on SIGTERM)
        for process, _, _ in running:
            process.terminate()
            process.wait()
    return len(by_name) - len(stale)


def slug(name: str) -> str:
    return name.replace(", ", "-").replace(" ", "-")


def plan(out: Path, args) -> tuple[list[Job], dict[str, list[Path]]]:
    """Every job of the experiment, and per arm the run folders whose reports it pools."""
    python = sys.executable
    source = f"generate:{{items}}?level={args.level}"
    jobs, sets = [], {}
    made = (("train", args.train_items, 1, "none"), ("test", args.test_items, 2, "espeak"))
    for name, items, seed, tts in made:
        settings = {"source": source.format(items=items), "seed": seed, "tts": tts}
        sets[name] = Job(f"{name}-data", out / f"{name}-data",
                         [[python, "-m", "pipeline", "--source", settings["source"], "--seed", str(seed),
                           "--output", str(out / f"{name}-data"), "--llm", "rules", "--tts", tts]], settings)
    jobs += sets.values()
    train, test = out / "train-data", out / "test-data"
    common = ["--data", str(train), "--threads", "1", "--device", args.device,
              f"eval_every={args.eval_every}", f"plateau={args.plateau}", "checkpoint_every=100",
              f"data.holdout={args.holdout}", *args.set]
    trainer = [python, "-m", "training"]
    bases = {}
    for seed in args.seeds:
        folder = out / "bases" / f"seed{seed}"
        settings = {"data": sets["train"].settings, "seed": seed, "steps": args.base_steps,
                    "common": common[4:]}
        bases[seed] = Job(f"base-seed{seed}", folder,
                          [[*trainer, *common, "--out", str(folder), "--stages", "2", "--layout", "tbs",
                            "--seed", str(seed), f"stages.math_pretraining.steps={args.base_steps}",
                            "stages.math_pretraining.question=text"]], settings, ["train-data"])
    jobs += bases.values()
    runs: dict[str, list[Path]] = {arm.name: [] for arm in args.arms}
    trained: dict[tuple[str, int], Job] = {}
    for arm in sorted(args.arms, key=lambda arm: (bool(arm.checkpoint_of), bool(arm.after_arm))):
        seeds = args.seeds[:args.variant_seeds] if arm.variant else args.seeds
        for seed in seeds:
            folder = out / "runs" / f"{slug(arm.name)}-seed{seed}"
            evaluate = ["--data", str(test), "--holdout", "1", "--unseen_in", str(train),
                        "--decode_rate", str(args.decode_rate), "--threads", "1", "--device", args.device,
                        "--out", str(folder)]
            if args.speaking_rate:
                evaluate += ["--speaking_rate", str(args.speaking_rate)]
            if arm.constrain_slots:
                evaluate.append("--constrain_slots")
            runs[arm.name].append(folder)
            if arm.checkpoint_of:  # decode another row's checkpoint another way
                source = trained[(arm.checkpoint_of, seed)]
                checkpoint = source.folder / "train" / "stage3-textual_tis.pt"
                jobs.append(Job(f"{slug(arm.name)}-seed{seed}", folder,
                                [[python, "-m", "eval", "model", str(checkpoint), *evaluate]],
                                {"of": source.settings, "evaluate": evaluate[:-2]}, [source.name]))
                continue
            steps = args.curriculum_steps if arm.after_arm else args.steps
            train_args = [*common, "--out", str(folder / "train"), "--stages", "3", "--layout", arm.layout,
                          "--seed", str(seed), f"stages.textual_tis.steps={steps}", *arm.overrides]
            after = ["train-data", "test-data"]
            base_settings = None
            if arm.after_arm:
                source = trained[(arm.after_arm, seed)]
                train_args.append(f"init_from={source.folder / 'train' / 'stage3-textual_tis.pt'}")
                after.append(source.name)
                base_settings = source.settings
            elif arm.from_base:
                base = bases[seed]
                train_args.append(f"init_from={base.folder / 'stage2-math_pretraining.pt'}")
                after.append(base.name)
                base_settings = base.settings
            checkpoint = str(folder / "train" / "stage3-textual_tis.pt")
            settings = {"train": train_args[4:], "base": base_settings, "evaluate": evaluate[:-2],
                        "sets": [sets["train"].settings, sets["test"].settings]}
            trained[(arm.name, seed)] = Job(f"{slug(arm.name)}-seed{seed}", folder,
                                            [[*trainer, *train_args],
                                             [python, "-m", "eval", "model", checkpoint, *evaluate]],
                                            settings, after)
            jobs.append(trained[(arm.name, seed)])
    return jobs, runs


def steps_trained(folder: Path) -> int:
    report = json.loads((folder / "model_report.json").read_text())["checkpoints"][0]
    log = read_log(Path(report["checkpoint"]).parent)
    return log[-1]["step"] if log else 0


def check_claims(layouts: dict[str, dict]) -> list[dict]:
    """The must-hold claims, each with the figures it rests on and whether it holds."""
    claims = []
    tis, tbs, direct = (layouts.get(name) for name in ("tis", "tbs", "direct"))

    def multi(line: dict) -> dict:
        return line["by_category"].get("contextual_multi_step") or {"accuracy": 0.0, "accuracy_95": [0, 0]}

    def accuracy(name: str, line: dict) -> str:
        part = multi(line)
        return f"{name} {part['accuracy']:.1%} [{part['accuracy_95'][0]:.1%}, {part['accuracy_95'][1]:.1%}]"

    if tbs and direct:
        gap = (multi(tbs)["accuracy"] - multi(direct)["accuracy"]) * 100
        claims.append({"claim": "tbs at least 25 points above direct on multi-step test items",
                       "holds": gap >= 25,
                       "figures": f"{accuracy('tbs', tbs)}, {accuracy('direct', direct)}: {gap:+.1f} points"})
    if tis and tbs:
        gap = (multi(tis)["accuracy"] - multi(tbs)["accuracy"]) * 100
        claims.append({"claim": "tis within 8 points of tbs on multi-step test items", "holds": gap >= -8,
                       "figures": f"{accuracy('tis', tis)}, {accuracy('tbs', tbs)}: {gap:+.1f} points"})
    if tis and tbs:
        first = [line["first_substantive_heard"] for line in (tis, tbs)]
        answer = [line["answer_heard"] for line in (tis, tbs)]
        if None not in (first[0]["mean"], first[1]["mean"], answer[0]["mean"], answer[1]["mean"]):
            sooner = first[1]["mean"] - first[0]["mean"]
            claims.append({"claim": "the first substantive word heard at least 0.5 s sooner with tis than "
                                    "with tbs", "holds": sooner >= 0.5,
                           "figures": f"tis {format_seconds(first[0])}, tbs {format_seconds(first[1])}: "
                                      f"{sooner:.2f} s sooner"})
            later = answer[0]["mean"] - answer[1]["mean"]
            claims.append({"claim": "the answer heard no later with tis than with tbs", "holds": later <= 0,
                           "figures": f"tis {format_seconds(answer[0])}, tbs {format_seconds(answer[1])}: "
                                      f"{abs(later):.2f} s {'later' if later > 0 else 'sooner'}"})
    return claims


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def plot(layouts: dict[str, dict], path: Path) -> None:
    """Accuracy against the time the first substantive word is heard, one point per row,
    with the 95% intervals of both."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.5), dpi=120)
    for name, line in layouts.items():
        heard = line["first_substantive_heard"]
        if heard["mean"] is None:
            continue
        low, high = line["accuracy_95"]
        axes.errorbar([heard["mean"]], [line["accuracy"] * 100],
                      xerr=[[heard["mean"] - heard["95"][0]], [heard["95"][1] - heard["mean"]]],
                      yerr=[[(line["accuracy"] - low) * 100], [(high - line["accuracy"]) * 100]],
                      fmt="o", capsize=4, label=f"{name} ({line['runs']} seeds)")
    axes.set_ylim(0, 100)
    axes.set_xlabel("first substantive word heard (s, mean over items)")
    axes.set_ylabel("answer accuracy on test items (%)")
    axes.set_title("Accuracy vs. latency as heard")
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    pyplot.close(figure)


def write_report(out: Path, layouts: dict[str, dict], claims: list[dict], setup: dict,
                 arms: list[Arm]) -> str:
    lines = ["# Layout experiment", "",
             f"Train set: `generate:{setup['train_items']}?level={setup['level']}` (seed 1, text only); "
             f"test set: {setup['test_rows']} questions of `generate:{setup['test_items']}?level="
             f"{setup['level']}` (seed 2, with speech) not in the train set. Per seed, a base trained on "
             f"worked solutions (stage 2, at most {setup['base_steps']} steps, until its held-out digit "
             f"accuracy plateaus: {setup['base_steps_trained']} steps), then each layout fine-tuned from it "
             "(stage 3, at most "
             f"{setup['steps']} steps, until its own plateau); the `tis` row continues from the `tbs` "
             f"checkpoint of its seed for at most {setup['curriculum_steps']} steps; seeds "
             f"{', '.join(map(str, setup['seeds']))} (rows of tried options and the ablation: "
             f"{', '.join(map(str, setup['variant_seeds']))}). Greedy decoding. Latency as heard: "
             f"{setup['decode_rate']:g} tokens/s decoding, speech at the test set's rate of "
             f"{setup['speaking_rate']:g} response tokens/s.", "",
             f"Command: `{setup['command']}` ({setup['seconds'] / 60:.0f} minutes on {os.cpu_count()} cores"
             + (f"; {setup['reused']} of {setup['jobs']} jobs reused" if setup["reused"] else "") + ").", "",
             "| row | seeds | steps | accuracy [95%] | multi-step accuracy [95%] | first substantive word "
             "heard [95%] | answer heard [95%] | teacher-forced digits (operand / result / response) | "
             "equations: operands copied / results right | format errors | drift |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, line in layouts.items():
        low, high = line["accuracy_95"]
        multi = line["by_category"].get("contextual_multi_step")
        multi_text = "-" if not multi else (f"{multi['accuracy']:.1%} [{multi['accuracy_95'][0]:.1%}, "
                                            f"{multi['accuracy_95'][1]:.1%}]")
        digits = line["digits"]
        digit_text = " / ".join(_share(digits.get(kind)) for kind in ("operand", "result", "response_number"))
        errors = ", ".join(f"{k} {v}" for k, v in line["format_errors"].items() if v) or "none"
        lines.append(
            f"| {name} | {line['runs']} | {', '.join(map(str, line['steps']))} | {line['accuracy']:.1%} "
            f"[{low:.1%}, {high:.1%}] | {multi_text} | {format_seconds(line['first_substantive_heard'])} | "
            f"{format_seconds(line['answer_heard'])} | {digit_text} | {_share(line['operands_copied'])} / "
            f"{_share(line['results_right'])} | {errors} | {line['drift_rate']:.1%} |")
    lines += ["", "Token positions (secondary; medians): " + "; ".join(
        f"{name}: first spoken {line['first_spoken_tokens']:.0f}, answer {line['answer_tokens']}"
        for name, line in layouts.items() if line["first_spoken_tokens"] is not None) + ".", ""]
    tried = [arm for arm in arms if arm.tried and arm.name in layouts]
    if tried:
        lines += ["Rows that try something: "
                  + "; ".join(f"**{arm.name}**: {arm.tried}" for arm in tried) + ".", ""]
    lines += ["![accuracy vs latency as heard](accuracy_vs_latency.png)", "", "## Claims", ""]
    for claim in claims:
        verdict = "holds" if claim["holds"] else "does not hold"
        lines.append(f"- **{verdict}**: {claim['claim']} ({claim['figures']}).")
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m eval experiment", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/experiment")
    ap.add_argument("--level", default="easy", help="the generator's level (generate:N?level=...)")
    ap.add_argument("--train_items", type=int, default=3000)
    ap.add_argument("--test_items", type=int, default=200)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--variant_seeds", type=int, default=1,
                    help="how many of the seeds the rows of tried options and the ablation use")
    ap.add_argument("--base_steps", type=int, default=1500, help="most steps of the base (stage 2)")
    ap.add_argument("--steps", type=int, default=1800,
                    help="most steps of a layout's fine-tuning (stage 3), the same for every layout")
    ap.add_argument("--curriculum_steps", type=int, default=900,
                    help="most steps of tis fine-tuning after tbs (the tis row's curriculum)")
    ap.add_argument("--plateau", type=int, default=6,
                    help="a stage ends once its held-out digit accuracy has not risen for this many "
                         "evaluations")
    ap.add_argument("--eval_every", type=int, default=50)
    ap.add_argument("--holdout", type=float, default=0.03,
                    help="share of the train set held out for plateaus")
    ap.add_argument("--rows", help="the rows to run, by name, separated by ';' (default: every row but "
                                   "the optional ones: " + "; ".join(arm.name for arm in OPTIONAL_ARMS) + ")")
    ap.add_argument("--set", action="append", default=[], metavar="key=value",
                    help="a recipe override for every training run (repeatable)")
    ap.add_argument("--decode_rate", type=float, default=50.0)
    ap.add_argument("--speaking_rate", type=float,
                    help="response tokens spoken a second (default: the test set's audio)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda, for training and decoding")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at once (one thread each)")
    args = ap.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    arms = ARMS
    if args.rows:
        every = ARMS + OPTIONAL_ARMS
        chosen = [name.strip() for name in args.rows.split(";")]
        unknown = set(chosen) - {arm.name for arm in every}
        if unknown:
            ap.error(f"unknown rows {sorted(unknown)}; rows: {'; '.join(arm.name for arm in every)}")
        needed = {arm.checkpoint_of or arm.after_arm for arm in every if arm.name in chosen}
        arms = [arm for arm in every if arm.name in chosen or arm.name in needed]
    args.arms = arms
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    jobs, runs = plan(out, args)
    reused = run_jobs(jobs, args.jobs, out / "logs")
    reports, steps, digits = [], {}, {}
    for name, folders in runs.items():
        for folder in folders:
            report = json.loads((folder / "model_report.json").read_text())["checkpoints"][0]
            reports.append(report | {"layout": name})
        steps[name] = [steps_trained(folder) for folder in folders]
        finals = [json.loads((folder / "model_report.json").read_text())["checkpoints"][0]["digits"]
                  for folder in folders]
        digits[name] = {kind: sum(f[kind] for f in finals) / len(finals) for kind in
                        ("operand", "result", "response_number") if all(kind in f for f in finals)}
    for arm in arms:  # a curriculum's steps: those of the row it continues, then its own
        if arm.after_arm:
            steps[arm.name] = [f"{before} + {own}" for before, own in
                               zip(steps[arm.after_arm], steps[arm.name], strict=False)]
    for arm in arms:  # a row that decodes another's checkpoints: that row's steps
        if arm.checkpoint_of:
            steps[arm.name] = steps[arm.checkpoint_of]
    order = list(runs)
    summary = summarize_layouts(reports)
    summary = {name: summary[name] | {"steps": steps[name], "digits": digits[name]} for name in order}
    claims = check_claims(summary)
    speaking_rate = reports[0]["speaking_rate"] if reports else args.speaking_rate
    setup = {"train_items": args.train_items, "test_items": args.test_items, "level": args.level,
             "test_rows": reports[0]["items"] if reports else 0,
             "seconds": round(time.perf_counter() - started),
             "reused": reused, "jobs": len(jobs), "base_steps": args.base_steps,
             "base_steps_trained": [read_log(out / "bases" / f"seed{s}")[-1]["step"] for s in args.seeds],
             "steps": args.steps, "curriculum_steps": args.curriculum_steps, "seeds": args.seeds,
             "variant_seeds": args.seeds[:args.variant_seeds],
             "decode_rate": args.decode_rate, "speaking_rate": speaking_rate,
             "command": "python -m eval experiment " + " ".join(argv if argv is not None else sys.argv[2:])}
    plot(summary, out / "accuracy_vs_latency.png")
    print(write_report(out, summary, claims, setup, arms))
    result = {"setup": setup, "layouts": summary, "claims": claims}
    (out / "experiment.json").write_text(json.dumps(result, indent=2))
    return result

