"""The dataset report's plots, from the values the report reads off every row."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def write_plots(values: dict[str, list[float]], rejects: Counter, out: Path) -> list[Path]:
    """Delays, lengths, speaking rates, durations and rejects, one PNG each."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    written = []

    def save(figure, name: str) -> None:
        figure.tight_layout()
        path = out / f"{name}.png"
        figure.savefig(path, metadata={"Software": None})
        pyplot.close(figure)
        written.append(path)

    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    axes.hist([values["first_substantive_seconds"], values["before_speaking_seconds"]], bins=30,
              label=["interleaved: first substantive spoken token",
                     "think then speak: whole reasoning first"])
    axes.set_xlabel("delay before speech says something (s)")
    axes.set_ylabel("rows")
    axes.legend(fontsize=8)
    save(figure, "delays")

    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    axes.scatter(values["reasoning_tokens"], values["response_tokens"], s=6, alpha=0.5)
    axes.set_xlabel("reasoning tokens")
    axes.set_ylabel("response tokens")
    save(figure, "lengths")

    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    axes.hist([values["question_words_per_second"], values["response_words_per_second"]], bins=30,
              label=["question", "response"])
    axes.set_xlabel("speaking rate (words per second of audio)")
    axes.set_ylabel("rows")
    axes.legend(fontsize=8)
    save(figure, "speaking_rates")

    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    axes.hist([values["question_seconds"], values["response_seconds"]], bins=30,
              label=["question", "response"])
    axes.set_xlabel("audio duration (s)")
    axes.set_ylabel("rows")
    axes.legend(fontsize=8)
    save(figure, "durations")

    figure, axes = pyplot.subplots(figsize=(6, max(2.0, 0.35 * len(rejects) + 1)), dpi=100)
    if rejects:
        reasons = [reason for reason, _ in rejects.most_common()][::-1]
        axes.barh(reasons, [rejects[r] for r in reasons])
        axes.set_xlabel("rejected records")
    else:
        axes.text(0.5, 0.5, "no rejects", ha="center", va="center")
        axes.set_axis_off()
    axes.set_title("rejects by stage and reason")
    save(figure, "rejects")
    return written
