"""The frontier's cache: content-keyed JSON stages, decoding chunks and best-of-n scores, and the seed of a chunk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from coala_lib.core.cache import CacheEntry, CacheError, load_cached, publishing
from coala_lib.core.files import atomic_write_json, content_key

PAYLOAD = "payload.json"  # the one file of a stage or chunk cache entry


class Cache:
    """Content-keyed JSON stages and decoding chunks under ``root``: each a cache entry of
    :mod:`coala_lib.core.cache` (published atomically with its SHA-256, read back verified; a corrupt or
    foreign entry is reported with its path and recomputed, never used)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, kind: str, key: str) -> Path:
        """The folder of entry ``key`` of ``kind`` (``stage``, ``chunk`` or ``score``)."""
        return self.root / kind / key

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The verified payload of entry ``key`` of ``kind``; ``None`` when missing (or corrupt: reported)."""
        return load_cached(self.path(kind, key), _read_payload, kind=f"imdb-frontier-{kind}", key=key)

    def put(self, kind: str, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Publish ``payload`` as entry ``key`` of ``kind``; return it as a later :meth:`get` will read it."""
        payload = json.loads(json.dumps(payload, default=_jsonable))  # what a later read will see
        with publishing(self.path(kind, key), kind=f"imdb-frontier-{kind}", key=key, fields={}) as stage:
            atomic_write_json(stage.path / PAYLOAD, payload)
        return payload


def _read_payload(entry: CacheEntry) -> dict[str, Any]:
    """The JSON object an entry holds (anything else is a :class:`CacheError`: the entry is recomputed)."""
    payload = entry.read_json(PAYLOAD)
    if not isinstance(payload, dict):
        raise CacheError(f"cache entry {entry.path}: {PAYLOAD} is not a JSON object")
    return payload


def _jsonable(obj: Any) -> Any:
    """JSON for what a payload may hold besides JSON types: tensors (nested lists) and paths (their text)."""
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def chunk_seed(*parts: Any) -> int:
    """A seed for one chunk, fixed by its identity (so a resumed run draws what an uninterrupted one would):
    ``int(content_key(*parts), 16) mod 2^62``."""
    return int(content_key(*parts), 16) % (2**62)
