"""Sharded extraction: blocks partition the rows, the merge equals unsharded extraction and rejects bad shards."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from coala_lib.backbone.features import CacheError, pair_features
from coala_lib.backbone.sharding import block, extract_shard, full_key, merge_shards, staging_dir
from coala_lib.data.schema import Triplet

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def backbone(tiny):
    """The shared tiny backbone of conftest.py."""
    return tiny


def _triplets(n: int) -> list[Triplet]:
    return [
        Triplet(f"prompt {i} " * (1 + i % 3), f"good answer {i}", f"bad {i} " * (1 + i % 2), "test", i)
        for i in range(n)
    ]


@pytest.mark.parametrize("n,world", [(0, 3), (5, 1), (7, 3), (2, 4), (100, 7)])
def test_blocks_cover_every_row_once(n: int, world: int) -> None:
    rows = [r for rank in range(world) for r in range(*block(n, rank, world))]
    assert rows == list(range(n))
    sizes = [len(range(*block(n, rank, world))) for rank in range(world)]
    assert max(sizes) - min(sizes) <= 1


def test_block_rejects_bad_rank() -> None:
    with pytest.raises(ValueError, match="rank"):
        block(10, 3, 3)


def test_merge_equals_unsharded_extraction_and_is_a_cache_hit(backbone, tmp_path: Path) -> None:
    triplets = _triplets(7)
    for rank in range(3):
        extract_shard(backbone, triplets, rank, 3, max_length=24, cache_root=tmp_path, shard_rows=2)
    merged = merge_shards(backbone, triplets, max_length=24, cache_root=tmp_path)
    direct = pair_features(backbone, triplets, 24, cache=False, progress=False)
    assert merged.key == direct.key == full_key(backbone, triplets, 24, "mean", None)
    torch.testing.assert_close(merged.chosen, direct.chosen, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(merged.rejected, direct.rejected, atol=1e-5, rtol=1e-5)
    cached = pair_features(backbone, triplets, 24, cache_root=tmp_path, progress=False)
    assert torch.equal(cached.chosen, merged.chosen)  # read from the merged entry, bit for bit
    assert (tmp_path / "features" / merged.key / "manifest.json").is_file()


def test_merge_reports_a_missing_rank(backbone, tmp_path: Path) -> None:
    triplets = _triplets(4)
    extract_shard(backbone, triplets, 0, 2, max_length=16, cache_root=tmp_path)
    with pytest.raises(CacheError, match=r"missing \[1\]"):
        merge_shards(backbone, triplets, max_length=16, cache_root=tmp_path)


def test_merge_reports_an_overlap(backbone, tmp_path: Path) -> None:
    triplets = _triplets(4)
    records = [extract_shard(backbone, triplets, r, 2, max_length=16, cache_root=tmp_path) for r in range(2)]
    second = json.loads(records[1].read_text())
    second["start"] -= 1
    records[1].write_text(json.dumps(second))
    with pytest.raises(CacheError, match="overlap"):
        merge_shards(backbone, triplets, max_length=16, cache_root=tmp_path)


def test_merge_rejects_a_block_of_other_rows(backbone, tmp_path: Path) -> None:
    triplets = _triplets(4)
    for r in range(2):
        extract_shard(backbone, triplets, r, 2, max_length=16, cache_root=tmp_path)
    changed = triplets[:3] + [Triplet("another prompt", "x", "y", "test", 3)]
    # Present the original ranks' records as if they had been made for the changed data.
    stage = staging_dir(full_key(backbone, triplets, 16, "mean", None), tmp_path)
    target = staging_dir(full_key(backbone, changed, 16, "mean", None), tmp_path)
    target.mkdir(parents=True)
    for f in stage.glob("rank-*.json"):
        (target / f.name).write_text(f.read_text())
    with pytest.raises(CacheError, match=r"does not hold rows 2\.\.4"):
        merge_shards(backbone, changed, max_length=16, cache_root=tmp_path)


def test_merge_rejects_a_damaged_shard_file(backbone, tmp_path: Path) -> None:
    triplets = _triplets(4)
    records = [extract_shard(backbone, triplets, r, 2, max_length=16, cache_root=tmp_path) for r in range(2)]
    entry = tmp_path / "features" / json.loads(records[0].read_text())["entry"]
    shard = next(entry.glob("shard-*.safetensors"))
    blob = bytearray(shard.read_bytes())
    blob[-1] ^= 0xFF
    shard.write_bytes(bytes(blob))
    with pytest.raises(CacheError, match="SHA-256"):
        merge_shards(backbone, triplets, max_length=16, cache_root=tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow  # end to end in subprocesses: the full lane runs it, scripts/test.sh --fast does not
def test_two_processes_with_torchrun(tmp_path: Path) -> None:
    """Two CPU ranks (gloo) extract their blocks; rank 0 merges; the entry holds every pair."""
    data = os.environ.get("COALA_DATA_DIR")
    if not data or not Path(data).is_dir():
        pytest.skip("needs the offline data (COALA_DATA_DIR)")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
        "-m",
        "coala_lib.backbone.sharding",
        "--model",
        "tiny",
        "--dataset",
        "imdb",
        "--pairs",
        "12",
        "--max-length",
        "24",
        "--cache-dir",
        str(tmp_path),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "merged 12 pairs x 64 from 2 rank(s)" in done.stdout
    records = sorted((tmp_path / "features").glob(".sharded-*/rank-*.json"))
    assert [json.loads(r.read_text())["rank"] for r in records] == [0, 1]
