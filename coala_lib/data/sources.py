"""Where rows come from: a local directory of ``.jsonl.gz`` files, else the Hugging Face Hub.

Each dataset is described by a :class:`Source`: its public Hub id and, for a local directory, the
file names to look for. A source has *parts*: either ``train`` and ``eval`` (the dataset ships its
own split, which we keep) or one ``pool`` that :func:`split_rows` divides 90/10 by seed. Locally,
the shipped parts are used when all their files exist, else the pool file.

Rows of a local file are identified by their 1-based line number (as an editor counts them); Hub rows
by their 0-based index in the split. A file that cannot be read at all (not gzip, truncated, empty)
raises :class:`DataFileError` naming it; a line that cannot be decoded (invalid UTF-8, not JSON) is
kept as a :class:`~coala_lib.data.validation.BadLine`, so validation reports it with its line number
and the good rows of the file are still used. A UTF-8 byte-order mark before the first line is ignored.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import zlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from coala_lib.core.files import atomic_write_bytes
from coala_lib.core.files import data_dir as resolve_data_dir
from coala_lib.core.hub import HubUnavailableError, hub_offline, hub_unreachable
from coala_lib.data.validation import BadLine

Row = tuple[int | str, Any]


class DataFileError(ValueError):
    """A data file that cannot be read; the message names the file (and the line, where there is one)."""


@dataclass(frozen=True)
class Source:
    """A dataset's origins. ``local`` maps a part to candidate file names (first found wins);
    ``hub`` maps a part to a Hub split name of ``hub_id`` (config ``hub_config``)."""

    hub_id: str
    local: Mapping[str, tuple[str, ...]]
    hub: Mapping[str, str]
    hub_config: str | None = None
    hub_kwargs: Mapping[str, Any] = field(default_factory=dict)


def read_jsonl_gz(path: str | os.PathLike) -> Iterator[Row]:
    """``(line_number, record)`` for each non-blank line, numbered from 1; a line that is not valid
    UTF-8 or not JSON is yielded as a :class:`BadLine` saying why, so that validation reports it
    instead of the reader crashing. Raises :class:`DataFileError` naming the file if it is not gzip,
    is truncated or damaged, or holds no line at all."""
    file = Path(path)
    number = records = 0
    try:
        with gzip.open(file, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    yield number, BadLine(f"line {number} is not valid UTF-8 (byte {err.start + 1} of the line)")
                    continue
                if not text.strip():
                    continue
                records += 1
                try:
                    yield number, json.loads(text)
                except json.JSONDecodeError as err:
                    yield number, BadLine(f"line {number} is not JSON ({err.msg} at column {err.colno})")
    except gzip.BadGzipFile as err:
        raise DataFileError(
            f"{file} is not a gzip file ({err}); compress it (gzip -k {file.with_suffix('').name}) "
            "or write it with coala_lib.data.write_jsonl_gz"
        ) from None
    except (EOFError, zlib.error) as err:
        raise DataFileError(
            f"{file} is truncated or damaged after line {number} ({err or 'the gzip stream ends early'}); "
            "download or write it again"
        ) from None
    if records == 0:
        raise DataFileError(f"{file} is empty: it holds no rows; write the dataset's rows into it, one JSON per line")


def write_jsonl_gz(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``records`` as gzip JSON Lines, atomically: the format a local ``data_dir`` holds
    (e.g. to save a Hub dataset for offline use, or to write test fixtures)."""
    lines = "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in records)
    return atomic_write_bytes(path, gzip.compress(lines.encode("utf-8"), mtime=0))


def resolve_parts(source: Source, root: Path | None) -> dict[str, Path | str]:
    """Map each available part to a local file (when ``root`` is given) or a Hub split name."""
    if root is None:
        return dict(source.hub)
    found: dict[str, Path] = {}
    for part, names in source.local.items():
        hit = next((root / name for name in names if (root / name).is_file()), None)
        if hit is not None:
            found[part] = hit
    if "train" in found and "eval" in found:
        return {"train": found["train"], "eval": found["eval"]}
    if "pool" in found:
        return {"pool": found["pool"]}
    shipped = [part for part in ("train", "eval") if part in source.local]
    have = [part for part in shipped if part in found]
    if have:
        (missing,) = set(shipped) - set(have)
        raise FileNotFoundError(
            f"data_dir {str(root)!r} has the {have[0]} file {found[have[0]].name} of {source.hub_id} but not its "
            f"{missing} file: expected one of {list(source.local[missing])} there"
        )
    wanted = sorted({name for names in source.local.values() for name in names})
    raise FileNotFoundError(
        f"data_dir {str(root)!r} has none of the files for {source.hub_id}: expected {wanted}; "
        f"add them there, or pass data_dir=None with $COALA_DATA_DIR unset to load from the Hub."
    )


def read_part(source: Source, location: Path | str) -> list[Row]:
    """All rows of one part: a local file, or a Hub split loaded with ``datasets.load_dataset``."""
    if isinstance(location, Path):
        return list(read_jsonl_gz(location))
    import datasets  # looked up at call time, so tests can monkeypatch datasets.load_dataset

    # Fail in seconds, not after a minute of retries: offline, only the datasets cache can answer.
    if not hub_offline() and (reason := hub_unreachable(source.hub_id, "dataset")) is not None:
        raise hub_unavailable(source, f"{reason}; with HF_HUB_OFFLINE=1 a copy in the datasets cache is used")
    try:
        table = datasets.load_dataset(source.hub_id, source.hub_config, split=location, **dict(source.hub_kwargs))
    except ConnectionError:
        if not hub_offline():
            raise
        raise hub_unavailable(source, "HF_HUB_OFFLINE is set and the datasets cache has no copy") from None
    return list(enumerate(table))


def hub_unavailable(source: Source, reason: str) -> HubUnavailableError:
    """The one-sentence error for a dataset with no local copy that cannot be downloaded either."""
    wanted = sorted({name for names in source.local.values() for name in names})
    return HubUnavailableError(
        f"dataset {source.hub_id} has no local copy and cannot be downloaded because {reason}: set "
        f"COALA_DATA_DIR (or pass data_dir=) to a folder holding {wanted}, or use a dataset that has one there"
    )


def load_rows(
    source: Source,
    split: str,
    seed: int,
    data_dir: str | os.PathLike | None,
    group_key: Callable[[Row], Hashable] | None = None,
) -> tuple[list[Row], dict]:
    """Rows of ``split`` ("train" or "eval") and a record of where they came from.

    A shipped split is read as is. A pool is read whole and divided by :func:`split_rows` on row
    ids (or on ``group_key(row)``, e.g. the prompt of a HelpSteer response), *before* any triplet is
    built, so that all triplets of one conversation or prompt land on the same side.
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    root = resolve_data_dir(data_dir)
    parts = resolve_parts(source, root)
    origin = {"origin": "local" if root is not None else "hub", "hub_id": source.hub_id}
    if split in parts:
        return read_part(source, parts[split]), {**origin, "read": str(parts[split]), "split_rule": "shipped"}
    rows = read_part(source, parts["pool"])
    train, eval_ = split_rows(rows, seed, group_key=group_key)
    return (train if split == "train" else eval_), {
        **origin,
        "read": str(parts["pool"]),
        "split_rule": f"90/10 by seed {seed}",
    }


def split_rows(
    rows: list[Row], seed: int, eval_fraction: float = 0.1, group_key: Callable[[Row], Hashable] | None = None
) -> tuple[list[Row], list[Row]]:
    """Deterministic split of ``rows`` into (train, eval), both in file order.

    The groups (one per row, or one per distinct ``group_key(row)``) are listed in order of first
    appearance; a permutation seeded by ``seed`` puts ``round(eval_fraction * groups)`` of them in
    eval. The same (rows, seed) always gives the same split.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
    keys = [group_key(row) if group_key else i for i, row in enumerate(rows)]
    groups = list(dict.fromkeys(keys))
    n_eval = round(eval_fraction * len(groups))
    perm = torch.randperm(len(groups), generator=torch.Generator().manual_seed(seed)).tolist()
    in_eval = {groups[j] for j in perm[:n_eval]}
    train = [row for row, key in zip(rows, keys) if key not in in_eval]
    return train, [row for row, key in zip(rows, keys) if key in in_eval]


def subsample(items: list, n: int | None, seed: int) -> list:
    """``n`` items drawn without replacement by a seeded permutation (order kept); all when ``n`` is None."""
    if n is None or n >= len(items):
        return list(items)
    if n < 0:
        raise ValueError(f"n must be a non-negative count or None, got {n}")
    keep = sorted(torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))[:n].tolist())
    return [items[i] for i in keep]


def dataset_source(params: dict[str, Any]) -> dict[str, Any]:
    """The dataset identity recorded in a feature-cache key (where the rows were read is left out)."""
    return {k: params[k] for k in ("dataset", "split", "n", "seed") if k in params}
