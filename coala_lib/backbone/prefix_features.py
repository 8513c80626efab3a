"""Pooled features of every response *prefix* a guided decoder scores, from one forward pass per text.

Guided decoding scores a text after 1, 2, ..., 48 new tokens, but a head is trained on whole responses.
Because the backbone is causal, the last-layer state at position :math:`t` depends on tokens :math:`\\le t`
only, so one pass over ``prompt + response`` gives the features of every prefix
``prompt + response[:L]`` exactly:

* ``mean``: :math:`f_L = \\frac{1}{t_L}\\sum_{t \\le t_L} h_t` over all real tokens (template, system prompt and
  prompt included): the book's default pooling;
* ``response_mean``: the mean over the response tokens only (the template and its system prompt still
  condition the states, but do not enter the average);
* ``last``: :math:`f_L = h_{t_L}`,

with :math:`t_L` the position of the :math:`L`-th response token (the whole response when it is shorter).
Renderings: ``"chat"`` is :func:`coala_lib.backbone.features.render` (the chat template with its default
system prompt, exactly what the decoder extends); ``"plain"`` is ``prompt + " " + response`` with no
template (the response's tokens start with the space, which the tokenizer joins to its first word). Texts are left-truncated to ``max_length`` tokens (the response kept), as
:func:`coala_lib.backbone.features.pair_features` does, and its ``mean`` features of the whole text equal
that function's (``tests/test_prefix_features.py``).

Cache: ``cache_dir()/prefix_features/<key>/features.safetensors`` keyed by the backbone's identity, the
exact triplets, the rendering, the lengths and ``max_length``; published atomically with its hash and
verified on read (:mod:`coala_lib.core.cache`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from tqdm.auto import tqdm

from coala_lib.backbone.features import PairFeatures, default_batch_size, last_hidden, prompt_text, triplets_digest
from coala_lib.backbone.pooling import get_pooling
from coala_lib.backbone.registry import Backbone
from coala_lib.core.cache import CacheEntry, CacheError, load_cached, publishing
from coala_lib.core.checks import check_choice, check_int
from coala_lib.core.files import atomic_write_bytes, cache_dir, content_key
from coala_lib.core.runtime import progress_off
from coala_lib.data.schema import Triplet

__all__ = ["PREFIX_LENGTHS", "RENDERINGS", "VIEWS", "PrefixFeatures", "prefix_pair_features", "running_views"]

VIEWS: tuple[str, ...] = ("mean", "response_mean", "last")
RENDERINGS: tuple[str, ...] = ("chat", "plain")
#: Response tokens after which the guided decoder's scores are studied (the frontier decodes 48).
PREFIX_LENGTHS: tuple[int, ...] = (4, 8, 16, 32, 48)
VERSION = 1
KIND = "prefix-features"
FILE = "features.safetensors"


@dataclass
class PrefixFeatures:
    """``chosen[view]`` / ``rejected[view]``: (n, len(lengths) + 1, d) float32, slot ``j`` the features after
    ``lengths[j]`` response tokens and the last slot those of the whole text; row ``i`` is triplet ``i``.
    ``response_tokens`` (n, 2): each text's response length in tokens (chosen, rejected)."""

    lengths: tuple[int, ...]
    chosen: dict[str, torch.Tensor]
    rejected: dict[str, torch.Tensor]
    response_tokens: torch.Tensor
    key: str = ""

    def __len__(self) -> int:
        return int(self.response_tokens.shape[0])

    def slot(self, length: int | None) -> int:
        """The slot of ``length`` response tokens (``None``: the whole text)."""
        if length is None:
            return len(self.lengths)
        if length not in self.lengths:
            raise ValueError(f"length={length} was not extracted; choose one of {self.lengths} or None (whole text)")
        return self.lengths.index(length)

    def at(self, view: str, length: int | None = None) -> PairFeatures:
        """Row-aligned :class:`PairFeatures` of ``view`` after ``length`` response tokens (``None``: whole text)."""
        check_choice("view", view, VIEWS)
        j = self.slot(length)
        return PairFeatures(self.chosen[view][:, j].contiguous(), self.rejected[view][:, j].contiguous(), self.key)

    def cut(self, view: str, slots: torch.Tensor) -> PairFeatures:
        """Each pair ``i`` at its own slot ``slots[i]`` (chosen and rejected cut alike): prefix-matched data."""
        rows = torch.arange(len(self))
        return PairFeatures(self.chosen[view][rows, slots].contiguous(), self.rejected[view][rows, slots].contiguous())


def running_views(hidden: torch.Tensor, mask: torch.Tensor, response_start: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each view of the module docstring at every position, (B, T, d), from hidden (B, T, d), a left padding
    ``mask`` (B, T) and each row's first response position ``response_start`` (B,): the running forms of
    :mod:`coala_lib.backbone.pooling` (``response_mean`` is ``mean`` over the response tokens' mask)."""
    positions = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
    response = mask * (positions >= response_start.unsqueeze(1)).to(mask.dtype)
    mean, last = get_pooling("mean"), get_pooling("last")
    return {
        "mean": mean.running(hidden, mask).float(),
        "response_mean": mean.running(hidden, response).float(),
        "last": last.running(hidden, mask).float(),
    }


def _encode(tokenizer: Any, prompt: str, response: str, rendering: str, max_length: int) -> tuple[list[int], int]:
    """Token ids of the rendered text, left-truncated to ``max_length``, and how many of them are response."""
    if rendering == "chat":
        head, body = prompt_text(tokenizer, prompt), response
        special = not getattr(tokenizer, "chat_template", None)
    else:
        head, body, special = prompt, " " + response, True
    ids = list(tokenizer(head + body, add_special_tokens=special)["input_ids"])
    prefix = list(tokenizer(head, add_special_tokens=special)["input_ids"])
    shared = next((i for i, (a, b) in enumerate(zip(prefix, ids, strict=False)) if a != b), min(len(prefix), len(ids)))
    n_response = len(ids) - shared
    if n_response < 1:
        raise ValueError(f"the response adds no token to prompt {prompt[:40]!r}: every triplet needs a response")
    return ids[-max_length:], min(n_response, max_length)


def _extract(
    backbone: Backbone,
    texts: Sequence[tuple[str, str]],
    rendering: str,
    lengths: tuple[int, ...],
    max_length: int,
    progress: bool,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every view at every slot for (prompt, response) ``texts``: ({view: (N, S, d)}, response lengths (N,))."""
    tok = backbone.tokenizer
    encoded = [_encode(tok, p, r, rendering, max_length) for p, r in texts]
    n, d, slots = len(encoded), backbone.hidden_size, len(lengths) + 1
    out = {view: torch.zeros(n, slots, d) for view in VIEWS}
    order = sorted(range(n), key=lambda i: len(encoded[i][0]))
    size = default_batch_size(backbone)
    batches = [order[i : i + size] for i in range(0, n, size)]
    for batch in tqdm(batches, desc=f"prefix features ({rendering})", disable=progress_off(progress), leave=False):
        padded = tok.pad({"input_ids": [encoded[i][0] for i in batch]}, return_tensors="pt")
        ids, mask = padded["input_ids"], padded["attention_mask"]
        width = ids.shape[1]
        n_resp = torch.tensor([encoded[i][1] for i in batch])
        start = width - n_resp  # left padding: the response ends the row
        hidden = last_hidden(backbone, ids, mask)
        views = running_views(hidden, mask.to(hidden.device), start.to(hidden.device))
        cuts = torch.stack([torch.minimum(start + L - 1, torch.full_like(start, width - 1)) for L in lengths])
        at = torch.cat([cuts, torch.full((1, len(batch)), width - 1, dtype=cuts.dtype)]).T  # (B, S)
        rows = torch.arange(len(batch)).unsqueeze(1)
        for view, values in views.items():
            out[view][batch] = values[rows, at.to(values.device)].cpu()
    return out, torch.tensor([e[1] for e in encoded])


def prefix_pair_features(
    backbone: Backbone,
    triplets: Sequence[Triplet],
    rendering: str = "chat",
    lengths: Sequence[int] = PREFIX_LENGTHS,
    max_length: int = 128,
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> PrefixFeatures:
    """:class:`PrefixFeatures` of ``triplets`` (module docstring), read from the cache when these exact inputs
    were extracted before."""
    check_choice("rendering", rendering, RENDERINGS)
    check_int("max_length", max_length, minimum=1)
    lengths = tuple(int(L) for L in lengths)
    if not lengths or any(L < 1 for L in lengths) or list(lengths) != sorted(set(lengths)):
        raise ValueError(f"lengths must be increasing positive token counts, got {lengths}")
    if len(triplets) == 0:
        raise ValueError("triplets is empty: there is nothing to extract features from; load at least one pair")
    fields = {
        "version": VERSION,
        "backbone": backbone.identity(),
        "triplets": triplets_digest(triplets),
        "rendering": rendering,
        "lengths": list(lengths),
        "max_length": max_length,
    }
    key = content_key(fields)
    shape = {"n": len(triplets), "dim": backbone.hidden_size, "slots": len(lengths) + 1}
    directory = cache_dir(cache_root) / "prefix_features" / key
    cached = load_cached(directory, lambda entry: _read(entry, lengths), kind=KIND, key=key, fields=fields, shape=shape)
    if cached is not None:
        return cached
    texts = [(t.prompt, t.chosen) for t in triplets] + [(t.prompt, t.rejected) for t in triplets]
    views, n_resp = _extract(backbone, texts, rendering, lengths, max_length, progress)
    k = len(triplets)
    feats = PrefixFeatures(
        lengths,
        {v: x[:k].contiguous() for v, x in views.items()},
        {v: x[k:].contiguous() for v, x in views.items()},
        torch.stack([n_resp[:k], n_resp[k:]], dim=1),
        key,
    )
    tensors = {f"chosen/{v}": x for v, x in feats.chosen.items()} | {
        f"rejected/{v}": x for v, x in feats.rejected.items()
    }
    with publishing(directory, kind=KIND, key=key, fields=fields, shape=shape) as stage:
        atomic_write_bytes(stage.path / FILE, save_safetensors({**tensors, "response_tokens": feats.response_tokens}))
    return feats


def _read(entry: CacheEntry, lengths: tuple[int, ...]) -> PrefixFeatures:
    """The features of a verified entry (hash checked by :mod:`coala_lib.core.cache`, shapes here)."""
    try:
        tensors = load_safetensors(entry.read_bytes(FILE))
    except SafetensorError as err:
        raise CacheError(f"cache entry {entry.path}: {FILE} is not a safetensors file ({err})") from err
    n, d, slots = (int(entry.shape[k]) for k in ("n", "dim", "slots"))
    names = {f"{side}/{v}" for side in ("chosen", "rejected") for v in VIEWS}
    if set(tensors) != names | {"response_tokens"} or any(tensors[x].shape != (n, slots, d) for x in names):
        raise CacheError(f"cache entry {entry.path}: {FILE} does not hold the ({n}, {slots}, {d}) views expected")
    return PrefixFeatures(
        lengths,
        {v: tensors[f"chosen/{v}"] for v in VIEWS},
        {v: tensors[f"rejected/{v}"] for v in VIEWS},
        tensors["response_tokens"],
        entry.key,
    )
