"""The released script's sampler (``mode="released"``): its penalty, its shift before the temperature over
the whole vocabulary, its every-6th-token schedule, and the cached path against the naive one."""

from __future__ import annotations

import math

import pytest
import torch

from coala_lib.guidance.config import GuidanceConfig
from coala_lib.guidance.decoding import guided_generate
from coala_lib.guidance.sampling import divide_seen, released_shift, repetition_penalty, top_p_filter
from coala_lib.head.coala_head import CoalaHead

PROMPTS = ["This movie was a quiet surprise and", "Bad"]


def _head(dim: int, seed: int = 0) -> CoalaHead:
    g = torch.Generator().manual_seed(seed)
    return CoalaHead(
        W1=torch.randn(8, dim, generator=g),
        w2=torch.randn(8, generator=g),
        feature_mean=torch.zeros(dim),
        feature_scale=torch.ones(dim),
        model_id="tiny",
        pooling="mean",
    )


def test_seen_logits_are_divided_whatever_their_sign() -> None:
    logits = torch.tensor([[2.2, -1.1, 0.5, 3.0]])
    ids, mask = torch.tensor([[0, 1, 3]]), torch.tensor([[1, 1, 0]])  # id 3 is padding: not seen
    torch.testing.assert_close(divide_seen(logits, ids, mask, 1.1), torch.tensor([[2.0, -1.0, 0.5, 3.0]]))
    # CTRL multiplies a negative logit instead: the two rules differ exactly there
    assert repetition_penalty(logits, ids, mask, 1.1)[0, 1] == pytest.approx(-1.21)


def test_shift_comes_before_the_temperature_and_keeps_the_whole_vocabulary() -> None:
    z = torch.tensor([[3.0, 2.0, 1.0, 0.5, 0.0]])
    ids, valid = torch.tensor([[0, 1]]), torch.tensor([[True, True]])
    bonus = torch.tensor([[0.0, 2.0]])
    out = released_shift(z, ids, valid, bonus, temperature=0.7, top_p=1.0)
    torch.testing.assert_close(out, (z + torch.tensor([[0.0, 2.0, 0.0, 0.0, 0.0]])) / 0.7)  # shift 2 / 0.7
    assert torch.isfinite(out).all()  # tokens outside the pool stay candidates
    flat = torch.tensor([[1.0, 0.9, 0.8, 0.7, 0.6]])  # a token outside the pool stays in the nucleus
    nucleus = released_shift(flat, ids, valid, 0.1 * bonus, temperature=0.7, top_p=0.9)
    assert torch.equal(nucleus, top_p_filter((flat + 0.1 * bonus.new_tensor([[0, 2, 0, 0, 0]])) / 0.7, 0.9))
    assert torch.isfinite(nucleus[0, 2])


def test_preset_and_schedule(tiny) -> None:
    config = GuidanceConfig.released_script(max_new_tokens=13)
    assert (config.mode, config.guidance_scale, config.top_k, config.every) == ("released", 2.0, 15, 6)
    assert math.isclose(config.temperature, 0.7) and math.isclose(config.repetition_penalty, 1.1)
    out = guided_generate(
        tiny.model,
        tiny.tokenizer,
        PROMPTS,
        head=_head(tiny.model.config.hidden_size),
        config=config.with_(ignore_eos=True),
        generator=torch.Generator().manual_seed(3),
    )
    assert [s.step for s in out.steps] == [5, 11]  # the 6th and the 12th token
    assert all(int(s.valid.sum(dim=1).max()) == 15 for s in out.steps)


def test_cached_and_naive_paths_agree(tiny) -> None:
    model = tiny.model.to(torch.float64)
    try:
        config = GuidanceConfig.released_script(max_new_tokens=7, ignore_eos=True)
        head = _head(model.config.hidden_size)
        runs = [
            guided_generate(
                model,
                tiny.tokenizer,
                PROMPTS,
                head=head,
                config=config.with_(use_cache=cache),
                generator=torch.Generator().manual_seed(5),
            )
            for cache in (True, False)
        ]
    finally:
        model.float()
    assert torch.equal(runs[0].sequences, runs[1].sequences) and len(runs[0].steps) == 1
