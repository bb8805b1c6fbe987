"""Build into a staging folder next to the output, then switch the output to it in one step.

A run writes nothing into ``--output`` until it has finished: shards, rejects, summary
and card go to ``OUTPUT.partial``. Publishing then moves the shards in under names that
end in the new dataset's version (``data/train-00000-of-00003-<version>.parquet``), which
the current card does not match, so the previous dataset still loads; writes the summary
and the other top-level files; and replaces the card (``README.md``), one rename, which
switches every reader (``datasets.load_dataset`` and this toolkit's own) to the new
shards at once. Only then are the previous dataset's files deleted. A run killed at any
instant leaves either the previous dataset or the new one whole; the files an interrupted
publish left beside it are removed when the next run starts.

The previous run's files are known from its ``_manifest.json`` (untrusted: only plain file
names of ours under ``data/`` and ``rejects/`` and our top-level files are ever deleted) and
from the shard names this toolkit writes, so nothing else in the folder (the LLM cache, a
report, the user's own files) is ever touched.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
from contextlib import contextmanager

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.dataset.card import dataset_card
from pipeline.dataset.shards import card_globs

MANIFEST = "_manifest.json"
CARD = "README.md"
FAILED_SUFFIX = ".failed"
TOP_LEVEL_FILES = frozenset({"summary.json", "llm_usage.json", CARD, "recipe.yaml"})
OWNED_NAME = re.compile(r"(data|rejects)/[A-Za-z0-9_][A-Za-z0-9._-]*")
# The shards this toolkit names: ``split-00000-of-00003`` and, once published, ``-<version>``.
SHARD_NAME = re.compile(r"(data|rejects)/[a-z][a-z0-9_]*-\d{5}-of-\d{5}(-[0-9a-f]{12})?\.parquet")
STAGING_SUFFIX = ".partial"
TEMPORARY = ".tmp"
# What runs before manifests existed wrote; matched only inside the output folder.
LEGACY_PATTERNS = ("data/train-*-of-*.parquet", "rejects/rejects-*-of-*.parquet",
                   "summary.json", "llm_usage.json", CARD)


def staging_path(output: str) -> str:
    return output.rstrip("/") + STAGING_SUFFIX


def _relative(root: str, path: str) -> str:
    return path[len(root.rstrip("/")) + 1:]


def _files(root: str, depth: int = 2) -> list[str]:
    """Every file under ``root`` (our layout is at most ``depth`` folders deep), relative."""
    found = []
    for level in range(1, depth + 1):
        pattern = FileSystems.join(root, *["*"] * level)
        found += [_relative(root, m.path) for m in FileSystems.match([pattern])[0].metadata_list]
    return sorted(set(found))


def owned(name: str) -> bool:
    """Whether a manifest entry names a file a run of ours writes: a plain file name in
    ``data/`` or ``rejects/``, or one of the top-level files (never ``..``, a folder or an
    absolute path: a manifest is read from a folder that may come from anyone)."""
    return isinstance(name, str) and (name in TOP_LEVEL_FILES or OWNED_NAME.fullmatch(name) is not None)


def previous_files(output: str) -> list[str]:
    """The files the previous run wrote: its manifest, or the names older runs used. A
    manifest that cannot be read, or entries that are no file of ours, are warned about
    and left alone."""
    manifest = FileSystems.join(output, MANIFEST)
    if FileSystems.exists(manifest):
        try:
            with FileSystems.open(manifest) as handle:
                files = json.loads(handle.read())["files"]
            if not isinstance(files, list):
                raise TypeError("files is not a list")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            print(f"warning: {manifest} is unreadable ({error}); the previous run's files are kept",
                  file=sys.stderr)
            return []
        foreign = [name for name in files if not owned(name)]
        if foreign:
            print(f"warning: {manifest} names {len(foreign)} files that are not this dataset's "
                  f"(e.g. {str(foreign[0])[:80]!r}); they are left alone", file=sys.stderr)
        return [name for name in files if owned(name)]
    files = []
    for pattern in LEGACY_PATTERNS:
        matches = FileSystems.match([FileSystems.join(output, pattern)])[0].metadata_list
        files += [_relative(output, m.path) for m in matches]
    return files


def start_staging(output: str) -> str:
    """An empty staging folder for this run (a killed run's leftovers removed)."""
    staging = staging_path(output)
    if FileSystems.exists(staging):
        FileSystems.delete([staging])
    return staging


def dataset_version(summary: dict) -> str:
    """A build's version: a hash of its summary, which holds its settings, counts and
    shard sizes, so the same inputs and seed give the same version (and the same card);
    what a cache saved is left out, as it changes no row."""
    kept = {name: value for name, value in summary.items() if name != "tts_cache"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def _versioned(name: str, version: str) -> str:
    return name if not SHARD_NAME.fullmatch(name) else f"{name.removesuffix('.parquet')}-{version}.parquet"


def _replace(source: str, target: str) -> None:
    """Move one file onto ``target`` (one rename on a local disk, which replaces it whole)."""
    if "://" not in target:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(source, target)
        return
    if FileSystems.exists(target):
        FileSystems.delete([target])
    FileSystems.rename([source], [target])


def _write_then_replace(path: str, text: str) -> None:
    temporary = path + TEMPORARY
    with FileSystems.create(temporary) as handle:
        handle.write(text.encode("utf-8"))
    _replace(temporary, path)


def _card(staging: str, summary: dict, version: str) -> str:
    """The staging card, its shard globs rewritten for the published names."""
    first = FileSystems.match([FileSystems.join(staging, "data", "*.parquet")])[0].metadata_list[0].path
    with FileSystems.open(first) as handle:
        schema = pq.read_schema(handle)
    return dataset_card(summary, schema, version)


def remove_leftovers(output: str) -> list[str]:
    """Delete the shards of ours that neither the card nor the manifest names (what an
    interrupted publish left); a folder without a readable card of ours keeps everything."""
    if "://" in output:
        return []
    named = set(previous_files(output))
    for part in ("data", "rejects"):
        globs = card_globs(output, part)
        if globs is None:
            return []
        for _, pattern in globs:
            matches = FileSystems.match([FileSystems.join(output, pattern)])[0].metadata_list
            named |= {_relative(output, m.path) for m in matches}
    present = [f"{part}/{name}" for part in ("data", "rejects")
               for name in _files(os.path.join(output, part), 1)]
    leftovers = [name for name in present if SHARD_NAME.fullmatch(name) and name not in named]
    leftovers += [name for name in (CARD + TEMPORARY, MANIFEST + TEMPORARY)
                  if os.path.exists(os.path.join(output, name))]
    for name in leftovers:
        os.remove(os.path.join(output, name))
    return leftovers


def publish(staging: str, output: str) -> list[str]:
    """Switch ``output`` to the finished run in ``staging``; returns the files it now holds."""
    with FileSystems.open(FileSystems.join(staging, "summary.json")) as handle:
        summary = json.loads(handle.read())
    version = dataset_version(summary)
    staged = [name for name in _files(staging) if name not in (MANIFEST, CARD)]
    new = sorted(_versioned(name, version) for name in staged) + [CARD]
    old = previous_files(output)
    card = _card(staging, summary, version)
    for name in staged:
        _replace(FileSystems.join(staging, name), FileSystems.join(output, _versioned(name, version)))
    _write_then_replace(FileSystems.join(output, CARD), card)
    _write_then_replace(FileSystems.join(output, MANIFEST), json.dumps({"files": new}, indent=2) + "\n")
    stale = [FileSystems.join(output, name) for name in sorted(set(old) - set(new))]
    stale = [path for path in stale if FileSystems.exists(path)]
    if stale:
        FileSystems.delete(stale)
    remove_leftovers(output)
    FileSystems.delete([staging])
    return new


def incomplete(staging: str, summary: dict) -> str:
    """What makes a finished build unfit to publish ('' when nothing): inputs that were
    neither kept nor rejected, or shards that hold other row counts than were counted (a
    runner that drops elements: Beam's DaskRunner loses what a DoFn emits as its bundle
    finishes)."""
    if not summary["balanced"]:
        lost = summary["inputs"] - summary["outputs"] - summary["rejects"]
        return (f"inputs {summary['inputs']} != outputs {summary['outputs']} + rejects {summary['rejects']}: "
                f"{lost} records were lost on the way")
    counted = {f"data/{part}": split["num_examples"] for part, split in summary["splits"].items()}
    for prefix, count in {**counted, "rejects/rejects": summary["rejects"]}.items():
        rows = 0
        for match in FileSystems.match([FileSystems.join(staging, f"{prefix}-*.parquet")])[0].metadata_list:
            with FileSystems.open(match.path) as handle:
                rows += pq.ParquetFile(handle).metadata.num_rows
        if rows != count:
            return f"the {prefix}-* shards hold {rows} rows where {count} came through the stages"
    return ""


def has_dataset(output: str) -> bool:
    """Whether the output already holds a dataset of ours."""
    return FileSystems.exists(FileSystems.join(output, MANIFEST)) or bool(previous_files(output))


def keep_failed(staging: str, output: str) -> str:
    """Set a failed run's files (its rejects, summary and card) aside beside the output,
    where they replace an earlier failed run's, leaving the dataset as it was."""
    failed = output.rstrip("/") + FAILED_SUFFIX
    if FileSystems.exists(failed):
        FileSystems.delete([failed])
    FileSystems.rename([staging], [failed])
    return failed


@contextmanager
def output_lock(output: str):
    """Hold an advisory lock (``OUTPUT.lock``) for a whole run, so two runs never write one
    local output; the system drops it when its process ends, so a killed run leaves none."""
    if "://" in output:
        yield
        return
    path = output.rstrip("/") + ".lock"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115  (held open for the whole run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise SystemExit(f"--output {output}: another run ({holder}) is writing it; wait for it to end "
                         "or choose another --output") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


class NoSpace(Exception):
    """The output's disk cannot take the build: found before it starts, or full during it."""


def no_space(error: BaseException) -> bool:
    """Whether a failure was a full disk (Beam re-raises a worker's ``OSError`` as text)."""
    while error is not None:
        if isinstance(error, NoSpace) or getattr(error, "errno", None) == errno.ENOSPC \
                or f"[Errno {errno.ENOSPC}]" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def check_free_space(folder: str, needed: int) -> None:
    """Raise ``NoSpace`` before a build that would not fit beside what is on the disk: its
    shards and the sorted parts they are merged from, about twice the dataset's size."""
    if "://" in folder:
        return
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    free = shutil.disk_usage(existing).free
    if free < 2 * needed:
        raise NoSpace(f"{free / 1e6:,.0f} MB free on its disk; a build of about {needed / 1e6:,.0f} MB "
                      f"needs about {2 * needed / 1e6:,.0f} MB (its shards, and the parts they are "
                      "merged from)")


def check_writable(output: str, sources: list[str]) -> None:
    """Raise ``ValueError`` (one line) before the run when the output cannot take the
    dataset: a file in its place, a read-only folder, or a source inside it."""
    if "://" in output:
        return
    real = os.path.realpath(output)
    if os.path.isfile(output):
        raise ValueError(f"--output {output}: is a file, not a folder")
    existing = output if os.path.isdir(output) else os.path.dirname(real)
    while existing and not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing or ".", os.W_OK):
        raise ValueError(f"--output {output}: {existing} is not writable")
    for source in sources:
        if "://" not in source and os.path.commonpath([real, os.path.realpath(source)]) == real:
            raise ValueError(f"source {source} lies inside --output {output}: write the new "
                             "dataset to another folder")
