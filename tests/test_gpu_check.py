"""The GPU check (``scripts/gpu_check.sh``, ``bench/gpu_check.py``) on tiny shapes on the CPU: every stage,
the record's schema, the budget's skips, resuming with ``--stages``; and the record's reader."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest
from bench_modules import load_bench

from coala_lib.accounting.gpu_check import (
    GPU_CHECK_FILE,
    GPU_CHECK_STAGES,
    SINGLE_GPU_BYTES,
    gpu_check_summary,
    read_gpu_check,
)
from coala_lib.data.sources import write_jsonl_gz

ROOT = Path(__file__).resolve().parents[1]
WORDS = {1: ["wonderful", "superb", "moving", "great"], 0: ["awful", "dull", "tedious", "boring"]}
FILLER = ["the", "film", "plot", "acting", "was", "and", "cast", "story"]


@pytest.fixture(scope="module")
def bench():
    return load_bench("gpu_check")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A small IMDb file in the real format (notebook 03's data), reviews of 20 to 60 words."""
    rng = random.Random(0)
    rows = [
        {
            "id": i,
            "label": i % 2,
            "rating": 9 if i % 2 else 2,
            "text": " ".join(rng.choice(WORDS[i % 2] if j % 3 == 0 else FILLER) for j in range(rng.randint(20, 60))),
        }
        for i in range(120)
    ]
    root = tmp_path_factory.mktemp("data")
    write_jsonl_gz(root / "imdb-train.jsonl.gz", rows)
    return root


def launch(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"COALA_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("GPU_CHECK_STARTED", None)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--tiny", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_dir) -> Path:
    out = tmp_path_factory.mktemp("out")
    launch("--out", str(out), "--work", str(tmp_path_factory.mktemp("work")), data_dir=data_dir)
    return out


@pytest.mark.slow  # end to end in subprocesses: the full lane runs it, scripts/test.sh --fast does not
def test_tiny_run_measures_every_stage(tiny_run) -> None:
    record = read_gpu_check(tiny_run)  # checks the schema
    assert record["tiny"] is True and record["finished"] is True and record["device_name"] == "cpu"
    assert list(record["stages"]) == sorted(GPU_CHECK_STAGES)
    for name, stage in record["stages"].items():
        assert stage["status"] == "ok", (name, stage.get("error"), stage.get("traceback"))
        assert stage["seconds"] > 0 and stage["wall_seconds"] >= stage["seconds"] * 0.99
    stages = record["stages"]
    assert stages["extraction_llama8b"]["metrics"]["tokens_per_second"] > 0
    assert stages["extraction_llama8b"]["params"]["shape"] == "tiny"
    assert stages["extraction_mistral7b"]["params"]["shape"] == "tiny_mistral"
    assert stages["lora_dpo_llama8b"]["params"]["micro_batches"] == 2
    assert stages["phase1"]["params"]["n"] == 512 and stages["phase1"]["metrics"]["iterations"] >= 1
    assert stages["phase1"]["metrics"]["certificate"]["relative_gap"] >= 0
    assert stages["phase1_cronos"]["metrics"]["method"] == "cronos"
    assert stages["phase2"]["metrics"]["newton_converged"] is True
    assert {row["method"] for row in stages["guidance"]["rows"]} == {"plain", "cached_guided", "naive_guided"}
    assert len(stages["guidance"]["metrics"]["summary"]) == 4  # 2 prompt lengths x 2 batch sizes
    notebook = stages["notebook03"]
    assert notebook["params"]["returncode"] == 0 and notebook["params"]["papermill"]["n_pairs"] == 16
    assert notebook["metrics"]["notebook"] == "03_train" and notebook["metrics"]["values"]  # its ledger record
    executed = json.loads((tiny_run / "03_train.ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"]["model"].endswith("tiny_mistral-random")
    assert record["versions"]["papermill"] != "absent" and record["seed"] == 0
    assert len(list(tiny_run.iterdir())) <= 8  # what the device machine returns: at most 8 files


@pytest.mark.slow  # end to end in subprocesses: the full lane runs it, scripts/test.sh --fast does not
def test_resume_keeps_the_other_stages(tiny_run, tmp_path, data_dir) -> None:
    before = read_gpu_check(tiny_run)
    launch(
        "--out",
        str(tmp_path),
        "--work",
        str(tmp_path / "work"),
        "--resume-from",
        str(tiny_run / GPU_CHECK_FILE),
        "--stages",
        "phase2",
        data_dir=data_dir,
    )
    after = read_gpu_check(tmp_path)
    assert len(after["calls"]) == 2 and after["calls"][1]["argv"][-2:] == ["--stages", "phase2"]
    for name in GPU_CHECK_STAGES:
        if name != "phase2":
            assert after["stages"][name] == before["stages"][name]
    assert after["stages"]["phase2"]["started"] >= before["stages"]["phase2"]["started"]
    assert after["stages"]["phase2"]["status"] == "ok" and "refit" in after["stages"]["phase2"]["note"]


def test_a_stage_that_does_not_fit_is_skipped_with_its_numbers(bench, tmp_path) -> None:
    record = bench.main(["--tiny", "--out", str(tmp_path), "--work", str(tmp_path / "w"), "--budget-s", "0"])
    assert read_gpu_check(tmp_path) == json.loads(json.dumps(record))
    assert record["finished"] is False
    for stage in record["stages"].values():
        assert stage["status"] == "skipped" and "would not fit" in stage["reason"] and "--stages" in stage["reason"]


def test_the_hard_limit_stops_the_stage_in_flight(bench, tmp_path) -> None:
    args = ["--tiny", "--out", str(tmp_path), "--work", str(tmp_path / "w"), "--hard-limit-s", "0.5"]
    check = bench.Check(bench.parse_args(args))
    check.run_stage("phase1", lambda: time.sleep(20) or {})
    entry = read_gpu_check(tmp_path)["stages"]["phase1"]
    assert entry["status"] == "error" and "DeadlineReached" in entry["error"] and "hard limit" in entry["error"]
    assert entry["wall_seconds"] < 10 and entry["allowance_seconds"] <= 0.5
    with bench.hard_deadline(0.1, "a test"), pytest.raises(bench.DeadlineReached, match="a test"):
        time.sleep(5)


def test_a_tiny_record_does_not_resume_a_gpu_one(bench, tmp_path) -> None:
    bench.main(["--tiny", "--out", str(tmp_path), "--work", str(tmp_path / "w"), "--budget-s", "0"])
    record = json.loads((tmp_path / GPU_CHECK_FILE).read_text())
    record["tiny"] = False
    (tmp_path / GPU_CHECK_FILE).write_text(json.dumps(record))
    with pytest.raises(SystemExit, match="tiny=False"):
        bench.main(["--tiny", "--out", str(tmp_path), "--work", str(tmp_path / "w"), "--budget-s", "0"])


def test_truncated_tokenizer_fits_the_mistral_vocabulary(bench) -> None:
    tokenizer = bench.truncated_gpt2_tokenizer(32000)
    assert len(tokenizer) == 32000 and tokenizer.eos_token_id == 31999
    text = "A wonderful film, though the plot was tedious at times."
    ids = tokenizer(text)["input_ids"]
    assert max(ids) < 31999 and tokenizer.decode(ids) == text
    assert tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False).startswith("<|user|>")
    with pytest.raises(ValueError, match="vocab_size"):
        bench.truncated_gpt2_tokenizer(100)


# ------------------------------------------------------------------------------------------ the reader


def record_with(**stages) -> dict:
    return {
        "name": "gpu_check",
        "format": 1,
        "tiny": False,
        "device_name": "NVIDIA H200",
        "seed": 0,
        "calls": [],
        "stages": stages,
    }


def ok(peak: int, kind: str = "cuda_max_allocated", **metrics) -> dict:
    return {"status": "ok", "seconds": 1.5, "peak_memory_bytes": peak, "memory_kind": kind, "metrics": metrics}


def test_summary_takes_coala_peak_over_its_gpu_stages(tmp_path) -> None:
    record = record_with(
        extraction_llama8b=ok(17 * 2**30, tokens_per_second=30_000.0),
        extraction_mistral7b=ok(16 * 2**30),
        phase1=ok(5 * 2**30, iterations=40, converged=True, certificate={"relative_gap": 5e-5, "certified": True}),
        lora_dpo_llama8b=ok(30 * 2**30, seconds_per_step=2.0),  # a baseline: not COALA's peak
        guidance={"status": "skipped", "reason": "would not fit"},
        notebook03={"status": "running"},
    )
    (tmp_path / GPU_CHECK_FILE).write_text(json.dumps(record))
    summary = gpu_check_summary(read_gpu_check(tmp_path))
    assert summary["coala_peak_bytes"] == 17 * 2**30 and summary["coala_fits_24gb"] is True
    assert summary["lora_dpo_peak_memory_bytes"] == 30 * 2**30 and summary["lora_dpo_seconds_per_step"] == 2.0
    assert summary["extraction_tokens_per_second"] == {"llama8b": 30_000.0, "mistral7b": None}
    assert summary["phase1_iterations"] == 40 and summary["phase1_converged"] is True
    assert summary["phase1_relative_gap"] == 5e-5
    assert summary["status"]["phase2"] == "not run"
    assert summary["not_measured"] == {"notebook03": "stopped while running", "guidance": "would not fit"}
    record["stages"]["phase1"] = ok(SINGLE_GPU_BYTES + 1)
    assert gpu_check_summary(record)["coala_fits_24gb"] is False


@pytest.mark.parametrize(("phase1_peak", "fits", "verdict"), [(23.9e9, True, "holds"), (24.1e9, False, "does not")])
def test_summary_and_ledger_read_24_gb_alike(phase1_peak, fits, verdict) -> None:
    from coala_lib.claims.verdicts import verdict_single_gpu

    record = record_with(extraction_llama8b=ok(17e9), extraction_mistral7b=ok(16e9), phase1=ok(phase1_peak))
    record["environment"] = {"device_name": "NVIDIA H200"}
    assert gpu_check_summary(record)["coala_fits_24gb"] is fits
    assert verdict_single_gpu({"gpu_check": record})[1].startswith(verdict)


def test_summary_of_a_cpu_record_claims_no_gpu_memory() -> None:
    summary = gpu_check_summary(record_with(extraction_llama8b=ok(10**6, kind="cpu_rss_growth")))
    assert summary["coala_peak_bytes"] is None and summary["coala_fits_24gb"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(format=2), "'format' must be 1"),
        (lambda r: r.pop("device_name"), "'device_name'"),
        (lambda r: r["stages"].update(phase3=ok(1)), "stage 'phase3'"),
        (lambda r: r["stages"].update(phase1={"status": "done"}), "stages.phase1.status"),
        (lambda r: r["stages"]["phase1"].pop("seconds"), "stages.phase1.seconds"),
        (lambda r: r["stages"]["phase1"].update(peak_memory_bytes=-1), "stages.phase1.peak_memory_bytes"),
        (lambda r: r["stages"].update(guidance={"status": "skipped"}), "no 'reason'"),
        (lambda r: r["stages"].update(guidance={"status": "error"}), "no 'error'"),
    ],
)
def test_reader_names_the_bad_field(tmp_path, change, message) -> None:
    record = copy.deepcopy(record_with(phase1=ok(1)))
    change(record)
    (tmp_path / GPU_CHECK_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=message):
        read_gpu_check(tmp_path / GPU_CHECK_FILE)


def test_reader_names_a_missing_or_broken_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"scripts/gpu_check\.sh"):
        read_gpu_check(tmp_path)
    (tmp_path / GPU_CHECK_FILE).write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        read_gpu_check(tmp_path)


@pytest.mark.slow
def test_notebook_table_reads_every_stage_of_the_record(tiny_run) -> None:
    from coala_lib.chapters.plots.efficiency import gpu_check_table

    summary = gpu_check_summary(read_gpu_check(tiny_run))
    table = gpu_check_table(summary)
    assert list(table.index) == list(summary["status"]) and set(table["status"]) <= {
        "ok",
        "skipped",
        "error",
        "running",
        "not run",
    }
    measured = table.dropna(subset=["seconds"])
    assert len(measured) == len(summary["seconds"]) and (measured["peak GiB"] >= 0).all()
