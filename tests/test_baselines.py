"""The TRL baselines on the ``tiny`` model: every wrapper trains, logs and saves; our DPO loss equals TRL's."""

from __future__ import annotations

import warnings

import pytest
import torch

from coala_lib.backbone.lora import lora_config
from coala_lib.baselines import trl_training as baselines
from coala_lib.baselines.methods import dpo_loss, method_names
from coala_lib.baselines.rewards import implicit_rewards, pair_batch
from coala_lib.baselines.training_step import sequence_logps
from coala_lib.baselines.trl_training import (
    PAPER_TRAINING_ARGS,
    BaselineConfig,
    build_trainer,
    load_policy,
    train_baseline,
    train_or_load_baseline,
)
from coala_lib.data.schema import Triplet

CONFIG = BaselineConfig(max_steps=2, batch_size=2, max_length=32)
REWARD_KEYS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


@pytest.fixture
def backbone(tiny):
    """The shared tiny backbone of conftest.py (the baselines train deep copies of it)."""
    return tiny


@pytest.fixture(scope="module")
def triplets() -> list[Triplet]:
    return [
        Triplet(f"Review {i}: the film", f"was wonderful and moving {i}.", f"was dull and badly acted {i}.", "toy", i)
        for i in range(6)
    ]


@pytest.mark.parametrize("method", method_names())
def test_every_method_trains_logs_and_saves(method, backbone, triplets, tmp_path) -> None:
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    result = train_baseline(method, backbone, triplets, CONFIG, tmp_path)
    steps = [row for row in result.log_history if "loss" in row]
    assert len(steps) == 2 and all(torch.isfinite(torch.tensor(row["loss"])) for row in steps)
    if method != "sft":
        assert all(key in row for row in steps for key in REWARD_KEYS)
        assert len(result.metric("rewards/margins")) == 2
    assert (result.adapter_dir / "adapter_config.json").is_file()
    assert (tmp_path / "result.json").is_file() and result.params["n_triplets"] == len(triplets)
    after = backbone.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the backbone itself must not be trained"
    policy = load_policy(backbone, result.adapter_dir)
    rewards = implicit_rewards(method, policy, backbone.tokenizer, triplets, result.params["beta"], max_length=32)
    assert rewards.chosen.shape == rewards.rejected.shape == (len(triplets),)
    assert torch.isfinite(rewards.margins).all()


def test_dpo_reward_is_zero_before_training(backbone, triplets) -> None:
    from peft import get_peft_model

    model = baselines.trainable_copy(backbone)
    policy = get_peft_model(
        model, lora_config(model, CONFIG.lora_r, CONFIG.lora_alpha, CONFIG.lora_dropout)
    )  # LoRA starts at B = 0: policy == reference
    rewards = implicit_rewards("dpo", policy, backbone.tokenizer, triplets, beta=0.1, max_length=32)
    assert torch.count_nonzero(rewards.chosen) == 0 and torch.count_nonzero(rewards.rejected) == 0


def test_our_dpo_loss_equals_trls_on_the_same_batch(backbone, triplets, tmp_path) -> None:
    config = BaselineConfig(beta=0.1, max_steps=3, batch_size=2, max_length=32, learning_rate=5e-2, lora_dropout=0.0)
    trainer = build_trainer("dpo", backbone, triplets, config, tmp_path)
    trainer.train()  # moves the adapters away from zero, so the loss is not log 2
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(model, batch)
        rows = (batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
        policy, _ = sequence_logps(model, *rows)
        with model.disable_adapter():
            reference, _ = sequence_logps(model, *rows)
    ours = dpo_loss(policy, reference, beta=0.1)
    assert abs(float(ours) - torch.log(torch.tensor(2.0)).item()) > 1e-3
    torch.testing.assert_close(ours, trl_loss.float(), rtol=1e-5, atol=1e-5)


def test_train_or_load_reuses_a_finished_run(backbone, triplets, tmp_path, monkeypatch) -> None:
    first = train_or_load_baseline("sft", backbone, triplets, CONFIG, cache_root=tmp_path)
    monkeypatch.setattr(baselines, "train_baseline", lambda *a, **k: pytest.fail("must load, not retrain"))
    again = train_or_load_baseline("sft", backbone, triplets, CONFIG, cache_root=tmp_path)
    assert again.adapter_dir == first.adapter_dir and again.log_history == first.log_history


def test_pair_batch_marks_the_response_and_pads_right(backbone, triplets) -> None:
    batch = pair_batch(backbone.tokenizer, triplets[:2], max_length=64)
    assert batch.pairs == 2
    assert torch.all(batch.attention_mask[:, 0] == 1)  # right padding: every row starts with a real token
    n_resp = len(backbone.tokenizer(triplets[0].chosen)["input_ids"])
    assert int(batch.response_mask[0].sum()) == pytest.approx(n_resp, abs=1)
    assert torch.all(batch.response_mask <= batch.attention_mask)


def test_bad_method_and_empty_data_are_named(backbone, triplets) -> None:
    with pytest.raises(ValueError, match="'ppo' is not a registered preference method"):
        train_baseline("ppo", backbone, triplets, CONFIG)
    with pytest.raises(ValueError, match="triplets is empty"):
        build_trainer("dpo", backbone, [], CONFIG, "unused")


def test_grid_points_cover_the_paper_grids() -> None:
    assert baselines.grid_points("dpo") == [{"beta": 0.01}, {"beta": 0.05}, {"beta": 0.1}]
    assert len(baselines.grid_points("orpo")) == 4 and len(baselines.grid_points("simpo")) == 2 * 7
    assert baselines.grid_points("sft") == [{}]
    assert baselines.grid_points("simpo", {"beta": [2.0], "gamma": [0.5, 1.0]}) == [
        {"beta": 2.0, "gamma": 0.5},
        {"beta": 2.0, "gamma": 1.0},
    ]
    with pytest.raises(ValueError, match="not hyper-parameters"):
        baselines.grid_points("dpo", {"lr": [1e-4]})


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(
    backbone, triplets, tmp_path, monkeypatch
) -> None:
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    config = BaselineConfig(max_steps=4, batch_size=2, max_length=32)
    full = train_baseline("dpo", backbone, triplets, config, tmp_path / "full")

    class Kill(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 2:  # checkpoint-2 is on disk: die while step 3 starts
                raise RuntimeError("simulated kill")

    build = baselines.build_trainer

    def with_kill(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.add_callback(Kill())
        return trainer

    checkpoints = tmp_path / "partial"
    monkeypatch.setattr(baselines, "build_trainer", with_kill)
    with pytest.raises(RuntimeError, match="simulated kill"):
        train_baseline("dpo", backbone, triplets, config, tmp_path / "run", checkpoints, checkpoint_every=2)
    assert baselines.last_checkpoint(checkpoints) == checkpoints / "checkpoint-2"
    monkeypatch.setattr(baselines, "build_trainer", build)
    resumed = train_baseline("dpo", backbone, triplets, config, tmp_path / "run", checkpoints, checkpoint_every=2)
    assert not checkpoints.exists(), "the checkpoints are removed once the adapter is saved"
    assert [row["step"] for row in resumed.log_history if "loss" in row] == [1, 2, 3, 4]
    assert (resumed.params["resumed_from_step"], resumed.params["total_steps"]) == (2, 4)
    assert (full.params["resumed_from_step"], full.params["total_steps"]) == (0, 4)
    a = load_file(full.adapter_dir / "adapter_model.safetensors")
    b = load_file(resumed.adapter_dir / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_last_checkpoint_skips_a_half_written_one(tmp_path) -> None:
    for step, files in ((2, ("trainer_state.json", "optimizer.pt", "rng_state.pth")), (4, ("optimizer.pt",))):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        for name in files:
            (folder / name).write_text("x")
    assert baselines.last_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    assert baselines.last_checkpoint(tmp_path / "none") is None


@pytest.mark.parametrize("method", ["dpo", "orpo"])
def test_training_is_silent_unless_progress_is_asked_for(method, backbone, triplets, tmp_path, capfd) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_baseline(method, backbone, triplets, CONFIG, tmp_path / "quiet")
    out, err = capfd.readouterr()
    shown = [str(w.message) for w in caught if not str(w.message).startswith("`is_gradient_checkpointing`")]
    assert out == "" and err == "" and shown == []  # (that one is silenced for every process by coala_lib)
    train_baseline(method, backbone, triplets, CONFIG, tmp_path / "shown", progress=True)
    out, err = capfd.readouterr()
    assert out == "" and "train: 100%" in err and "2/2" in err and "loss=" in err


def test_training_args_override_the_config_and_a_deprecated_name_is_refused(tmp_path) -> None:
    config = BaselineConfig(batch_size=8, training_args=PAPER_TRAINING_ARGS)
    args = baselines.trl_config("simpo", config, tmp_path)
    assert args.per_device_train_batch_size == 2 and args.gradient_accumulation_steps == 8
    assert args.remove_unused_columns is False and args.activation_checkpointing is False
    with pytest.raises(ValueError, match=r"training_args: 'gradient_checkpointing'.*'activation_checkpointing'"):
        BaselineConfig(training_args={"gradient_checkpointing": True})
