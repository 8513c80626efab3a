"""The solver benchmark's bookkeeping: time to a certificate, and an interrupted-safe JSON record."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
import torch
from bench_modules import load_bench

from coala_lib.chapters.convex_experiments import bench_text, heads_frame, solver_bench_frame, targets_frame


@pytest.fixture(scope="module")
def bench():
    return load_bench("solver")


def test_work_counts_the_operator_and_the_preconditioner(bench) -> None:
    assert bench.work(10, 4, 2) == 10 * 4 * 2 + 2 * 4 * 4


def _main(bench, monkeypatch, argv: list[str]) -> None:
    """``bench/solver.py`` with ``argv``, restoring torch's thread count (``--threads`` changes it)."""
    monkeypatch.setattr(sys, "argv", ["solver.py", *argv])
    threads = torch.get_num_threads()
    try:
        bench.main()
    finally:
        torch.set_num_threads(threads)


def _run(bench, monkeypatch, *args: str) -> None:
    """The quick grid run, 5 default steps and 3 CRONOS iterations."""
    quick = ["--device", "cpu", "--quick", "--threads", "1", "--preconditioners", "kronecker"]
    _main(bench, monkeypatch, [*quick, "--max-iters", "5", "--cronos-iters", "3", *args])


def test_quick_run_writes_a_complete_record(bench, tmp_path, monkeypatch) -> None:
    out = tmp_path / "solver.json"
    _run(bench, monkeypatch, "--out", str(out))
    record = json.loads(out.read_text())
    assert record["finished"] is True and record["environment"]["torch_threads"] == 1
    (config,) = record["configs"]
    assert (config["n"], config["d"], config["P"]) == (10_000, 384, 10)
    assert set(config["runs"]) == {"default", "cronos/kronecker"}
    default, cronos = config["runs"]["default"], config["runs"]["cronos/kronecker"]
    assert default["method"] == "admm" and default["iterations"] == 5 and cronos["iterations"] == 3  # n > dP: exact
    for run in (default, cronos):
        assert (run["seconds_to_certified_gap"] is None) == (not run["certificate"]["certified"])

    record["configs"].append({"n": 100_000, "d": 4096, "P": 64, "skipped": "too large"})
    frame = solver_bench_frame(record)
    assert list(frame["status"])[-1] == "skipped" and not frame["n < 2dP"].iloc[0]
    assert list(frame["run"])[:2] == ["default (admm)", "cronos/kronecker"]
    assert list(frame["steps"])[:2] == ["5/5", "3/3"]


def test_no_preconditioners_runs_the_default_method_alone(bench, tmp_path, monkeypatch) -> None:
    out = tmp_path / "solver.json"
    argv = ["--device", "cpu", "--quick", "--threads", "1", "--max-iters", "3", "--preconditioners", "--out", str(out)]
    _main(bench, monkeypatch, argv)
    (config,) = json.loads(out.read_text())["configs"]
    assert set(config["runs"]) == {"default"} and config["runs"]["default"]["certificate"]["dual_point"]


def test_resume_keeps_finished_configs_and_refuses_other_parameters(bench, tmp_path, monkeypatch) -> None:
    out = tmp_path / "solver.json"
    _run(bench, monkeypatch, "--out", str(out))
    first = json.loads(out.read_text())
    _run(bench, monkeypatch, "--out", str(out), "--resume")
    second = json.loads(out.read_text())
    assert second["configs"] == first["configs"]  # kept, not re-measured (timings would differ)
    assert second["earlier_parameters"] == [first["parameters"]]
    with pytest.raises(SystemExit, match="cronos_iters"):
        _run(bench, monkeypatch, "--out", str(out), "--resume", "--cronos-iters", "4")
    _run(bench, monkeypatch, "--out", str(out), "--resume", "--configs", "10000,384,10")  # named: measured again
    third = json.loads(out.read_text())
    assert len(third["configs"]) == 1 and third["earlier_parameters"] == [first["parameters"], second["parameters"]]
    assert (
        third["configs"][0]["runs"]["default"]["total_seconds"]
        != first["configs"][0]["runs"]["default"]["total_seconds"]
    )


def test_configs_select_grid_points(bench, tmp_path, monkeypatch) -> None:
    assert bench.parse_config("1e5,384,64") == (100_000, 384, 64)
    with pytest.raises(SystemExit, match="n,d,P"):
        bench.parse_config("1e5,384")
    monkeypatch.setattr(
        sys, "argv", ["solver.py", "--device", "cpu", "--out", str(tmp_path / "x.json"), "--configs", "7,7,7"]
    )
    with pytest.raises(SystemExit, match="not grid points"):
        bench.main()


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
    argv = ["--targets", "--device", "cpu", "--planted", "120,6,3", "--dtype", "float64"]
    argv += ["--threads", "1", "--target-iters", "400", "--cronos-iters", "3", "--out", str(out)]
    _main(bench, monkeypatch, argv)
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
        timings = run["seconds_to_target_runs"]  # a fit that reaches its target is timed --repeats (3) times
        if run["seconds_to_target"] is None:
            assert timings == [None]
        else:
            assert len(timings) == 3 and run["seconds_to_target"] == sorted(timings)[1]
    assert runs[("gated", "fista")]["seconds_to_target"] is not None  # the repeats ran somewhere
    frame = targets_frame(record)
    assert len(frame) == 5 and set(frame["method"]) == {"fista", "admm", "alm", "cronos"}


def test_heads_record_a_certificate_per_method_and_read_as_a_frame(bench, tmp_path, monkeypatch) -> None:
    X, y = bench.planted_data(60, 5, 0, torch.device("cpu"), torch.float64)
    monkeypatch.setattr(bench, "HEADS", {"small head": {"P": 3, "beta": 0.5}})
    monkeypatch.setattr(bench, "HEAD_METHODS", {"auto": 2000, "alm": 2000, "cronos": 3})
    monkeypatch.setattr(bench, "head_problem", lambda config: (X, y))
    out = tmp_path / "heads.json"
    _main(bench, monkeypatch, ["--heads", "--threads", "1", "--out", str(out)])
    record = json.loads(out.read_text())
    assert record["finished"] and [r["method"] for r in record["runs"]] == ["admm", "alm", "cronos"]
    by_method = {r["method"]: r for r in record["runs"]}
    assert by_method["admm"]["certificate"]["certified"] and by_method["admm"]["seconds_to_certificate"] > 0
    assert by_method["cronos"]["iterations"] == 3 and by_method["cronos"]["seconds_to_certificate"] is None
    assert by_method["alm"]["rho"] is None and by_method["admm"]["rho"] == pytest.approx(0.1 * 0.5)
    frame = heads_frame(record)
    assert list(frame["method"]) == ["admm", "alm", "cronos"] and list(frame["steps"])[2] == "3/3"
    text = bench_text(frame)  # a header and one line per run; gaps in scientific notation
    gap = f"{frame['certified_gap'].iloc[0]:.1e}"
    assert len(text.splitlines()) == 4 and gap in text.splitlines()[1]
