"""End to end on ``tiny`` with a small synthetic IMDb directory: train, cache, reload, invalidate."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
import torch

from coala_lib.backbone.features import PairFeatures
from coala_lib.data.sources import write_jsonl_gz
from coala_lib.head import training as pipeline
from coala_lib.head.config import HeadConfig, HeadReport
from coala_lib.head.handoff import hand_off, handed_off_config, load_trained
from coala_lib.head.phase2 import design, gradient
from coala_lib.head.training import fit_head, load_splits, splits_features, train_or_load_head

POSITIVE = ["wonderful", "brilliant", "moving", "superb", "delightful", "great", "charming", "excellent"]
NEGATIVE = ["awful", "boring", "dreadful", "terrible", "clumsy", "dull", "tedious", "painful"]
FILLER = ["the", "film", "plot", "acting", "story", "was", "and", "really", "quite", "cast"]
SMALL = dict(n_pairs=40, n_eval=6, P=3, phase1_max_iters=40, baseline_steps=30, adamw_epochs=5, max_length=48)
CONFIG = HeadConfig(model="tiny", dataset="imdb", **SMALL)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """120 reviews (60 positive, 60 negative) built from sentiment words: an easy, real-format IMDb file."""
    rng = random.Random(0)
    rows = []
    for i in range(120):
        label = i % 2
        words = POSITIVE if label else NEGATIVE
        text = " ".join(rng.choice(words if j % 3 == 0 else FILLER) for j in range(40))
        rows.append({"id": i, "label": label, "rating": 9 if label else 2, "text": text})
    root = tmp_path_factory.mktemp("data")
    write_jsonl_gz(root / "imdb-train.jsonl.gz", rows)
    return root


@pytest.fixture(scope="module")
def trained(tiny, data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    head, report = train_or_load_head(
        CONFIG, data_dir=data_dir, cache_root=root, backbone=tiny, device="cpu", progress=False
    )
    return head, report, root


def test_head_and_report(trained) -> None:
    head, report, root = trained
    assert head.dim == 64 and 1 <= head.width <= 2 * SMALL["P"] and head.model_id == "tiny" and head.pooling == "mean"
    assert isinstance(report, HeadReport) and report.config == CONFIG
    assert head.config["phase2"] == "pairwise" and head.config["key"] == report.key
    assert HeadConfig.from_dict(head.config) == CONFIG  # the saved head carries its whole configuration
    assert (root / "heads" / report.key / "report.json").is_file()
    assert [p.name for p in (root / "heads").iterdir()] == [report.key]  # no partial directory left
    phase2 = report.phase2
    assert phase2.solver == "newton" and phase2.optimum_converged and phase2.grad_norm < 1e-8
    assert len(phase2.adamw_history["margin"]) == phase2.adamw_history["step"][-1] + 1
    # sentiment words survive mean pooling of a random LM: Phase I separates the training pairs
    assert report.phase1.train.pairwise >= 0.8
    assert report.phase1.width == head.width and report.adamw_head.width == 2 * SMALL["P"]
    assert HeadReport.from_dict(report.to_dict()) == report  # report.json round-trips


def test_saved_head_is_the_phase2_optimum(trained, tiny, data_dir) -> None:
    """Recompute h = (W1 (f - mu)/sigma)_+ through CoalaHead itself: theta = head.w2 has zero gradient."""
    head, report, root = trained
    config = report.config
    f_train, f_eval = splits_features(tiny, config, load_splits(config, data_dir), cache_root=root, progress=False)
    stacked = torch.cat([f_train.chosen, f_train.rejected]).double()
    torch.testing.assert_close(head.feature_mean.double(), stacked.mean(0), atol=1e-5, rtol=1e-5)
    Z = design(head.hidden(f_train.chosen), head.hidden(f_train.rejected), "pairwise")
    g = gradient(head.w2.double(), Z, config.phase2_beta, config.phase2_gamma, config.phase2_l2)
    assert float(g.norm()) < 1e-5  # float32 storage of theta
    eval_acc = float((head.score(f_eval.chosen) > head.score(f_eval.rejected)).double().mean())
    assert eval_acc == pytest.approx(report.phase2.eval_pairwise)


def test_cache_hit_needs_no_backbone(trained, data_dir, monkeypatch) -> None:
    head, report, root = trained

    def no_load(*args, **kwargs):
        raise AssertionError("the backbone was loaded on a cache hit")

    monkeypatch.setattr(pipeline, "load_backbone", no_load)
    again, again_report = train_or_load_head(CONFIG, data_dir=data_dir, cache_root=root, device="cpu")
    # the typed report read back from report.json (compared as JSON: NaN fields are never == themselves)
    assert isinstance(again_report, HeadReport)
    assert json.dumps(again_report.to_dict(), sort_keys=True) == json.dumps(report.to_dict(), sort_keys=True)
    assert torch.equal(again.W1, head.W1) and torch.equal(again.w2, head.w2)


def test_load_trained_finds_the_same_head_and_splits(trained, data_dir, monkeypatch) -> None:
    head, report, root = trained

    def no_second_read(*args, **kwargs):
        raise AssertionError("train_or_load_head read the data again instead of using the given splits")

    monkeypatch.setattr(pipeline, "load_splits", no_second_read)
    hand_off(CONFIG, cache_root=root)  # notebook 03's last step
    start = load_trained(
        "tiny", "imdb", 40, 6, seed=0, device="cpu", data_dir=data_dir, cache_root=root, progress=False
    )
    assert start.report.key == report.key and torch.equal(start.head.W1, head.W1)
    assert start.config == CONFIG and start.source == "notebook 03's hand-off"
    train, held = load_splits(CONFIG, data_dir)
    assert start.train.triplets == train.triplets and start.held.triplets == held.triplets
    assert start.head.W1.device == start.backbone.device and "tiny" in start.describe()


def test_hand_off_carries_every_setting(data_dir, tmp_path) -> None:
    """Without a hand-off the defaults apply; after one, the selected run's own settings come back."""
    config, source = handed_off_config("tiny", "imdb", 40, 6, 0, cache_root=tmp_path)
    assert config == HeadConfig(model="tiny", n_pairs=40, n_eval=6) and "no hand-off" in source
    hand_off(CONFIG, cache_root=tmp_path)
    assert handed_off_config("tiny", "imdb", 40, 6, 0, cache_root=tmp_path) == (CONFIG, "notebook 03's hand-off")
    other, _ = handed_off_config("tiny", "imdb", 40, 6, 1, cache_root=tmp_path)  # another seed: another run
    assert other == HeadConfig(model="tiny", n_pairs=40, n_eval=6, seed=1)


@pytest.mark.parametrize("change", [{"phase2_gamma": 0.0}, {"seed": 1}, {"phase2": "pointwise"}])
def test_changed_parameter_misses(trained, tiny, data_dir, change) -> None:
    _, report, root = trained
    _, other_report = train_or_load_head(
        replace(CONFIG, **change), data_dir=data_dir, cache_root=root, backbone=tiny, device="cpu", progress=False
    )
    assert other_report.key != report.key
    assert (root / "heads" / other_report.key).is_dir() and (root / "heads" / report.key).is_dir()


def test_bad_inputs(tiny, data_dir, tmp_path) -> None:
    common = dict(data_dir=data_dir, cache_root=tmp_path, device="cpu", progress=False)
    with pytest.raises(TypeError, match="phase_two_beta"):
        HeadConfig(model="tiny", phase_two_beta=1.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="must be a HeadConfig"):
        train_or_load_head({"model": "tiny"}, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_pairs"):
        HeadConfig(model="tiny", n_pairs=0)
    with pytest.raises(ValueError, match="pairing="):
        HeadConfig(pairing="shuffled")
    with pytest.raises(ValueError, match="resolves to"):
        train_or_load_head(HeadConfig(model="distilgpt2"), backbone=tiny, **common)
    with pytest.raises(ValueError, match="dataset"):
        train_or_load_head(HeadConfig(model="tiny", dataset="imbd"), **common)
    with pytest.raises(ValueError, match="model="):
        train_or_load_head(HeadConfig(model="not-a-model"), **common)
    a = PairFeatures(torch.randn(4, 8), torch.randn(4, 8))
    b = PairFeatures(torch.randn(4, 6), torch.randn(4, 6))
    with pytest.raises(ValueError, match="dimension 8 but eval features 6"):
        fit_head(HeadConfig(model="tiny"), a, b, "tiny")
    assert not (tmp_path / "heads").exists() or list((tmp_path / "heads").iterdir()) == []


def test_pooling_mismatch_reports_the_trained_pooling_exactly(trained, tiny, data_dir) -> None:
    head, report, root = trained
    config = report.config
    _, held = load_splits(config, data_dir)
    got = pipeline.pooling_mismatch(tiny, head, held.triplets, config.max_length, cache_root=root, progress=False)
    assert set(got) == {"mean", "last"}
    assert got["mean"] == pytest.approx(report.phase2.eval_pairwise)
