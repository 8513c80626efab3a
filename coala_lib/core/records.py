"""Reading committed records: JSON result files and gzip JSON Lines, checked as they are read.

Every reader of a committed record (the claims ledger's notebook and benchmark records, the IMDb frontier
record and its generations) goes through :func:`read_record` or :func:`read_jsonl_records`. A file that is
not UTF-8 JSON (or not gzip, or cut short), whose top level is not an object, that lacks a required key,
holds a value of the wrong type, carries another schema version or, where the reader lists every key it
knows, a key it does not know (a renamed key), is a :class:`RecordError` whose one sentence names the file
(and the line of a JSON Lines file), what is wrong and how to get a good record; never a raw
``JSONDecodeError``, ``TypeError`` or ``KeyError``, and never read as "no record". Whether a *missing file*
means "no record" stays the reader's decision.

A schema maps each key to its type or tuple of types (:data:`NUMBER` for an int or a float; ``object`` for
any value; a ``bool`` is no number there, although Python counts it as an ``int``), or to a nested schema:
:class:`Fields` (an object with these keys) or :class:`Each` (an object of any keys, each value of a kind).
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

#: What a schema says of one key: a type, a tuple of types, or a nested :class:`Fields` / :class:`Each`.
Kind: TypeAlias = "type | tuple[type, ...] | Fields | Each"
Schema: TypeAlias = "Mapping[str, Kind]"
#: A JSON number: an int or a float (never a bool).
NUMBER: tuple[type, ...] = (int, float)


@dataclass(frozen=True)
class Fields:
    """A nested JSON object with these ``required`` and ``optional`` keys (a schema inside a schema)."""

    required: Schema = field(default_factory=dict)
    optional: Schema = field(default_factory=dict)


@dataclass(frozen=True)
class Each:
    """A JSON object of any keys (names of methods, curves, judges) whose every value is of ``kind``."""

    kind: Kind


class RecordError(ValueError):
    """A committed record that cannot be used; the message names the file (and line) and what is wrong."""


def _kind_name(kind: Kind) -> str:
    if isinstance(kind, (Fields, Each)):
        return "an object"
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object"}
    names |= {list: "a list", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds and (int in kinds or float in kinds):
        return False  # JSON true is no number, although Python counts a bool as an int
    return isinstance(value, kinds)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _within(where: str, at: str) -> str:
    return f"{where} ({at})" if at else where


def _check_value(value: Any, kind: Kind, where: str, at: str, fix: str) -> None:
    """Raise unless ``value`` (at the dotted path ``at`` of the record in ``where``) is of ``kind``."""
    if isinstance(kind, Fields):
        check_fields(value, where, kind.required, optional=kind.optional, fix=fix, at=at)
    elif isinstance(kind, Each):
        _check_value(value, dict, where, at, fix)
        for name, item in value.items():
            _check_value(item, kind.kind, where, f"{at}.{name}", fix)
    elif not _is(value, kind):
        tail = f"; {fix}" if fix else ""
        raise RecordError(
            f"{where}: {at!r} must be {_kind_name(kind)}, got {_shown(value)} ({_kind_name(type(value))}){tail}"
        )


def check_fields(
    record: Any,
    where: str,
    required: Schema | None = None,
    *,
    optional: Schema | None = None,
    known: Collection[str] | None = None,
    fix: str = "",
    at: str = "",
) -> dict[str, Any]:
    """``record`` itself once it is a JSON object with every ``required`` key of its kind, every ``optional``
    key present of its kind (a type, a tuple of types, or nested: :class:`Fields`, :class:`Each`) and, when
    ``known`` is given, no key outside ``known``, ``required`` and ``optional``; else a :class:`RecordError`
    ``"<where> (<at>) <what is wrong>; <fix>"``. ``where`` names the file (``"results/claims/03_train.json"``,
    ``"generations.jsonl.gz line 7"``), ``at`` the dotted path of ``record`` inside it (``"values"``; none:
    the whole record)."""
    tail = f"; {fix}" if fix else ""
    here = _within(where, at)
    if not isinstance(record, dict):
        raise RecordError(f"{here} holds {_kind_name(type(record))}, not a JSON object of named fields{tail}")
    required, optional = dict(required or {}), dict(optional or {})
    missing = [k for k in required if k not in record]
    if missing:
        unknown = sorted(set(record) - set(required) - set(optional) - set(known or ()))
        renamed = f" (it has {unknown} instead: a renamed key?)" if known is not None and unknown else ""
        raise RecordError(f"{here} lacks the key{'s' * (len(missing) > 1)} {missing}{renamed}{tail}")
    for key, kind in (required | optional).items():
        if key in record:
            _check_value(record[key], kind, where, f"{at}.{key}" if at else key, fix)
    if known is not None:
        unknown = sorted(set(record) - set(required) - set(optional) - set(known))
        if unknown:
            raise RecordError(f"{here} has the unknown key{'s' * (len(unknown) > 1)} {unknown} (a renamed key?){tail}")
    return record


def read_record(
    path: str | os.PathLike,
    required: Schema | None = None,
    *,
    optional: Schema | None = None,
    known: Collection[str] | None = None,
    version: tuple[str, Collection[int]] | None = None,
    fix: str = "",
) -> dict[str, Any]:
    """The JSON object in ``path``, checked by :func:`check_fields`; with ``version = (key, versions)`` its
    ``key`` must be one of ``versions`` (the schema versions this reader knows). A missing file is a
    ``FileNotFoundError``; anything else wrong is a :class:`RecordError` naming ``path``."""
    file = Path(path)
    tail = f"; {fix}" if fix else ""
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordError(f"{file} is not UTF-8 text (byte {err.start + 1}){tail}") from None
    if not text.strip():
        raise RecordError(f"{file} is empty{tail}")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        cut = " (cut short?)" if err.pos >= len(text.rstrip()) else ""
        raise RecordError(
            f"{file} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}{cut}{tail}"
        ) from None
    if version is not None:
        key, versions = version
        check_fields(record, str(file), {key: int}, fix=fix)
        if record[key] not in versions:
            raise RecordError(
                f"{file} has {key} {record[key]}, a schema version this reader does not know "
                f"(it reads {sorted(versions)}){tail}"
            )
    return check_fields(record, str(file), required, optional=optional, known=known, fix=fix)


def read_jsonl_records(
    path: str | os.PathLike,
    required: Schema | None = None,
    *,
    optional: Schema | None = None,
    fix: str = "",
) -> list[dict[str, Any]]:
    """Every line of the gzip (``.gz``) or plain JSON Lines file ``path`` as a checked object
    (:func:`check_fields`); blank lines are skipped. A line that is not UTF-8, not JSON or lacks a field,
    and a gzip stream that is damaged or cut short, are a :class:`RecordError` naming the file and the line
    (numbered from 1, as an editor counts them)."""
    file = Path(path)
    tail = f"; {fix}" if fix else ""
    rows: list[dict[str, Any]] = []
    number = 0
    try:
        with gzip.open(file, "rb") if file.suffix == ".gz" else file.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                where = f"{file} line {number}"
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise RecordError(f"{where} is not UTF-8 text (byte {err.start + 1} of the line){tail}") from None
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as err:
                    cut = " (cut short?)" if not raw.endswith(b"\n") else ""
                    raise RecordError(
                        f"{where} is not valid JSON: {err.msg} at column {err.colno}{cut}{tail}"
                    ) from None
                rows.append(check_fields(row, where, required, optional=optional, fix=fix))
    except gzip.BadGzipFile as err:
        raise RecordError(f"{file} is not a gzip file ({err}){tail}") from None
    except (EOFError, zlib.error) as err:
        raise RecordError(
            f"{file} is damaged or cut short after line {number} ({err or 'the gzip stream ends early'}){tail}"
        ) from None
    return rows
