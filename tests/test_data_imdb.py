"""IMDb: balanced review samples, the fast prefix-pair triplets and the cached generated variant."""

import pytest
import torch

from coala_lib.data import load_imdb_reviews, load_triplets, write_jsonl_gz

POSITIVE = "a wonderful moving film with superb acting and a great story that I loved"
NEGATIVE = "a dull boring film with awful acting and a terrible story that I hated"


def reviews(count, offset=0):
    """``count`` positive then ``count`` negative reviews, sorted by (label, id) like the shared files."""
    rows = [
        {"id": offset + i, "label": 0, "rating": 2, "text": f"Review n{offset + i} says<br />{NEGATIVE} {i}"}
        for i in range(count)
    ]
    return rows + [
        {"id": offset + count + i, "label": 1, "rating": 9, "text": f"Review p{offset + i} says {POSITIVE} {i}"}
        for i in range(count)
    ]


@pytest.fixture
def imdb_dir(tmp_path):
    write_jsonl_gz(tmp_path / "imdb-train.jsonl.gz", reviews(30) + [{"id": 999, "label": 7, "text": "bad label"}])
    write_jsonl_gz(tmp_path / "imdb-test.jsonl.gz", reviews(10, offset=1000))
    return tmp_path


def test_load_imdb_reviews_balanced_and_reproducible(imdb_dir):
    texts, labels = load_imdb_reviews("train", n=11, seed=3, data_dir=imdb_dir)
    assert len(texts) == 11 and labels.dtype == torch.float32
    assert int((labels == -1).sum()) == 5 and int((labels == 1).sum()) == 6
    assert all(("loved" in t) == (y > 0) for t, y in zip(texts, labels))  # labels follow the texts
    assert "<br />" not in "".join(texts)
    again, _ = load_imdb_reviews("train", n=11, seed=3, data_dir=imdb_dir)
    other, _ = load_imdb_reviews("train", n=11, seed=4, data_dir=imdb_dir)
    assert again == texts and other != texts
    all_texts, all_labels = load_imdb_reviews("train", data_dir=imdb_dir)
    assert len(all_texts) == 60 and abs(float(all_labels.sum())) == 0  # the bad-label row is skipped
    with pytest.raises(ValueError, match="split"):
        load_imdb_reviews("eval", data_dir=imdb_dir)


def test_fast_triplets_share_prompt_and_pair_positive_over_negative(imdb_dir):
    with pytest.raises(ValueError, match=r"none of the 6 rows .* 6 skipped \(surplus review"):
        load_triplets("imdb", "eval", data_dir=imdb_dir, prompt_words=3, max_words=5)  # seed 0: one class only
    train = load_triplets("imdb", "train", data_dir=imdb_dir, prompt_words=3, max_words=5, seed=2)
    evals = load_triplets("imdb", "eval", data_dir=imdb_dir, prompt_words=3, max_words=5, seed=2)
    assert train.report.dropped["schema"] + evals.report.dropped["schema"] == 1  # label 7
    for t in list(train) + list(evals):
        assert "loved" not in t.chosen and "hated" not in t.rejected  # 5 words after the 3-word prompt
        assert t.chosen.split()[:2] == ["a", "wonderful"] and t.rejected.split()[:2] == ["a", "dull"]
        assert len(t.chosen.split()) == 5 and len(t.prompt.split()) == 3
        assert t.prompt.startswith("Review " + ("p" if t.meta["prompt_from"] == "positive" else "n"))
    froms = [t.meta["prompt_from"] for t in train]
    assert froms.count("positive") == froms.count("negative") == len(train) // 2
    reviews_used = lambda ds: {t.meta[k] for t in ds for k in ("positive_row", "negative_row")}  # noqa: E731
    assert reviews_used(train).isdisjoint(reviews_used(evals))
    for ds in (train, evals):  # each well-formed review is a prompt source once, or reported unpaired
        unpaired = ds.report.skipped["surplus review of the larger class, left unpaired"]
        assert len(ds) + unpaired == ds.report.survivors["schema"]


def test_generated_variant_uses_judge_and_caches(imdb_dir, tmp_path, toy_generator, toy_judge):
    calls = toy_generator.calls
    opts = dict(
        variant="generated",
        generator=toy_generator,
        generator_key={"model": "toy", "seed": 0},
        judge=toy_judge,
        cache_root=tmp_path / "cache",
        n=8,
    )
    ds = load_triplets("imdb", "train", data_dir=imdb_dir, **opts)
    assert len(ds) == 8 and calls == [8]
    assert all(t.chosen.endswith("great") and t.rejected.endswith("awful") for t in ds)
    assert all(t.chosen.startswith(t.prompt) for t in ds)
    again = load_triplets("imdb", "train", data_dir=imdb_dir, **opts)
    assert calls == [8] and [t.to_dict() for t in again] == [t.to_dict() for t in ds]  # read from the cache
    with pytest.raises(ValueError, match="generator="):
        load_triplets("imdb", "train", data_dir=imdb_dir, variant="generated")
    with pytest.raises(ValueError, match=r"n=500 but the imdb split holds \d+ valid reviews"):
        load_triplets("imdb", "train", data_dir=imdb_dir, **{**opts, "n": 500})  # never silently fewer


def test_hf_sampler_gives_two_continuations_per_prompt():
    from coala_lib.backbone.registry import load_backbone
    from coala_lib.data.imdb import hf_sampler

    backbone = load_backbone("tiny", device="cpu")
    sample = hf_sampler(backbone.model, backbone.tokenizer, max_new_tokens=4, seed=1, batch_size=2)
    prompts = ["This film was", "I watched it", "The actors"]
    first = sample(prompts)
    assert len(first) == 3 and all(len(pair) == 2 and all(isinstance(s, str) for s in pair) for pair in first)
    assert sample(prompts) == first  # seeded
