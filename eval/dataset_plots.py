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

    def histogram(name: str, series: dict[str, str], xlabel: str) -> None:
        figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
        axes.hist([values[key] for key in series], bins=30, label=list(series.values()))
        axes.set_xlabel(xlabel)
        axes.set_ylabel("rows")
        axes.legend(fontsize=8)
        save(figure, name)

    histogram("delays", {"first_substantive_seconds": "interleaved: first substantive spoken token",
                         "before_speaking_seconds": "think then speak: whole reasoning first"},
              "delay before speech says something (s)")

    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    axes.scatter(values["reasoning_tokens"], values["response_tokens"], s=6, alpha=0.5)
    axes.set_xlabel("reasoning tokens")
    axes.set_ylabel("response tokens")
    save(figure, "lengths")

    histogram("speaking_rates", {"question_words_per_second": "question",
                                 "response_words_per_second": "response"},
              "speaking rate (words per second of audio)")
    histogram("durations", {"question_seconds": "question", "response_seconds": "response"},
              "audio duration (s)")

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
