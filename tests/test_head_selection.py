"""The head study: one rule, the same budget for every arm, and a report split that no choice reads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from coala_lib.backbone.prefix_features import VIEWS, PrefixFeatures
from coala_lib.evaluation.head_study import accuracy, choices_of, paired, study_record
from coala_lib.head.selection import Candidate, FeatureChoice, StudyConfig, run_study, select

LENGTHS = (2, 4)


def synthetic(n: int, seed: int, signal: float = 1.5, d: int = 5) -> PrefixFeatures:
    """Pairs whose chosen text is shifted along a fixed direction, more so in longer prefixes."""
    g = torch.Generator().manual_seed(seed)
    direction = torch.tensor([1.0, -0.5, 0.0, 0.25, 0.0])[:d]
    strength = torch.tensor([0.3, 0.6, 1.0]) * signal  # slots 2, 4 tokens, whole text
    chosen, rejected = {}, {}
    for v, view in enumerate(VIEWS):
        base = torch.randn(n, 3, d, generator=g)
        chosen[view] = base + strength[None, :, None] * direction + 0.1 * v
        rejected[view] = torch.randn(n, 3, d, generator=g)
    return PrefixFeatures(LENGTHS, chosen, rejected, torch.full((n, 2), 4), key=f"synthetic-{seed}")


CHOICES = (
    FeatureChoice("chat", "mean", P_values=(2, 4)),
    FeatureChoice("chat", "last", "prefix"),
    FeatureChoice("plain", "mean"),
)
CONFIG = StudyConfig(
    choices=CHOICES,
    P_values=(2,),
    path_points=4,
    decades=1.5,
    phase2_l2s=(1e-2,),
    phase2_betas=(1.0,),
    adamw_lrs=(1e-2,),
    adamw_decays=(0.0, 0.1, 1.0),
    adamw_epochs=5,
    adamw_patience=2,
    probe_l2s=(10.0, 1.0, 0.1),
    prefix_lengths=LENGTHS,
)


@pytest.fixture(scope="module")
def study():
    train = {r: synthetic(80, 1) for r in ("chat", "plain")}
    validation = {r: synthetic(60, 2) for r in ("chat", "plain")}
    return train, run_study(train, validation, CONFIG)


def test_every_phase1_arm_gets_the_same_budget(study):
    _, result = study
    for choice in CHOICES:
        budget = CONFIG.budget(choice)
        assert budget == (
            {"convex": 6, "adamw": 6, "probe": 3} if choice.P_values else {"convex": 3, "adamw": 3, "probe": 3}
        )
        for arm in ("convex", "adamw", "probe"):
            tried = [c for c in result.arm(arm) if c.choice == choice and not c.params.get("paper")]
            assert len(tried) == budget[arm], (arm, choice)
    # every fitted point of every path is certified, and the path starts at the zero head
    for path in result.paths:
        assert path["points"][0]["beta"] < path["beta_max"]
        assert all(p["certified"] for p in path["points"])
    assert result.path_timing["warm"]["certified"] and result.path_timing["cold"]["certified"]


def test_the_report_split_never_moves_a_choice(study):
    train, result = study
    report = {r: synthetic(50, 3) for r in ("chat", "plain")}
    poisoned = {r: PrefixFeatures(f.lengths, f.rejected, f.chosen, f.response_tokens) for r, f in report.items()}
    clean = study_record(result, train, report, n_boot=50)
    bad = study_record(result, train, poisoned, n_boot=50)
    for name, chosen in clean["chosen"].items():
        assert bad["chosen"][name]["params"] == chosen["params"]
        assert bad["chosen"][name]["features"] == chosen["features"]
        # swapping chosen and rejected turns every right ranking into a wrong one
        assert bad["chosen"][name]["report"]["full"]["accuracy"] == pytest.approx(
            1 - chosen["report"]["full"]["accuracy"]
        )
    assert set(clean["comparisons"]) >= {"convex - adamw", "coala - paper"}
    assert clean["chosen"]["deployed"]["features"] in {c.label for c in CHOICES if c.deployable}


def test_deployed_head_is_chosen_on_prefixes_and_only_among_deployable_features(study):
    _, result = study
    chosen = choices_of(result)
    deployable = [c for c in result.arm("coala") if c.choice.deployable]
    best = max(c.prefix_score(LENGTHS) for c in deployable)
    assert chosen["deployed"].prefix_score(LENGTHS) == best
    assert chosen["deployed"].choice.rendering == "chat"


def candidate(accuracy: float, simplicity: tuple[float, ...]) -> Candidate:
    return Candidate("convex", CHOICES[0], {"s": simplicity}, simplicity, {"full": accuracy}, lambda f: f.sum(1))


def test_rule_takes_the_best_and_breaks_ties_towards_the_simpler_setting():
    a, b, c = candidate(0.70, (1.0,)), candidate(0.72, (0.1,)), candidate(0.72, (0.5,))
    assert select([a, b, c], lambda x: x.validation["full"]) is c
    d = candidate(0.72, (0.5,))
    assert select([a, c, d], lambda x: x.validation["full"]) is c  # then the earlier one
    with pytest.raises(ValueError, match="no candidates"):
        select([], lambda x: 0.0)


def test_intervals_and_paired_differences():
    values = np.array([1.0] * 60 + [0.0] * 40)
    got = accuracy(values)
    assert got["accuracy"] == 0.6 and got["low"] < 0.6 < got["high"] and got["n_pairs"] == 100
    same = paired(values, values, n_boot=100)
    assert same["difference"] == 0 and same["low"] == same["high"] == 0
    better = paired(np.ones(100), values, n_boot=200)
    assert better["difference"] == pytest.approx(0.4) and better["low"] > 0


@pytest.mark.slow
def test_bench_runs_end_to_end_on_the_tiny_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("COALA_CACHE_DIR", str(tmp_path / "cache"))
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not data.is_dir():
        pytest.skip("the shared IMDb data is not beside the checkout")
    path = Path(__file__).resolve().parents[1] / "bench" / "head_selection.py"
    spec = importlib.util.spec_from_file_location("head_selection_bench", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = tmp_path / "record.json"
    record = module.main(["--scale", "tiny", "--data-dir", str(data), "--out", str(out), "--no-progress"])
    assert out.is_file() and record["version"] == 1
    assert {"convex", "coala", "adamw", "probe", "paper", "deployed"} <= set(record["chosen"])
    assert record["splits"]["n_validation_pairs"] == 8 and record["splits"]["n_report_pairs"] == 8
    assert all(p["certified"] for path in record["paths"] for p in path["points"])
    assert "selection on the test set" in record["authors_protocol"]["label"]


def test_the_record_reads_back_checked_and_a_damaged_one_names_its_file(study, tmp_path):
    import json

    from coala_lib.claims.ledger import read_head_selection_record
    from coala_lib.core.records import RecordError

    train, result = study
    record = study_record(result, train, {r: synthetic(50, 3) for r in ("chat", "plain")}, n_boot=20)
    record.update(command="python bench/head_selection.py", splits={}, environment={})
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    assert read_head_selection_record(path)["chosen"].keys() == record["chosen"].keys()
    renamed = {("choices" if k == "chosen" else k): v for k, v in record.items()}
    path.write_text(json.dumps(renamed))
    with pytest.raises(RecordError, match=r"record\.json.*lacks the key \['chosen'\].*renamed"):
        read_head_selection_record(path)
    path.write_text(json.dumps(record)[:-40])
    with pytest.raises(RecordError, match=r"record\.json is not valid JSON"):
        read_head_selection_record(path)


def test_chapter_tables_and_figures_read_the_record(study, tmp_path):
    import json

    import matplotlib

    matplotlib.use("Agg")
    from coala_lib.chapters.head_selection import (
        arms_table,
        comparison_table,
        load_head_study,
        path_frame,
        prefix_frame,
        timing_summary,
    )
    from coala_lib.chapters.plots.head_selection import path_plot, prefix_plot

    assert load_head_study(tmp_path) is None  # not written yet
    train, result = study
    record = study_record(result, train, {r: synthetic(50, 3) for r in ("chat", "plain")}, n_boot=20)
    record.update(command="python bench/head_selection.py", splits={}, environment={})
    (tmp_path / "head_selection").mkdir()
    (tmp_path / "head_selection" / "record.json").write_text(json.dumps(record))
    record = load_head_study(tmp_path)
    frame = path_frame(record)
    assert len(frame) == sum(len(p["points"]) for p in record["paths"]) and frame["certified"].all()
    arms = arms_table(record)
    assert arms["report pairs"].tolist() == [50] * len(record["chosen"])
    assert all(" [" in text for text in arms["report (whole texts), 95 % interval"])
    assert set(comparison_table(record)["interval"]) <= {"above 0", "below 0", "contains 0"}
    prefixes = prefix_frame(record)
    assert set(prefixes["slot"]) == {"2", "4", "whole text"}
    assert timing_summary(record)["all certified"]
    path_plot(frame, "chat/mean/full")
    prefix_plot(prefixes)
    with pytest.raises(ValueError, match="no path for features"):
        path_plot(frame, "nope")
