"""The efficiency benchmark's CPU path (``--shape tiny``), its summary arithmetic, and the baseline steps it times."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from bench_modules import load_bench
from transformers import LlamaConfig, LlamaForCausalLM

from coala_lib.accounting.counting import StageRecord, decoder_forward_flops
from coala_lib.baselines.training_step import PairBatch, dpo_loss, lora_policy, orpo_loss, random_pair_batch, train_step


@pytest.fixture(scope="module")
def bench():
    return load_bench("efficiency")


def _small_model(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return LlamaForCausalLM(config)


def test_dpo_loss_by_hand() -> None:
    policy = torch.tensor([-1.0, -3.0])  # chosen, rejected
    reference = torch.tensor([-2.0, -2.0])
    expected = -math.log(1 / (1 + math.exp(-0.5 * ((-1 + 2) - (-3 + 2)))))
    assert dpo_loss(policy, reference, beta=0.5).item() == pytest.approx(expected)
    assert dpo_loss(reference, reference).item() == pytest.approx(math.log(2))  # policy == reference


def test_orpo_loss_by_hand() -> None:
    mean = torch.tensor([math.log(0.5), math.log(0.2)])
    log_odds = [math.log(0.5 / 0.5), math.log(0.2 / 0.8)]
    expected = -math.log(0.5) - 0.3 * math.log(1 / (1 + math.exp(-(log_odds[0] - log_odds[1]))))
    assert orpo_loss(mean, lam=0.3).item() == pytest.approx(expected, rel=1e-5)


def test_pair_batch_checks_shapes() -> None:
    ids = torch.zeros(3, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="2 \\* pairs"):
        PairBatch(ids, ids, ids)
    batch = random_pair_batch(2, 6, 50, prompt_len=4)
    assert batch.pairs == 2 and batch.response_mask[:, 4:].all() and not batch.response_mask[:, :4].any()


def test_lora_dpo_step_updates_adapters_only() -> None:
    model = _small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    policy = lora_policy(model, r=4)
    optimizer = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=1.0)
    batch = random_pair_batch(2, 12, 97, seed=1)
    first = train_step(policy, optimizer, batch, "dpo")
    assert first == pytest.approx(math.log(2), abs=1e-4)  # adapters start at zero: policy == reference
    second = train_step(policy, optimizer, batch, "dpo")
    assert second < first  # one step on the same batch lowers the loss
    base = policy.unload()
    for key, value in base.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed: LoRA must leave the base weights alone"


def test_dpo_without_reference_needs_adapters() -> None:
    model = _small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="reference"):
        train_step(model, optimizer, random_pair_batch(1, 8, 97), "dpo")


def test_meta_counts_match_the_formula(bench) -> None:
    counted = bench.meta_flops("tiny", 4, 16)
    assert counted["extraction"] == counted["extraction_analytic"]
    config = bench.build_config("tiny")
    forward = decoder_forward_flops(config, 4, 16)  # F: decoder body B plus the LM head
    body = decoder_forward_flops(config, 4, 16, lm_head=False)
    # LoRA-DPO with checkpointing: reference F + policy F + recomputed body B + input gradients (~F);
    # LoRA's own rank-r products add a little. Full DPO adds the weight gradients (at most another F).
    assert 1.0 <= counted["lora_dpo"] / (3 * forward + body) < 1.05
    assert counted["lora_dpo"] < counted["full_dpo"] <= 1.01 * (4 * forward + body)


def test_summary_arithmetic(bench) -> None:
    stages = {
        "extraction": StageRecord("extraction", seconds=2.0, flops=400, peak_memory_bytes=10, params={"pairs": 4}),
        "phase1": StageRecord("phase1", seconds=1.0, flops=50, peak_memory_bytes=30, params={"pairs": 500}),
        "phase2": StageRecord("phase2", seconds=0.5, flops=0, peak_memory_bytes=5, params={"pairs": 500}),
        "lora_dpo": StageRecord("lora_dpo", seconds=8.0, flops=4000, peak_memory_bytes=99, params={"pairs": 4}),
        "full_dpo": StageRecord("full_dpo", peak_memory_bytes=7, params={"status": "oom"}),
    }
    summary = bench.summarise(stages, head_pairs=500)
    coala = summary["coala"]
    assert coala["seconds"] == pytest.approx(1000 * 0.5 + 3.0)  # head scaled from 500 to 1000 pairs
    assert coala["flops"] == pytest.approx(1000 * 100 + 100)
    assert coala["peak_memory_bytes"] == 30 and coala["head_time_share"] == pytest.approx(3.0 / 503.0)
    assert summary["lora_dpo"]["seconds"] == pytest.approx(2000.0)
    assert summary["full_dpo"] == {"status": "oom", "peak_memory_bytes": 7}
    assert summary["coala_flops_over_lora_dpo_epoch"] == pytest.approx(100_100 / 1_000_000)


def test_cpu_tiny_run_writes_a_complete_record(bench, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = [
        "--device",
        "cpu",
        "--shape",
        "tiny",
        "--batch",
        "2",
        "--seq-len",
        "16",
        "--batches",
        "1",
        "--head-pairs",
        "40",
        "--phase1-iters",
        "3",
        "--adamw-epochs",
        "2",
        "--decode-tokens",
        "2",
        "--skip",
        "lora_orpo",
        "lora_sft",
        "--out",
        str(out),
    ]
    assert bench.main(argv) == 0
    record = json.loads(out.read_text())
    stages = {s["stage"]: s for s in record["stages"]}
    assert set(stages) == {"extraction", "phase1", "phase2", "guided_decoding", "lora_dpo", "full_dpo"}
    assert record["environment"]["device"] == "cpu" and record["parameters"]["shape"] == "tiny"
    assert all(s["seconds"] > 0 for s in stages.values())
    # One extraction batch: a forward pass of 2 sequences without the LM head, plus mean pooling
    # (a masked sum, 2 B T d, done as a matrix product).
    config = bench.build_config("tiny")
    pooling = 2 * 2 * 16 * config.hidden_size
    assert stages["extraction"]["flops"] == decoder_forward_flops(config, 2, 16, lm_head=False) + pooling
    assert stages["lora_dpo"]["flops"] > 3 * stages["extraction"]["flops"]
    summary = record["summary"]
    assert summary["coala"]["pairs_per_second"] == pytest.approx(1000 / summary["coala"]["seconds"])
    assert "extrapolated" in record["notes"][0]
    assert set(summary["target_checks"]) == set(summary["targets"])


def test_tables_from_a_record(bench, tmp_path: Path) -> None:
    from coala_lib.accounting.counting import ResultRecord
    from coala_lib.chapters.plots import efficiency as pe

    stages = {
        "extraction": StageRecord("extraction", seconds=2.0, flops=400, params={"pairs": 4}),
        "phase1": StageRecord("phase1", seconds=1.0, flops=50, params={"pairs": 1000}),
        "phase2": StageRecord("phase2", seconds=0.5, params={"pairs": 1000}),
        "lora_dpo": StageRecord("lora_dpo", seconds=8.0, flops=4000, params={"pairs": 4}),
        "full_dpo": StageRecord("full_dpo", peak_memory_bytes=7, params={"status": "oom"}),
    }
    summary = bench.summarise(stages, head_pairs=1000)
    summary["meta_counted"] = [
        {
            "shape": "x",
            "sequences": 8,
            "seq_len": 512,
            "extraction": 4e12,
            "extraction_analytic": 4e12,
            "lora_dpo": 16e12,
            "full_dpo": 20e12,
        }
    ]
    record = ResultRecord("bench_efficiency", {"shape": "tiny"}, list(stages.values()), summary)
    record.write(tmp_path / "bench_efficiency_cpu.json")
    found = pe.find_bench_records(tmp_path)
    assert list(found) == ["cpu"]
    costs = pe.cost_table(found["cpu"]).set_index("method")
    assert costs.loc["LoRA-DPO", "seconds"] == pytest.approx(2000.0)
    assert costs.loc["full DPO", "status"] == "oom" and math.isnan(costs.loc["full DPO", "counted_tflops"])
    meta = pe.meta_flops_table(found["cpu"]).iloc[0]
    assert meta["extraction_tflops"] == pytest.approx(1000.0) and meta["extraction_over_lora_dpo"] == pytest.approx(
        0.25
    )
    paper = pe.paper_table().set_index(["model", "method"])
    assert paper.loc[("Llama-3.1-8B", "COALA"), "implied_seconds"] == pytest.approx(1805 / 231)
    assert paper.loc[("Llama-3.1-8B", "COALA"), "share_of_dpo"] == pytest.approx(0.176, abs=5e-4)
