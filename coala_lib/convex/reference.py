"""An independent interior-point reference for the convex programs (cvxpy + Clarabel, float64, small problems).

Used to test the duality-gap certificate (:mod:`coala_lib.convex.certificate`) and in ``bench/solver.py``:
a second-order-cone program with :math:`XV` formed for all :math:`P` patterns as dense expressions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from coala_lib.convex.reformulation import ActivationPatterns, ConvexGatedReLU, ConvexModel, ConvexReLU, ModelKind


@dataclass(frozen=True)
class ReferenceSolution:
    """Clarabel's model, its optimal value (as reported by the solver) and status."""

    model: ConvexModel
    optimum: float
    status: str


def solve_reference(
    X: torch.Tensor, y: torch.Tensor, patterns: ActivationPatterns, beta: float, kind: ModelKind = "relu"
) -> ReferenceSolution:
    """Solve the convex ReLU (``kind="relu"``) or gated-ReLU program by Clarabel; raise if it fails."""
    import cvxpy as cp

    Xn = X.detach().cpu().double().numpy()
    yn = y.detach().cpu().double().numpy()
    masks = patterns.masks(X.detach().cpu().double()).numpy()
    d, P = Xn.shape[1], masks.shape[1]
    V = cp.Variable((d, P))
    XV = Xn @ V
    constraints = []
    if kind == "relu":
        W = cp.Variable((d, P))
        XW = Xn @ W
        residual = cp.sum(cp.multiply(masks, XV - XW), axis=1) - yn
        penalty = cp.sum(cp.norm(V, axis=0)) + cp.sum(cp.norm(W, axis=0))
        signs = 2 * masks - 1
        constraints = [cp.multiply(signs, XV) >= 0, cp.multiply(signs, XW) >= 0]
    elif kind == "gated":
        residual = cp.sum(cp.multiply(masks, XV), axis=1) - yn
        penalty = cp.sum(cp.norm(V, axis=0))
    else:
        raise ValueError(f"kind must be 'relu' or 'gated', got {kind!r}")
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(residual) + beta * penalty), constraints)
    problem.solve(solver="CLARABEL")
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"Clarabel did not solve the convex {kind} program: status {problem.status}")

    def to_torch(M: np.ndarray | None) -> torch.Tensor:
        if M is None:
            raise RuntimeError(f"Clarabel returned no solution for the convex {kind} program")
        return torch.as_tensor(np.ascontiguousarray(M.T), dtype=X.dtype)

    pats = patterns.to(dtype=X.dtype)
    model: ConvexModel
    if kind == "relu":
        model = ConvexReLU(pats, to_torch(V.value), to_torch(W.value))
    else:
        model = ConvexGatedReLU(pats, to_torch(V.value))
    return ReferenceSolution(model, float(problem.value), str(problem.status))
