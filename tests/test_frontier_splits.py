"""The frontier's splits and the head study's validation and report pairs: disjoint by review."""

from __future__ import annotations

from pathlib import Path

import pytest

from coala_lib.data import write_jsonl_gz
from coala_lib.data.frontier_splits import frontier_splits, head_splits, review_ids
from coala_lib.experiments.frontier import FrontierConfig


def text(tag: str) -> str:
    """A 70-word review whose every word names it, so no two reviews share a window."""
    return " ".join(f"{tag}w{i}" for i in range(70))


def reviews(count: int) -> list[dict]:
    """``count`` negative then ``count`` positive reviews, each with its own id and words."""
    rows = [{"id": i, "label": 0, "rating": 2, "text": text(f"n{i}")} for i in range(count)]
    return rows + [{"id": count + i, "label": 1, "rating": 9, "text": text(f"p{i}")} for i in range(count)]


def check_disjoint(data, splits) -> None:
    train = review_ids(data.train)
    sft_pairs = {t.row for t in data.sft}
    sft = review_ids(t for t in data.pool.triplets if t.row in sft_pairs)
    prompted = review_ids(
        t for t in data.held.triplets if t.prompt in set(data.prompts["test"] + data.prompts["validation"])
    )
    validation, report = review_ids(splits.validation), review_ids(splits.report)
    assert not validation & (train | sft | prompted | report)
    assert not report & (train | sft | prompted)
    # one triplet per review pair, so an accuracy counts each pair once
    for part in (splits.validation, splits.report):
        assert len({t.row for t in part}) == len(part)
    # both prompt sources occur (the coin is not stuck)
    assert {t.meta["prompt_from"] for t in splits.validation} == {"positive", "negative"}


def test_head_splits_are_disjoint_from_training_sft_and_every_frontier_prompt(tmp_path):
    write_jsonl_gz(tmp_path / "imdb-train.jsonl.gz", reviews(400))
    data = frontier_splits(
        n_train_pairs=60, n_sft=10, n_test_prompts=12, n_val_prompts=6, n_heldout_pairs=8, data_dir=tmp_path
    )
    splits = head_splits(data, n_validation=40, n_report=20)
    assert len(splits.validation) == 40 and len(splits.report) == 20 and splits.train == data.train
    check_disjoint(data, splits)
    again = head_splits(data, n_validation=40, n_report=20)
    assert [t.prompt for t in again.report] == [t.prompt for t in splits.report]  # seeded
    with pytest.raises(ValueError, match="fewer than the 5000 asked for"):
        head_splits(data, n_validation=5000)


@pytest.mark.slow
def test_the_books_head_splits_on_the_shared_data():
    data_dir = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (data_dir / "imdb-train.jsonl.gz").is_file():
        pytest.skip("the shared IMDb data is not beside the checkout")
    data = frontier_splits(data_dir=data_dir)
    splits = head_splits(data)
    assert len(splits.validation) >= 500 and len(splits.report) >= 500
    check_disjoint(data, splits)


def test_the_head_study_reads_the_frontiers_splits_and_reference():
    """bench/head_selection.py calls frontier_splits() and SFTConfig() with their defaults: they must be the
    frontier's (:class:`coala_lib.experiments.frontier.FrontierConfig`), or the study would choose a head for
    another reference policy or other pairs."""
    import inspect

    from coala_lib.backbone.sft import SFTConfig

    frontier = FrontierConfig()
    defaults = {k: p.default for k, p in inspect.signature(frontier_splits).parameters.items() if k != "data_dir"}
    assert defaults == {k: getattr(frontier, k) for k in defaults}
    sft = SFTConfig()
    assert (sft.epochs, sft.lr, sft.batch_size, sft.max_length, sft.seed) == (
        1,
        frontier.sft_lr,
        frontier.sft_batch,
        frontier.max_length,
        frontier.seed,
    )
