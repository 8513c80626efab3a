"""The solver benchmark's bookkeeping: reference drift, time to gap, and an interrupted-safe JSON record."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
import torch
from bench_modules import load_bench

from coala_lib.chapters.convex_experiments import solver_bench_frame, targets_frame


@pytest.fixture(scope="module")
def bench():
    return load_bench("solver")


def test_reference_is_the_best_value_and_drift_its_second_half_change(bench) -> None:
    best, drift = bench.reference_objective([5.0, 3.0, 2.2, 2.0])
    assert best == 2.0 and drift == pytest.approx((3.0 - 2.0) / 2.0)
    assert bench.reference_objective([4.0, 2.0, 2.5, 2.1]) == (2.0, 0.0)  # best reached in the first half


def test_time_to_gap_uses_the_best_value_so_far(bench) -> None:
    objective, seconds = [10.0, 1.0005, 3.0, 1.0], [0.1, 0.2, 0.3, 0.4]
    assert bench.time_to_gap(objective, seconds, 1.0, 1e-3) == (0.2, 2)
    assert bench.time_to_gap(objective, seconds, 1.0, 1e-5) == (0.4, 4)
    assert bench.time_to_gap([10.0, 5.0], [0.1, 0.2], 1.0, 1e-3) == (None, None)


def test_work_counts_the_operator_and_the_preconditioner(bench) -> None:
    assert bench.work(10, 4, 2) == 10 * 4 * 2 + 2 * 4 * 4


def _run(bench, monkeypatch, *args: str) -> None:
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "solver.py",
            "--device",
            "cpu",
            "--quick",
            "--threads",
            "1",
            "--preconditioners",
            "kronecker",
            "--max-iters",
            "5",
            *args,
        ],
    )
    threads = torch.get_num_threads()
    try:
        bench.main()
    finally:
        torch.set_num_threads(threads)


def test_quick_run_writes_a_complete_record(bench, tmp_path, monkeypatch) -> None:
    out = tmp_path / "solver.json"
    _run(bench, monkeypatch, "--ref-iters", "10", "--out", str(out))
    record = json.loads(out.read_text())
    assert record["finished"] is True and record["environment"]["torch_threads"] == 1
    (config,) = record["configs"]
    assert (config["n"], config["d"], config["P"]) == (10_000, 384, 10)
    assert config["reference_iterations"] == 10 and config["reference_drift"] >= 0
    assert config["runs"]["kronecker"]["iterations"] == 5
    assert ("unreliable" in config) == (config["reference_drift"] > bench.GAP / 10)

    record["configs"].append({"n": 100_000, "d": 4096, "P": 64, "skipped": "too large"})
    frame = solver_bench_frame(record)
    assert list(frame["status"])[-1] == "skipped" and not frame["n < 2dP"].iloc[0]
    assert frame["status"].iloc[0] in {"ok", "not reached", "unreliable reference"}
    assert frame["admm_iterations"].iloc[0] == config["runs"]["kronecker"]["iterations_to_gap"] or (
        frame["status"].iloc[0] != "ok"
    )


def test_resume_keeps_finished_configs_and_refuses_other_parameters(bench, tmp_path, monkeypatch) -> None:
    out = tmp_path / "solver.json"
    _run(bench, monkeypatch, "--ref-iters", "10", "--out", str(out))
    first = json.loads(out.read_text())
    _run(bench, monkeypatch, "--ref-iters", "10", "--out", str(out), "--resume")
    second = json.loads(out.read_text())
    assert second["configs"] == first["configs"]  # kept, not re-measured (timings would differ)
    assert second["earlier_parameters"] == [first["parameters"]]
    with pytest.raises(SystemExit, match="ref_iters"):
        _run(bench, monkeypatch, "--ref-iters", "11", "--out", str(out), "--resume")


def test_configs_select_grid_points(bench, tmp_path, monkeypatch) -> None:
    assert bench.parse_config("1e5,384,64") == (100_000, 384, 64)
    with pytest.raises(SystemExit, match="n,d,P"):
        bench.parse_config("1e5,384")
    monkeypatch.setattr(
        sys, "argv", ["solver.py", "--device", "cpu", "--out", str(tmp_path / "x.json"), "--configs", "7,7,7"]
    )
    with pytest.raises(SystemExit, match="not grid points"):
        bench.main()


def test_frame_reads_records_written_before_the_drift_field() -> None:
    run = {
        "seconds_to_gap": 0.5,
        "iterations_to_gap": 3,
        "pcg_iterations_to_gap": 9,
        "preconditioner_seconds": 0.1,
        "final_gap": 1e-5,
    }
    record = {"configs": [{"n": 100, "d": 4, "P": 2, "runs": {"nystrom": run}}]}
    row = solver_bench_frame(record, "nystrom").iloc[0]
    assert row["status"] == "ok" and row["reference_drift"] is None and not row["n < 2dP"]


def test_seconds_to_certificate_is_the_first_check_meeting_both_tolerances(bench) -> None:
    checks = [
        {"seconds": 1.0, "relative_gap": 1e-2, "cone_violation_rel": 0.0},
        {"seconds": 2.0, "relative_gap": 1e-5, "cone_violation_rel": 1e-2},
        {"seconds": 3.0, "relative_gap": 1e-5, "cone_violation_rel": 1e-6},
    ]
    Run = SimpleNamespace(history=SimpleNamespace(checks=checks))

    assert bench.seconds_to_certificate(Run, 1e-4, 1e-4) == 3.0
    assert bench.seconds_to_certificate(Run, 1e-6, 1e-4) is None


def test_targets_on_planted_data_record_a_certificate_per_run(bench, tmp_path, monkeypatch) -> None:
    out = tmp_path / "targets.json"
    argv = ["solver.py", "--targets", "--device", "cpu", "--planted", "120,6,3", "--dtype", "float64"]
    argv += ["--threads", "1", "--target-iters", "400", "--cronos-iters", "3", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    threads = torch.get_num_threads()
    try:
        bench.main()
    finally:
        torch.set_num_threads(threads)
    record = json.loads(out.read_text())
    assert record["finished"] and record["cross_checks"] == []
    runs = {(r["model"], r["method"]): r for r in record["runs"]}
    assert set(runs) == {("gated", "fista"), ("gated", "cronos"), ("relu", "admm"), ("relu", "alm"), ("relu", "cronos")}
    assert runs[("gated", "cronos")]["iterations"] == 3 and not runs[("gated", "cronos")]["certificate"]["certified"]
    for run in runs.values():
        cert = run["certificate"]
        assert cert["lower_bound"] <= cert["primal"] * (1 + 1e-6) or cert["cone_violation_rel"] > 0
        assert run["met"] == (
            run["seconds_to_target"] is not None and run["seconds_to_target"] <= run["target_seconds"]
        )
    frame = targets_frame(record)
    assert len(frame) == 5 and set(frame["method"]) == {"fista", "admm", "alm", "cronos"}
