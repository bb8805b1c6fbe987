"""A content-addressed cache of LLM replies, through Beam's ``FileSystems`` (a local folder,
``gs://``, ``s3://``), so a rerun after a crash pays for no reply twice.

The key hashes everything that decides a reply: the model, the endpoint, the sampling
parameters and the messages (which carry the prompt template's text). An entry is
written under a temporary name and renamed into place, and it repeats its own key, so
a crash never leaves an entry that a rerun trusts.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from apache_beam.io.filesystems import FileSystems


def reply_key(model: str, endpoint: str, sampling: dict, messages: list[dict]) -> str:
    request = {"model": model, "endpoint": endpoint, "sampling": sampling, "messages": messages}
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ReplyCache:
    def __init__(self, folder: str) -> None:
        self._folder = folder

    def _path(self, key: str) -> str:
        return FileSystems.join(self._folder, key[:2], f"{key}.json")

    def get(self, key: str) -> dict | None:
        """The stored reply, or None when absent or unreadable (then it is asked again)."""
        path = self._path(key)
        try:
            with FileSystems.open(path) as handle:
                entry = json.loads(handle.read())
        except (OSError, ValueError):
            return None
        return entry["reply"] if isinstance(entry, dict) and entry.get("key") == key else None

    def put(self, key: str, reply: dict) -> None:
        path = self._path(key)
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        with FileSystems.create(temporary) as handle:
            handle.write(json.dumps({"key": key, "reply": reply}, ensure_ascii=False).encode())
        FileSystems.rename([temporary], [path])
