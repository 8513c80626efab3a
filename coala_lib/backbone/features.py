"""Pooled last-layer features of prompt + response texts, with a content-keyed on-disk cache.

For a triplet :math:`(x, y_w, y_l)` the features are :math:`f_w = \\mathrm{pool}(H(x \\oplus y_w))` and
:math:`f_l = \\mathrm{pool}(H(x \\oplus y_l))`, with :math:`H` the backbone's last-layer hidden states
and ``pool`` the masked pooling of :mod:`coala_lib.backbone.pooling` (the same function guided decoding uses).
Row ``i`` of ``chosen`` and row ``i`` of ``rejected`` always belong to triplet ``i``: pairs stay matched
to their prompt.

Rendering (:func:`render`): with a chat template, the prompt is rendered as one user turn followed by
the assistant header (``add_generation_prompt=True``) and the response is appended as raw text (no
end-of-turn marker), which is exactly the text the LM extends during generation; without a template
the prompt and response are concatenated. Texts are left-truncated to ``max_length`` tokens (the
response is kept) and left-padded.

Cache layout, under ``cache_dir()/features/<key>/``: ``shard-NNNNN.safetensors`` files written as they
are produced, published with :func:`coala_lib.core.cache.publishing` (a manifest of SHA-256 hashes,
the key fields and the shape ``{n, dim}``, then one rename). On read the manifest's key, fields and
shape must match the request and every shard its hash and its recorded row count; an entry that fails
is reported (:class:`CorruptCacheWarning` naming its path) and recomputed, never used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from tqdm.auto import tqdm

from coala_lib.backbone.pooling import POOLINGS, pool
from coala_lib.backbone.registry import Backbone
from coala_lib.core.cache import CacheEntry, CacheError, load_cached, open_entry, publishing
from coala_lib.core.cache import CorruptCacheWarning as CorruptCacheWarning  # re-exported for this module's callers
from coala_lib.core.files import atomic_write_bytes, cache_dir, content_key
from coala_lib.core.runtime import progress_off
from coala_lib.data.schema import Triplet

#: Bump when rendering, tokenisation or the cache layout change: old cache entries then miss.
FEATURES_VERSION = 2
KIND = "features"


@dataclass
class PairFeatures:
    """Row-aligned pooled features: ``chosen[i]`` and ``rejected[i]`` come from triplet ``i``; ``manifest`` is
    the cache entry's manifest when they were read from the cache (empty when just computed)."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    key: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.chosen.shape != self.rejected.shape or self.chosen.ndim != 2:
            raise ValueError(
                f"chosen {tuple(self.chosen.shape)} and rejected {tuple(self.rejected.shape)} must both be (n, d)"
            )

    def __len__(self) -> int:
        return int(self.chosen.shape[0])

    @property
    def dim(self) -> int:
        return int(self.chosen.shape[1])


# ----------------------------------------------------------------------------------------- rendering


def prompt_text(tokenizer: Any, prompt: str) -> str:
    """The text the LM is conditioned on: one chat user turn plus the assistant header, or ``prompt``."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return prompt


def render(tokenizer: Any, prompt: str, response: str) -> str:
    """``prompt_text(prompt) + response``: the one way a (prompt, response) pair becomes text."""
    return prompt_text(tokenizer, prompt) + response


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, left-truncated to ``max_length`` (special tokens only without a template:
    a chat template writes its own)."""
    if max_length < 1:
        raise ValueError(f"max_length must be a positive number of tokens, got {max_length}")
    add_special = not getattr(tokenizer, "chat_template", None)
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=add_special)
    return [list(ids) for ids in encoded["input_ids"]]


# ---------------------------------------------------------------------------------------- extraction


@torch.no_grad()
def last_hidden(backbone: Backbone, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last-layer hidden states (B, T, d) of a left-padded batch.

    Position ids count real tokens only, so a row's states do not depend on how much padding its
    batch needed.
    """
    input_ids = input_ids.to(backbone.device)
    attention_mask = attention_mask.to(backbone.device)
    positions = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)
    out = backbone.model.base_model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=False
    )
    return out.last_hidden_state


def pooled_from_ids(
    backbone: Backbone, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling: str
) -> torch.Tensor:
    """Pooled last-layer hidden states (B, d) in float32 for a left-padded batch."""
    hidden = last_hidden(backbone, input_ids, attention_mask)
    return pool(hidden, attention_mask.to(hidden.device), pooling).float()


def unmasked_mean_drift(backbone: Backbone, texts: Sequence[str], max_length: int = 128) -> dict[str, float]:
    """How much a text's mean-pooled feature changes when it is pooled inside a padded batch rather
    than alone: max over texts of :math:`\\|f_\\text{batch} - f_\\text{alone}\\| / \\|f_\\text{alone}\\|`, with the mask
    (this library) and averaging over every position, pads included (the reference code)."""
    ids = tokenize(backbone.tokenizer, texts, max_length)
    if len({len(i) for i in ids}) < 2:
        raise ValueError("texts must have different token lengths, otherwise the batch has no padding")
    padded = backbone.tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    hidden = last_hidden(backbone, padded["input_ids"], padded["attention_mask"])
    mask = padded["attention_mask"].to(hidden.device)
    variants = {"masked": pool(hidden, mask, "mean"), "unmasked": pool(hidden, torch.ones_like(mask), "mean")}
    alone = torch.cat([pooled_from_ids(backbone, torch.tensor([i]), torch.ones(1, len(i)), "mean") for i in ids])
    scale = alone.norm(dim=1)
    return {
        name: float(((f.float().cpu() - alone.cpu()).norm(dim=1) / scale.cpu()).max()) for name, f in variants.items()
    }


def pooled_features(
    backbone: Backbone,
    texts: Sequence[str],
    max_length: int = 128,
    pooling: str = "mean",
    batch_size: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Pooled features (len(texts), d) on the CPU, in the order of ``texts``; batches are sorted by length."""
    _check_pooling(pooling)
    ids = tokenize(backbone.tokenizer, texts, max_length)
    out = torch.empty(len(ids), backbone.hidden_size, dtype=torch.float32)
    size = batch_size or default_batch_size(backbone)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    for batch in tqdm(batches, desc="features", disable=progress_off(progress), leave=False):
        padded = backbone.tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
        out[batch] = pooled_from_ids(backbone, padded["input_ids"], padded["attention_mask"], pooling).cpu()
    return out


def default_batch_size(backbone: Backbone) -> int:
    """Texts per forward pass: 16 on CPU; on GPU 128 below a billion parameters, else 32."""
    if backbone.device.type != "cuda":
        return 16
    params = sum(p.numel() for p in backbone.model.parameters())
    return 128 if params < 1e9 else 32


# --------------------------------------------------------------------------------------------- cache


def triplets_digest(triplets: Sequence[Triplet]) -> str:
    """SHA-256 of the ordered (prompt, chosen, rejected) texts: the data part of the cache key."""
    digest = hashlib.sha256()
    for t in triplets:
        digest.update(json.dumps([t.prompt, t.chosen, t.rejected]).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def feature_key_fields(
    backbone: Backbone, triplets: Sequence[Triplet], max_length: int, pooling: str, source: dict[str, Any] | None
) -> dict[str, Any]:
    """Everything the cached features depend on (the cache key is a hash of this dict)."""
    return {
        "version": FEATURES_VERSION,
        "backbone": backbone.identity(),
        "triplets": triplets_digest(triplets),
        "n": len(triplets),
        "max_length": int(max_length),
        "pooling": pooling,
        "source": dict(source or {}),
    }


def pair_features(
    backbone: Backbone,
    triplets: Sequence[Triplet],
    max_length: int = 128,
    pooling: str = "mean",
    batch_size: int | None = None,
    source: dict[str, Any] | None = None,
    cache: bool = True,
    cache_root: str | Path | None = None,
    shard_rows: int = 2048,
    progress: bool = True,
) -> PairFeatures:
    """Features of ``render(prompt, chosen)`` and ``render(prompt, rejected)`` for every triplet, cached.

    ``source`` (e.g. ``{"dataset": "imdb", "split": "train", "seed": 0}``) is recorded in the key and the
    manifest. With ``cache=False`` nothing is read or written. Rows are processed ``shard_rows`` at a
    time; each shard is written as soon as it is computed.
    """
    _check_pooling(pooling)
    if len(triplets) == 0:
        raise ValueError("triplets is empty: there is nothing to extract features from; load at least one pair")
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be positive, got {shard_rows}")
    fields = feature_key_fields(backbone, triplets, max_length, pooling, source)
    key = content_key(fields)
    if not cache:
        return _compute(backbone, triplets, max_length, pooling, batch_size, shard_rows, progress, None, key)
    final = cache_dir(cache_root) / "features" / key
    shape = {"n": len(triplets), "dim": backbone.hidden_size}
    cached = load_cached(final, _read, kind=KIND, key=key, fields=fields, shape=shape)
    if cached is not None:
        return cached
    with publishing(final, kind=KIND, key=key, fields=fields, shape=shape) as stage:
        return _compute(
            backbone, triplets, max_length, pooling, batch_size, shard_rows, progress, stage.path, key, stage.meta
        )


def load_features(
    directory: str | Path,
    key: str | None = None,
    fields: dict[str, Any] | None = None,
    shape: dict[str, int] | None = None,
) -> PairFeatures:
    """Read and verify a cache entry written by :func:`pair_features`; raise :class:`CacheError` naming it if bad.

    ``key`` defaults to the folder's name; ``fields`` and ``shape`` (``{"n": rows, "dim": d}``), when given,
    must equal the manifest's.
    """
    path = Path(directory)
    return _read(open_entry(path, kind=KIND, key=path.name if key is None else key, fields=fields, shape=shape))


def _read(entry: CacheEntry) -> PairFeatures:
    """The features of a verified entry: every shard's hash, shapes and row count checked."""
    try:
        n, d, shards = int(entry.shape["n"]), int(entry.shape["dim"]), list(entry.meta["shards"])
        layout = [(str(s["file"]), int(s["rows"])) for s in shards]
    except (KeyError, TypeError, ValueError) as err:
        raise CacheError(f"cache entry {entry.path}: its manifest lacks a valid shard list ({err})") from err
    if sorted(name for name, _ in layout) != entry.files or sum(rows for _, rows in layout) != n:
        raise CacheError(f"cache entry {entry.path}: its shards do not add up to the {n} rows of its manifest")
    chosen = torch.empty(n, d, dtype=torch.float32)
    rejected = torch.empty(n, d, dtype=torch.float32)
    start = 0
    for name, rows in layout:
        try:
            tensors = load_safetensors(entry.read_bytes(name))
        except SafetensorError as err:
            raise CacheError(f"cache entry {entry.path}: {name} is not a safetensors file ({err})") from err
        if set(tensors) != {"chosen", "rejected"} or any(t.shape != (rows, d) for t in tensors.values()):
            raise CacheError(f"cache entry {entry.path}: {name} does not hold two ({rows}, {d}) tensors")
        chosen[start : start + rows] = tensors["chosen"]
        rejected[start : start + rows] = tensors["rejected"]
        start += rows
    return PairFeatures(chosen=chosen, rejected=rejected, key=entry.key, manifest=entry.manifest)


def _compute(
    backbone: Backbone,
    triplets: Sequence[Triplet],
    max_length: int,
    pooling: str,
    batch_size: int | None,
    shard_rows: int,
    progress: bool,
    directory: Path | None,
    key: str,
    meta: dict[str, Any] | None = None,
) -> PairFeatures:
    """Extract shard by shard into preallocated tensors, writing each shard to ``directory`` if given
    and listing it, in row order, under ``meta["shards"]``."""
    n, d = len(triplets), backbone.hidden_size
    chosen = torch.empty(n, d, dtype=torch.float32)
    rejected = torch.empty(n, d, dtype=torch.float32)
    shards: list[dict[str, Any]] = []
    tok = backbone.tokenizer
    starts = range(0, n, shard_rows)
    for index, start in enumerate(tqdm(starts, desc=f"features ({n} pairs)", disable=progress_off(progress))):
        rows = triplets[start : start + shard_rows]
        texts = [render(tok, t.prompt, t.chosen) for t in rows] + [render(tok, t.prompt, t.rejected) for t in rows]
        pooled = pooled_features(backbone, texts, max_length, pooling, batch_size, progress=progress)
        k = len(rows)
        chosen[start : start + k], rejected[start : start + k] = pooled[:k], pooled[k:]
        if directory is not None:
            name = f"shard-{index:05d}.safetensors"
            blob = save_safetensors({"chosen": pooled[:k].contiguous(), "rejected": pooled[k:].contiguous()})
            atomic_write_bytes(directory / name, blob)
            shards.append({"file": name, "rows": k})
    if meta is not None:
        meta["shards"] = shards
    return PairFeatures(chosen=chosen, rejected=rejected, key=key)


def _check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(
            f"pooling={pooling!r} is not supported; choose one of {POOLINGS} (attention pooling would need "
            "its own trained scorer, which the reference code never trains)"
        )
