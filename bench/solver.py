"""Benchmark CRONOS: wall time to a 1e-3 relative objective gap on planted two-layer ReLU data.

Usage: .venv/bin/python bench/solver.py --device cpu --out results/bench_solver_cpu.json [--quick]

The reference optimum of each configuration is the best objective of a long, tight run of the same
solver (CRONOS, ``--ref-iters`` iterations, rtol 1e-8), recorded with its drift over its second half
(a config whose reference still moves by more than a tenth of the target gap is flagged ``unreliable``);
the gap reported at time t is that of the best objective seen so far, |f_best - f*| / |f*|. Times
include the preconditioner build (also reported alone). The JSON is rewritten after every config;
``--resume`` continues an interrupted record, and ``--max-work`` skips configs too large for the device.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import torch

from coala_lib.convex.cronos import DEFAULT_RHO, PRECONDITIONERS, fit_cronos
from coala_lib.core.files import atomic_write_json, environment_record
from coala_lib.core.runtime import resolve_device

GAP = 1e-3


def planted_data(n: int, d: int, seed: int, device: torch.device, dtype: torch.dtype, teacher_width: int = 16):
    """Standard-normal features, labels sign(h(x)) of a random two-layer ReLU teacher (+1/-1)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype)
    W1 = torch.randn(teacher_width, d, generator=g, dtype=dtype) / math.sqrt(d)
    w2 = torch.randn(teacher_width, generator=g, dtype=dtype)
    h = torch.relu(X @ W1.T) @ w2
    y = torch.where(h >= h.median(), 1.0, -1.0).to(dtype)
    return X.to(device), y.to(device)


def work(n: int, d: int, P: int) -> int:
    """Multiply-adds of one application of :math:`F^\\top F` (about :math:`ndP`) plus one of the Kronecker
    preconditioner or of the Gram-based :math:`G^\\top G` (about :math:`Pd^2`): the cost model of a PCG step."""
    return n * d * P + P * d * d


#: Parameters that change what a config measures: ``--resume`` refuses a record made with other values.
SOLVER_PARAMETERS = (
    "device",
    "dtype",
    "threads",
    "beta",
    "rho",
    "rank",
    "preconditioners",
    "pcg_iters",
    "max_iters",
    "ref_iters",
    "seed",
    "quick",
)


def resumable(path: Path, parameters: dict) -> tuple[list[dict], list[dict]]:
    """The finished configs of the record at ``path`` and the parameters of the runs that made it.

    Refuses (``SystemExit`` naming the fields) a record made with other :data:`SOLVER_PARAMETERS`."""
    if not path.is_file():
        return [], []
    old = json.loads(path.read_text())
    differ = sorted(k for k in SOLVER_PARAMETERS if old["parameters"].get(k) != parameters[k])
    if differ:
        raise SystemExit(
            f"--resume: {path} was made with other {differ}; rerun without --resume or choose another --out"
        )
    return [c for c in old["configs"] if "runs" in c], old.get("earlier_parameters", []) + [old["parameters"]]


def parse_config(text: str) -> tuple[int, int, int]:
    """``"n,d,P"`` -> ``(n, d, P)``."""
    try:
        n, d, P = (int(float(x)) for x in text.split(","))
    except ValueError:
        raise SystemExit(f"--configs takes n,d,P triples such as 100000,384,64; got {text!r}") from None
    return n, d, P


def reference_objective(objective: list[float]) -> tuple[float, float]:
    """(best objective of the reference run, its relative change over the run's second half).

    The drift bounds how far the reference may still be from the optimum: a gap well below it cannot be
    certified, so configs whose drift exceeds ``GAP / 10`` are flagged ``unreliable``."""
    best = min(objective)
    half = min(objective[: max(1, len(objective) // 2)])
    return best, abs(half - best) / abs(best)


def time_to_gap(
    objective: list[float], seconds: list[float], reference: float, gap: float
) -> tuple[float | None, int | None]:
    best = math.inf
    for k, (f, t) in enumerate(zip(objective, seconds)):
        best = min(best, f)
        if abs(best - reference) <= gap * abs(reference):
            return t, k + 1
    return None, None


def run_config(n, d, P, args, device, dtype) -> dict:
    X, y = planted_data(n, d, args.seed, device, dtype)
    common = dict(P=P, beta=args.beta, rho=args.rho, rank=args.rank, seed=args.seed)
    ref = fit_cronos(
        X,
        y,
        max_iters=args.ref_iters,
        rtol=1e-8,
        atol=1e-12,
        pcg_max_iters=args.pcg_iters * 2,
        preconditioner=args.preconditioners[0],
        **common,
    )
    reference, drift = reference_objective(ref.history.objective)
    out = {
        "n": n,
        "d": d,
        "P": P,
        "reference_objective": reference,
        "reference_iterations": ref.iterations,
        "reference_converged": ref.converged,
        "reference_drift": drift,
        "reference_violation": ref.history.violation[-1],
        "runs": {},
    }
    if drift > GAP / 10:
        out["unreliable"] = (
            f"the reference run itself moved by {drift:.1e} (relative) over its second half: "
            f"gaps below that are not measurable here (raise --ref-iters)"
        )
    for name in args.preconditioners:  # back to back in one process: comparable on a shared machine
        run = fit_cronos(
            X, y, max_iters=args.max_iters, rtol=1e-6, pcg_max_iters=args.pcg_iters, preconditioner=name, **common
        )
        h = run.history
        seconds, iters = time_to_gap(h.objective, h.seconds, reference, GAP)
        out["patterns_kept"] = run.patterns.num_patterns
        out["runs"][name] = {
            "seconds_to_gap": seconds,
            "iterations_to_gap": iters,
            "pcg_iterations_to_gap": sum(h.pcg_iters[:iters]) if iters else None,
            "setup_seconds": run.setup_seconds,
            "preconditioner_seconds": run.nystrom_seconds,
            "total_seconds": run.total_seconds,
            "iterations": run.iterations,
            "pcg_iterations": sum(h.pcg_iters),
            "final_gap": abs(h.objective[-1] - reference) / abs(reference),
            "final_violation": h.violation[-1],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="only n=10,000, d=384, P=10")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--beta", type=float, default=1e-3)
    parser.add_argument("--rho", type=float, default=DEFAULT_RHO)
    parser.add_argument("--rank", type=int, default=20)
    parser.add_argument(
        "--preconditioners",
        nargs="+",
        default=["kronecker", "nystrom"],
        choices=PRECONDITIONERS,
        help="compared back to back; the first also solves the reference run",
    )
    parser.add_argument("--pcg-iters", type=int, default=32)
    parser.add_argument("--max-iters", type=int, default=100)
    parser.add_argument("--ref-iters", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-work",
        type=float,
        default=None,
        help="skip configs whose multiply-adds per operator application, n*d*P + P*d^2 (F^T F and "
        "the Kronecker preconditioner), exceed this (default: 5e8 on CPU, none on CUDA)",
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        default=None,
        metavar="N,D,P",
        help="run only these grid points (others are recorded as skipped unless --resume keeps them)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the finished configs of an earlier --out record made with the same solver "
        "parameters and run only the others",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtype = getattr(torch, args.dtype)
    limit = args.max_work if args.max_work is not None else (5e8 if device.type == "cpu" else math.inf)
    grid = (
        [(10_000, 384, 10)] if args.quick else list(itertools.product([1_000, 10_000, 100_000], [384, 4096], [10, 64]))
    )
    if not args.quick and device.type == "cuda":
        grid.append((131_072, 4096, 10))
    grid.sort(key=lambda c: work(*c))  # cheapest first, so an interrupted run keeps the most configs
    configs, earlier = resumable(Path(args.out), vars(args)) if args.resume else ([], [])
    done = {(c["n"], c["d"], c["P"]) for c in configs}

    def write(finished: bool) -> None:
        """Rewrite the JSON after every config: an interrupted run leaves a valid record of what it finished."""
        atomic_write_json(
            args.out,
            {
                "benchmark": "CRONOS time to 1e-3 relative objective gap",
                "reference": f"best objective of a long tight CRONOS run ({args.ref_iters} iterations, rtol 1e-8, "
                f"{2 * args.pcg_iters} PCG iterations); gap of the best-so-far prox iterate",
                "gap": GAP,
                "parameters": vars(args) | {"dtype": args.dtype},
                "earlier_parameters": earlier,  # of the runs whose finished configs --resume kept
                "environment": environment_record(),
                "finished": finished,
                "configs": configs,
            },
        )

    selected = None if args.configs is None else {parse_config(c) for c in args.configs}
    if selected is not None and not selected <= set(grid):
        raise SystemExit(f"--configs {sorted(selected - set(grid))} are not grid points; the grid is {sorted(grid)}")
    for n, d, P in grid:
        if (n, d, P) in done:
            continue
        if selected is not None and (n, d, P) not in selected:
            configs.append(
                {"n": n, "d": d, "P": P, "skipped": f"not among --configs (n*d*P + P*d^2 = {work(n, d, P):.1e})"}
            )
            continue
        if work(n, d, P) > limit:
            configs.append(
                {
                    "n": n,
                    "d": d,
                    "P": P,
                    "skipped": f"n*d*P + P*d^2 = {work(n, d, P):.1e} > --max-work {limit:.1e} (time on this device)",
                }
            )
            continue
        print(f"n={n} d={d} P={P} ...", flush=True)
        configs.append(run_config(n, d, P, args, device, dtype))
        print(configs[-1], flush=True)
        write(finished=False)
    configs.sort(key=lambda c: work(c["n"], c["d"], c["P"]))
    write(finished=True)


if __name__ == "__main__":
    main()
