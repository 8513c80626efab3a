"""Feature extraction: rendering, matched rows, the content-keyed cache and its failure modes."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from coala_lib.backbone import features
from coala_lib.backbone.features import (
    CacheError,
    CorruptCacheWarning,
    load_features,
    pair_features,
    pooled_features,
    prompt_text,
    render,
)
from coala_lib.data.schema import Triplet


def make_triplets(n: int = 10) -> list[Triplet]:
    words = ["great", "moving", "fun", "sharp", "warm"]
    return [
        Triplet(f"Review {i}: the film", " was " + " and ".join(words[: i % 5 + 1]), " was dull" * (i % 3 + 1), "t", i)
        for i in range(n)
    ]


def test_render_uses_the_chat_template_or_concatenates(tiny) -> None:
    tok = tiny.tokenizer
    assert render(tok, "Q?", " A.") == "<|user|>\nQ?\n<|assistant|>\n A."
    template, tok.chat_template = tok.chat_template, None
    try:
        assert prompt_text(tok, "Q?") == "Q?" and render(tok, "Q?", " A.") == "Q? A."
    finally:
        tok.chat_template = template


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_rows_stay_matched_to_their_prompt(tiny, pooling: str) -> None:
    triplets = make_triplets(10)
    got = pair_features(tiny, triplets, max_length=32, pooling=pooling, batch_size=3, cache=False, progress=False)
    for i in (0, 4, 9):  # one text at a time: no padding, no batching, no sorting
        t = triplets[i]
        alone_c = pooled_features(tiny, [render(tiny.tokenizer, t.prompt, t.chosen)], 32, pooling)
        alone_r = pooled_features(tiny, [render(tiny.tokenizer, t.prompt, t.rejected)], 32, pooling)
        torch.testing.assert_close(got.chosen[i], alone_c[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got.rejected[i], alone_r[0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got.chosen[0], got.chosen[4])


def test_left_truncation_keeps_the_response(tiny) -> None:
    ids = features.tokenize(tiny.tokenizer, ["a b c d e f g h i j k l m n o p"], max_length=4)[0]
    assert tiny.tokenizer.decode(ids) == " m n o p"


def test_cache_hit_does_not_recompute(tiny, tmp_path, monkeypatch) -> None:
    triplets = make_triplets(10)
    first = pair_features(tiny, triplets, max_length=32, cache_root=tmp_path, shard_rows=4, progress=False)
    entry = tmp_path / "features" / first.key
    assert sorted(p.name for p in entry.iterdir()) == [
        "manifest.json",
        "shard-00000.safetensors",
        "shard-00001.safetensors",
        "shard-00002.safetensors",
    ]

    def boom(*args, **kwargs):
        raise AssertionError("recomputed on a cache hit")

    monkeypatch.setattr(features, "pooled_from_ids", boom)
    second = pair_features(tiny, triplets, max_length=32, cache_root=tmp_path, shard_rows=4, progress=False)
    assert second.key == first.key
    assert torch.equal(second.chosen, first.chosen) and torch.equal(second.rejected, first.rejected)


@pytest.mark.parametrize(
    "change",
    ["max_length", "pooling", "triplet text", "triplet order", "source", "backbone"],
)
def test_changing_any_key_field_misses(tiny, fresh_tiny, tmp_path, change: str) -> None:
    triplets = make_triplets(6)
    args = {"max_length": 32, "pooling": "mean", "source": {"dataset": "t", "split": "train"}}
    base = pair_features(tiny, triplets, cache_root=tmp_path, progress=False, **args)
    backbone = tiny
    if change == "max_length":
        args["max_length"] = 31
    elif change == "pooling":
        args["pooling"] = "last"
    elif change == "triplet text":
        triplets = [
            *triplets[:-1],
            Triplet(triplets[-1].prompt, triplets[-1].chosen + "!", triplets[-1].rejected, "t", 5),
        ]
    elif change == "triplet order":
        triplets = triplets[::-1]
    elif change == "source":
        args["source"] = {"dataset": "t", "split": "eval"}
    else:
        backbone = fresh_tiny(seed=1)
    other = pair_features(backbone, triplets, cache_root=tmp_path, progress=False, **args)
    assert other.key != base.key
    assert {p.name for p in (tmp_path / "features").iterdir()} == {base.key, other.key}


def test_corrupted_shard_is_reported_and_recomputed(tiny, tmp_path) -> None:
    triplets = make_triplets(6)
    good = pair_features(tiny, triplets, max_length=32, cache_root=tmp_path, shard_rows=4, progress=False)
    shard = tmp_path / "features" / good.key / "shard-00001.safetensors"
    blob = bytearray(shard.read_bytes())
    blob[-3] ^= 0xFF  # flip bits inside the tensor data: still a loadable file, wrong numbers
    shard.write_bytes(bytes(blob))
    with pytest.raises(CacheError, match="SHA-256"):
        load_features(shard.parent)
    with pytest.warns(CorruptCacheWarning, match="recomputing"):
        again = pair_features(tiny, triplets, max_length=32, cache_root=tmp_path, shard_rows=4, progress=False)
    assert torch.equal(again.chosen, good.chosen)
    load_features(shard.parent)  # the rewritten entry verifies


@pytest.mark.parametrize("damage", ["manifest garbage", "shard missing", "rows mismatch"])
def test_damaged_entries_raise_cache_error(tiny, tmp_path, damage: str) -> None:
    good = pair_features(tiny, make_triplets(6), max_length=32, cache_root=tmp_path, shard_rows=4, progress=False)
    entry = tmp_path / "features" / good.key
    manifest = json.loads((entry / "manifest.json").read_text())
    if damage == "manifest garbage":
        (entry / "manifest.json").write_text("{not json")
    elif damage == "shard missing":
        (entry / "shard-00000.safetensors").unlink()
    else:
        manifest["shape"]["n"] = 7
        (entry / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CacheError):
        load_features(entry)


def test_failure_midway_leaves_no_entry(tiny, tmp_path, monkeypatch) -> None:
    calls = {"n": 0}
    real = features.pooled_features

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(features, "pooled_features", flaky)
    with pytest.raises(RuntimeError, match="simulated"):
        pair_features(tiny, make_triplets(8), max_length=32, cache_root=tmp_path, shard_rows=4, progress=False)
    assert list((tmp_path / "features").iterdir()) == []


def test_bad_inputs(tiny, tmp_path) -> None:
    with pytest.raises(ValueError, match="empty"):
        pair_features(tiny, [], cache_root=tmp_path)
    with pytest.raises(ValueError, match="pooling='attention'"):
        pair_features(tiny, make_triplets(2), pooling="attention", cache_root=tmp_path)
    with pytest.raises(ValueError, match="max_length"):
        pair_features(tiny, make_triplets(2), max_length=0, cache=False)
    with pytest.raises(ValueError, match="must both be"):
        features.PairFeatures(torch.zeros(3, 4), torch.zeros(3, 5))
    assert not (tmp_path / "features").exists() or list((tmp_path / "features").iterdir()) == []


def test_no_warning_on_a_clean_hit(tiny, tmp_path) -> None:
    pair_features(tiny, make_triplets(4), max_length=32, cache_root=tmp_path, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pair_features(tiny, make_triplets(4), max_length=32, cache_root=tmp_path, progress=False)


def test_unmasked_mean_depends_on_the_batch(tiny) -> None:
    texts = ["short", "a much longer text with many more tokens than the first one has"]
    drift = features.unmasked_mean_drift(tiny, texts, max_length=32)
    assert drift["masked"] < 1e-5 < 1e-2 < drift["unmasked"]
    with pytest.raises(ValueError, match="different token lengths"):
        features.unmasked_mean_drift(tiny, ["same", "same"], max_length=32)
