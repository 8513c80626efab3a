"""Prefix features: one pass per text gives what a separate pass over each response prefix gives."""

from __future__ import annotations

import pytest
import torch

from coala_lib.backbone.features import last_hidden, pair_features, prompt_text
from coala_lib.backbone.prefix_features import VIEWS, prefix_pair_features, running_views
from coala_lib.core.cache import CorruptCacheWarning
from coala_lib.data.schema import Triplet

TRIPLETS = [
    Triplet("The film opened with", "a wonderful scene that I loved dearly", "a dull scene", "t", 0, {}),
    Triplet("I watched it twice and", "it was great fun every time", "it bored me to tears, sadly", "t", 1, {}),
    Triplet("Short", "yes", "no it was not good at all, really not", "t", 2, {}),
]


def alone(backbone, prompt: str, response_ids: list[int], rendering: str) -> dict[str, torch.Tensor]:
    """Each view of prompt + the given response tokens, from its own unpadded forward pass."""
    tok = backbone.tokenizer
    if rendering == "chat":
        head = tok(prompt_text(tok, prompt), add_special_tokens=False)["input_ids"]
    else:
        head = tok(prompt, add_special_tokens=True)["input_ids"]
    ids = torch.tensor([list(head) + response_ids])
    mask = torch.ones_like(ids)
    hidden = last_hidden(backbone, ids, mask)
    views = running_views(hidden, mask, torch.tensor([len(head)]))
    return {v: x[0, -1] for v, x in views.items()}


@pytest.mark.parametrize("rendering", ["chat", "plain"])
def test_every_prefix_equals_its_own_forward_pass(tiny, tmp_path, rendering):
    feats = prefix_pair_features(tiny, TRIPLETS, rendering, lengths=(1, 2, 4), cache_root=tmp_path, progress=False)
    tok = tiny.tokenizer
    for i, t in enumerate(TRIPLETS):
        for side, text in (("chosen", t.chosen), ("rejected", t.rejected)):
            head = prompt_text(tok, t.prompt) if rendering == "chat" else t.prompt
            special = rendering == "plain"
            full = tok(head + ("" if rendering == "chat" else " ") + text, add_special_tokens=special)["input_ids"]
            n_head = len(tok(head, add_special_tokens=special)["input_ids"])
            response = list(full[n_head:])
            assert int(feats.response_tokens[i, 0 if side == "chosen" else 1]) == len(response)
            for L in (1, 2, 4, None):
                want = alone(tiny, t.prompt, response if L is None else response[:L], rendering)
                got = getattr(feats.at("mean", L), side)[i]
                torch.testing.assert_close(got, want["mean"], atol=1e-4, rtol=1e-4)
                for view in VIEWS:
                    got = getattr(feats.at(view, L), side)[i]
                    torch.testing.assert_close(got, want[view], atol=1e-4, rtol=1e-4)


def test_whole_text_mean_equals_the_heads_features(tiny, tmp_path):
    prefix = prefix_pair_features(tiny, TRIPLETS, "chat", lengths=(2,), cache_root=tmp_path, progress=False)
    plain = pair_features(tiny, TRIPLETS, 128, "mean", cache=False, progress=False)
    torch.testing.assert_close(prefix.at("mean").chosen, plain.chosen, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(prefix.at("mean").rejected, plain.rejected, atol=1e-4, rtol=1e-4)
    last = pair_features(tiny, TRIPLETS, 128, "last", cache=False, progress=False)
    torch.testing.assert_close(prefix.at("last").chosen, last.chosen, atol=1e-4, rtol=1e-4)


def test_cache_is_reused_and_a_damaged_entry_is_recomputed(tiny, tmp_path):
    first = prefix_pair_features(tiny, TRIPLETS, "chat", lengths=(2,), cache_root=tmp_path, progress=False)
    again = prefix_pair_features(tiny, TRIPLETS, "chat", lengths=(2,), cache_root=tmp_path, progress=False)
    torch.testing.assert_close(first.chosen["mean"], again.chosen["mean"])
    (blob,) = tmp_path.glob("prefix_features/*/features.safetensors")
    blob.write_bytes(blob.read_bytes()[:-8] + b"garbage!")
    with pytest.warns(CorruptCacheWarning):
        fixed = prefix_pair_features(tiny, TRIPLETS, "chat", lengths=(2,), cache_root=tmp_path, progress=False)
    torch.testing.assert_close(first.chosen["mean"], fixed.chosen["mean"])


def test_cut_takes_each_pair_at_its_own_slot(tiny, tmp_path):
    feats = prefix_pair_features(tiny, TRIPLETS, "chat", lengths=(1, 2), cache_root=tmp_path, progress=False)
    cut = feats.cut("last", torch.tensor([0, 2, 1]))
    torch.testing.assert_close(cut.chosen[1], feats.at("last").chosen[1])
    torch.testing.assert_close(cut.rejected[2], feats.at("last", 2).rejected[2])
    with pytest.raises(ValueError, match="length=3 was not extracted"):
        feats.at("mean", 3)
