"""Hand-offs between notebooks: the settings one notebook ran with, for the notebooks that reuse its output.

Notebook 03 hands its head configuration to notebooks 04-06, notebook 05 its baseline settings to
notebook 06. :func:`write_handoff` stores ``settings`` as ``cache_dir()/handoffs/<name>-<key>.json`` (atomic),
where ``key`` hashes ``selection``, the few parameters that pick a run (model, dataset, sizes, seed);
:func:`read_handoff` returns them, or ``None`` when no run with that selection was handed off (a fresh
cache). The reader then falls back to the shared defaults, which are the writer's defaults too, so
the two notebooks never hold two copies of one setting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coala_lib.core.files import atomic_write_json, cache_dir, content_key, json_default


def handoff_path(name: str, selection: Mapping[str, Any], cache_root: str | os.PathLike | None = None) -> Path:
    """Where the hand-off ``name`` of the run ``selection`` lives."""
    if not name or "/" in name:
        raise ValueError(f"name must be a non-empty file-name part such as '03_train', got {name!r}")
    return cache_dir(cache_root) / "handoffs" / f"{name}-{content_key(dict(selection))}.json"


def write_handoff(
    name: str,
    selection: Mapping[str, Any],
    settings: Mapping[str, Any],
    cache_root: str | os.PathLike | None = None,
) -> Path:
    """Record ``settings`` (JSON-serialisable; dataclasses as dicts) for the run ``selection``; return the path."""
    payload = {"name": name, "selection": dict(selection), "settings": dict(settings)}
    return atomic_write_json(handoff_path(name, selection, cache_root), payload)


def read_handoff(
    name: str, selection: Mapping[str, Any], cache_root: str | os.PathLike | None = None
) -> dict[str, Any] | None:
    """The settings handed off for ``selection``, or ``None`` when there are none.

    A file whose recorded selection differs from ``selection`` (a hash collision or a hand-edited file)
    is an error naming the path, never silently used.
    """
    path = handoff_path(name, selection, cache_root)
    if not path.is_file():
        return None
    payload = json.loads(path.read_text(encoding="utf-8"))
    expected = json.loads(json.dumps(dict(selection), default=json_default))
    if payload.get("selection") != expected or not isinstance(payload.get("settings"), dict):
        raise ValueError(
            f"hand-off {path} records selection {payload.get('selection')!r}, not {expected!r}; "
            "delete the file and re-run the notebook that writes it"
        )
    return payload["settings"]
