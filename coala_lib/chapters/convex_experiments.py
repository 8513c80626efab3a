"""Experiments of the convex-reformulation and CRONOS chapters (notebooks 01 and 02).

Each function runs one measured experiment on top of :mod:`coala_lib.convex.reformulation`, :mod:`coala_lib.convex.cronos`
and :mod:`coala_lib.convex.two_layer` and returns plain numbers or a tidy :class:`pandas.DataFrame`, which
:mod:`coala_lib.chapters.plots.convex` draws. Nothing here re-implements the solvers; the one independent
piece is :func:`solve_convex_relu_cvxpy`, an interior-point reference (cvxpy + Clarabel) for small
problems, used to check CRONOS and to measure objective gaps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from coala_lib.convex.admm import SystemOperator
from coala_lib.convex.config import DEFAULT_RHO
from coala_lib.convex.cronos import CronosConfig, CronosResult, fit_cronos
from coala_lib.convex.pcg import pcg
from coala_lib.convex.reference import solve_reference
from coala_lib.convex.reformulation import ActivationPatterns, ConvexReLU, LinearMaps, recovery_gap, sample_gates
from coala_lib.convex.two_layer import TwoLayerReLU, train_two_layer

# ---------------------------------------------------------------------------------------------
# 2-D data and the full set of activation patterns
# ---------------------------------------------------------------------------------------------


def planar_dataset(n: int = 30, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of scikit-learn's two interleaved half-moons, shape (n, 2), labels +1/-1."""
    from sklearn.datasets import make_moons

    if n < 4:
        raise ValueError(f"n must be >= 4 points, got {n}")
    points, labels = make_moons(n, noise=noise, random_state=seed)
    return points, 2.0 * labels - 1.0


def lift(points: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Append a constant feature: rows :math:`(x_1, x_2, 1)` in float64, so a neuron's kink is any line."""
    pts = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    if pts.ndim != 2:
        raise ValueError(f"points must have shape (n, k), got {tuple(pts.shape)}")
    return torch.cat([pts, torch.ones(pts.shape[0], 1, dtype=torch.float64)], dim=1)


def cover_count(n: int, rank: int) -> int:
    """Cells of an arrangement of ``n`` hyperplanes through the origin in general position in
    :math:`\\mathbb R^{\\text{rank}}`: :math:`2\\sum_{k<\\text{rank}} \\binom{n-1}{k}` (Cover 1965). It is the number of
    distinct activation patterns :math:`1[Xg \\ge 0]` of ``n`` points in general position, the all-zero one included."""
    if n < 1 or rank < 1:
        raise ValueError(f"need n >= 1 and rank >= 1, got n={n}, rank={rank}")
    return 2 * sum(math.comb(n - 1, k) for k in range(rank))


def enumerate_planar_patterns(X: torch.Tensor) -> ActivationPatterns:
    """Every nonzero activation pattern of lifted 2-D data ``X`` (n, 3), each with one gate realising it.

    Every cell of the arrangement :math:`\\{g : x_i^\\top g = 0\\}` on the sphere has a vertex
    :math:`\\pm x_j \\times x_k`; near a vertex the four sign choices for points :math:`j, k` are all cells, and
    the other points keep the vertex's signs. So the gates :math:`\\pm x_j \\times x_k + \\epsilon\\, d` with
    :math:`x_j^\\top d = s_j,\\ x_k^\\top d = s_k` (:math:`s \\in \\{\\pm1\\}^2`, :math:`\\epsilon` small enough to flip no other point)
    reach every pattern. Exact for points in general position; compare the count with :func:`cover_count`.
    """
    if X.ndim != 2 or X.shape[1] != 3:
        raise ValueError(f"X must be lifted 2-D data of shape (n, 3) (see lift), got {tuple(X.shape)}")
    Xd = X.to(torch.float64)
    n = Xd.shape[0]
    gates = []
    for j in range(n):
        for k in range(j + 1, n):
            vertex = torch.linalg.cross(Xd[j], Xd[k])
            if float(vertex.norm()) == 0.0:
                continue
            pair = Xd[[j, k]]
            others = torch.ones(n, dtype=torch.bool)
            others[[j, k]] = False
            for signs in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
                step = torch.linalg.lstsq(pair, torch.tensor(signs, dtype=torch.float64)).solution
                slack = (Xd[others] @ vertex).abs()
                slack = slack[slack > 0]
                push = float((Xd @ step).abs().max())
                eps = 0.5 * float(slack.min()) / push if slack.numel() else 1.0
                gates.extend([vertex + eps * step, -vertex + eps * step])
    G = torch.stack(gates, dim=1)
    masks = (Xd @ G >= 0).T
    unique, index = np.unique(masks.numpy(), axis=0, return_index=True)
    keep = sorted(i for i, row in zip(index, unique) if row.any())
    return ActivationPatterns(G[:, keep].to(X.dtype).contiguous())


def grid_inputs(
    points: np.ndarray, size: int = 200, margin: float = 0.3
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """A ``size`` x ``size`` grid around ``points``: ``(xx, yy, lifted grid rows)`` for decision boundaries."""
    lo, hi = points.min(axis=0) - margin, points.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], size), np.linspace(lo[1], hi[1], size))
    return xx, yy, lift(np.stack([xx.ravel(), yy.ravel()], axis=1))


# ---------------------------------------------------------------------------------------------
# An independent reference solver and the non-convex runs
# ---------------------------------------------------------------------------------------------


def solve_convex_relu_cvxpy(X: torch.Tensor, y: torch.Tensor, patterns: ActivationPatterns, beta: float) -> ConvexReLU:
    """The convex ReLU program solved by an interior-point method (Clarabel; :mod:`coala_lib.convex.reference`)."""
    model = solve_reference(X, y, patterns, beta, "relu").model
    assert isinstance(model, ConvexReLU)
    return model


def sampled_program_optima(
    X: torch.Tensor, y: torch.Tensor, P_values: Sequence[int], beta: float, seed: int = 0, threshold: float = 1e-6
) -> tuple[pd.DataFrame, dict[int, ConvexReLU]]:
    """Optimum of the convex program restricted to sampled gates, for each ``P`` in ``P_values``.

    The gate sets are nested: the first ``P`` columns of one seeded draw of ``max(P_values)``
    Gaussian gates, so the optimum can only fall as ``P`` grows. Columns: ``P`` (gates),
    ``patterns`` (distinct nonzero patterns among them; repeats and all-zero ones change nothing in
    the program), ``optimum``, ``neurons`` (groups of norm > ``threshold``); and the solved models by ``P``.
    """
    if not P_values or min(P_values) < 1:
        raise ValueError(f"P_values must be a non-empty list of integers >= 1, got {P_values!r}")
    gen = torch.Generator().manual_seed(int(seed))
    gates = torch.randn(X.shape[1], max(P_values), generator=gen, dtype=torch.float64).to(X.dtype)
    rows, models = [], {}
    for P in P_values:
        patterns = ActivationPatterns(gates[:, : int(P)])
        masks = patterns.masks(X).T
        distinct = torch.unique(masks[masks.any(dim=1)], dim=0).shape[0]
        model = solve_convex_relu_cvxpy(X, y, patterns, beta)
        rows.append(
            {
                "P": int(P),
                "patterns": int(distinct),
                "optimum": model.objective(X, y, beta),
                "neurons": model.to_two_layer(threshold).width,
            }
        )
        models[int(P)] = model
    return pd.DataFrame(rows), models


def adam_runs(
    X: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    *,
    width: int,
    beta: float,
    steps: int,
    lr: float,
    eval_every: int = 10,
) -> tuple[pd.DataFrame, dict[int, TwoLayerReLU]]:
    """Train the non-convex net from each seed (full-batch Adam on the weight-decayed objective).

    Returns the traces (columns ``seed``, ``step``, ``objective``, ``seconds``) and the final nets.
    """
    frames, nets = [], {}
    for seed in tqdm(seeds, desc="Adam seeds"):
        net, history = train_two_layer(
            X,
            y,
            width=width,
            beta=beta,
            steps=steps,
            lr=lr,
            seed=int(seed),
            eval_every=eval_every,
            allow_real_targets=True,
        )
        frames.append(pd.DataFrame(history.as_dict()).assign(seed=int(seed)))
        nets[int(seed)] = net
    return pd.concat(frames, ignore_index=True), nets


# ---------------------------------------------------------------------------------------------
# CRONOS: the preconditioner, convergence, the reference code's settings
# ---------------------------------------------------------------------------------------------


def synthetic_problem(
    n: int = 400, d: int = 24, decay: float = 1.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian features with column scales :math:`k^{-\\text{decay}}` (a decaying spectrum, as real
    embeddings have) and +1/-1 labels from a random ReLU teacher of width 8; float64."""
    gen = torch.Generator().manual_seed(int(seed))
    scales = torch.arange(1, d + 1, dtype=torch.float64) ** (-decay)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64) * scales
    teacher = TwoLayerReLU(
        torch.randn(8, d, generator=gen, dtype=torch.float64), torch.randn(8, generator=gen, dtype=torch.float64)
    )
    score = teacher.predict(X)
    y = torch.where(score > score.median(), 1.0, -1.0).to(torch.float64)  # half +1 (torch takes the lower median)
    return X, y


def _condition_number(A: torch.Tensor) -> float:
    eigenvalues = torch.linalg.eigvalsh(A)
    return float(eigenvalues[-1] / eigenvalues[0])


def nystrom_rank_sweep(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    P: int,
    ranks: Sequence[int],
    rho: float = DEFAULT_RHO,
    tol: float = 1e-8,
    max_iters: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """PCG iterations and exact condition numbers of the CRONOS u-system under each preconditioner.

    The system is :math:`A = I + F^\\top F/\\rho + G^\\top G` of the convex ReLU program on ``X`` with
    ``P`` sampled gates; the right-hand side is the first u-step's, :math:`F^\\top y / \\rho`. The dense
    :math:`A` (size :math:`N = 2Pd`) is formed, so keep :math:`N` to a few thousand. Condition numbers
    are exact (``eigvalsh``); with preconditioner :math:`M^{-1} = LL^\\top` it is that of :math:`L^\\top A L`,
    which has the spectrum of :math:`M^{-1}A`. Columns: ``rank``, ``preconditioner`` ("none", "Nystrom",
    "block Nystrom", "Kronecker"; the rank-free ones are repeated at every rank so they plot as lines),
    ``pcg_iterations``, ``converged``, ``condition_number``.
    """
    patterns = sample_gates(X, P, seed)
    maps = LinearMaps(X, patterns.masks(X), "relu", X.T @ X)
    system = SystemOperator(maps, rho)
    rhs = maps.FT(y.to(X.dtype)) / system.rho
    A = system.dense()
    N = A.shape[0]
    columns = torch.eye(N, dtype=X.dtype).reshape(N, *system.shape)

    def measure(kind: str, rank: int) -> dict[str, object]:
        precond = system.preconditioner(kind, rank, seed=seed)  # type: ignore[arg-type]
        solved = pcg(system, rhs, precondition=precond, tol=tol, max_iters=max_iters)
        if precond is None:
            kappa = _condition_number(A)
        else:
            Minv = torch.stack([precond(c).reshape(-1) for c in columns], dim=1)
            L = torch.linalg.cholesky(0.5 * (Minv + Minv.T))
            kappa = _condition_number(L.T @ A @ L)
        return {"pcg_iterations": solved.iterations, "converged": solved.converged, "condition_number": kappa}

    rank_free = {label: measure(kind, 1) for label, kind in (("none", "none"), ("Kronecker", "kronecker"))}
    rows = []
    for rank in tqdm(ranks, desc="Nystrom ranks"):
        if not 1 <= rank <= N:
            raise ValueError(f"every rank must be in [1, {N}] (the system size 2Pd), got {rank}")
        for label, kind in (("Nystrom", "nystrom"), ("block Nystrom", "block_nystrom")):
            rows.append({"rank": int(rank), "preconditioner": label, **measure(kind, int(rank))})
        rows.extend({"rank": int(rank), "preconditioner": label, **stats} for label, stats in rank_free.items())
    return pd.DataFrame(rows)


def convergence_frame(result: CronosResult, optimum: float, run: str | None = None) -> pd.DataFrame:
    """A CRONOS history as a tidy frame: ``iteration``, ``seconds``, ``objective_gap`` (relative,
    :math:`|f(v_k) - f^\\star| / f^\\star` at the prox iterate), ``primal_residual``, ``dual_residual``,
    ``violation`` (relative cone violation of :math:`v_k`) and ``pcg_iters``; optional ``run`` label."""
    if not optimum > 0:
        raise ValueError(f"optimum must be the positive optimal objective value, got {optimum}")
    h = result.history
    frame = pd.DataFrame(
        {
            "iteration": np.arange(1, len(h) + 1),
            "seconds": h.seconds,
            "objective_gap": np.abs(np.asarray(h.objective) - optimum) / optimum,
            "primal_residual": h.primal_residual,
            "dual_residual": h.dual_residual,
            "violation": h.violation,
            "pcg_iters": h.pcg_iters,
        }
    )
    return frame.assign(run=run) if run is not None else frame


def bench_text(frame: pd.DataFrame) -> str:
    """A solver-benchmark frame (:func:`solver_bench_frame`, :func:`targets_frame`, :func:`heads_frame`) as
    printed text: gaps and cone violations in scientific notation, other numbers to 3 significant digits."""
    scientific = {name: "{:.1e}".format for name in ("certified_gap", "cone_violation") if name in frame}
    return frame.to_string(index=False, formatters=scientific, float_format="{:.3g}".format)


def solver_bench_frame(record: dict) -> pd.DataFrame:
    """``bench/solver.py``'s grid JSON as one row per (configuration, run): the method, seconds to the
    certified gap (``None``: the step cap came first), steps and PCG iterations, the certified gap it
    ended with, whether :math:`n < 2dP` (more unknowns than samples: the program can interpolate) and a
    ``status``: ``certified``, ``not certified`` (within the run's step cap) or ``skipped`` (too large
    for the device)."""
    rows = []
    for config in sorted(record["configs"], key=lambda c: (c["n"], c["d"], c["P"])):
        n, d, P = config["n"], config["d"], config["P"]
        row = {"n": n, "d": d, "P": P, "n < 2dP": n < 2 * d * P}
        if "skipped" in config:
            rows.append(row | {"run": "", "status": "skipped"})
            continue
        for name, run in sorted(config["runs"].items(), key=lambda item: item[0] != "default"):  # default first
            cert = run["certificate"]
            rows.append(
                row
                | {
                    "run": f"{name} ({run['method']})" if name == "default" else name,
                    "seconds_to_certified_gap": run["seconds_to_certified_gap"],
                    "steps": f"{run['iterations']}/{run['max_iters']}",
                    "pcg_iterations": run["pcg_iterations"],
                    "certified_gap": cert["relative_gap"],
                    "cone_violation": cert["cone_violation_rel"],
                    "status": "certified" if run["seconds_to_certified_gap"] is not None else "not certified",
                }
            )
    return pd.DataFrame(rows)


def _iterate_metrics(model: ConvexReLU, X: torch.Tensor, y: torch.Tensor, beta: float) -> dict[str, float]:
    net = model.to_two_layer()
    gap = recovery_gap(model, X)
    return {
        "convex_objective": model.objective(X, y, beta),
        "violation": model.constraint_violation(X).relative,
        "recovered_objective": net.objective(X, y, beta),
        "recovery_gap": gap.relative,
        "neurons": gap.neurons,
        "train_accuracy": float((torch.sign(net.predict(X)) == y).double().mean()),
    }


def iterate_comparison(results: dict[str, CronosResult], X: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """For each named CRONOS run, the prox iterate :math:`v` (what :func:`fit_cronos` returns) against the
    PCG iterate :math:`u` (what the reference code keeps): convex objective, relative cone violation,
    objective of the recovered ReLU net, relative recovery gap :math:`\\|f_{convex} - f_{net}\\|/\\|f_{convex}\\|`,
    neurons and training accuracy of the recovered net. Evaluated on ``(X, y)``."""
    rows = []
    for name, result in results.items():
        if not isinstance(result.model, ConvexReLU):
            raise ValueError(f"results[{name!r}] is a gated model; the comparison needs model='relu'")
        P = result.patterns.num_patterns
        u = result.pcg_iterate
        iterates = {"returned": result.model}
        if u is not None and result.config.keep == "prox":
            iterates = {
                "prox v (returned)": result.model,
                "PCG u (reference code)": ConvexReLU(result.patterns, u[:P].clone(), u[P:].clone()),
            }
        elif u is not None:
            iterates = {"PCG u (returned, reference code)": result.model}
        for iterate, model in iterates.items():
            rows.append(
                {
                    "run": name,
                    "iterations": result.iterations,
                    "iterate": iterate,
                    **_iterate_metrics(model, X, y, result.beta),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Heads on real features: CRONOS against Adam, accuracy against wall time
# ---------------------------------------------------------------------------------------------


def standardize_with_bias(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Standardise columns with the training mean and std, then append a constant-1 column (the bias)."""
    mean, std = train.mean(0), train.std(0).clamp_min(1e-8)

    def prep(Z: torch.Tensor) -> torch.Tensor:
        Z = (Z - mean) / std
        return torch.cat([Z, torch.ones(Z.shape[0], 1, dtype=Z.dtype, device=Z.device)], dim=1)

    return [prep(train), *(prep(Z) for Z in others)]


def _accuracy(net: TwoLayerReLU, X: torch.Tensor, y: torch.Tensor) -> float:
    return float((torch.where(net.predict(X) >= 0, 1.0, -1.0).to(y.dtype) == y).double().mean())


def certificate_table(results: dict[str, CronosResult], X_test: torch.Tensor, y_test: torch.Tensor) -> pd.DataFrame:
    """One row per named fit: method, steps, seconds, its certificate (primal, lower bound, relative gap,
    relative cone violation, certified) and the held-out accuracy of the recovered network."""
    rows = []
    for name, result in results.items():
        cert = result.certificate
        model = result.model
        assert isinstance(model, ConvexReLU)
        rows.append(
            {
                "fit": name,
                "method": result.method,
                "steps": result.iterations,
                "seconds": result.total_seconds,
                "primal": cert.primal,
                "lower_bound": cert.lower_bound,
                "certified_gap": cert.relative_gap,
                "cone_violation": cert.cone_violation_rel,
                "certified": cert.certified,
                "test_accuracy": _accuracy(model.to_two_layer(), X_test, y_test),
            }
        )
    return pd.DataFrame(rows)


def targets_frame(record: dict) -> pd.DataFrame:
    """``bench/solver.py --targets``'s JSON as one row per run: size, model, method, certified gap reached,
    seconds to the target gap (``None``: not reached within the step cap), the target and whether it was met."""
    rows = []
    for run in record["runs"]:
        cert = run["certificate"]
        rows.append(
            {
                "n": run["n"],
                "P": run["P"],
                "model": run["model"],
                "method": run["method"],
                "active": f"{run['active_groups']}/{run['groups']}",
                "certified_gap": cert["relative_gap"],
                "cone_violation": cert["cone_violation_rel"],
                "seconds_to_target": run["seconds_to_target"],
                "target": f"{run['target_gap']:g} in {run['target_seconds']:g} s",
                "met": run["met"],
                "steps": run["iterations"],
                "seconds": run["total_seconds"],
            }
        )
    return pd.DataFrame(rows)


def heads_frame(record: dict) -> pd.DataFrame:
    """``bench/solver.py --heads``'s JSON as one row per (head, method): size, method, steps, the seconds
    to the certificate (``None``: not certified within the step cap) and where the certificate ended."""
    rows = []
    for run in record["runs"]:
        cert = run["certificate"]
        rows.append(
            {
                "head": run["head"],
                "n": run["n"],
                "method": run["method"],
                "steps": f"{run['iterations']}/{run['max_iters']}",
                "certified": cert["certified"],
                "seconds_to_certificate": run["seconds_to_certificate"],
                "certified_gap": cert["relative_gap"],
                "cone_violation": cert["cone_violation_rel"],
                "seconds": run["total_seconds"],
            }
        )
    return pd.DataFrame(rows)


def cronos_accuracy_curve(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    y_test: torch.Tensor,
    config: CronosConfig,
    patterns: ActivationPatterns | None = None,
) -> tuple[pd.DataFrame, CronosResult]:
    """Fit CRONOS and record, per ADMM iteration, the test accuracy of the ReLU net recovered from
    that iteration's prox iterate, against the solver's own wall clock (``history.seconds``; the
    callback only clones the iterate, accuracies are computed afterwards)."""
    iterates: list[torch.Tensor] = []
    result = fit_cronos(X_train, y_train, config, patterns=patterns, callback=lambda k, v: iterates.append(v.clone()))
    P = result.patterns.num_patterns
    rows = []
    for k, v in enumerate(iterates):
        net = ConvexReLU(result.patterns, v[:P], v[P:]).to_two_layer()
        rows.append(
            {
                "method": "convex head",
                "step": k + 1,
                "seconds": result.history.seconds[k],
                "train_accuracy": _accuracy(net, X_train, y_train),
                "test_accuracy": _accuracy(net, X_test, y_test),
                "width": net.width,
            }
        )
    return pd.DataFrame(rows), result


def adam_accuracy_curve(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    step_grid: Sequence[int],
    label: str,
    **train_kwargs,
) -> pd.DataFrame:
    """Test accuracy of the Adam/AdamW-trained net after each number of steps in ``step_grid``.

    Full-batch training is deterministic from its seed, so a run of ``s`` steps is the first ``s``
    steps of a longer one; each grid point is its own run, timed by :func:`train_two_layer`
    (optimizer steps only, as CRONOS's clock counts its iterations)."""
    rows = []
    for steps in tqdm(step_grid, desc=label):
        net, history = train_two_layer(X_train, y_train, steps=int(steps), eval_every=int(steps), **train_kwargs)
        rows.append(
            {
                "method": label,
                "step": int(steps),
                "seconds": history.seconds[-1],
                "train_accuracy": _accuracy(net, X_train, y_train),
                "test_accuracy": _accuracy(net, X_test, y_test),
                "width": net.width,
            }
        )
    return pd.DataFrame(rows)


def final_rows(curves: pd.DataFrame) -> pd.DataFrame:
    """Each method's row after its most steps (the end of its budget), indexed by method in the order methods
    first appear. Not the row with the largest ``seconds``: wall time is noisy, and on a busy machine a shorter
    run can take longer than a longer one."""
    order = list(dict.fromkeys(curves["method"]))
    last = curves.sort_values("step", kind="stable").groupby("method").tail(1).set_index("method")
    return last.loc[order]
