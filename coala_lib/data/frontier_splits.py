"""The IMDb frontier's splits, and the head study's validation and report pairs drawn around them.

The frontier (``bench/imdb_frontier.py``, notebook 09) splits IMDb's 25,000 training reviews 90/10 *by
review* (:func:`coala_lib.data.load_triplets`, ``variant="fast"``: prompt = the first 8 words of a review,
chosen = 48 words of a positive review, rejected = of a negative one; every review pair gives two
triplets, one per prompt source) and then, seeded by ``seed``:

* **train**: ``n_train_pairs`` triplets of the 90 % pool (the pairs of every trained method and of the head);
* **sft**: the next ``n_sft`` pool triplets' genuine continuations (the reference policy's SFT texts);
* **test / validation prompts**: the held-out review pairs shuffled; the first pairs' prompts are the test
  prompts, the next ones the validation prompts;
* **held-out pairs**: the first ``n_heldout_pairs`` triplets of the remaining held-out pairs.

:func:`head_splits` adds the head study's two sets, **one triplet per review pair** (its prompt source drawn
by a seeded coin), so that an accuracy counts each review pair once:

* **validation** (choosing the head): review pairs of the 90 % pool that no training or SFT triplet uses;
* **report** (reporting it, never choosing): held-out review pairs that gave no test or validation prompt.

Both are disjoint from each other, from the training pairs and from every test and validation prompt's
review, by review id (:func:`review_ids`; ``tests/test_frontier_splits.py`` checks it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from coala_lib.core.checks import check_int
from coala_lib.data.loaders import TripletDataset, load_triplets
from coala_lib.data.schema import Triplet

__all__ = ["FrontierData", "HeadSplits", "frontier_splits", "genuine_continuation", "head_splits", "review_ids"]


@dataclass
class FrontierData:
    """Training pairs, SFT texts and the held-out prompts and pairs, with how they were made.

    ``pool`` and ``held`` are every triplet of the two review splits (what :func:`head_splits` draws from);
    ``prompt_rows`` the review pairs (``Triplet.row``) whose prompts became test or validation prompts."""

    train_set: TripletDataset
    sft: list[Triplet]
    prompts: dict[str, list[str]]
    heldout_set: TripletDataset
    params: dict[str, Any]
    pool: TripletDataset
    held: TripletDataset
    prompt_rows: set[Any] = field(default_factory=set)

    @property
    def train(self) -> list[Triplet]:
        return self.train_set.triplets

    @property
    def heldout_pairs(self) -> list[Triplet]:
        return self.heldout_set.triplets


def genuine_continuation(t: Triplet) -> str:
    """The prompt's own review continued: chosen if the prompt opens the positive review, else rejected."""
    return t.chosen if t.meta.get("prompt_from") == "positive" else t.rejected


def frontier_splits(
    *,
    seed: int = 0,
    n_train_pairs: int = 1000,
    n_sft: int = 128,
    n_test_prompts: int = 256,
    n_val_prompts: int = 64,
    n_heldout_pairs: int = 128,
    prompt_words: int = 8,
    max_words: int = 48,
    data_dir: str | os.PathLike | None = None,
) -> FrontierData:
    """The frontier's splits of the module docstring (seeded; the held-out ones from the reviews' 10 % split)."""
    opts: dict[str, Any] = dict(prompt_words=prompt_words, max_words=max_words, data_dir=data_dir)
    pool = load_triplets("imdb", "train", seed=seed, **opts)
    if len(pool) < n_train_pairs + n_sft:
        raise ValueError(f"the training split has {len(pool)} triplets, fewer than n_train_pairs + n_sft")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed)).tolist()
    train = replace(pool, triplets=[pool[i] for i in sorted(order[:n_train_pairs])])
    train.params = {**pool.params, "n": n_train_pairs}
    sft_rows = sorted(order[n_train_pairs : n_train_pairs + n_sft])
    sft = [Triplet(pool[i].prompt, genuine_continuation(pool[i]), "", "imdb-sft", pool[i].row, {}) for i in sft_rows]
    held = load_triplets("imdb", "eval", seed=seed, **opts)
    by_pair: dict[Any, list[Triplet]] = {}
    for t in held.triplets:
        by_pair.setdefault(t.row, []).append(t)
    order = torch.randperm(len(by_pair), generator=torch.Generator().manual_seed(seed)).tolist()
    pairs = [list(by_pair)[i] for i in order]
    prompts: dict[str, list[str]] = {"test": [], "validation": []}
    wanted = {"test": n_test_prompts, "validation": n_val_prompts}
    seen: set[str] = set()
    prompt_rows: set[Any] = set()
    rest: list[Triplet] = []
    for pair in pairs:
        split = next((s for s in ("test", "validation") if len(prompts[s]) < wanted[s]), None)
        if split is None:
            rest.extend(by_pair[pair])
            continue
        for t in by_pair[pair]:
            if t.prompt not in seen and len(prompts[split]) < wanted[split]:
                seen.add(t.prompt)
                prompts[split].append(t.prompt)
                prompt_rows.add(pair)
    for split, count in wanted.items():
        if len(prompts[split]) < count:
            raise ValueError(f"only {len(prompts[split])} {split} prompts available, {count} asked for")
    heldout = [t for t in rest if t.prompt not in seen][:n_heldout_pairs]
    params = {
        "train": train.params,
        "sft": "genuine continuations of other training-split triplets' prompts (both sentiments)",
        "heldout": held.params,
        "n_train_pairs": len(train.triplets),
        "n_sft": len(sft),
        "n_test_prompts": len(prompts["test"]),
        "n_val_prompts": len(prompts["validation"]),
        "n_heldout_pairs": len(heldout),
        "split_rule": "IMDb train reviews split 90/10 by review before pairing; held-out pairs shuffled by "
        "seed: test prompts first, validation prompts next, held-out pairs from the rest",
        "pairs": "off-policy: a positive and a negative review's continuation of one prompt (variant='fast')",
    }
    return FrontierData(train, sft, prompts, replace(held, triplets=heldout), params, pool, held, prompt_rows)


def review_ids(triplets: Iterable[Triplet]) -> set[Any]:
    """The ids of the reviews a set of triplets reads (both reviews of each pair)."""
    return {t.meta[side] for t in triplets for side in ("positive_row", "negative_row")}


@dataclass
class HeadSplits:
    """The head study's triplets: the frontier's ``train`` and, one triplet per review pair, ``validation``
    (chooses) and ``report`` (reports); ``params`` says how they were drawn."""

    train: list[Triplet]
    validation: list[Triplet]
    report: list[Triplet]
    params: dict[str, Any]


def _one_per_pair(triplets: Sequence[Triplet], excluded: set[Any], n: int, seed: int, where: str) -> list[Triplet]:
    """``n`` review pairs of ``triplets`` whose reviews are not in ``excluded``, in a seeded order, each as
    the triplet of one prompt source chosen by a seeded coin."""
    by_pair: dict[Any, list[Triplet]] = {}
    for t in triplets:
        if not review_ids([t]) & excluded:
            by_pair.setdefault(t.row, []).append(t)
    if len(by_pair) < n:
        raise ValueError(f"{where} has {len(by_pair)} unused review pairs, fewer than the {n} asked for; lower n")
    gen = torch.Generator().manual_seed(seed)
    rows = list(by_pair)
    order = torch.randperm(len(rows), generator=gen).tolist()[:n]
    coins = torch.randint(0, 2, (n,), generator=gen).tolist()
    picked = []
    for i, coin in zip(order, coins, strict=True):
        pair = sorted(by_pair[rows[i]], key=lambda t: str(t.meta.get("prompt_from")))  # negative, positive
        picked.append(pair[coin % len(pair)])
    return picked


def head_splits(data: FrontierData, n_validation: int = 500, n_report: int = 500, seed: int = 0) -> HeadSplits:
    """Validation and report pairs for the head study around the frontier's splits (module docstring)."""
    check_int("n_validation", n_validation, minimum=1)
    check_int("n_report", n_report, minimum=1)
    # SFT triplets keep no review ids in their meta: their pairs' reviews are found through the pool
    sft_pairs = {t.row for t in data.sft}
    used = review_ids(data.train) | review_ids(t for t in data.pool.triplets if t.row in sft_pairs)
    validation = _one_per_pair(data.pool.triplets, used, n_validation, seed + 1, "the training split")
    prompted = review_ids(t for t in data.held.triplets if t.row in data.prompt_rows)
    report = _one_per_pair(data.held.triplets, prompted | used, n_report, seed + 2, "the held-out split")
    params = {
        "n_train": len(data.train),
        "n_validation_pairs": len(validation),
        "n_report_pairs": len(report),
        "validation_rule": "review pairs of the 90 % training split that no training or SFT triplet reads, "
        "one triplet per pair (prompt source by a seeded coin)",
        "report_rule": "held-out review pairs that gave no frontier test or validation prompt, one triplet "
        "per pair (prompt source by a seeded coin); never read by any choice",
        "seed": seed,
    }
    return HeadSplits(list(data.train), validation, report, params)
