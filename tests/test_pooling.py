"""Every registered pooling's batch, running and incremental forms agree; the KV-cached decoder refuses a
pooling without an incremental form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from coala_lib.backbone.pooling import (
    POOLING_TABLE,
    POOLINGS,
    Pooling,
    get_pooling,
    pool,
    register_pooling,
)
from coala_lib.guidance.decoding import GuidanceConfig, encode_prompts, guided_generate
from coala_lib.guidance.lm import CachedPrefix, RecomputedPrefix
from coala_lib.head.coala_head import CoalaHead

TOL = 1e-6  # float32's: mean's batch form sums in float32 even for float64 hidden states
PROMPTS = ["This movie was a quiet surprise and", "Bad", "I watched it twice, and the ending"]


def _max_batch(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.bool()[..., None], hidden, float("-inf")).amax(dim=1)


def _max_running(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    running = torch.where(mask.bool()[..., None], hidden, float("-inf")).cummax(dim=1).values
    return torch.where(torch.isinf(running), 0, running)


TOY = Pooling("toy-max", _max_batch, _max_running)  # no incremental form


@pytest.fixture
def toy() -> Iterator[Pooling]:
    """The toy max pooling, registered for the test only."""
    register_pooling(TOY)
    try:
        yield TOY
    finally:
        del POOLING_TABLE[TOY.name]


def _left_padded(dtype: torch.dtype, lengths: tuple[int, ...] = (7, 3, 1, 5), T: int = 7, d: int = 6):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(len(lengths), T, d, generator=generator, dtype=torch.float64).to(dtype)
    mask = torch.stack([torch.arange(T) >= T - n for n in lengths]).long()
    return hidden, mask


def _direct(hidden: torch.Tensor, mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """``pooling``'s batch form on every prefix, one call per position (zero where a row has no real token)."""
    out = torch.zeros_like(hidden)
    for t in range(hidden.shape[1]):
        rows = mask[:, : t + 1].sum(dim=1) > 0
        if bool(rows.any()):
            out[rows, t] = pooling.batch(hidden[rows, : t + 1], mask[rows, : t + 1])
    return out


# ------------------------------------------------------------------------------------- the table


def test_poolings_names_the_table() -> None:
    assert POOLINGS == ("mean", "last") == tuple(POOLING_TABLE)
    assert all(get_pooling(name).name == name for name in POOLINGS)
    assert get_pooling(POOLING_TABLE["mean"]) is POOLING_TABLE["mean"]
    with pytest.raises(ValueError, match="pooling='max' is not supported"):
        get_pooling("max")
    with pytest.raises(ValueError, match="already registered"):
        register_pooling(Pooling("mean", _max_batch, _max_running))


def test_pool_is_the_batch_form(toy: Pooling) -> None:
    hidden, mask = _left_padded(torch.float32)
    for name, pooling in POOLING_TABLE.items():
        assert torch.equal(pool(hidden, mask, name), pooling.batch(hidden, mask))
        assert torch.equal(pool(hidden, mask, pooling), pooling.batch(hidden, mask))
    torch.testing.assert_close(pool(hidden, mask, "toy-max")[1], hidden[1, -3:].amax(dim=0))


# ------------------------------------------------------------ batch == running == incremental, per pooling


def _every_pooling() -> list[str]:
    return [*POOLINGS, TOY.name]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", _every_pooling())
def test_running_form_is_the_batch_form_of_every_prefix(toy: Pooling, name: str, dtype: torch.dtype) -> None:
    pooling = get_pooling(name)
    hidden, mask = _left_padded(dtype)
    running = pooling.running(hidden, mask)
    assert running.shape == hidden.shape and running.dtype == dtype
    torch.testing.assert_close(running, _direct(hidden, mask, pooling), atol=TOL, rtol=TOL)
    torch.testing.assert_close(running[:, -1], pooling.batch(hidden, mask), atol=TOL, rtol=TOL)
    # any padding: right-padded and gapped rows (a finished row of guided decoding) too
    gaps = torch.tensor([[0, 1, 1, 0, 1, 0, 0], [1, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    torch.testing.assert_close(pooling.running(hidden, gaps), _direct(hidden, gaps, pooling), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", POOLINGS)
def test_incremental_form_follows_the_batch_form(name: str, dtype: torch.dtype) -> None:
    """Start from left-padded prompts, score k one-token extensions, append one token at a time (a row
    finishing early gets padding slots), and compare each step with the batch and running forms."""
    pooling = get_pooling(name)
    assert pooling.has_incremental
    generator = torch.Generator().manual_seed(1)
    hidden, mask = _left_padded(dtype, T=4)
    state = pooling.incremental(hidden, mask)
    batch, d, k = hidden.shape[0], hidden.shape[2], 3
    for step in range(5):
        torch.testing.assert_close(state.features(), pooling.batch(hidden, mask), atol=TOL, rtol=TOL)
        candidates = torch.randn(batch, k, d, generator=generator, dtype=torch.float64).to(dtype)
        extended = state.extended(candidates)
        assert extended.shape == (batch, k, d) and extended.dtype == dtype
        for j in range(k):
            alone = torch.cat([hidden, candidates[:, j, None]], dim=1)
            alone_mask = torch.cat([mask, torch.ones(batch, 1, dtype=mask.dtype)], dim=1)
            torch.testing.assert_close(extended[:, j], pooling.batch(alone, alone_mask), atol=TOL, rtol=TOL)
        chosen = candidates[:, step % k]
        keep = torch.tensor([True, step < 2, True, True])
        state = state.append(chosen, keep)
        hidden = torch.cat([hidden, chosen[:, None]], dim=1)
        mask = torch.cat([mask, keep.long()[:, None]], dim=1)
    torch.testing.assert_close(state.features(), pooling.running(hidden, mask)[:, -1], atol=TOL, rtol=TOL)


def test_mean_running_is_float64_accurate_on_long_texts() -> None:
    generator = torch.Generator().manual_seed(2)
    hidden = 100 + torch.randn(2, 4000, 3, generator=generator)
    mask = torch.ones(2, 4000, dtype=torch.long)
    mask[0, :1000] = 0
    running = get_pooling("mean").running(hidden, mask)
    torch.testing.assert_close(running[0, :1000], torch.zeros(1000, 3))
    for t in (1000, 1003, 2047, 3999):
        expected = hidden[:, : t + 1].double().mul(mask[:, : t + 1, None]).sum(1) / mask[:, : t + 1].sum(
            1, keepdim=True
        )
        torch.testing.assert_close(running[:, t], expected.float(), atol=0, rtol=2e-7)


def test_forms_reject_bad_input() -> None:
    hidden, mask = _left_padded(torch.float32)
    for method in ("batch", "running", "incremental"):
        form = getattr(get_pooling("mean"), method)
        with pytest.raises(ValueError, match="attention_mask shape"):
            form(hidden, mask[:, :4])
        with pytest.raises(ValueError, match="no real token"):
            form(hidden, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="pooling 'toy-max' has no incremental form"):
        TOY.incremental(hidden, mask)


# ------------------------------------------------------------- the decoder refuses a non-incremental pooling


@pytest.fixture(scope="module")
def lm(tiny):
    return tiny.model, tiny.tokenizer


def test_cached_decoder_refuses_a_pooling_without_incremental_form(lm, toy: Pooling) -> None:
    model, tokenizer = lm
    ids, mask = encode_prompts(tokenizer, PROMPTS)
    for pooling in ("toy-max", toy):
        with pytest.raises(ValueError, match=r"pooling 'toy-max' has no incremental form.*use_cache=False"):
            CachedPrefix(model, ids, mask, pooling)
    with pytest.raises(ValueError, match="pooling='max' is not supported"):
        CachedPrefix(model, ids, mask, "max")
    dim = model.config.hidden_size
    g = torch.Generator().manual_seed(0)
    head = CoalaHead(
        torch.randn(4, dim, generator=g),
        torch.randn(4, generator=g),
        torch.zeros(dim),
        torch.ones(dim),
        "tiny",
        "toy-max",
    )
    config = GuidanceConfig.paper().with_(max_new_tokens=2)
    with pytest.raises(ValueError, match=r"pooling 'toy-max' has no incremental form"):
        guided_generate(model, tokenizer, PROMPTS, head=head, config=config)
    # the fix the message names: the uncached decoder pools with the batch form
    with torch.no_grad():
        slow = RecomputedPrefix(model, ids, mask, "toy-max")
        torch.testing.assert_close(slow.features(), pool(slow.hidden, mask, toy))
    out = guided_generate(model, tokenizer, PROMPTS, head=head, config=config.with_(use_cache=False))
    assert out.sequences.shape[0] == len(PROMPTS)
