"""The offline MiniLM encoder: shape, normalisation, order, semantics, cache, errors."""

import pytest
import torch

from coala_lib.backbone.encoders import EMBEDDING_DIM, encode_texts

TEXTS = [
    "A cat is sitting on the mat.",
    "Stock markets fell sharply on Monday.",
    "A kitten rests on a rug.",
    "The central bank raised interest rates again.",
]


def test_shape_norm_and_semantics():
    emb = encode_texts(TEXTS, progress=False)
    assert emb.shape == (4, EMBEDDING_DIM) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(4))
    sim = emb @ emb.T
    assert sim[0, 2] > sim[0, 1] and sim[0, 2] > sim[0, 3]  # cat ~ kitten, not markets
    assert sim[1, 3] > sim[1, 0] and sim[1, 3] > sim[1, 2]  # markets ~ bank


def test_batching_and_order_do_not_change_embeddings():
    full = encode_texts(TEXTS, batch_size=4, progress=False)
    single = encode_texts(TEXTS, batch_size=1, progress=False)
    torch.testing.assert_close(full, single, atol=1e-5, rtol=1e-4)
    reversed_ = encode_texts(TEXTS[::-1], batch_size=3, progress=False)
    torch.testing.assert_close(reversed_.flip(0), full, atol=1e-5, rtol=1e-4)
    raw = encode_texts(TEXTS[:1], normalize=False, progress=False)
    torch.testing.assert_close(raw / raw.norm(), full[:1], atol=1e-5, rtol=1e-4)


def test_disk_cache_round_trip(tmp_path):
    first = encode_texts(TEXTS, progress=False, cache=True, cache_root=tmp_path)
    files = list((tmp_path / "embeddings").glob("*/embeddings.safetensors"))
    assert len(files) == 1
    assert torch.equal(encode_texts(TEXTS, progress=False, cache=True, cache_root=tmp_path), first)
    encode_texts(TEXTS[:2], progress=False, cache=True, cache_root=tmp_path)
    assert len(list((tmp_path / "embeddings").glob("*/embeddings.safetensors"))) == 2  # other texts, other key


def test_bad_input():
    assert encode_texts([], progress=False).shape == (0, EMBEDDING_DIM)
    with pytest.raises(TypeError, match="list of strings"):
        encode_texts("one text", progress=False)
    with pytest.raises(ValueError, match="max_length"):
        encode_texts(TEXTS, max_length=1000, progress=False)
