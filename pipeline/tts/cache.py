"""A content-addressed cache of the clips a remote engine spoke (paid per character), so a
killed or re-tuned run asks only for the clips it has no audio for.

Keyed like the LLM reply cache, by everything that decides a clip: the engine, its
endpoint and model, the voice (name, rate, pitch), the text and the sample rate. An entry
is the key, then the clip's PCM16 samples; it is written under a temporary name and
renamed into place, so a killed run never leaves an entry a rerun trusts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid

import numpy as np
from apache_beam.io.filesystems import FileSystems

from pipeline.tally import TALLY
from pipeline.tts.voice import Voice

KEY_BYTES = 64  # the key, in hex, at the head of an entry


def clip_key(identity: dict, text: str, voice: Voice) -> str:
    request = {**identity, "voice": dataclasses.asdict(voice), "text": text}
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class CachedSpeech:
    """An engine whose clips are read from ``folder`` when they were spoken before."""

    def __init__(self, engine, folder: str, identity: dict) -> None:
        self._engine, self._folder = engine, folder
        self._identity = {**identity, "sample_rate": engine.sample_rate}
        self.sample_rate = engine.sample_rate

    def _path(self, key: str) -> str:
        return FileSystems.join(self._folder, key[:2], f"{key}.pcm")

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        key = clip_key(self._identity, text, voice)
        path = self._path(key)
        try:
            with FileSystems.open(path) as handle:
                entry = handle.read()
        except OSError:
            entry = b""
        if entry[:KEY_BYTES] == key.encode() and len(entry) % 2 == 0:
            TALLY.add("tts", "cache_hits")
            return np.frombuffer(entry[KEY_BYTES:], dtype="<i2").astype(np.int16)
        samples = self._engine.synthesize(text, voice)
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        with FileSystems.create(temporary) as handle:
            handle.write(key.encode() + np.asarray(samples, dtype="<i2").tobytes())
        FileSystems.rename([temporary], [path])
        TALLY.add("tts", "clips_asked")
        return samples
