"""Preconditioned conjugate gradients for a symmetric positive definite operator.

Solves :math:`A x = b` for a matrix-free :math:`A` acting on tensors of any shape (the inner product
is the Euclidean one of the flattened tensors). With preconditioner :math:`M \\approx A^{-1}` (SPD) each
iteration costs one matvec and one preconditioner application; it stops when
:math:`\\|b - A x\\|_2 \\le \\text{tol}\\,\\|b\\|_2` or after ``max_iters`` iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from coala_lib.convex.certificate import gram_factor
from coala_lib.convex.reformulation import LinearMaps

Operator = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PCGResult:
    """Solution ``x``, iterations used, final relative residual :math:`\\|b - Ax\\|/\\|b\\|`, whether ``tol`` was met."""

    x: torch.Tensor
    iterations: int
    relative_residual: float
    converged: bool


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.vdot(a.reshape(-1), b.reshape(-1))


def pcg(
    matvec: Operator,
    b: torch.Tensor,
    x0: torch.Tensor | None = None,
    precondition: Operator | None = None,
    tol: float = 1e-6,
    max_iters: int = 100,
) -> PCGResult:
    """Preconditioned CG from ``x0`` (zero when ``None``); ``precondition=None`` gives plain CG."""
    if tol <= 0 or max_iters < 0:
        raise ValueError(f"need tol > 0 and max_iters >= 0, got tol={tol}, max_iters={max_iters}")
    b_norm = float(torch.linalg.vector_norm(b))
    if b_norm == 0.0:
        return PCGResult(torch.zeros_like(b), 0, 0.0, True)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - matvec(x) if x0 is not None else b.clone()
    threshold = tol * b_norm
    res = float(torch.linalg.vector_norm(r))
    if res <= threshold:
        return PCGResult(x, 0, res / b_norm, True)
    z = precondition(r) if precondition is not None else r
    p = z.clone()
    rz = _dot(r, z)
    for it in range(1, max_iters + 1):
        Ap = matvec(p)
        alpha = rz / _dot(p, Ap)
        x.add_(alpha * p)
        r.sub_(alpha * Ap)
        res = float(torch.linalg.vector_norm(r))
        if res <= threshold:
            return PCGResult(x, it, res / b_norm, True)
        z = precondition(r) if precondition is not None else r
        rz_new = _dot(r, z)
        p.mul_(rz_new / rz).add_(z)
        rz = rz_new
    return PCGResult(x, max_iters, res / b_norm, False)


class KroneckerSumInverse:
    """Exact inverse of :math:`I + Q \\otimes G` (``Q`` (k, k) and ``G`` (d, d) symmetric PSD) on (k, d) tensors.

    With :math:`Q = W \\operatorname{diag}(q) W^\\top`, :math:`G = V \\operatorname{diag}(g) V^\\top` and
    :math:`(Q \\otimes G)\\,\\mathrm{vec}(U) = \\mathrm{vec}(Q U G)`,

    .. math:: (I + Q \\otimes G)^{-1} U = W \\big[(W^\\top U V) \\oslash (1 + q g^\\top)\\big] V^\\top,

    symmetric positive definite. Two eigendecompositions (float64) to build, four small matmuls to apply.
    """

    def __init__(self, Q: torch.Tensor, G: torch.Tensor):
        if Q.ndim != 2 or G.ndim != 2 or Q.shape[0] != Q.shape[1] or G.shape[0] != G.shape[1]:
            raise ValueError(f"Q and G must be square matrices, got {tuple(Q.shape)} and {tuple(G.shape)}")
        q, W = torch.linalg.eigh(0.5 * (Q + Q.T).to(torch.float64))
        g, V = torch.linalg.eigh(0.5 * (G + G.T).to(torch.float64))
        self.W, self.V = W.to(G.dtype), V.to(G.dtype)
        self.denominator = (1 + q.clamp(min=0)[:, None] * g.clamp(min=0)[None, :]).to(G.dtype)

    def __call__(self, U: torch.Tensor) -> torch.Tensor:
        return self.W @ ((self.W.T @ U @ self.V) / self.denominator) @ self.V.T


def spd_inverse(block: torch.Tensor) -> torch.Tensor:
    """:math:`K^{-1}` of a symmetric positive definite (d, d) block, in float64 by its eigendecomposition."""
    k, V = torch.linalg.eigh(0.5 * (block + block.T).to(torch.float64))
    return (V / k[None, :]) @ V.T


class WoodburyInverse:
    """Exact inverse of the u-step matrix :math:`A = B + F^\\top F/\\rho` with :math:`B = I_{groups} \\otimes K`.

    By the Woodbury identity

    .. math:: A^{-1} = B^{-1} - B^{-1}F^\\top (\\rho I_n + F B^{-1} F^\\top)^{-1} F B^{-1},

    and the (n, n) core is cheap to form: :math:`F` applies the same :math:`X` to every group, so
    :math:`F B^{-1} F^\\top = c\\,(X K^{-1} X^\\top) \\circ (M M^\\top)` with the (n, P) mask matrix :math:`M` and
    :math:`c = 2` for ReLU (:math:`F` sees :math:`v - w`), 1 for gated. One (d, d) eigendecomposition,
    :math:`n^2 d` to form the core and one Cholesky and its inverse (:math:`n^3`) to build; each application costs one
    product with :math:`F`, one with :math:`F^\\top`, two (d, d) products and one (n, n) matrix-vector product. Worth it when
    ``n`` is at most a few thousand (the regime :math:`n < 2dP` where PCG struggles).
    """

    def __init__(self, maps: LinearMaps, block: torch.Tensor, rho: float):
        X = maps.X
        self.maps = maps
        self.block_inverse = spd_inverse(block).to(X.dtype)
        factor = 2.0 if maps.kind == "relu" else 1.0
        core = (X @ self.block_inverse @ X.T).mul_(maps.masks @ maps.masks.T).mul_(factor)  # (n, n), formed in place
        core.diagonal().add_(rho)
        # The core's inverse, formed once from its Cholesky factor: one matrix-vector product per
        # application streams the (n, n) matrix once, where two triangular solves stream it twice and, on
        # CPU for a single right-hand side, ran 11 times slower at n = 4,000.
        # Kept in float64 whatever X's dtype: the core's condition number grows like 1/rho, and a float32
        # inverse at rho = 1e-4 returned garbage u-steps (notebook 02's float32 run ended at 7,000 times the
        # optimum before this).
        self.core_inverse = torch.cholesky_inverse(torch.linalg.cholesky(core.to(torch.float64)))

    def __call__(self, R: torch.Tensor) -> torch.Tensor:
        Y = R @ self.block_inverse
        s = (self.core_inverse @ self.maps.F(Y).to(torch.float64)).to(Y.dtype)
        return Y - self.maps.FT(s) @ self.block_inverse


class PrimalInverse:
    """Exact inverse of the same u-step matrix :math:`A = I_{groups} \\otimes K + F^\\top F/\\rho`, factored on
    the weights' side: for more texts than effective weights (:math:`n > dP`), where the Woodbury core
    would be the larger matrix.

    :math:`F` sees :math:`u` itself (gated) or :math:`v - w` (ReLU), and
    :math:`F^\\top F` is built from :math:`H_{ij} = X^\\top D_i D_j X`, the Gram matrix of
    :math:`Z = [D_1 X, \\dots, D_P X]` ((dP, dP), :math:`n (dP)^2` to form). Gated:
    :math:`A = I_P \\otimes K + H/\\rho`. ReLU: in the orthonormal coordinates
    :math:`s = (v - w)/\\sqrt2`, :math:`t = (v + w)/\\sqrt2` the matrix splits into
    :math:`I_P \\otimes K + 2H/\\rho` on :math:`s` and :math:`I_P \\otimes K` on :math:`t`, so one (dP, dP)
    Cholesky (float64) and :math:`K^{-1}` give the whole inverse; each application is one (dP, dP)
    matrix-vector product and two (d, d) products, no pass over :math:`X`. The Cholesky factor of :math:`H`
    itself (``gram_factor``, one more (dP, dP) factorisation) is kept for the certificate's corrected dual
    point (:class:`coala_lib.convex.certificate.GramCorrection`).
    """

    def __init__(self, maps: LinearMaps, block: torch.Tensor, rho: float, row_chunk: int = 8192):
        X, masks = maps.X.to(torch.float64), maps.masks.to(torch.float64)
        n, d = X.shape
        P = maps.P
        self.block_inverse = spd_inverse(block)
        self.relu = maps.kind == "relu"
        self.P, self.d = P, d
        H = torch.zeros(P * d, P * d, dtype=torch.float64, device=X.device)
        for start in range(0, n, row_chunk):
            Z = (masks[start : start + row_chunk, :, None] * X[start : start + row_chunk, None, :]).reshape(-1, P * d)
            H.addmm_(Z.T, Z)
        #: Cholesky factor of H itself: the certificate's corrected dual point solves with it.
        self.gram_factor = gram_factor(H)
        factor = 2.0 if self.relu else 1.0
        core = H.mul_(factor / rho)
        block64 = block.to(torch.float64)
        for i in range(P):
            core[i * d : (i + 1) * d, i * d : (i + 1) * d] += block64
        self.core_inverse = torch.cholesky_inverse(torch.linalg.cholesky(core))

    def _solve(self, R: torch.Tensor) -> torch.Tensor:
        """:math:`(I_P \\otimes K + cH/\\rho)^{-1}` on a (P, d) tensor."""
        return (self.core_inverse @ R.reshape(-1)).reshape(self.P, self.d)

    def __call__(self, R: torch.Tensor) -> torch.Tensor:
        out = R.to(torch.float64)
        if not self.relu:
            return self._solve(out).to(R.dtype)
        root = 2.0**0.5
        s, t = (out[: self.P] - out[self.P :]) / root, (out[: self.P] + out[self.P :]) / root
        s, t = self._solve(s), t @ self.block_inverse
        return torch.cat([(t + s) / root, (t - s) / root]).to(R.dtype)
