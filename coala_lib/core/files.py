"""Files: atomic writes, the cache directory, the data directory and JSON result records.

Every file the library writes goes through :func:`atomic_write_bytes`: the bytes land in a
temporary file in the same directory, are flushed to disk, then renamed over the target, so a
crash or a bad input never leaves a half-written cache entry or result. Whole cache entries (folders
with a manifest of content hashes) are published and verified by :mod:`coala_lib.core.cache`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "COALA_DATA_DIR"
CACHE_DIR_ENV = "COALA_CACHE_DIR"
RESULTS_DIR_ENV = "COALA_RESULTS_DIR"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_default(obj: Any) -> Any:
    """JSON for paths (their text), tensors or arrays (nested lists) and dataclass instances (their fields,
    e.g. a config recorded as a notebook's parameters); anything else is an error."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def content_key(*parts: Any, length: int = 16) -> str:
    """A short, stable hash of JSON-serialisable ``parts``: the name of a content-keyed cache entry."""
    blob = json.dumps(parts, sort_keys=True, default=json_default).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:length]


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Cache root: ``explicit``, else ``$COALA_CACHE_DIR``, else ``~/.cache/coala``."""
    root = explicit or os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "coala"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir(explicit: str | os.PathLike | None = None, *, search: bool = True) -> Path | None:
    """The results folder (benchmark records ``bench_*.json``, the ledger's ``claims/``): the one lookup.

    ``explicit``, else ``$COALA_RESULTS_DIR``, else (with ``search``) ``results/`` of the checkout that holds
    the working directory (its root, ``book/executed`` where the book's notebooks run, or any folder
    inside it) or, for an editable install, the checkout coala_lib is imported from; a checkout is a
    folder with ``pyproject.toml`` and ``coala_lib/``. Else ``None``: coala_lib pip-installed (as in
    Colab) outside a checkout has no results. Writers pass ``search=False``: they write only where told.
    """
    root = explicit or os.environ.get(RESULTS_DIR_ENV)
    if root:
        return Path(root).expanduser()
    if not search:
        return None
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        if (folder / "pyproject.toml").is_file() and (folder / "coala_lib").is_dir():
            return folder / "results"
    return None


def results_file(name: str, explicit: str | os.PathLike | None = None) -> Path:
    """The record ``name`` (e.g. ``"bench_guidance_cpu.json"``) in :func:`results_dir`; a missing folder or
    file is a ``FileNotFoundError`` saying where it looked and how to get the record."""
    folder = results_dir(explicit)
    path = None if folder is None else folder / name
    if path is None or not path.is_file():
        where = (
            f"in {folder}" if folder is not None else "(no results folder: not in a checkout, no $COALA_RESULTS_DIR)"
        )
        raise FileNotFoundError(
            f"no {name} {where}; set {RESULTS_DIR_ENV} to the folder holding it (a checkout's results/) "
            "or produce it with the benchmark under bench/ that writes it"
        )
    return path


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """Local data directory: ``explicit``, else ``$COALA_DATA_DIR``, else ``None`` (use the Hub).

    Raises ``FileNotFoundError`` naming the setting when a directory is given but does not exist.
    """
    root = explicit if explicit not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    if root is None:
        return None
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        source = "data_dir" if explicit not in (None, "") else f"${DATA_DIR_ENV}"
        raise FileNotFoundError(
            f"{source} = {root!r} is not a directory; point it at a folder of the dataset files "
            f"(for example ../shared/data) or leave it unset to load from the Hugging Face Hub."
        )
    return path


def portable_paths(value: Any, explicit_data_dir: str | os.PathLike | None = None) -> Any:
    """``value`` (strings, nested in dicts and lists) with the local data directory (:func:`data_dir`)
    written as ``<COALA_DATA_DIR>``, so a record names the file it read without the path of the machine
    that read it (``/srv/data/imdb-train.jsonl.gz`` -> ``<COALA_DATA_DIR>/imdb-train.jsonl.gz``)."""
    root = data_dir(explicit_data_dir)
    if root is None:
        return value
    prefix = str(root).rstrip("/") + "/"

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return f"<{DATA_DIR_ENV}>/" + item[len(prefix) :] if item.startswith(prefix) else item
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v) for v in item]
        return item

    return walk(value)


def cpu_model() -> str | None:
    """The CPU's model name as the operating system reports it (``/proc/cpuinfo`` on Linux), else ``None``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, name = line.partition(":")
            if key.strip() == "model name" and name.strip():
                return name.strip()
    except OSError:
        pass
    return None


def environment_record() -> dict[str, Any]:
    """Where a result was produced: host, Python, library versions, the CPU (model and count) and the
    accelerator, if any."""
    import torch

    record: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
        "device_name": platform.processor() or platform.machine(),
    }
    if torch.cuda.is_available():
        record["device"] = "cuda"
        record["device_name"] = torch.cuda.get_device_name(0)
    try:
        import transformers

        record["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover - transformers is a hard dependency in practice
        pass
    return record
