"""Masked pooling against direct computation; the head's score, validation and safetensors round trip."""

from pathlib import Path

import pytest
import torch

from coala_lib.backbone.pooling import pool
from coala_lib.head.coala_head import CoalaHead


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=generator)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])  # left-, no- and right-padded
    return hidden, mask


def test_mean_pooling_ignores_padding(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    hidden, mask = batch
    pooled = pool(hidden, mask, "mean")
    for row, keep in enumerate(mask.bool()):
        torch.testing.assert_close(pooled[row], hidden[row, keep].mean(0))


def test_last_pooling_takes_the_last_real_token(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    hidden, mask = batch
    pooled = pool(hidden, mask, "last")
    torch.testing.assert_close(pooled, torch.stack([hidden[0, 4], hidden[1, 4], hidden[2, 1]]))


def test_pooling_rejects_bad_input(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    hidden, mask = batch
    with pytest.raises(ValueError, match="pooling='max'"):
        pool(hidden, mask, "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attention_mask shape"):
        pool(hidden, mask[:, :4], "mean")
    with pytest.raises(ValueError, match="no real token"):
        pool(hidden, torch.zeros_like(mask), "mean")


def _head(d: int = 4, m: int = 6) -> CoalaHead:
    generator = torch.Generator().manual_seed(1)
    return CoalaHead(
        W1=torch.randn(m, d, generator=generator),
        w2=torch.randn(m, generator=generator),
        feature_mean=torch.randn(d, generator=generator),
        feature_scale=torch.rand(d, generator=generator) + 0.5,
        model_id="tiny",
        pooling="mean",
        config={"P": 3, "beta": 1e-3},
    )


def test_head_score_matches_its_formula() -> None:
    head = _head()
    f = torch.randn(7, 4)
    expected = torch.relu(((f - head.feature_mean) / head.feature_scale) @ head.W1.T) @ head.w2
    torch.testing.assert_close(head.score(f), expected)


def test_head_round_trip(tmp_path: Path) -> None:
    head = _head()
    head.save(tmp_path / "head")
    loaded = CoalaHead.load(tmp_path / "head")
    f = torch.randn(7, 4)
    torch.testing.assert_close(loaded.score(f), head.score(f))
    assert loaded.config == head.config and loaded.model_id == "tiny" and loaded.pooling == "mean"
    assert loaded.fingerprint == head.fingerprint


def test_head_fingerprint_names_the_scores() -> None:
    head = _head()
    w2 = head.w2.clone()
    w2[0] += 1e-6
    nudged = CoalaHead(head.W1, w2, head.feature_mean, head.feature_scale, "tiny", "mean")
    assert nudged.fingerprint != head.fingerprint
    assert head.to("cpu").fingerprint == head.fingerprint and len(head.fingerprint) == 16


def test_head_validation(tmp_path: Path) -> None:
    head = _head()
    with pytest.raises(ValueError, match="w2 must have shape"):
        CoalaHead(head.W1, head.w2[:-1], head.feature_mean, head.feature_scale, "tiny", "mean")
    with pytest.raises(ValueError, match="expects 4"):
        head.score(torch.randn(2, 5))
    with pytest.raises(FileNotFoundError, match="not a saved head"):
        CoalaHead.load(tmp_path)
