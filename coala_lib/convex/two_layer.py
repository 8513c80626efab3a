"""The non-convex two-layer ReLU network, its gated cousin, and training it with Adam.

The network is :math:`h(x) = \\sum_{j=1}^m (x^\\top w_{1j})_+ w_{2j}` with weights
:math:`W_1 \\in \\mathbb R^{m \\times d}`, :math:`w_2 \\in \\mathbb R^m`, trained on

.. math:: \\min_{W_1, w_2}\\ \\tfrac12 \\|h(X) - y\\|^2 + \\tfrac\\beta2 (\\|W_1\\|_F^2 + \\|w_2\\|^2).

Why this equals the convex program (Pilanci & Ergen 2020). The ReLU is positively homogeneous,
so :math:`(w_{1j}, w_{2j}) \\mapsto (t w_{1j}, w_{2j}/t)` (:math:`t > 0`) leaves :math:`h` unchanged while the
penalty becomes :math:`\\tfrac\\beta2(t^2\\|w_{1j}\\|^2 + w_{2j}^2/t^2)`, minimised at the balanced scale
:math:`\\|t w_{1j}\\| = |w_{2j}|/t` with value :math:`\\beta \\|w_{1j}\\| |w_{2j}|` (AM-GM). So at the optimum the
penalty is :math:`\\beta \\sum_j \\|v_j\\|` with :math:`v_j = w_{1j} |w_{2j}|`. Grouping neurons by their activation
pattern :math:`D_i` on the data and by the sign of :math:`w_{2j}` turns :math:`h(X)` into
:math:`\\sum_i D_i X (v_i - w_i)` with cone constraints keeping each pattern consistent, which is the
convex ReLU program of :mod:`coala_lib.convex.reformulation` (exact with all patterns and enough neurons).

The gated network :math:`\\sum_j \\mathbb 1[x^\\top g_j \\ge 0] (x^\\top w_{1j}) w_{2j}` uses fixed gates :math:`g_j`;
it is what the convex gated-ReLU model recovers to.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from tqdm.auto import tqdm

from coala_lib.core.checks import validate_features, validate_targets
from coala_lib.core.runtime import progress_off, synchronize


@dataclass
class TwoLayerReLU:
    """:math:`h(x) = w_2^\\top (W_1 x)_+` with ``W1`` (m, d) and ``w2`` (m,)."""

    W1: torch.Tensor
    w2: torch.Tensor

    def __post_init__(self) -> None:
        if self.W1.ndim != 2 or self.w2.shape != (self.W1.shape[0],):
            raise ValueError(f"need W1 (m, d) and w2 (m,), got {tuple(self.W1.shape)} and {tuple(self.w2.shape)}")

    @property
    def width(self) -> int:
        return int(self.W1.shape[0])

    def hidden(self, X: torch.Tensor) -> torch.Tensor:
        return torch.relu(X @ self.W1.to(X.device, X.dtype).T)

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Network outputs on the rows of ``X``, shape (n,)."""
        return self.hidden(X) @ self.w2.to(X.device, X.dtype)

    def penalty(self) -> torch.Tensor:
        """:math:`\\tfrac12(\\|W_1\\|_F^2 + \\|w_2\\|^2)`."""
        return 0.5 * (self.W1.square().sum() + self.w2.square().sum())

    def objective(self, X: torch.Tensor, y: torch.Tensor, beta: float) -> float:
        """:math:`\\tfrac12\\|h(X) - y\\|^2 + \\tfrac\\beta2(\\|W_1\\|_F^2 + \\|w_2\\|^2)`."""
        return float(0.5 * (self.predict(X) - y).square().sum() + beta * self.penalty())


@dataclass
class GatedTwoLayer(TwoLayerReLU):
    """Gated network :math:`\\sum_j 1[x^\\top g_j \\ge 0] (x^\\top w_{1j}) w_{2j}`; ``gates`` is (m, d), one per neuron."""

    gates: torch.Tensor = field(kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gates.shape != self.W1.shape:
            raise ValueError(f"gates must have the shape of W1 {tuple(self.W1.shape)}, got {tuple(self.gates.shape)}")

    def hidden(self, X: torch.Tensor) -> torch.Tensor:
        on = (X @ self.gates.to(X.device, X.dtype).T >= 0).to(X.dtype)
        return on * (X @ self.W1.to(X.device, X.dtype).T)


@dataclass
class TrainHistory:
    """Per-evaluation record of a training run: step, full-data objective, training seconds so far."""

    step: list[int] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        return {"step": self.step, "objective": self.objective, "seconds": self.seconds}


def init_two_layer(
    d: int, width: int, seed: int = 0, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> TwoLayerReLU:
    """``nn.Linear``-style uniform init (:math:`U(\\pm 1/\\sqrt{\\text{fan-in}})`) from a seeded CPU generator."""
    if width < 1 or d < 1:
        raise ValueError(f"width and d must be >= 1, got width={width}, d={d}")
    gen = torch.Generator().manual_seed(int(seed))
    W1 = (torch.rand(width, d, generator=gen, dtype=torch.float64) * 2 - 1) / math.sqrt(d)
    w2 = (torch.rand(width, generator=gen, dtype=torch.float64) * 2 - 1) / math.sqrt(width)
    return TwoLayerReLU(W1.to(device, dtype), w2.to(device, dtype))


def train_two_layer(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    width: int = 20,
    beta: float = 1e-3,
    steps: int = 1000,
    lr: float = 1e-2,
    optimizer: Literal["adam", "adamw"] = "adam",
    weight_decay: float = 1e-2,
    batch_size: int | None = None,
    seed: int = 0,
    init: TwoLayerReLU | None = None,
    eval_every: int = 10,
    allow_real_targets: bool = False,
    progress: bool = False,
) -> tuple[TwoLayerReLU, TrainHistory]:
    """Train :class:`TwoLayerReLU` on the objective of the module docstring from a seeded start.

    ``optimizer="adam"`` minimises exactly that objective (the penalty's gradient is in the loss;
    a minibatch of size B uses the unbiased estimate :math:`\\tfrac{n}{2B}\\|h(X_B) - y_B\\|^2`).
    ``optimizer="adamw"`` minimises the data term with decoupled weight decay ``weight_decay``
    (PyTorch's AdamW, the usual deep-learning baseline); its history still reports the objective
    with ``beta``. ``init`` (e.g. a recovered convex solution) replaces the random start; ``seed``
    also fixes the minibatch order. ``seconds`` counts training steps only, not evaluations.
    """

    validate_features(X)
    validate_targets(y, X, allow_real_targets)
    if optimizer not in ("adam", "adamw"):
        raise ValueError(f"optimizer must be 'adam' or 'adamw', got {optimizer!r}")
    if beta < 0 or lr <= 0 or steps < 1:
        raise ValueError(f"need beta >= 0, lr > 0, steps >= 1; got beta={beta}, lr={lr}, steps={steps}")
    n = X.shape[0]
    if batch_size is not None and not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}] or None (full batch), got {batch_size}")
    start = init if init is not None else init_two_layer(X.shape[1], width, seed, X.dtype, X.device)
    W1 = start.W1.detach().to(X.device, X.dtype).clone().requires_grad_(True)
    w2 = start.w2.detach().to(X.device, X.dtype).clone().requires_grad_(True)
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam([W1, w2], lr=lr)
    else:
        opt = torch.optim.AdamW([W1, w2], lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    history, elapsed = TrainHistory(), 0.0

    def record(step: int) -> None:
        with torch.no_grad():
            history.step.append(step)
            history.objective.append(TwoLayerReLU(W1, w2).objective(X, y, beta))
            history.seconds.append(elapsed)

    record(0)
    for step in tqdm(range(1, steps + 1), disable=progress_off(progress), desc="adam"):
        synchronize(X.device)
        tic = time.perf_counter()
        if batch_size is None or batch_size == n:
            Xb, yb, scale = X, y, 1.0
        else:
            idx = torch.randint(0, n, (batch_size,), generator=gen).to(X.device)
            Xb, yb, scale = X[idx], y[idx], n / batch_size
        net = TwoLayerReLU(W1, w2)
        loss = 0.5 * scale * (net.predict(Xb) - yb).square().sum()
        if optimizer == "adam":
            loss = loss + beta * net.penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(X.device)
        elapsed += time.perf_counter() - tic
        if step % eval_every == 0 or step == steps:
            record(step)
    return TwoLayerReLU(W1.detach(), w2.detach()), history
