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

from dataclasses import dataclass
from typing import Callable

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
    nu = max((N ** 0.5) * eps * float(torch.linalg.matrix_norm(Y, ord=2)), torch.finfo(dtype).tiny)
    Y_nu = Y + nu * omega
    C = torch.linalg.cholesky(0.5 * (omega.T @ Y_nu + (omega.T @ Y_nu).T))
    B = torch.linalg.solve_triangular(C, Y_nu.T, upper=False).T  # Y_nu C^{-T}
    U, sigma, _ = torch.linalg.svd(B, full_matrices=False)
    eigenvalues = torch.clamp(sigma.square() - nu, min=0.0)
    return NystromPreconditioner(U.to(dtype), eigenvalues.to(dtype), float(mu), tuple(shape))
