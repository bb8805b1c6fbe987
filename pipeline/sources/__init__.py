"""Where problems come from: the built-in generator, JSONL and Parquet files, and
datasets on the Hugging Face Hub.

A ``--source`` value is ``KIND:LOCATION[?OPTIONS]``:

- ``generate:600``: the built-in generator;
- ``gsm8k:data/train.jsonl``, ``math:data/*.parquet``: files of a known format (globs,
  ``gs://`` and ``s3://`` work);
- ``math:hub:EleutherAI/hendrycks_math?config=algebra&split=train``: a dataset read
  with ``datasets.load_dataset`` (a local dataset folder works the same way);
- options ``limit=N`` (the first N rows of each file) and ``weight=F`` (a seeded,
  deterministic sample of that share of rows), e.g. ``gsm8k:train.jsonl?weight=0.5``;
  ``generate:3000?level=easy`` makes small-number problems (``pipeline.sources.generator``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from pipeline.sources.formats import FORMATS
from pipeline.sources.generator import LEVELS

GENERIC = "generic"
EQUATION = "equation"  # a question and an arithmetic expression (SVAMP, MAWPS, ASDiv)
HUB_PREFIX = "hub:"
KINDS = ("generate", *FORMATS, GENERIC)
# The licenses of the sources whose kind names one dataset, as the Hub writes them; the
# generator's problems are this project's. Other sources need --license.
LICENSES = {"generate": "apache-2.0", "gsm8k": "mit", "math": "mit", "aqua": "apache-2.0", "orca": "mit",
            "metamath": "mit"}
UNKNOWN_LICENSE = "unknown"
# The public dataset a source kind names, as its card cites it:
# (BibTeX key, title, first author, where it appeared, year).
CITATIONS = {
    "gsm8k": ("cobbe2021gsm8k", "Training Verifiers to Solve Math Word Problems", "Cobbe, Karl",
              "arXiv:2110.14168", 2021),
    "math": ("hendrycks2021math", "Measuring Mathematical Problem Solving With the MATH Dataset",
             "Hendrycks, Dan", "arXiv:2103.03874", 2021),
    "aqua": ("ling2017aqua", "Program Induction by Rationale Generation: Learning to Solve and Explain "
             "Algebraic Word Problems", "Ling, Wang", "ACL 2017", 2017),
    "orca": ("mitra2024orcamath", "Orca-Math: Unlocking the potential of SLMs in Grade School Math",
             "Mitra, Arindam", "arXiv:2402.14830", 2024),
    "metamath": ("yu2023metamath", "MetaMath: Bootstrap Your Own Mathematical Questions for Large "
                 "Language Models", "Yu, Longhui", "arXiv:2309.12284", 2023),
}


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``--source`` value."""

    kind: str
    path: str = ""
    count: int = 0
    limit: int | None = None
    weight: float = 1.0
    config: str | None = None
    split: str = "train"
    level: str = "standard"

    @property
    def name(self) -> str:
        return "generated" if self.kind == "generate" else self.kind

    @property
    def hub(self) -> bool:
        return self.path.startswith(HUB_PREFIX)

    @property
    def dataset(self) -> str:
        return self.path.removeprefix(HUB_PREFIX)


def parse_source(spec: str) -> SourceSpec:
    kind, sep, rest = spec.partition(":")
    location, _, query = rest.partition("?")
    if not sep or not location:
        raise ValueError(f"source {spec!r} is not KIND:LOCATION (e.g. generate:600, gsm8k:PATH)")
    if kind not in KINDS:
        raise ValueError(f"unknown source kind {kind!r}; known: {', '.join(KINDS)}")
    options = dict(parse_qsl(query, strict_parsing=bool(query)))
    unknown = set(options) - {"limit", "weight", "config", "split", "level"}
    if unknown:
        raise ValueError(f"unknown option {', '.join(sorted(unknown))} in source {spec!r}")
    try:
        limit = int(options["limit"]) if "limit" in options else None
        weight = float(options.get("weight", 1.0))
    except ValueError:
        raise ValueError(f"limit must be an integer and weight a number in {spec!r}") from None
    if (limit is not None and limit < 1) or not 0 < weight <= 1:
        raise ValueError(f"limit must be positive and weight in (0, 1] in {spec!r}")
    if kind == "generate":
        if not location.isdigit() or int(location) < 1:
            raise ValueError(f"generate:N needs a positive count, got {location!r}")
        level = options.get("level", "standard")
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r} in {spec!r}; known: {', '.join(LEVELS)}")
        return SourceSpec("generate", count=int(location), limit=limit, level=level)
    if "level" in options:
        raise ValueError(f"level is an option of generate:N only, in {spec!r}")
    return SourceSpec(kind, location, limit=limit, weight=weight, config=options.get("config"),
                      split=options.get("split", "train"))


def source_licenses(specs: list[SourceSpec], given: str = "") -> list[str]:
    """The dataset's licenses: the one given, else those of its sources (``unknown`` for a
    source whose kind does not name one dataset)."""
    if given:
        return [given]
    return sorted({LICENSES.get(spec.kind, UNKNOWN_LICENSE) for spec in specs})


def public_source(label: str) -> str:
    """A run's sources as a card may show them: each file named by its base name, never by
    the path it had on the building machine."""
    shown = []
    for source in label.split(" + "):
        kind, _, location = source.partition(":")
        location, _, query = location.partition("?")
        if kind != "generate" and not location.startswith(HUB_PREFIX):
            location = location.rstrip("/").rsplit("/", 1)[-1]
        shown.append(f"{kind}:{location}" + (f"?{query}" if query else ""))
    return " + ".join(shown)


def check_sources(specs: list[SourceSpec]) -> None:
    """Raise ``ValueError`` with a one-line message naming the path when a file source
    cannot be read: nothing matches, it is a folder, or a Parquet file is corrupt. Checked
    before the run starts, so a typo never yields an empty dataset and exit 0."""
    import os

    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    for spec in specs:
        if spec.kind == "generate" or spec.hub:
            continue
        if os.path.isdir(spec.path):
            raise ValueError(f"source {spec.path}: is a folder; name its files (e.g. {spec.path}/*.jsonl)")
        matches = [m.path for m in FileSystems.match([spec.path])[0].metadata_list]
        if not matches:
            raise ValueError(f"source {spec.path}: no such file (nothing matches)")
        for path in matches:
            if path.endswith(".parquet"):
                try:
                    with FileSystems.open(path) as handle:
                        pq.ParquetFile(handle).metadata  # noqa: B018  (reading it is the check)
                except Exception as error:  # pyarrow raises several kinds for a broken file
                    raise ValueError(f"source {path}: not a readable Parquet file ({error})") from None
