"""IMDb (Maas et al. 2011): raw reviews, and preference triplets in the spirit of the DPO paper.

The DPO paper's sentiment task: the prompt is the opening of a review, two continuations are
sampled from a language model, and a sentiment classifier prefers the more positive one.
Two constructions are offered:

* :func:`prefix_pair_triplets` (``variant="fast"``, the default): no generation, only real
  reviews. Reviews are shuffled by seed and paired one positive with one negative. Each pair
  :math:`(p, q)` (positive :math:`p`, negative :math:`q`) gives two triplets, one per prompt source:

  .. math:: x = \\text{first } k \\text{ words of } p, \\quad y_w = p_{k:k+L}, \\quad y_l = q_{k:k+L}
  .. math:: x = \\text{first } k \\text{ words of } q, \\quad y_w = p_{k:k+L}, \\quad y_l = q_{k:k+L}

  with :math:`s_{k:k+L}` the words :math:`k, \\dots, k+L-1` of review :math:`s`. Chosen and rejected
  answer the *same* prompt, chosen is a positive review's text (rating >= 7), rejected a negative
  one's (rating <= 4), both truncated to the same :math:`L` words and both starting at word
  :math:`k`. Because the genuine continuation of the prompt is the chosen one in half of the
  triplets and the rejected one in the other half, "fits the prompt" is not a shortcut for the
  label. Limits: one continuation is grafted onto another review's opening, so the texts are
  less fluent than model samples; the label is the whole review's rating, and a window of
  :math:`L` words may be neutral or even contrary (a positive review that opens by listing
  flaws); and the sentiment of the prompt's own opening words is not controlled.
* :func:`generated_triplets` (``variant="generated"``): the DPO construction, with any
  generator callable and a sentiment judge (:class:`coala_lib.evaluation.sentiment.SentimentJudge`),
  cached on disk by content.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch

from coala_lib.core.cache import CacheEntry, CacheError, load_cached, publishing
from coala_lib.core.checks import check_int
from coala_lib.core.files import atomic_write_json, cache_dir, content_key
from coala_lib.core.files import data_dir as resolve_data_dir
from coala_lib.data.schema import Triplet
from coala_lib.data.sources import Row, Source, read_part, resolve_parts, subsample
from coala_lib.data.validation import BadLine, RowError, require_str

log = logging.getLogger(__name__)

GENERATED_KIND, GENERATED_FILE = "imdb-generated", "triplets.json"
IMDB_SOURCE = Source(
    hub_id="stanfordnlp/imdb",
    local={"train": ("imdb-train.jsonl.gz",), "eval": ("imdb-test.jsonl.gz",)},
    hub={"train": "train", "eval": "test"},
)
# Triplets are built from the 25,000 training reviews (the paper's count), split 90/10 here;
# the test reviews stay untouched for the sentiment judge's held-out accuracy.
IMDB_TRIPLET_SOURCE = Source(hub_id="stanfordnlp/imdb", local={"pool": ("imdb-train.jsonl.gz",)}, hub={"pool": "train"})


def clean_review(text: str) -> str:
    """Replace the reviews' HTML line breaks (``<br />``) by spaces and collapse whitespace."""
    return " ".join(text.replace("<br />", " ").split())


def check_review(record: Mapping[str, Any]) -> None:
    """Raise :class:`RowError` unless the row has a string ``text`` and a ``label`` of 0 or 1."""
    require_str(record, "text")
    if record.get("label") not in (0, 1) or isinstance(record.get("label"), bool):
        raise RowError("label", f"label must be 0 (negative) or 1 (positive), got {record.get('label')!r}")


def load_imdb_reviews(
    split: str, n: int | None = None, seed: int = 0, data_dir: str | os.PathLike | None = None
) -> tuple[list[str], torch.Tensor]:
    """IMDb reviews of ``split`` ("train" or "test") and their labels (float32, +1 positive, -1 negative).

    With ``n``: a balanced, reproducible subsample (``n // 2`` negatives and ``n - n // 2``
    positives drawn by ``seed``), shuffled so the labels are mixed. Texts are cleaned with
    :func:`clean_review`. Malformed rows are logged, counted and skipped.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' (IMDb's own splits), got {split!r}")
    check_int("n", n, minimum=2, allow_none=True)
    check_int("seed", seed)
    parts = resolve_parts(IMDB_SOURCE, resolve_data_dir(data_dir))
    rows = read_part(IMDB_SOURCE, parts["train" if split == "train" else "eval"])
    by_label: dict[int, list[str]] = {0: [], 1: []}
    bad: list[str] = []
    for row_id, record in rows:
        try:
            if isinstance(record, BadLine):
                raise RowError("<line>", record.reason)
            if not isinstance(record, Mapping):
                raise RowError("<row>", f"row must be a mapping of fields, got {type(record).__name__}")
            check_review(record)
        except RowError as err:
            bad.append(f"row {row_id}: {err}")
            continue
        by_label[record["label"]].append(clean_review(record["text"]))
    where = parts["train" if split == "train" else "eval"]
    if not by_label[0] and not by_label[1]:
        raise ValueError(
            f"none of the {len(rows)} rows of IMDb {split} ({where}) is a valid review: {'; '.join(bad[:3])}"
        )
    if bad:
        log.warning("imdb %s (%s): %d malformed rows skipped: %s", split, where, len(bad), "; ".join(bad[:3]))
    if n is not None:  # at least 2 (checked above): one review of each label
        wanted = {0: n // 2, 1: n - n // 2}
        for label, count in wanted.items():
            if count > len(by_label[label]):
                raise ValueError(f"n={n} asks for {count} reviews of label {label}, only {len(by_label[label])} exist")
            by_label[label] = subsample(by_label[label], count, seed + label)
    texts = by_label[0] + by_label[1]
    labels = torch.tensor([-1.0] * len(by_label[0]) + [1.0] * len(by_label[1]))
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed)).tolist()
    return [texts[i] for i in order], labels[order]


def split_words(text: str, prompt_words: int, max_words: int) -> tuple[str, str]:
    """(first ``prompt_words`` words, the next ``max_words`` words) of a cleaned review."""
    words = clean_review(text).split()
    return " ".join(words[:prompt_words]), " ".join(words[prompt_words : prompt_words + max_words])


def pair_reviews(seed: int) -> Callable[[list[Row]], list[Row]]:
    """A grouping step for :func:`~coala_lib.data.validation.build_triplets`: shuffle positives and
    negatives by ``seed`` and zip them into ``(pair_id, {"positive": row, "negative": row})`` units."""

    def group(rows: list[Row]) -> list[Row]:
        gen = torch.Generator().manual_seed(seed)
        pos = [r for r in rows if r[1]["label"] == 1]
        neg = [r for r in rows if r[1]["label"] == 0]
        pos = [pos[i] for i in torch.randperm(len(pos), generator=gen).tolist()]
        neg = [neg[i] for i in torch.randperm(len(neg), generator=gen).tolist()]
        return [(f"{p[0]}+{q[0]}", {"positive": p, "negative": q}) for p, q in zip(pos, neg)]

    return group


def prefix_pair_triplets(prompt_words: int = 8, max_words: int = 48) -> Callable[[int | str, Mapping], list[Triplet]]:
    """Converter for one (positive, negative) review pair: the two triplets of the module docstring."""
    if prompt_words < 1 or max_words < 1:
        raise ValueError(f"prompt_words and max_words must be >= 1, got {prompt_words}, {max_words}")

    def convert(pair_id: int | str, unit: Mapping) -> list[Triplet]:
        (p_id, p), (q_id, q) = unit["positive"], unit["negative"]
        p_prompt, chosen = split_words(p["text"], prompt_words, max_words)
        q_prompt, rejected = split_words(q["text"], prompt_words, max_words)
        meta = {
            "positive_row": p_id,
            "negative_row": q_id,
            "positive_rating": p.get("rating"),
            "negative_rating": q.get("rating"),
        }
        return [
            Triplet(p_prompt, chosen, rejected, "imdb", pair_id, {**meta, "prompt_from": "positive"}),
            Triplet(q_prompt, chosen, rejected, "imdb", pair_id, {**meta, "prompt_from": "negative"}),
        ]

    return convert


class Judge(Protocol):
    key: str

    def positivity(self, texts: Sequence[str]) -> torch.Tensor: ...


Generator = Callable[[list[str]], Sequence[Sequence[str]]]


def generated_triplets(
    rows: list[Row],
    *,
    generator: Generator,
    generator_key: Mapping[str, Any],
    judge: Judge,
    prompt_words: int = 8,
    cache_root: str | os.PathLike | None = None,
) -> list[Triplet]:
    """DPO-style IMDb triplets: for each review's first ``prompt_words`` words, ``generator`` returns
    (at least) two sampled continuations; the one the judge finds more positive is chosen.

    ``generator_key`` must identify the generator completely (model id, sampling parameters, seed):
    the result is a cache entry (:mod:`coala_lib.core.cache`) under ``cache_dir(cache_root)/imdb_generated/``
    keyed by it, the prompts and ``judge.key``, read back verified. Prompts whose two continuations get
    equal positivity are skipped.
    """
    prompts = [split_words(record["text"], prompt_words, 0)[0] for _, record in rows]
    fields = {"generator": dict(generator_key), "prompts": prompts, "judge": judge.key}
    key = content_key("imdb-generated", fields)
    path = cache_dir(cache_root) / "imdb_generated" / key
    cached = load_cached(
        path, _read_generated, kind=GENERATED_KIND, key=key, fields=fields, shape={"prompts": len(prompts)}
    )
    if cached is not None:
        return cached
    samples = generator(prompts)
    if len(samples) != len(prompts) or any(len(s) < 2 for s in samples):
        raise ValueError("generator must return, for every prompt, a sequence of at least two continuations")
    first, second = [s[0] for s in samples], [s[1] for s in samples]
    scores = judge.positivity(first + second)
    triplets = []
    for i, (row_id, _) in enumerate(rows):
        a, b = float(scores[i]), float(scores[len(rows) + i])
        if a == b:
            continue
        chosen, rejected = (first[i], second[i]) if a > b else (second[i], first[i])
        meta = {"positivity_chosen": max(a, b), "positivity_rejected": min(a, b), **dict(generator_key)}
        triplets.append(Triplet(prompts[i], chosen, rejected, "imdb", row_id, meta))
    with publishing(path, kind=GENERATED_KIND, key=key, fields=fields, shape={"prompts": len(prompts)}) as stage:
        atomic_write_json(stage.path / GENERATED_FILE, [t.to_dict() for t in triplets])
    return triplets


def _read_generated(entry: CacheEntry) -> list[Triplet]:
    records = entry.read_json(GENERATED_FILE)
    try:
        return [Triplet.from_dict(record) for record in records]
    except (KeyError, TypeError, AttributeError) as err:
        raise CacheError(f"cache entry {entry.path}: {GENERATED_FILE} does not hold triplets ({err!r})") from err


def hf_sampler(
    model: Any,
    tokenizer: Any,
    *,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    top_p: float = 0.95,
    seed: int = 0,
    batch_size: int = 16,
) -> Generator:
    """A :data:`Generator` from a Hugging Face causal LM: two sampled continuations per prompt.

    Sampling is seeded (``torch.manual_seed(seed)`` once per call), prompts are left-padded, and
    only the new tokens are decoded. Record the same settings in ``generator_key``.
    """

    def generate(prompts: list[str]) -> list[tuple[str, str]]:
        torch.manual_seed(seed)
        tokenizer.padding_side = "left"
        out: list[tuple[str, str]] = []
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True).to(model.device)
            with torch.inference_mode():
                ids = model.generate(
                    **batch,
                    do_sample=True,
                    temperature=temperature,
                    top_p=top_p,
                    max_new_tokens=max_new_tokens,
                    num_return_sequences=2,
                    pad_token_id=tokenizer.pad_token_id,
                )
            texts = tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            out.extend((texts[2 * i].strip(), texts[2 * i + 1].strip()) for i in range(len(texts) // 2))
        return out

    return generate
