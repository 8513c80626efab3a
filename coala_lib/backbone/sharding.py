"""Feature extraction across processes: each rank extracts one block of rows, a merge checks and joins them.

Rank :math:`r` of :math:`R` takes the contiguous rows :math:`[\\lfloor rn/R \\rfloor, \\lfloor (r+1)n/R \\rfloor)` of the
:math:`n` triplets and extracts them with :func:`coala_lib.backbone.features.pair_features`, so its block is an
ordinary content-keyed cache entry (written atomically by that function). It then writes a small
record ``<cache>/features/.sharded-<key>/rank-RRRRR-of-WWWWW.json`` naming its rows and its entry, where
``key`` is the key the unsharded extraction of all :math:`n` rows would have.

:func:`merge_shards` reads the :math:`R` records, checks that the blocks cover every row exactly once
(no gap, no overlap), that each block holds the features of exactly its rows (the triplet digest
of its cache key) under the same backbone, length and pooling, and that every shard file still
matches its SHA-256; it then publishes the whole-data entry under ``key`` in the format of
:mod:`coala_lib.backbone.features` (one rename), so ``pair_features`` on the full data is a cache hit.

Launch (the ``RANK``/``WORLD_SIZE`` variables of ``torchrun`` and ``accelerate launch`` pick the rank; on a GPU
each rank uses ``cuda:LOCAL_RANK``; rank 0 merges after a barrier)::

    accelerate launch --num_processes 8 -m coala_lib.backbone.sharding --model llama --dataset ultrafeedback --pairs 60000
    torchrun --nproc_per_node 2 -m coala_lib.backbone.sharding --model tiny --dataset imdb --pairs 64   # CPU, gloo
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from coala_lib.backbone.features import (
    KIND,
    PairFeatures,
    feature_key_fields,
    load_features,
    pair_features,
    triplets_digest,
)
from coala_lib.backbone.registry import Backbone
from coala_lib.core.cache import CacheEntry, CacheError, load_cached, publishing
from coala_lib.core.files import atomic_write_bytes, atomic_write_json, cache_dir, content_key
from coala_lib.data.schema import Triplet

RECORD_GLOB = "rank-*-of-*.json"


@dataclass(frozen=True)
class RankInfo:
    """Which process this is: ``rank`` of ``world_size``, and its device index on this host."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> RankInfo:
        """From ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (set by ``torchrun`` and ``accelerate launch``)."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def block(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of rank ``rank``: contiguous blocks whose sizes differ by at most one."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return rank * n // world_size, (rank + 1) * n // world_size


def staging_dir(key: str, cache_root: str | Path | None = None) -> Path:
    """Where the ranks of the extraction keyed ``key`` leave their records."""
    return cache_dir(cache_root) / "features" / f".sharded-{key}"


def full_key(
    backbone: Backbone, triplets: Sequence[Triplet], max_length: int, pooling: str, source: dict[str, Any] | None
) -> str:
    """The cache key of the unsharded extraction of all ``triplets`` (what the merge publishes)."""
    return content_key(feature_key_fields(backbone, triplets, max_length, pooling, source))


def extract_shard(
    backbone: Backbone,
    triplets: Sequence[Triplet],
    rank: int,
    world_size: int,
    max_length: int = 128,
    pooling: str = "mean",
    source: dict[str, Any] | None = None,
    cache_root: str | Path | None = None,
    progress: bool = False,
    **options: Any,
) -> Path:
    """Extract rank ``rank``'s block of ``triplets`` into the cache and write its record; return the record's path.

    ``options`` go to :func:`coala_lib.backbone.features.pair_features` (``batch_size``, ``shard_rows``).
    """
    start, stop = block(len(triplets), rank, world_size)
    key = full_key(backbone, triplets, max_length, pooling, source)
    entry = None
    if stop > start:
        part_source = {**(source or {}), "rows": [start, stop], "of": key}
        entry = pair_features(
            backbone,
            triplets[start:stop],
            max_length,
            pooling,
            source=part_source,
            cache_root=cache_root,
            progress=progress,
            **options,
        ).key
    record = {"rank": rank, "world_size": world_size, "start": start, "stop": stop, "entry": entry, "key": key}
    path = staging_dir(key, cache_root) / f"rank-{rank:05d}-of-{world_size:05d}.json"
    return atomic_write_json(path, record)


def merge_shards(
    backbone: Backbone,
    triplets: Sequence[Triplet],
    max_length: int = 128,
    pooling: str = "mean",
    source: dict[str, Any] | None = None,
    cache_root: str | Path | None = None,
) -> PairFeatures:
    """Check the ranks' blocks (every row exactly once, right rows, intact files) and publish the full entry.

    Raises :class:`coala_lib.backbone.features.CacheError` naming the first problem (a missing rank, a gap or an
    overlap, a block of other rows or settings, a damaged file).
    """
    n = len(triplets)
    fields = feature_key_fields(backbone, triplets, max_length, pooling, source)
    key = content_key(fields)
    root = cache_dir(cache_root) / "features"
    shape = {"n": n, "dim": backbone.hidden_size}
    final = root / key
    merged = load_cached(final, lambda entry: load_features(entry.path, key, fields, shape), kind=KIND, key=key)
    if merged is not None:
        return merged
    records = _read_records(staging_dir(key, cache_root))
    expected = _fields_without_data(fields)
    covered = 0
    parts: list[tuple[Path, PairFeatures]] = []
    for rec in records:
        if rec["start"] != covered:
            kind = "a gap" if rec["start"] > covered else "an overlap"
            raise CacheError(
                f"rank {rec['rank']} starts at row {rec['start']} but rows up to {covered} are covered: {kind}"
            )
        covered = rec["stop"]
        if rec["stop"] == rec["start"]:
            continue
        entry = root / str(rec["entry"])
        rows = rec["stop"] - rec["start"]
        try:  # verifies the manifest, every shard's SHA-256 and shape
            part = load_features(entry, shape={"n": rows, "dim": backbone.hidden_size})
        except CacheError as err:
            raise CacheError(f"{err}; rerun extract_shard for rank {rec['rank']} (its entry is recomputed)") from err
        part_fields = part.manifest["fields"]
        if part_fields["triplets"] != triplets_digest(triplets[rec["start"] : rec["stop"]]):
            raise CacheError(
                f"rank {rec['rank']}'s entry {entry} does not hold rows {rec['start']}..{rec['stop']} of these triplets"
            )
        if _fields_without_data(part_fields) != expected:
            raise CacheError(f"rank {rec['rank']}'s entry {entry} was extracted with other settings: {part_fields}")
        parts.append((entry, part))
    if covered != n:
        raise CacheError(f"the ranks cover rows 0..{covered} but there are {n} triplets: rows are missing")
    _publish(final, parts, key, fields, shape)
    return load_features(final, key, fields, shape)


def _read_records(directory: Path) -> list[dict[str, Any]]:
    """The ranks' records sorted by start row; all ranks of one world size must be present, once each."""
    files = sorted(directory.glob(RECORD_GLOB))
    if not files:
        raise CacheError(f"no rank records in {directory}: run extract_shard on every rank first")
    records = [json.loads(f.read_text()) for f in files]
    sizes = {r["world_size"] for r in records}
    if len(sizes) != 1:
        raise CacheError(
            f"records from runs of different world sizes {sorted(sizes)} in {directory}; delete the stale ones"
        )
    world = sizes.pop()
    ranks = sorted(r["rank"] for r in records)
    if ranks != list(range(world)):
        missing = sorted(set(range(world)) - set(ranks))
        raise CacheError(f"world size {world} but records for ranks {ranks} only (missing {missing})")
    return sorted(records, key=lambda r: (r["start"], r["stop"]))


def _fields_without_data(fields: dict[str, Any]) -> dict[str, Any]:
    """The settings part of a cache key (backbone, length, pooling, version), without rows and source."""
    return {k: v for k, v in fields.items() if k not in ("triplets", "n", "source")}


def _publish(
    final: Path, parts: list[tuple[Path, PairFeatures]], key: str, fields: dict[str, Any], shape: dict[str, int]
) -> None:
    """Copy the blocks' verified shard files, in row order, into one entry published under ``key``."""
    with publishing(final, kind=KIND, key=key, fields=fields, shape=shape) as stage:
        shards: list[dict[str, Any]] = []
        for path, part in parts:
            entry = CacheEntry(path, part.manifest)
            for shard in part.manifest["meta"]["shards"]:
                name = f"shard-{len(shards):05d}.safetensors"
                atomic_write_bytes(stage.path / name, entry.read_bytes(shard["file"]))
                shards.append({"file": name, "rows": shard["rows"]})
        stage.meta["shards"] = shards


def run_distributed(
    backbone_name: str,
    triplets: Sequence[Triplet],
    info: RankInfo,
    max_length: int = 128,
    pooling: str = "mean",
    source: dict[str, Any] | None = None,
    cache_root: str | Path | None = None,
    batch_size: int | None = None,
) -> PairFeatures | None:
    """One rank's whole job: load the backbone on its device, extract its block, wait for all ranks
    (``torch.distributed`` barrier, gloo on CPU, NCCL on GPU), and on rank 0 merge. Returns the merged
    features on rank 0, ``None`` elsewhere."""
    import torch.distributed as dist

    from coala_lib.backbone.registry import load_backbone

    device = torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    backbone = load_backbone(backbone_name, device)
    extract_shard(
        backbone, triplets, info.rank, info.world_size, max_length, pooling, source, cache_root, batch_size=batch_size
    )
    if info.world_size > 1:
        started = not dist.is_initialized()
        if started:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        dist.barrier()
        if started and info.rank != 0:
            dist.destroy_process_group()
    if info.rank != 0:
        return None
    merged = merge_shards(backbone, triplets, max_length, pooling, source, cache_root)
    if info.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
    return merged


def main(argv: list[str] | None = None) -> int:
    """``python -m coala_lib.backbone.sharding`` under ``torchrun`` / ``accelerate launch`` (see the module docstring)."""
    from coala_lib.data import load_triplets
    from coala_lib.data.sources import dataset_source

    parser = argparse.ArgumentParser(description="sharded feature extraction; rank 0 merges")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--dataset", default="imdb")
    parser.add_argument("--split", default="train")
    parser.add_argument("--pairs", type=int, default=64, help="triplets to load")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    data = load_triplets(args.dataset, args.split, n=args.pairs, seed=args.seed, data_dir=args.data_dir)
    source = dataset_source(data.params)  # the same dataset identity as the pipeline, so its extraction is a cache hit
    info = RankInfo.from_env()
    merged = run_distributed(
        args.model, data.triplets, info, args.max_length, args.pooling, source, args.cache_dir, args.batch_size
    )
    if merged is not None:
        print(f"merged {len(merged)} pairs x {merged.dim} from {info.world_size} rank(s) into entry {merged.key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
