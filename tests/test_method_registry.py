"""A method is declared in one place: a toy method (IPO) registered in this file alone trains through notebook 05's
suite, is scored on held-out pairs and runs through the frontier bench on the tiny backbone; the book's methods
keep their cache keys and run labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from bench_modules import load_bench
from test_imdb_frontier import imdb_dir

from coala_lib.baselines import (
    REGISTRY,
    BaselineConfig,
    BaselineSuite,
    DPOSettings,
    MethodSettings,
    ORPOSettings,
    PreferenceMethod,
    SFTSettings,
    SimPOSettings,
    dpo_loss,
    load_policy,
    preference_method,
    register,
    rival_order,
    simpo_loss,
    sweep,
    train_step,
    trainable_copy,
)
from coala_lib.baselines.training_step import lora_policy, random_pair_batch
from coala_lib.data.schema import Triplet
from coala_lib.evaluation.frontier import heldout_preference
from coala_lib.experiments import frontier


@dataclass(frozen=True)
class IPOSettings(MethodSettings):
    """IPO's regulariser ``tau`` (TRL's ``beta``)."""

    tau: float = 0.1
    KEY_FIELDS: ClassVar[dict[str, str]] = {"tau": "beta"}


def ipo_loss(lp, n, ref, s):
    """:math:`(h - 1/(2\\tau))^2` with :math:`h` the chosen-minus-rejected log-ratio (per-token means, as TRL)."""
    ratio = (lp - ref) / n.clamp(min=1)
    return ((ratio[0] - ratio[1] - 1 / (2 * s.tau)) ** 2).mean()


IPO = PreferenceMethod(
    name="ipo",
    label="IPO",
    settings=IPOSettings,
    trainer="trl:DPOTrainer",
    trl_config="trl:DPOConfig",
    trl_options=lambda s: {"beta": s.tau, "loss_type": ["ipo"]},
    loss=ipo_loss,
    reward=lambda lp, n, ref, s: s.tau * (lp - ref),
    uses_reference=True,
    paper_grid={"beta": (0.1, 0.5)},
    notebook_grid={"beta": (0.1,)},
)


@pytest.fixture
def ipo(monkeypatch):
    """IPO registered for one test, in both registries (the registries are restored afterwards)."""
    monkeypatch.setitem(REGISTRY, "ipo", IPO)
    entry = frontier.trained_method("ipo", lambda config: [IPOSettings(tau=0.1)])
    monkeypatch.setitem(frontier.FRONTIER_METHODS, "ipo", entry)
    return IPO


TRIPLETS = [
    Triplet(f"Review {i}: the film", f"was wonderful and moving {i}.", f"was dull and badly acted {i}.", "toy", i)
    for i in range(6)
]


def test_a_toy_method_trains_through_the_suite_and_is_scored(ipo, tiny, tmp_path) -> None:
    suite = BaselineSuite()
    assert suite.grids["ipo"] == {"beta": [0.1]} and "ipo" in rival_order()
    config = BaselineConfig(max_steps=2, batch_size=2, max_length=32)
    runs = sweep(tiny, TRIPLETS, TRIPLETS[:4], {"ipo": suite.grids["ipo"]}, config, cache_root=tmp_path)
    (label, (result, rewards)) = next(iter(runs.items()))
    assert label == "ipo beta=0.1" and result.method == "ipo" and result.params["beta"] == 0.1
    assert len(result.metric("loss")) == 2 and torch.isfinite(rewards.margins).all()
    assert config.settings_for("ipo") == IPOSettings(tau=0.1)
    held = heldout_preference("ipo", load_policy(tiny, result.adapter_dir), tiny.tokenizer, TRIPLETS[:4], 0.1)
    assert held["heldout_pairs"] == 4 and 0.0 <= held["heldout_accuracy"] <= 1.0
    policy = lora_policy(trainable_copy(tiny), gradient_checkpointing=False)
    step = train_step(policy, torch.optim.SGD(policy.parameters(), lr=0.0), random_pair_batch(2, 8, 97), "ipo")
    assert step == pytest.approx((1 / (2 * 0.1)) ** 2)  # LoRA starts at the reference: h = 0


def test_a_toy_method_runs_through_the_frontier_bench(ipo, tmp_path) -> None:
    bench = load_bench("imdb_frontier")
    args = ["--scale", "tiny", "--quiet", "--methods", "reference", "ipo", "--cache-dir", str(tmp_path / "cache")]
    record = bench.main([*args, "--data-dir", str(imdb_dir(tmp_path / "data")), "--out", str(tmp_path / "out")])
    rows = [r for r in record["settings"] if r["method"] == "ipo"]
    assert {(r["setting"], r["split"]) for r in rows} == {("tau=0.1", "validation"), ("tau=0.1", "test")}
    assert "train ipo[tau=0.1]" in record["stages"] and not record["status"]["decoding_runs_pending"]
    assert record["stages"]["train ipo[tau=0.1]"]["heldout"]["heldout_pairs"] == 4


def test_unknown_methods_are_named() -> None:
    with pytest.raises(ValueError, match="'ppo' is not a registered preference method"):
        preference_method("ppo")
    with pytest.raises(ValueError, match="'ppo' is not a frontier method"):
        frontier.frontier_method("ppo")
    with pytest.raises(ValueError, match="lower-case identifier"):
        register(PreferenceMethod("P P O", "x", SFTSettings, "a:b", "a:b", dict, ipo_loss, ipo_loss))


def test_the_book_methods_keep_their_labels_key_fields_and_order() -> None:
    cases = {
        "sft": (SFTSettings(), "chosen", {"beta": None, "gamma": 0.5}),
        "dpo": (DPOSettings(beta=0.05), "beta=0.05", {"beta": 0.05, "gamma": 0.5}),
        "orpo": (ORPOSettings(lam=0.1), "lambda=0.1", {"beta": 0.1, "gamma": 0.5}),
        "simpo": (SimPOSettings(beta=2.0, gamma=0.5), "beta=2,gamma=0.5", {"beta": 2.0, "gamma": 0.5}),
    }
    for name, (settings, label, key) in cases.items():
        assert settings.label() == label and settings.key_fields() == key
        assert preference_method(name).settings_of(key) == settings
    assert rival_order()[:4] == ("dpo", "orpo", "simpo", "sft")
    assert frontier.ledger_names() == {
        "coala_paper": "coala",
        "pool": "pool",
        **{m: m for m in ("dpo", "orpo", "simpo", "sft")},
    }
    assert frontier.control_pairs() == {
        "coala_paper": "pool",
        "coala_args": "topk",
        "coala_released": "released_plain",
    }
    config = frontier.FrontierConfig()
    labels = [r.label for r in frontier.decoding_runs(config)][:10]
    assert labels == [
        "reference[T=1]",
        "coala_paper[lambda=2]",
        "pool[top-k=50,top-p=0.9]",
        "dpo[beta=0.1]",
        "best_of_n[pool]",
        "coala_args[w=0.5]",
        "topk[top-k=10]",
        "sft[chosen]",
        "orpo[lambda=0.1]",
        "simpo[beta=2,gamma=0.5]",
    ]


def test_each_loss_by_hand() -> None:
    lp = torch.tensor([[-2.0, -3.0], [-4.0, -3.5]])
    n = torch.tensor([[2.0, 3.0], [4.0, 1.0]])
    ref = torch.tensor([[-2.5, -3.0], [-3.0, -3.0]])
    mean = lp / n
    expected = {
        "sft": -mean[0].mean(),
        "dpo": dpo_loss(lp.reshape(-1), ref.reshape(-1), 0.01),
        "simpo": simpo_loss(mean.reshape(-1), 2.0, 0.5),
    }
    for name, value in expected.items():
        spec = preference_method(name)
        assert spec.loss(lp, n, ref, spec.settings()) == pytest.approx(float(value))
    h = (lp[0] - ref[0]) - (lp[1] - ref[1])
    assert preference_method("dpo").loss(lp, n, ref, DPOSettings(0.5)) == pytest.approx(
        float(-torch.nn.functional.logsigmoid(0.5 * h).mean())
    )
