"""Convex two-layer networks: activation patterns, the convex ReLU / gated-ReLU models, recovery.

Sampled activation patterns (Pilanci & Ergen 2020; Mishkin et al. 2022). Draw gates
:math:`g_i \\sim \\mathcal N(0, I_d)` and set :math:`D_i = \\operatorname{diag}(\\mathbb 1[X g_i \\ge 0])`.
With the masks :math:`M = [\\operatorname{diag} D_i]_i \\in \\{0,1\\}^{n \\times P}` the two convex models are

* **convex ReLU**, variables :math:`v, w \\in \\mathbb R^{P \\times d}`:

  .. math:: \\min_{v,w}\\ \\tfrac12 \\Big\\|\\sum_i D_i X (v_i - w_i) - y\\Big\\|^2
            + \\beta \\sum_i (\\|v_i\\|_2 + \\|w_i\\|_2)
            \\quad \\text{s.t.}\\quad (2D_i - I) X v_i \\ge 0,\\ (2D_i - I) X w_i \\ge 0;

* **convex gated ReLU**, one variable :math:`u \\in \\mathbb R^{P \\times d}`, no constraints:
  :math:`\\min_u \\tfrac12 \\|\\sum_i D_i X u_i - y\\|^2 + \\beta \\sum_i \\|u_i\\|_2`.

Both are written with the stacked variable :math:`U` (ReLU: :math:`U = [v; w] \\in \\mathbb R^{2P \\times d}`,
gated: :math:`U = u`) and the linear maps of :class:`LinearMaps`: the prediction :math:`F U` and, for
ReLU, the cone map :math:`G U = [(2D_i - I) X v_i;\\ (2D_i - I) X w_i]_i` (an ``(n, 2P)`` array).
The gates are part of the model: predictions on new inputs use the new inputs' own masks.

Recovery of the non-convex network (exact when the cone constraints hold): every nonzero
:math:`v_i` becomes a ReLU neuron :math:`w_1 = v_i / \\sqrt{\\|v_i\\|}`, :math:`w_2 = +\\sqrt{\\|v_i\\|}`, every
nonzero :math:`w_i` one with :math:`w_2 = -\\sqrt{\\|w_i\\|}`. Then :math:`(X w_1)_+ w_2 = (X v_i)_+ = D_i X v_i`
when :math:`(2D_i - I) X v_i \\ge 0`, and the weight decay :math:`\\tfrac\\beta2(\\|w_1\\|^2 + w_2^2) = \\beta\\|v_i\\|`
equals the group penalty. CRONOS returns its group-sparse prox iterate :math:`v` (see
:mod:`coala_lib.convex.cronos`), so the neurons recovered here are exactly that iterate's nonzero groups;
:func:`recovery_gap` measures how far the recovered network's predictions are from the convex
model's (zero up to rounding when the constraints hold, growing with the constraint violation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from coala_lib.convex.two_layer import GatedTwoLayer, TwoLayerReLU
from coala_lib.core.checks import validate_features

ModelKind = Literal["relu", "gated"]
MODEL_KINDS: tuple[str, ...] = ("relu", "gated")


@dataclass(frozen=True)
class ActivationPatterns:
    """Gates :math:`g_i` (columns of ``gates``, shape (d, P)); ``masks(X)`` gives :math:`1[X g_i \\ge 0]`."""

    gates: torch.Tensor

    @property
    def num_patterns(self) -> int:
        return int(self.gates.shape[1])

    @property
    def dim(self) -> int:
        return int(self.gates.shape[0])

    def masks(self, X: torch.Tensor) -> torch.Tensor:
        """The (n, P) 0/1 mask matrix of ``X`` in ``X``'s dtype and device."""
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must have shape (n, {self.dim}) to match the gates, got {tuple(X.shape)}")
        return (X @ self.gates.to(X.device, X.dtype) >= 0).to(X.dtype)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> ActivationPatterns:
        return ActivationPatterns(self.gates.to(device=device, dtype=dtype))


def sample_gates(X: torch.Tensor, P: int, seed: int = 0) -> ActivationPatterns:
    """Draw ``P`` Gaussian gates with a seeded CPU generator and keep those giving distinct patterns on ``X``.

    Patterns that repeat an earlier one or are all zero on ``X`` are dropped (they add no new
    column to :math:`F`), so the result may hold fewer than ``P`` gates; order is the draw order.
    The draw itself is device-independent (CPU float64, then cast to ``X``'s device and dtype).
    """
    validate_features(X)
    if not isinstance(P, int) or P < 1:
        raise ValueError(f"P (number of sampled patterns) must be an integer >= 1, got {P!r}")
    generator = torch.Generator().manual_seed(int(seed))
    gates = torch.randn(X.shape[1], P, generator=generator, dtype=torch.float64).to(X.device, X.dtype)
    masks = (X @ gates >= 0).T  # (P, n) bool
    _, inverse = torch.unique(masks, dim=0, return_inverse=True)
    keep = []
    seen: set[int] = set()
    for i, group in enumerate(inverse.tolist()):
        if group not in seen and bool(masks[i].any()):
            keep.append(i)
        seen.add(group)
    if not keep:
        raise ValueError("every sampled pattern is all-zero on X; increase P or check that X is not all zero")
    return ActivationPatterns(gates[:, keep].contiguous())


class LinearMaps:
    """The matrix-free maps :math:`F` and :math:`G` of the convex program on data ``X`` with ``masks``.

    ``U`` has shape (..., 2P, d) for ``kind="relu"`` (rows :math:`[v; w]`) or (..., P, d) for
    ``"gated"``; leading batch dimensions are allowed (used for block matvecs). All products are
    batched matmuls with ``X``; no (n, P, d) tensor is formed. ``gram`` optionally holds
    :math:`X^\\top X` so that :math:`G^\\top G U = U X^\\top X` costs :math:`O(P d^2)` instead of :math:`O(nPd)`.
    """

    def __init__(
        self,
        X: torch.Tensor,
        masks: torch.Tensor,
        kind: ModelKind,
        gram: torch.Tensor | None = None,
        cone_scale: float = 1.0,
    ):
        if kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
        if masks.ndim != 2 or masks.shape[0] != X.shape[0]:
            raise ValueError(f"masks must have shape ({X.shape[0]}, P), got {tuple(masks.shape)}")
        self.X, self.masks, self.kind, self.gram = X, masks.to(X.dtype), kind, gram
        self.P = int(masks.shape[1])
        self.cone_scale = float(cone_scale)
        self.signs = cone_scale * (2 * self.masks - 1) if kind == "relu" else None

    @property
    def groups(self) -> int:
        """Number of rows of ``U``: 2P for ReLU, P for gated."""
        return 2 * self.P if self.kind == "relu" else self.P

    def left(self, U: torch.Tensor) -> torch.Tensor:
        """:math:`X U^\\top` for (..., k, d) input as an (n, ..., k) tensor."""
        batch = U.shape[:-2]
        return (self.X @ U.reshape(-1, U.shape[-1]).T).reshape(self.X.shape[0], *batch, U.shape[-2])

    def right(self, Z: torch.Tensor) -> torch.Tensor:
        """:math:`Z^\\top X` for (n, ..., k) input as a (..., k, d) tensor."""
        n = Z.shape[0]
        return (Z.reshape(n, -1).T @ self.X).reshape(*Z.shape[1:], self.X.shape[1])

    def effective(self, U: torch.Tensor) -> torch.Tensor:
        """The (..., P, d) weights that :math:`F` sees: :math:`v - w` for ReLU, :math:`u` for gated."""
        return U[..., : self.P, :] - U[..., self.P :, :] if self.kind == "relu" else U

    def F(self, U: torch.Tensor) -> torch.Tensor:
        """Predictions :math:`\\sum_i D_i X (v_i - w_i)` (or :math:`\\sum_i D_i X u_i`), shape (n, ...)."""
        Z = self.left(self.effective(U))
        return (Z * self._mask_view(Z)).sum(-1)

    def FT(self, r: torch.Tensor) -> torch.Tensor:
        """Adjoint :math:`F^\\top r` for residuals (n, ...), shape (..., groups, d)."""
        Z = r.unsqueeze(-1) * self._mask_view(r.unsqueeze(-1))
        half = self.right(Z)
        return torch.cat([half, -half], dim=-2) if self.kind == "relu" else half

    def G(self, U: torch.Tensor) -> torch.Tensor:
        """Cone map :math:`[(2D_i - I) X v_i; (2D_i - I) X w_i]_i`, shape (n, ..., 2P) (ReLU only)."""
        Z = self.left(U)
        return Z * self._sign_view(Z)

    def GT(self, Z: torch.Tensor) -> torch.Tensor:
        """Adjoint :math:`G^\\top Z` for (n, ..., 2P) input, shape (..., 2P, d) (ReLU only)."""
        return self.right(Z * self._sign_view(Z))

    def outputs(self, left: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(:math:`FU`, :math:`GU`) from ``left`` = :meth:`left` of an unbatched ``U`` (one pass over ``X``
        serves both); :math:`GU` is ``None`` for gated."""
        if self.kind == "relu":
            pred = ((left[:, : self.P] - left[:, self.P :]) * self.masks).sum(-1)
            return pred, left * self._sign_view(left)
        return (left * self.masks).sum(-1), None

    def adjoint(self, r: torch.Tensor, mu: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`F^\\top r - G^\\top \\mu` for residuals ``r`` (n,) and cone multipliers ``mu`` (n, 2P) in one pass
        over ``X`` (``mu=None``: :math:`F^\\top r`), shape (groups, d)."""
        R = r[:, None] * self.masks
        if self.kind == "relu":
            R = torch.cat([R, -R], dim=1)
            if mu is not None:
                R = R - mu * self._sign_view(mu)
        return self.right(R)

    def GTG(self, U: torch.Tensor) -> torch.Tensor:
        """:math:`G^\\top G U = U X^\\top X` (since :math:`(2D_i - I)^2 = I`), via the Gram matrix when given."""
        if self.gram is not None:
            return self.cone_scale**2 * (U @ self.gram)
        return self.cone_scale**2 * self.right(self.left(U))

    def _mask_view(self, Z: torch.Tensor) -> torch.Tensor:
        return self.masks.reshape(self.masks.shape[0], *([1] * (Z.ndim - 2)), self.P)

    def _sign_view(self, Z: torch.Tensor) -> torch.Tensor:
        if self.signs is None:
            raise ValueError("the cone map G exists only for kind='relu'")
        signs = torch.cat([self.signs, self.signs], dim=1)
        return signs.reshape(signs.shape[0], *([1] * (Z.ndim - 2)), 2 * self.P)


def group_norms(U: torch.Tensor) -> torch.Tensor:
    """Row-wise Euclidean norms :math:`\\|U_i\\|_2`."""
    return torch.linalg.vector_norm(U, dim=-1)


@dataclass(frozen=True)
class ConstraintViolation:
    """Negative part of :math:`G U`: ``max`` is :math:`\\max (-GU)_+`, ``norm`` is :math:`\\|(-GU)_+\\|_2`,
    ``relative`` is ``norm / ||GU||_2`` (0 when feasible)."""

    max: float
    norm: float
    relative: float


@dataclass
class ConvexReLU:
    """Convex ReLU model: ``v``, ``w`` of shape (P, d) and the gates that define the patterns."""

    patterns: ActivationPatterns
    v: torch.Tensor
    w: torch.Tensor

    kind: ClassVar[str] = "relu"

    def __post_init__(self) -> None:
        shape = (self.patterns.num_patterns, self.patterns.dim)
        if tuple(self.v.shape) != shape or tuple(self.w.shape) != shape:
            raise ValueError(f"v and w must have shape {shape}, got {tuple(self.v.shape)} and {tuple(self.w.shape)}")

    @property
    def stacked(self) -> torch.Tensor:
        """The stacked variable :math:`U = [v; w]` of shape (2P, d)."""
        return torch.cat([self.v, self.w], dim=0)

    def maps(self, X: torch.Tensor) -> LinearMaps:
        return LinearMaps(X, self.patterns.masks(X), "relu")

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """:math:`\\sum_i D_i(X) X (v_i - w_i)` with the masks of ``X`` itself, shape (n,)."""
        return self.maps(X).F(self.stacked.to(X.device, X.dtype))

    def penalty(self) -> torch.Tensor:
        return group_norms(self.v).sum() + group_norms(self.w).sum()

    def objective(self, X: torch.Tensor, y: torch.Tensor, beta: float) -> float:
        """:math:`\\tfrac12\\|F U - y\\|^2 + \\beta \\sum_i (\\|v_i\\| + \\|w_i\\|)` (constraints not included)."""
        return float(0.5 * (self.predict(X) - y).square().sum() + beta * self.penalty())

    def constraint_violation(self, X: torch.Tensor) -> ConstraintViolation:
        """How much :math:`(2D_i - I) X v_i \\ge 0`, :math:`(2D_i - I) X w_i \\ge 0` fail on ``X``."""
        GU = self.maps(X).G(self.stacked.to(X.device, X.dtype))
        neg = torch.relu(-GU)
        norm = float(torch.linalg.vector_norm(neg))
        total = float(torch.linalg.vector_norm(GU))
        return ConstraintViolation(float(neg.max()), norm, norm / total if total > 0 else 0.0)

    def to_two_layer(self, threshold: float = 0.0) -> TwoLayerReLU:
        """Recover the ReLU network (module docstring): one neuron per group with norm > ``threshold``."""
        W1, w2 = _split_neurons([self.v, self.w], [1.0, -1.0], threshold)
        return TwoLayerReLU(W1, w2)


@dataclass
class ConvexGatedReLU:
    """Convex gated-ReLU model: ``u`` of shape (P, d); the gates stay part of the model."""

    patterns: ActivationPatterns
    u: torch.Tensor

    kind: ClassVar[str] = "gated"

    def __post_init__(self) -> None:
        shape = (self.patterns.num_patterns, self.patterns.dim)
        if tuple(self.u.shape) != shape:
            raise ValueError(f"u must have shape {shape}, got {tuple(self.u.shape)}")

    @property
    def stacked(self) -> torch.Tensor:
        return self.u

    def maps(self, X: torch.Tensor) -> LinearMaps:
        return LinearMaps(X, self.patterns.masks(X), "gated")

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """:math:`\\sum_i D_i(X) X u_i` with the masks of ``X`` itself, shape (n,)."""
        return self.maps(X).F(self.u.to(X.device, X.dtype))

    def penalty(self) -> torch.Tensor:
        return group_norms(self.u).sum()

    def objective(self, X: torch.Tensor, y: torch.Tensor, beta: float) -> float:
        """:math:`\\tfrac12\\|F u - y\\|^2 + \\beta \\sum_i \\|u_i\\|`."""
        return float(0.5 * (self.predict(X) - y).square().sum() + beta * self.penalty())

    def constraint_violation(self, X: torch.Tensor) -> ConstraintViolation:
        """Always zero: the gated model has no constraints."""
        return ConstraintViolation(0.0, 0.0, 0.0)

    def to_two_layer(self, threshold: float = 0.0) -> GatedTwoLayer:
        """The equivalent gated network with fixed gates: neuron :math:`j` uses gate :math:`g_j`,
        :math:`w_{1j} = u_j/\\sqrt{\\|u_j\\|}`, :math:`w_{2j} = \\sqrt{\\|u_j\\|}` (same value, balanced weights).
        This is not a ReLU network: the gate, not the sign of :math:`x^\\top w_{1j}`, switches a neuron."""
        keep = group_norms(self.u) > threshold
        W1, w2 = _split_neurons([self.u], [1.0], threshold)
        return GatedTwoLayer(W1, w2, gates=self.patterns.gates[:, keep].T.contiguous())


ConvexModel = ConvexReLU | ConvexGatedReLU


def _split_neurons(
    blocks: list[torch.Tensor], signs: list[float], threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    W1s, w2s = [], []
    for block, sign in zip(blocks, signs):
        norms = group_norms(block)
        keep = norms > threshold
        root = norms[keep].sqrt()
        W1s.append(block[keep] / root[:, None])
        w2s.append(sign * root)
    return torch.cat(W1s), torch.cat(w2s)


@dataclass(frozen=True)
class RecoveryGap:
    """Difference between a convex model's predictions and its recovered network's on some data."""

    max_abs: float
    relative: float
    neurons: int


def recovery_gap(model: ConvexModel, X: torch.Tensor, threshold: float = 0.0) -> RecoveryGap:
    """``max |f_convex(x) - f_net(x)|`` and ``||f_convex - f_net|| / ||f_convex||`` over the rows of ``X``."""
    net = model.to_two_layer(threshold)
    convex_pred = model.predict(X)
    diff = convex_pred - net.predict(X)
    scale = float(torch.linalg.vector_norm(convex_pred))
    max_abs = float(diff.abs().max())
    relative = float(torch.linalg.vector_norm(diff)) / scale if scale > 0 else max_abs
    return RecoveryGap(max_abs, relative, net.width)
