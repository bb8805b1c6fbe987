"""Build into a staging folder next to the output, then swap the new files in.

A run writes nothing into ``--output`` until it has finished: shards, rejects, summary
and card go to ``OUTPUT.partial``; only then are they moved into place, file by file
(a rename each on a local disk), and the files of the previous run that this run did
not write are deleted. The previous run's files are known exactly from its
``_manifest.json``, so nothing else in the folder (the LLM cache, a report, the user's
own files) is ever touched. A failed or killed run leaves the previous dataset as it
was, and its staging folder is cleared by the next run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
from contextlib import contextmanager

from apache_beam.io.filesystems import FileSystems

MANIFEST = "_manifest.json"
FAILED_SUFFIX = ".failed"
TOP_LEVEL_FILES = frozenset({"summary.json", "llm_usage.json", "README.md", "recipe.yaml"})
OWNED_NAME = re.compile(r"(data|rejects)/[A-Za-z0-9_][A-Za-z0-9._-]*")
STAGING_SUFFIX = ".partial"
# What runs before manifests existed wrote; matched only inside the output folder.
LEGACY_PATTERNS = ("data/train-*-of-*.parquet", "rejects/rejects-*-of-*.parquet",
                   "summary.json", "llm_usage.json", "README.md")


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


def publish(staging: str, output: str) -> list[str]:
    """Move the finished run from ``staging`` into ``output``; returns the files moved."""
    new = [name for name in _files(staging) if name != MANIFEST]
    old = previous_files(output)
    for name in new:
        target = FileSystems.join(output, name)
        if "://" not in output:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        elif FileSystems.exists(target):
            FileSystems.delete([target])
        FileSystems.rename([FileSystems.join(staging, name)], [target])
    stale = [FileSystems.join(output, name) for name in sorted(set(old) - set(new))]
    stale = [path for path in stale if FileSystems.exists(path)]
    if stale:
        FileSystems.delete(stale)
    with FileSystems.create(FileSystems.join(output, MANIFEST)) as handle:
        handle.write(json.dumps({"files": new}, indent=2).encode() + b"\n")
    FileSystems.delete([staging])
    return new


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
