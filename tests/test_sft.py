"""Stage 0: LoRA SFT on ``tiny``, merged in place and cached by content."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from coala_lib.backbone import sft
from coala_lib.backbone.lora import lora_config, lora_targets
from coala_lib.backbone.sft import SFTConfig, apply_sft, sft_examples
from coala_lib.data.schema import Triplet

CONFIG = SFTConfig(batch_size=4, lr=1e-2, max_length=48)


def triplets(n: int = 8) -> list[Triplet]:
    return [
        Triplet(f"Review {i}: the film", " was great fun and moving" * (i % 3 + 1), " was bad", "t", i)
        for i in range(n)
    ]


def test_lora_targets_follow_the_paper(tiny) -> None:
    assert lora_targets(tiny.model) == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    assert lora_targets(gpt2) == ["c_attn", "c_proj"]
    with pytest.raises(ValueError, match="none of the LoRA targets"):
        lora_targets(GPT2LMHeadModel(GPT2Config(n_layer=0, n_embd=16, n_head=2, vocab_size=50)))
    with pytest.raises(ValueError, match="dropout"):
        lora_config(tiny.model, dropout=1.0)


def test_only_response_tokens_are_trained_on(tiny) -> None:
    t = triplets(1)[0]
    ((ids, n_response),) = sft_examples(tiny, [t], max_length=48)
    assert tiny.tokenizer.decode(ids[len(ids) - n_response :]) == t.chosen
    ((short, n_short),) = sft_examples(tiny, [t], max_length=3)  # left truncation keeps the response's end
    assert len(short) == 3 and n_short == 3


def test_sft_merges_in_place_and_caches(fresh_tiny, tmp_path, monkeypatch) -> None:
    tiny = fresh_tiny()  # SFT merges into the model in place
    base_revision = tiny.revision
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    summary = apply_sft(tiny, triplets(), CONFIG, cache_root=tmp_path, progress=False)
    after = tiny.model.state_dict()
    assert set(after) == set(before)  # merged: the original architecture, no LoRA modules left
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(any(t in k for t in lora_targets(tiny.model)) for k in changed)
    assert summary["steps"] == 2 and summary["last_loss"] < summary["first_loss"] and not summary["cached"]
    assert tiny.revision == f"{base_revision}+sft-{summary['key']}"

    def no_training(*args, **kwargs):
        raise AssertionError("trained again on a cache hit")

    monkeypatch.setattr(sft, "_train", no_training)
    fresh = fresh_tiny()
    again = apply_sft(fresh, triplets(), CONFIG, cache_root=tmp_path, progress=False)
    assert again["cached"] and fresh.revision == tiny.revision
    for k, v in fresh.model.state_dict().items():
        torch.testing.assert_close(v, after[k])
    assert [p.name for p in (tmp_path / "sft").iterdir()] == [summary["key"]]


def test_empty_data_is_an_error(tiny, tmp_path) -> None:
    with pytest.raises(ValueError, match="empty"):
        apply_sft(tiny, [], CONFIG, cache_root=tmp_path)
