"""The set-up every Phase I solver shares: the checked data, the gates, the maps :math:`F`, :math:`G`
(:class:`Problem`, :func:`setup_problem`), and where a fit stopped, to start the next one of a path there
(:class:`WarmStart`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from coala_lib.convex.config import Phase1Model, SolverSettings
from coala_lib.convex.reformulation import ActivationPatterns, LinearMaps, sample_gates
from coala_lib.core.checks import validate_features, validate_targets


@dataclass(frozen=True)
class WarmStart:
    """Where a fit on the same data and gates ended, to start the next one there (a regularisation path).

    ``u``, ``v`` the stacked iterates (``v`` the group-sparse one; the first-order methods have one iterate,
    stored in both), ``consensus`` and ``cone`` the *unscaled* multipliers of :math:`u = v` and of the cone
    (:math:`\\rho\\lambda`, :math:`\\rho\\nu`; ``None`` where the method has none), ``s`` the cone slack, and the
    ``beta`` they were found at. A fit at :math:`\\beta'` starts from :math:`\\lambda = (\\beta'/\\beta)\\,\\rho\\lambda/\\rho'`
    (the consensus multiplier of an active group is :math:`\\beta` times its direction at the optimum) and
    :math:`\\nu = \\rho\\nu/\\rho'` (the cone multipliers answer the loss, not the penalty)."""

    u: torch.Tensor
    v: torch.Tensor
    beta: float
    consensus: torch.Tensor | None = None
    s: torch.Tensor | None = None
    cone: torch.Tensor | None = None


@dataclass
class Problem:
    """The set-up shared by every solver: data, gates, maps (with an ADMM's ``cone_scale``) and the
    unscaled maps the certificate uses."""

    X: torch.Tensor
    y: torch.Tensor
    beta: float
    patterns: ActivationPatterns
    maps: LinearMaps
    plain_maps: LinearMaps

    @property
    def shape(self) -> tuple[int, int]:
        return (self.maps.groups, int(self.X.shape[1]))


def setup_problem(
    X: torch.Tensor,
    y: torch.Tensor,
    model: Phase1Model,
    settings: SolverSettings,
    patterns: ActivationPatterns | None = None,
) -> Problem:
    """Check the data, draw (or check) the gates and build the maps for the solver whose ``settings`` are
    given (its :meth:`SolverSettings.wants_gram` and :meth:`SolverSettings.map_scale`): the set-up of
    :func:`coala_lib.convex.phase1.fit_phase1`."""
    validate_features(X)
    validate_targets(y, X, model.allow_real_targets)
    y = y.to(X.device, X.dtype)
    if patterns is None:
        patterns = sample_gates(X, model.P, model.seed)
    elif patterns.dim != X.shape[1]:
        raise ValueError(f"patterns were drawn for d={patterns.dim} but X has d={X.shape[1]}")
    patterns = patterns.to(X.device, X.dtype)
    n, d = X.shape
    gram = X.T @ X if settings.wants_gram(n, d, model.kind == "relu") else None
    masks = patterns.masks(X)
    scale = settings.map_scale()
    maps = LinearMaps(X, masks, model.kind, gram, scale)
    plain = maps if scale == 1.0 else LinearMaps(X, masks, model.kind, gram)
    return Problem(X, y, float(model.beta), patterns, maps, plain)
