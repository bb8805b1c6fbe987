"""The layout experiment: does thinking-in-speaking keep accuracy and speak at once?

    python -m eval experiment --out build/experiment      (or: make experiment)

Builds a train set and a test set with the built-in generator (different seeds; test
questions also seen in training are dropped), trains the three layouts ``tis``, ``tbs``
and ``direct`` with the same recipe, the same steps and several seeds, answers every test
question with each checkpoint, and writes ``report.md``, ``accuracy_vs_latency.png`` and
``experiment.json``. Each claim of the paper is checked against the figures and reported
as holding or not: nothing here is tuned to make a claim pass. A rerun with the same
``--out`` reuses the sets, checkpoints and evaluations already there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from eval.model_report import summarize_layouts
from pipeline.stages.interleave import LAYOUTS

ROOT = Path(__file__).resolve().parents[1]


def _run_all(jobs: list[list[list[str]]], parallel: int, logs: list[Path]) -> None:
    """Run jobs (each a list of commands, one after another), ``parallel`` at a time, each
    logging to its file; stop everything on the first failure."""
    pending = list(zip(jobs, logs, strict=True))
    running: list[tuple[subprocess.Popen, list[list[str]], Path]] = []

    def start(commands: list[list[str]], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        print("running", " ".join(commands[0][2:]), flush=True)
        with log.open("a") as handle:
            process = subprocess.Popen(commands[0], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        running.append((process, commands[1:], log))

    try:
        while pending or running:
            while pending and len(running) < parallel:
                start(*pending.pop(0))
            time.sleep(0.5)
            for entry in list(running):
                process, rest, log = entry
                if process.poll() is None:
                    continue
                running.remove(entry)
                if process.returncode:
                    raise SystemExit(f"failed (exit {process.returncode}): see {log}")
                if rest:
                    start(rest, log)
    finally:  # a failure or Ctrl-C stops the other runs (a trainer checkpoints on SIGTERM)
        for process, _, _ in running:
            process.terminate()
            process.wait()


def build_sets(out: Path, train_items: int, test_items: int, parallel: int) -> None:
    jobs, logs = [], []
    for name, items, seed in (("train", train_items, 1), ("test", test_items, 2)):
        folder = out / f"{name}-data"
        if (folder / "summary.json").exists():
            continue
        jobs.append([[sys.executable, "-m", "pipeline", "--source", f"generate:{items}", "--seed", str(seed),
                      "--output", str(folder), "--llm", "rules", "--tts", "espeak"]])
        logs.append(out / "logs" / f"build-{name}.log")
    _run_all(jobs, parallel, logs)


def run_layouts(out: Path, layouts: list[str], seeds: list[int], steps: int, parallel: int,
                overrides: list[str], decode_rate: float, speaking_rate: float, device: str) -> list[dict]:
    """Per layout and seed: train stage 3 (question text -> layout) from scratch, then
    answer every test question unseen in training with the final checkpoint."""
    folders, jobs, logs = [], [], []
    for layout in layouts:
        for seed in seeds:
            folder = out / "runs" / f"{layout}-seed{seed}"
            folders.append(folder)
            if (folder / "model_report.json").exists():
                continue
            jobs.append([
                [sys.executable, "-m", "training", "--data", str(out / "train-data"), "--out", str(folder),
                 "--stages", "3", "--layout", layout, "--seed", str(seed), "--threads", "1",
                 "--device", device, f"stages.textual_tis.steps={steps}", *overrides],
                [sys.executable, "-m", "eval", "model", str(folder / "stage3-textual_tis.pt"),
                 "--data", str(out / "test-data"), "--holdout", "1", "--unseen_in", str(out / "train-data"),
                 "--decode_rate", str(decode_rate), "--speaking_rate", str(speaking_rate), "--threads", "1",
                 "--out", str(folder)]])
            logs.append(out / "logs" / f"{layout}-seed{seed}.log")
    _run_all(jobs, parallel, logs)
    return [json.loads((folder / "model_report.json").read_text())["checkpoints"][0] for folder in folders]


def _seconds(tokens: float | None, decode_rate: float) -> float | None:
    """Time until the token at this position is out."""
    return None if tokens is None else (tokens + 1) / decode_rate


def check_claims(layouts: dict[str, dict], cycle: int, decode_rate: float) -> list[dict]:
    """The paper's four claims, each with the figures it rests on and whether it holds."""
    claims = []
    tis, tbs, direct = (layouts.get(name) for name in ("tis", "tbs", "direct"))
    if tis and direct and tbs:
        gap = tis["first_spoken_tokens"] - direct["first_spoken_tokens"]
        earlier = (tbs["first_spoken_tokens"] + 1) / (tis["first_spoken_tokens"] + 1)
        claims.append({"claim": "tis speaks its first token within one cycle of direct and at least 10x "
                                "earlier than tbs",
                       "holds": gap <= cycle and earlier >= 10,
                       "figures": f"tis {tis['first_spoken_tokens']:.0f}, direct "
                                  f"{direct['first_spoken_tokens']:.0f}, tbs "
                                  f"{tbs['first_spoken_tokens']:.0f} tokens (median position); gap to "
                                  f"direct {gap:.0f} tokens (cycle {cycle}); {earlier:.1f}x earlier than "
                                  "tbs"})
    if tis and tbs:
        gap = round(abs(tis["accuracy"] - tbs["accuracy"]) * 100, 9)
        claims.append({"claim": "tis accuracy within 5 points of tbs", "holds": gap <= 5,
                       "figures": f"tis {tis['accuracy']:.1%}, tbs {tbs['accuracy']:.1%}: {gap:.1f} points"})
    if tis and tbs and direct:
        kind = "contextual_multi_step"
        parts = [layouts[name]["by_category"].get(kind) for name in ("tis", "tbs", "direct")]
        if all(parts):
            above = all(part["accuracy_95"][0] > parts[2]["accuracy_95"][1] for part in parts[:2])
            claims.append({"claim": "tis and tbs far above direct on multi-step items (their 95% intervals "
                                    "clear of direct's)", "holds": above,
                           "figures": ", ".join(f"{name} {part['accuracy']:.1%} "
                                                f"[{part['accuracy_95'][0]:.1%}, "
                                                f"{part['accuracy_95'][1]:.1%}]"
                                                for name, part in zip(("tis", "tbs", "direct"), parts,
                                                                      strict=True))})
    if tis:
        claims.append({"claim": f"no playback stall for tis at {decode_rate:g} tokens/s",
                       "holds": tis["stalled_items"] == 0,
                       "figures": f"{tis['stalled_items']} of {tis['items']} items stall"})
    return claims


def plot(layouts: dict[str, dict], decode_rate: float, path: Path) -> None:
    """Accuracy against time to the first spoken token, one point per layout, with the
    accuracy interval over seeds and items and the spread of first-token time over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4), dpi=120)
    for name, line in layouts.items():
        x = _seconds(line["first_spoken_tokens"], decode_rate)
        runs = [_seconds(v, decode_rate) for v in line["first_spoken_by_run"] if v is not None]
        low, high = line["accuracy_95"]
        axes.errorbar([x], [line["accuracy"] * 100],
                      xerr=[[x - min(runs, default=x)], [max(runs, default=x) - x]],
                      yerr=[[(line["accuracy"] - low) * 100], [(high - line["accuracy"]) * 100]],
                      fmt="o", capsize=4, label=f"{name} ({line['runs']} seeds)")
        axes.annotate(name, (x, line["accuracy"] * 100), textcoords="offset points", xytext=(6, 6))
    axes.set_xscale("log")
    top = max((line["accuracy_95"][1] for line in layouts.values()), default=0.0) * 100
    axes.set_ylim(0, min(100, max(10, top + 5)))
    axes.set_xlabel(f"time to the first spoken token (s, at {decode_rate:g} tokens/s)")
    axes.set_ylabel("answer accuracy (%)")
    axes.set_title("Accuracy vs. latency by layout")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    pyplot.close(figure)


def write_report(out: Path, layouts: dict[str, dict], claims: list[dict], setup: dict) -> str:
    rate = setup["decode_rate"]
    reused = (f"; {setup['reused']} of its {setup['steps_in_all']} sets and runs were reused from an "
              "earlier run in the same folder") if setup["reused"] else ""
    lines = ["# Layout experiment", "",
             f"Train set: `generate:{setup['train_items']}` (seed 1); test set: {setup['test_rows']} "
             f"questions of `generate:{setup['test_items']}` (seed 2) not in the train set. Each layout "
             f"trained for {setup['steps']} steps of stage 3 (question text -> layout) from scratch, with "
             f"seeds {', '.join(map(str, setup['seeds']))}; decoded greedily; latency at {rate:g} "
             f"tokens/s, playback at {setup['speaking_rate']:g} spoken tokens/s.", "",
             f"Command: `{setup['command']}` ({setup['seconds'] / 60:.0f} minutes on {os.cpu_count()} cores"
             f"{reused}).", "",
             "| layout | seeds | accuracy [95%, seeds and items] | per seed | multi-step accuracy | "
             "first spoken token (tokens / s) | answer at (tokens) | drift | stalled items | format errors |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, line in layouts.items():
        low, high = line["accuracy_95"]
        multi = line["by_category"].get("contextual_multi_step")
        errors = ", ".join(f"{k} {v}" for k, v in line["format_errors"].items() if v) or "none"
        lines.append(
            f"| {name} | {line['runs']} | {line['accuracy']:.1%} [{low:.1%}, {high:.1%}] | "
            f"{', '.join(f'{a:.1%}' for a in line['accuracy_by_run'])} | "
            f"{'-' if not multi else format(multi['accuracy'], '.1%')} | "
            f"{line['first_spoken_tokens']:.0f} / {_seconds(line['first_spoken_tokens'], rate):.2f} | "
            f"{line['answer_tokens'] if line['answer_tokens'] is not None else '-'} | "
            f"{line['drift_rate']:.1%} | {line['stalled_items']} | {errors} |")
    lines += ["", "![accuracy vs latency](accuracy_vs_latency.png)", "", "## Claims", ""]
    for claim in claims:
        verdict = "holds" if claim["holds"] else "does not hold"
        lines.append(f"- **{verdict}**: {claim['claim']} ({claim['figures']}).")
    best = max((line["accuracy"] for line in layouts.values()), default=0.0)
    if best < 0.1:
        lines += ["", f"Every layout answers under 10% of the test questions (best {best:.1%}): the model "
                      "and its training are too small to solve these problems, so the accuracy claims "
                      "are not tested by this run; train longer or larger (`--steps`, `--set "
                      "model.width=...`) for a real comparison."]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m eval experiment", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/experiment")
    ap.add_argument("--train_items", type=int, default=3000)
    ap.add_argument("--test_items", type=int, default=200)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=400, help="training steps, the same for every run")
    ap.add_argument("--set", action="append", default=[], metavar="key=value",
                    help="a recipe override for every run (repeatable)")
    ap.add_argument("--decode_rate", type=float, default=50.0)
    ap.add_argument("--speaking_rate", type=float, default=3.0)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto, for training")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at once (one thread each)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layouts, seeds = args.layouts.split(","), [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    done = [out / f"{name}-data" / "summary.json" for name in ("train", "test")]
    done += [out / "runs" / f"{layout}-seed{seed}" / "model_report.json"
             for layout in layouts for seed in seeds]
    reused = sum(path.exists() for path in done)
    build_sets(out, args.train_items, args.test_items, args.jobs)
    overrides = ["eval_every=100000", "checkpoint_every=100", "data.holdout=0.02", *args.set]
    reports = run_layouts(out, layouts, seeds, args.steps, args.jobs, overrides, args.decode_rate,
                          args.speaking_rate, args.device)
    summary = summarize_layouts(reports)
    cycle = reports[0]["cycle"] if reports else 10
    claims = check_claims(summary, cycle, args.decode_rate)
    setup = {"train_items": args.train_items, "test_items": args.test_items, "test_rows": reports[0]["items"],
             "seconds": round(time.perf_counter() - started), "reused": reused,
             "steps_in_all": len(done),
             "steps": args.steps, "seeds": seeds, "decode_rate": args.decode_rate,
             "speaking_rate": args.speaking_rate, "overrides": overrides,
             "command": "python -m eval experiment " + " ".join(argv if argv is not None else sys.argv[2:])}
    plot(summary, args.decode_rate, out / "accuracy_vs_latency.png")
    print(write_report(out, summary, claims, setup))
    result = {"setup": setup, "layouts": summary, "claims": claims}
    (out / "experiment.json").write_text(json.dumps(result, indent=2))
    return result
