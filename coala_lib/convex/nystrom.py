"""Randomized Nystrom preconditioner (Frangella, Tropp & Udell 2023, "Randomized Nystrom preconditioning").

For a PSD operator :math:`A` and shift :math:`\\mu > 0`, draw an orthonormal test matrix
:math:`\\Omega \\in \\mathbb R^{N \\times r}`, form the sketch :math:`Y = A\\Omega` (``r`` matvecs, done as one block
product), stabilise with the shift :math:`\\nu = \\sqrt N\\,\\varepsilon\\,\\|Y\\|_2`, and obtain the rank-``r``
approximation :math:`\\hat A = U \\hat\\Lambda U^\\top` (:math:`\\hat\\Lambda = \\max(\\Sigma^2 - \\nu, 0)`). The preconditioner for
:math:`A + \\mu I` is

.. math:: P^{-1} = (\\hat\\lambda_r + \\mu)\\, U (\\hat\\Lambda + \\mu I)^{-1} U^\\top + (I - U U^\\top),

which maps the top ``r`` eigen-directions to about 1 and leaves the rest alone, so the condition
number drops from :math:`(\\lambda_1 + \\mu)/\\mu` to about :math:`(\\hat\\lambda_r + \\mu)/\\mu` when the spectrum decays.
The small dense algebra (Cholesky, SVD of an N x r matrix) runs in float64 for stability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NystromPreconditioner:
    """Rank-``r`` Nystrom preconditioner for :math:`A + \\mu I` on tensors of shape ``shape``."""

    U: torch.Tensor  # (N, r), orthonormal columns, in the working dtype
    eigenvalues: torch.Tensor  # (r,), descending, >= 0
    mu: float
    shape: tuple[int, ...]

    @property
    def rank(self) -> int:
        return int(self.U.shape[1])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`P^{-1} x` for ``x`` of shape ``shape`` (or a batch of them, leading dimensions)."""
        flat = x.reshape(-1, self.U.shape[0])
        scale = (self.eigenvalues[-1] + self.mu) / (self.eigenvalues + self.mu) - 1.0
        return (flat + ((flat @ self.U) * scale) @ self.U.T).reshape(x.shape)


def build_nystrom(
    block_matvec: Callable[[torch.Tensor], torch.Tensor],
    shape: tuple[int, ...],
    rank: int,
    mu: float,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> NystromPreconditioner:
    """Sketch the PSD operator given as ``block_matvec`` ((r, *shape) -> (r, *shape)) at ``rank``.

    ``mu`` is the identity shift of the system being preconditioned (:math:`A + \\mu I`).
    """
    N = 1
    for size in shape:
        N *= size
    if not 1 <= rank <= N:
        raise ValueError(f"rank must be in [1, {N}] (the system size), got {rank}")
    if mu <= 0:
        raise ValueError(f"mu (identity shift) must be > 0, got {mu}")
    gen = torch.Generator().manual_seed(int(seed))
    omega = torch.linalg.qr(torch.randn(N, rank, generator=gen, dtype=torch.float64)).Q
    omega_w = omega.to(device, dtype)
    Y = block_matvec(omega_w.T.reshape(rank, *shape)).reshape(rank, N).T.to(torch.float64)
    omega = omega.to(device)
    eps = torch.finfo(dtype).eps
    nu = max((N**0.5) * eps * float(torch.linalg.matrix_norm(Y, ord=2)), torch.finfo(dtype).tiny)
    Y_nu = Y + nu * omega
    C = torch.linalg.cholesky(0.5 * (omega.T @ Y_nu + (omega.T @ Y_nu).T))
    B = torch.linalg.solve_triangular(C, Y_nu.T, upper=False).T  # Y_nu C^{-T}
    U, sigma, _ = torch.linalg.svd(B, full_matrices=False)
    eigenvalues = torch.clamp(sigma.square() - nu, min=0.0)
    return NystromPreconditioner(U.to(dtype), eigenvalues.to(dtype), float(mu), tuple(shape))


@dataclass(frozen=True)
class BlockNystromPreconditioner:
    """Preconditioner for :math:`A = B + H` with :math:`B = I_k \\otimes K` exactly invertible (``K = L L^\\top``,
    one repeated ``d x d`` block) and :math:`H` PSD, on tensors of shape ``(k, d)`` (or batches of them).

    With :math:`\\tilde L = I_k \\otimes L`, :math:`A = \\tilde L (I + S) \\tilde L^\\top` where
    :math:`S = \\tilde L^{-1} H \\tilde L^{-\\top}` is :math:`H` in the :math:`B`-whitened space. ``inner`` is a Nystrom
    preconditioner of :math:`I + S`, and

    .. math:: M^{-1} = \\tilde L^{-\\top} P_S^{-1} \\tilde L^{-1},

    symmetric positive definite; :math:`M^{-1}A` is similar to :math:`P_S^{-1}(I + S)`. Each application costs two
    triangular solves against a ``(d, k)`` right-hand side plus the rank-``r`` update.
    """

    L: torch.Tensor  # (d, d) lower Cholesky factor of the repeated block K
    inner: NystromPreconditioner

    @property
    def rank(self) -> int:
        return self.inner.rank

    def whiten(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\tilde L^{-1} x`: every length-d row ``x_i`` becomes :math:`L^{-1} x_i`."""
        return _solve_rows(self.L, x, transpose=False)

    def unwhiten_adjoint(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\tilde L^{-\\top} x`: every length-d row ``x_i`` becomes :math:`L^{-\\top} x_i`."""
        return _solve_rows(self.L, x, transpose=True)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.unwhiten_adjoint(self.inner(self.whiten(x)))


def _solve_rows(L: torch.Tensor, x: torch.Tensor, transpose: bool) -> torch.Tensor:
    rows = x.reshape(-1, L.shape[0]).T  # (d, m): one right-hand side per row of x
    out = torch.linalg.solve_triangular(L.T if transpose else L, rows, upper=transpose)
    return out.T.reshape(x.shape)


def build_block_nystrom(
    psd_matvec: Callable[[torch.Tensor], torch.Tensor],
    shape: tuple[int, int],
    block: torch.Tensor,
    rank: int,
    *,
    seed: int = 0,
) -> BlockNystromPreconditioner:
    """Preconditioner for :math:`I_k \\otimes` ``block`` :math:`+ H` on ``(k, d)`` tensors, ``H`` given as ``psd_matvec``.

    ``block`` is the SPD ``(d, d)`` matrix :math:`K` (one Cholesky, :math:`O(d^3)`, in float64). The Nystrom
    sketch of the whitened :math:`S = \\tilde L^{-1} H \\tilde L^{-\\top}` costs ``rank`` matvecs with ``H`` done as
    one block product; its shift is :math:`\\mu = 1` (the whitened :math:`B` is the identity).
    """
    _, d = shape
    if block.shape != (d, d):
        raise ValueError(f"block must be ({d}, {d}) to match shape {shape}, got {tuple(block.shape)}")
    L64 = torch.linalg.cholesky(0.5 * (block + block.T).to(torch.float64))
    L = L64.to(block.dtype)

    def whitened_matvec(Z: torch.Tensor) -> torch.Tensor:
        return _solve_rows(L, psd_matvec(_solve_rows(L, Z, transpose=True)), transpose=False)

    inner = build_nystrom(whitened_matvec, shape, rank, 1.0, seed=seed, dtype=block.dtype, device=block.device)
    return BlockNystromPreconditioner(L, inner)
