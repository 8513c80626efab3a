"""Cache entries: one way to publish a folder atomically and one way to read it back verified.

Every cached artefact of the library (pooled features, trained heads, SFT adapters, baseline runs)
is an *entry*: a folder ``<root>/<name>`` holding the artefact's files and ``manifest.json``::

    {"cache_format": 1, "kind": "features", "key": "<content key>", "fields": {...what the key hashes},
     "shape": {"n": 300, "dim": 576}, "meta": {...}, "files": {"shard-00000.safetensors":
     {"sha256": "...", "bytes": 123}, ...}}

Publishing (:func:`publishing`): the files are written into a private staging folder
``.<name>.partial-<host>-<pid>-<random>`` next to the entry; on success every file is hashed (SHA-256),
the manifest is written last and the folder is renamed to ``<name>`` in one step, so a reader sees
the whole entry or nothing. If the entry already exists it is kept (another process published the
same content first) unless ``replace=True`` (an explicit ``force``) or it has no manifest (debris).

Reading (:func:`open_entry`): the manifest must parse, be of this format and kind, carry the key
the caller asked for, the same key fields and the shape the caller expects (a manifest copied from
another entry, or a self-consistent one listing fewer rows, fails here); every listed file must
exist with its recorded size, and :meth:`CacheEntry.read_bytes` returns a file's bytes only if
their SHA-256 matches. Any failure is a :class:`CacheError` naming the entry's path and the check.
:func:`load_cached` turns that error into a :class:`CorruptCacheWarning` naming the path, moves the
entry aside and returns ``None``, so the caller recomputes; a caller that cannot recompute lets the
error propagate with the flag that forces a rebuild.

Leftovers (:func:`sweep_leftovers`, run before each publish): a staging folder whose writer
process is gone (same host, pid not alive; or older than :data:`STALE_AFTER_S`) and any
``.corrupt-*`` folder (an entry moved aside, then interrupted while being deleted) are removed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from coala_lib.core.files import atomic_write_json, json_default

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
MANIFEST = "manifest.json"
#: A staging folder of another host (or of unknown owner) older than this is considered abandoned.
STALE_AFTER_S = 6 * 3600
_HASH_BLOCK = 1 << 20
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial-(?:(?P<host>[A-Za-z0-9_.-]+?)-(?P<pid>\d+)-)?[0-9a-f]{32}$")
_CORRUPT = re.compile(r"^\..+\.corrupt-[0-9a-f]{32}$")

T = TypeVar("T")


class CacheError(RuntimeError):
    """A cache entry is missing, incomplete, damaged or not the one asked for; the message names its path."""


class CorruptCacheWarning(UserWarning):
    """A cache entry failed verification and is being recomputed (the message names its path)."""


def canonical(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, paths strings): what manifests compare."""
    return json.loads(json.dumps(obj, sort_keys=True, default=json_default))


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """An entry whose manifest passed :func:`open_entry`; file contents are checked as they are read."""

    path: Path
    manifest: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.manifest["key"])

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.manifest["fields"])

    @property
    def shape(self) -> dict[str, Any]:
        return dict(self.manifest["shape"])

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.manifest["meta"])

    @property
    def files(self) -> list[str]:
        return sorted(self.manifest["files"])

    def read_bytes(self, name: str) -> bytes:
        """The bytes of listed file ``name``, after checking them against the manifest's SHA-256."""
        record = self._record(name)
        try:
            blob = (self.path / name).read_bytes()
        except OSError as err:
            raise CacheError(f"cache entry {self.path}: cannot read {name} ({err.strerror})") from err
        if len(blob) != record["bytes"] or hashlib.sha256(blob).hexdigest() != record["sha256"]:
            raise CacheError(f"cache entry {self.path}: {name} does not match the SHA-256 in its {MANIFEST}")
        return blob

    def read_json(self, name: str) -> Any:
        """A listed JSON file, verified and parsed."""
        try:
            return json.loads(self.read_bytes(name).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CacheError(f"cache entry {self.path}: {name} is not valid JSON ({err})") from err

    def verify_files(self) -> None:
        """Check every listed file's SHA-256 (for files another library then opens by path)."""
        for name in self.files:
            if sha256_file(self.path / name) != self._record(name)["sha256"]:
                raise CacheError(f"cache entry {self.path}: {name} does not match the SHA-256 in its {MANIFEST}")

    def _record(self, name: str) -> dict[str, Any]:
        record = self.manifest["files"].get(name)
        if record is None:
            raise CacheError(f"cache entry {self.path}: {name} is not listed in its {MANIFEST}")
        return record


def open_entry(
    path: str | os.PathLike,
    *,
    kind: str,
    key: str | None,
    fields: Mapping[str, Any] | None = None,
    shape: Mapping[str, Any] | None = None,
) -> CacheEntry:
    """Check entry ``path``'s manifest against the request and its files' presence and sizes.

    ``key`` (``None``: any), ``fields`` and ``shape`` (each item, when given) must equal the manifest's.
    Raises :class:`CacheError` naming the path and the first check that failed.
    """
    where = Path(path)
    try:
        manifest = json.loads((where / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CacheError(f"cache entry {where} has no {MANIFEST} (incomplete or not a cache entry)") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CacheError(f"cache entry {where}: {MANIFEST} is unreadable ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("cache_format") != CACHE_FORMAT:
        got = manifest.get("cache_format") if isinstance(manifest, dict) else type(manifest).__name__
        raise CacheError(f"cache entry {where}: {MANIFEST} is not cache format {CACHE_FORMAT} (got {got!r})")
    for name, kind_of in (("key", str), ("fields", dict), ("shape", dict), ("meta", dict), ("files", dict)):
        if not isinstance(manifest.get(name), kind_of):
            raise CacheError(f"cache entry {where}: {MANIFEST} lacks a valid {name!r}")
    if manifest.get("kind") != kind:
        raise CacheError(f"cache entry {where} holds {manifest.get('kind')!r}, not {kind!r}")
    if key is not None and manifest["key"] != key:
        raise CacheError(f"cache entry {where} holds key {manifest['key']!r}, not the requested {key!r}")
    if fields is not None and manifest["fields"] != canonical(dict(fields)):
        differ = sorted(
            k for k in set(manifest["fields"]) | set(fields) if manifest["fields"].get(k) != canonical(fields.get(k))
        )
        raise CacheError(f"cache entry {where} was made with other {differ} than requested")
    for name, want in canonical(dict(shape or {})).items():
        if manifest["shape"].get(name) != want:
            raise CacheError(
                f"cache entry {where} has {name}={manifest['shape'].get(name)!r}, the request needs {want!r}"
            )
    root = where.resolve()
    for name, record in manifest["files"].items():
        file = (where / name).resolve()
        if root not in file.parents or not isinstance(record, dict) or {"sha256", "bytes"} - set(record):
            raise CacheError(f"cache entry {where}: {MANIFEST} lists an invalid file {name!r}")
        try:
            size = file.stat().st_size
        except OSError as err:
            raise CacheError(f"cache entry {where}: {name} is missing ({err.strerror})") from err
        if size != record["bytes"]:
            raise CacheError(f"cache entry {where}: {name} has {size} bytes, its {MANIFEST} says {record['bytes']}")
    return CacheEntry(where, manifest)


def load_cached(
    path: str | os.PathLike,
    read: Callable[[CacheEntry], T],
    *,
    kind: str,
    key: str,
    fields: Mapping[str, Any] | None = None,
    shape: Mapping[str, Any] | None = None,
) -> T | None:
    """``read(open_entry(path, ...))``; ``None`` when there is no entry, or, with a
    :class:`CorruptCacheWarning` naming the path and the problem, when it fails verification (the
    bad entry is moved aside and deleted, so the caller recomputes and publishes a good one).

    ``read`` raises :class:`CacheError` for anything wrong it finds in the files' contents.
    """
    where = Path(path)
    if not where.exists():
        return None
    try:
        return read(open_entry(where, kind=kind, key=key, fields=fields, shape=shape))
    except CacheError as err:
        warnings.warn(f"{err}; recomputing it", CorruptCacheWarning, stacklevel=2)
        discard(where)
        return None


def cached_file(
    final: str | os.PathLike,
    *,
    kind: str,
    key: str,
    fields: Mapping[str, Any],
    name: str,
    make: Callable[[], T],
    encode: Callable[[T], bytes],
    decode: Callable[[bytes], T],
) -> T:
    """An artefact stored as one file ``name`` of entry ``final``: decoded from its verified bytes, or
    made, encoded and published. A failure to decode verified bytes is treated like damage (warned,
    recomputed)."""

    def read(entry: CacheEntry) -> T:
        blob = entry.read_bytes(name)
        try:
            return decode(blob)
        except Exception as err:  # verified bytes that do not decode: the entry is unusable, whatever the cause
            raise CacheError(f"cache entry {entry.path}: {name} does not decode ({err!r})") from err

    found = load_cached(final, read, kind=kind, key=key, fields=fields)
    if found is not None:
        return found
    value = make()
    with publishing(final, kind=kind, key=key, fields=fields) as stage:
        (stage.path / name).write_bytes(encode(value))
    return value


@dataclass
class Stage:
    """A staging folder being filled: write files under ``path``; set ``shape`` and ``meta`` as known."""

    path: Path
    shape: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@contextmanager
def publishing(
    final: str | os.PathLike,
    *,
    kind: str,
    key: str,
    fields: Mapping[str, Any],
    shape: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> Iterator[Stage]:
    """Stage entry ``final``: the caller fills ``stage.path``; on success every file is hashed into
    the manifest (written last) and the folder renamed to ``final`` in one step. An existing valid
    entry is kept unless ``replace``; on error nothing is published and the staging folder is removed.
    """
    target = Path(final)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(target.parent)
    host = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"
    stage = Stage(
        target.with_name(f".{target.name}.partial-{host}-{os.getpid()}-{uuid.uuid4().hex}"),
        dict(shape or {}),
        dict(meta or {}),
    )
    stage.path.mkdir()
    try:
        yield stage
        files = {
            file.relative_to(stage.path).as_posix(): {"sha256": sha256_file(file), "bytes": file.stat().st_size}
            for file in sorted(stage.path.rglob("*"))
            if file.is_file() and file.relative_to(stage.path).as_posix() != MANIFEST
        }
        manifest = {
            "cache_format": CACHE_FORMAT,
            "kind": kind,
            "key": key,
            "fields": canonical(dict(fields)),
            "shape": canonical(stage.shape),
            "meta": canonical(stage.meta),
            "files": files,
        }
        atomic_write_json(stage.path / MANIFEST, manifest)
        _move_into_place(stage.path, target, replace)
    finally:
        if stage.path.exists():
            shutil.rmtree(stage.path, ignore_errors=True)


def _move_into_place(staged: Path, target: Path, replace: bool) -> None:
    """Rename ``staged`` to ``target``; an existing target is moved aside first if ``replace`` or if
    it is not a finished entry (no manifest), else kept."""
    if target.exists() and (replace or not (target / MANIFEST).is_file()):
        discard(target)
    try:
        staged.rename(target)
    except OSError as err:
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (target / MANIFEST).is_file():
            raise
        log.info("cache entry %s was published by another process meanwhile; keeping it", target)


def discard(entry: str | os.PathLike) -> None:
    """Move an entry out of the way in one rename (readers then miss it), then delete it."""
    where = Path(entry)
    trash = where.with_name(f".{where.name}.corrupt-{uuid.uuid4().hex}")
    try:
        where.rename(trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def sweep_leftovers(root: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Remove abandoned staging folders and half-deleted entries directly under ``root``; return them.

    A staging folder is abandoned when its writer (the host and pid in its name) is this host and
    that process no longer runs, or when it is older than :data:`STALE_AFTER_S`; others are left
    alone (a live writer) and logged.
    """
    base = Path(root)
    if not base.is_dir():
        return []
    removed: list[Path] = []
    here = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"
    clock = time.time() if now is None else now
    for child in base.iterdir():
        match = _PARTIAL.match(child.name)
        if _CORRUPT.match(child.name):
            abandoned = True
        elif match is not None:
            try:
                old = clock - child.stat().st_mtime > STALE_AFTER_S
            except FileNotFoundError:
                continue
            pid = match.group("pid")
            abandoned = old or (match.group("host") == here and pid is not None and not _alive(int(pid)))
            if not abandoned:
                log.info("leaving %s: its writer may still be running", child)
        else:
            continue
        if abandoned:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
            log.info("removed the leftover %s", child)
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
