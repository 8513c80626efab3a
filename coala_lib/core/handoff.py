"""Hand-offs between notebooks: the settings one notebook ran with, for the notebooks that reuse its output.

Notebook 03 hands its head configuration to notebooks 04-06, notebook 05 its baseline settings to
notebook 06. :func:`write_handoff` stores ``settings`` as the cache entry ``cache_dir()/handoffs/<name>-<key>``
(:mod:`coala_lib.core.cache`: published atomically with its SHA-256, replacing an earlier hand-off of the same
run), where ``key`` hashes ``selection``, the few parameters that pick a run (model, dataset, sizes, seed);
:func:`read_handoff` returns them verified, or ``None`` when no run with that selection was handed off (a
fresh cache). The reader then falls back to the shared defaults, which are the writer's defaults too, so
the two notebooks never hold two copies of one setting. A damaged hand-off cannot be recomputed by its
reader: it is an error naming the entry and the notebook to re-run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coala_lib.core.cache import CacheError, canonical, open_entry, publishing
from coala_lib.core.files import atomic_write_json, cache_dir, content_key

KIND = "handoff"
SETTINGS = "settings.json"


def handoff_path(name: str, selection: Mapping[str, Any], cache_root: str | os.PathLike | None = None) -> Path:
    """Where the hand-off ``name`` of the run ``selection`` lives."""
    if not name or "/" in name:
        raise ValueError(f"name must be a non-empty file-name part such as '03_train', got {name!r}")
    return cache_dir(cache_root) / "handoffs" / f"{name}-{content_key(dict(selection))}"


def write_handoff(
    name: str,
    selection: Mapping[str, Any],
    settings: Mapping[str, Any],
    cache_root: str | os.PathLike | None = None,
) -> Path:
    """Record ``settings`` (JSON-serialisable; dataclasses as dicts) for the run ``selection``; return the path.
    Settings that contradict the selection (:func:`contradiction`) are a ``ValueError``: nothing is written."""
    payload = {"name": name, "selection": dict(selection), "settings": dict(settings)}
    final = handoff_path(name, selection, cache_root)
    clash = contradiction(selection, settings)
    if clash is not None:
        raise ValueError(f"hand-off {name!r}: {clash}; hand off the settings of the run the selection names")
    fields = {"name": name, "selection": dict(selection)}
    with publishing(final, kind=KIND, key=final.name, fields=fields, replace=True) as stage:
        atomic_write_json(stage.path / SETTINGS, payload)
    return final


def read_handoff(
    name: str, selection: Mapping[str, Any], cache_root: str | os.PathLike | None = None
) -> dict[str, Any] | None:
    """The settings handed off for ``selection``, or ``None`` when there are none.

    A damaged hand-off, one recording another selection (a hash collision or a hand-edited file), or one
    whose settings contradict the selection it is filed under (a setting of the same name, e.g. another
    ``model``), is a :class:`~coala_lib.core.cache.CacheError` naming the path, never silently used.
    """
    path = handoff_path(name, selection, cache_root)
    if not path.exists():
        return None
    fix = f"re-run the notebook that writes hand-off {name!r} (it replaces the entry), or delete {path}"
    try:
        entry = open_entry(path, kind=KIND, key=path.name, fields={"name": name, "selection": dict(selection)})
        payload = entry.read_json(SETTINGS)
    except CacheError as err:
        raise CacheError(f"{err}; {fix}") from err
    expected = canonical(dict(selection))
    if (
        not isinstance(payload, dict)
        or payload.get("selection") != expected
        or not isinstance(payload.get("settings"), dict)
    ):
        raise CacheError(f"hand-off {path} does not record the settings of selection {expected!r}; {fix}")
    settings = payload["settings"]
    clash = contradiction(expected, settings)
    if clash is not None:
        raise CacheError(f"hand-off {path}: {clash}; {fix}")
    return settings


def contradiction(selection: Mapping[str, Any], settings: Mapping[str, Any]) -> str | None:
    """Where ``settings`` contradict the ``selection`` they are filed under: the first setting named like a
    selection key (e.g. ``model``) with another value, said in words; ``None`` when they agree."""
    expected = canonical(dict(selection))
    for key, value in expected.items():
        if key in settings and canonical(settings[key]) != value:
            return f"filed under {key}={value!r} but its settings say {key}={settings[key]!r}"
    return None
