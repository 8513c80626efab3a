"""The inputs and the outputs of :func:`coala_lib.head.training.train_or_load_head`.

:class:`HeadConfig` holds every knob of the pipeline (its defaults are notebook 03's run; every field
enters the cache key). Its record form is flat (``asdict``: the cache key, ``report.json``, the hand-off and
the claims and frontier records store it, ``phase1_method``, ``phase1_max_iters``, ``phase1_tol`` included);
Phase I's part of it is read as one :class:`coala_lib.convex.phase1.Phase1Config` by
:meth:`HeadConfig.phase1_config`, the only place that maps those fields. :class:`HeadReport` is what the pipeline measured: Phase I and its
same-width AdamW comparison (:class:`NetworkFit`), Phase II (:class:`PhaseTwoFit`) and where the
head came from. :meth:`HeadReport.to_dict` is the ``report.json`` stored next to the head and
:meth:`HeadReport.from_dict` reads it back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from coala_lib.backbone.pooling import POOLINGS
from coala_lib.convex.admm import AdmmSettings
from coala_lib.convex.config import Method, Phase1Model, StoppingRule
from coala_lib.convex.cronos import CronosSettings
from coala_lib.convex.phase1 import Phase1Config
from coala_lib.core.checks import check_choice, check_int, check_number
from coala_lib.data.loaders import DATASETS
from coala_lib.head.phase2 import OBJECTIVES, PAIRINGS

PHASE2_SOLVERS: tuple[str, ...] = ("newton", "adamw")


@dataclass(frozen=True)
class HeadConfig:
    """Every knob of the pipeline; the defaults are notebook 03's (a 135M backbone on a CPU).

    ``n_pairs``/``n_eval`` training and held-out triplets (the paper: all, e.g. 25,000 for IMDb);
    ``max_length`` tokens per prompt + response (paper: 128); ``pooling`` ``"mean"`` or ``"last"`` (guided
    decoding pools the same way); ``P`` sampled activation patterns, at most :math:`2P` hidden ReLUs
    (paper: 10); ``beta`` Phase I's regularisation, the group-lasso weight (paper: 1e-3; not Phase II's
    temperature ``phase2_beta``); ``rho`` the ADMM penalty (``None``: the solver's rule,
    :meth:`coala_lib.convex.admm.AdmmSettings.penalty`, which is 0.1 * beta = 1e-4 here, the reference code's
    value; the paper's Table 10 uses 0.01); ``phase1_method`` Phase I's solver (a registered name of
    :mod:`coala_lib.convex.solvers` for ReLU; ``"auto"``, :func:`coala_lib.convex.phase1.auto_solver`: the exact,
    over-relaxed ADMM while its core fits, which certifies notebook 03's head where CRONOS with its PCG u-step
    does not (``results/bench_solver_heads_cpu.json``), and the augmented Lagrangian above);
    ``phase1_max_iters`` caps Phase I's solver steps (the reference code runs 6 ADMM iterations); the
    solver stops earlier when its duality-gap certificate
    reaches ``phase1_tol`` (relative gap and relative cone violation).
    ``phase2`` the Phase II loss (``"pairwise"`` prompt-matched Bradley-Terry or ``"pointwise"``, eq. 9)
    with ``pairing`` of its pairs, ``phase2_beta``/``phase2_gamma`` the paper's Bradley-Terry temperature
    :math:`\\beta = 2.5` and margin :math:`\\gamma = 0.5` and ``phase2_l2`` the ridge that makes the optimum unique and certifiable;
    ``phase2_solver`` ``"newton"`` (certified optimum, the head kept) or ``"adamw"``. ``adamw_*`` the
    paper's Phase II AdamW (lr 1e-4, batch 128, 500 epochs), ``baseline_*`` the same-width AdamW
    two-layer head of the Phase I comparison. ``revision`` pins the backbone's Hub revision.
    """

    model: str = "smollm2"
    dataset: str = "imdb"
    n_pairs: int = 300
    n_eval: int = 200
    max_length: int = 128
    pooling: str = "mean"
    P: int = 10
    beta: float = 1e-3
    rho: float | None = None
    phase1_method: Method = "auto"
    phase1_max_iters: int = 5000
    phase1_tol: float = 1e-4
    phase2: str = "pairwise"
    pairing: str = "matched"
    phase2_beta: float = 2.5
    phase2_gamma: float = 0.5
    phase2_l2: float = 1e-4
    phase2_solver: str = "newton"
    adamw_lr: float = 1e-4
    adamw_epochs: int = 500
    adamw_batch: int = 128
    baseline_lr: float = 1e-3
    baseline_steps: int = 1000
    seed: int = 0
    revision: str | None = None

    def __post_init__(self) -> None:
        """Check every field when the config is built (before data or a model is loaded): one sentence
        naming the field, what was given and what is allowed (text such as papermill ``-r`` passes is refused)."""
        if not isinstance(self.model, str) or not self.model:
            raise TypeError(f"model must be a registry alias, a local path or a Hub id (text), got {self.model!r}")
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("phase2", self.phase2, OBJECTIVES)
        check_choice("pairing", self.pairing, PAIRINGS)
        check_choice("phase2_solver", self.phase2_solver, PHASE2_SOLVERS)
        check_choice("phase1_method", self.phase1_method, ("auto", "admm", "cronos", "alm"))
        if self.phase2 == "pointwise" and self.pairing != "matched":
            raise ValueError("pairing applies only to phase2='pairwise'; leave pairing='matched' with 'pointwise'")
        for name in ("n_pairs", "n_eval", "max_length", "P", "phase1_max_iters", "adamw_epochs", "adamw_batch"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("baseline_steps", self.baseline_steps, minimum=0)
        check_int("seed", self.seed)
        for name in ("phase1_tol", "phase2_beta", "adamw_lr", "baseline_lr"):
            check_number(name, getattr(self, name), positive=True)
        if self.rho is not None:
            check_number("rho", self.rho, positive=True)
        for name in ("beta", "phase2_l2"):
            check_number(name, getattr(self, name), minimum=0.0)
        check_number("phase2_gamma", self.phase2_gamma)
        if self.revision is not None and not isinstance(self.revision, str):
            raise TypeError(f"revision must be a Hub revision (text) or None, got {self.revision!r}")
        self.phase1_config()  # Phase I's own checks, on what the fields above did not cover

    @classmethod
    def select(
        cls,
        model: str | None = None,
        dataset: str | None = None,
        n_pairs: int | None = None,
        n_eval: int | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> HeadConfig:
        """A config from notebook parameters: a selection field given as ``None`` keeps its default;
        ``options`` set any other field (an unknown name is a ``TypeError`` naming it)."""
        given: dict[str, Any] = {"model": model, "dataset": dataset, "n_pairs": n_pairs, "n_eval": n_eval, "seed": seed}
        return cls(**{k: v for k, v in given.items() if v is not None}, **options)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HeadConfig:
        """The config of a saved head or report (extra keys such as ``key`` or ``phase1_width`` are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def phase1_config(self) -> Phase1Config:
        """Phase I's settings as a :class:`coala_lib.convex.phase1.Phase1Config`: the ReLU program with ``P``
        gates drawn with ``seed`` and group-lasso weight ``beta``; stopping at ``phase1_tol`` (gap and cone
        violation) or ``phase1_max_iters`` steps; solver ``phase1_method``; ``rho`` both ADMMs' penalty."""
        return Phase1Config(
            model=Phase1Model("relu", self.P, self.beta, self.seed),
            stopping=StoppingRule(tol=self.phase1_tol, cone_tol=self.phase1_tol, max_iters=self.phase1_max_iters),
            solver=self.phase1_method,
            settings=(AdmmSettings(rho=self.rho), CronosSettings(rho=self.rho)),
        )

    def selection(self) -> dict[str, Any]:
        """The fields that pick a run of notebook 03 (the rest are its settings): model, data, sizes, seed."""
        return {k: getattr(self, k) for k in ("model", "dataset", "n_pairs", "n_eval", "seed")}


@dataclass(frozen=True)
class Accuracy:
    """*pointwise*: sign accuracy :math:`\\mathrm{sign}\\, s(f) = y` over all texts; *pairwise*: the share of
    prompt-matched pairs with :math:`s(f_c) > s(f_r)` (:func:`coala_lib.core.metrics.pairwise_accuracy`)."""

    pointwise: float
    pairwise: float


@dataclass(frozen=True)
class NetworkFit:
    """A Phase I two-layer ReLU head: ``width`` hidden neurons, its objective, wall-clock ``seconds``,
    train and held-out :class:`Accuracy` and the solver's per-iteration ``history``."""

    width: int
    objective: float
    seconds: float
    train: Accuracy
    eval: Accuracy
    history: dict[str, list[Any]]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NetworkFit:
        return cls(**_with_accuracies(values))


@dataclass(frozen=True)
class CronosFit(NetworkFit):
    """The Phase I head (the name is the record's, from when CRONOS was Phase I's only solver): a
    :class:`NetworkFit` plus the solver's ``method`` and ``iterations``, its
    duality-gap certificate (:mod:`coala_lib.convex.certificate`: ``lower_bound`` on the optimum,
    ``certified_gap`` relative, the returned model's cone violation ``cone_violation_rel``/``_max``,
    ``certified`` when both are within ``HeadConfig.phase1_tol``; ``converged`` is the same verdict) and
    the ADMM penalty ``rho`` of the config. Reports written before the certificate existed read as NaN / uncertified."""

    iterations: int
    converged: bool
    rho: float
    method: str = "cronos"
    lower_bound: float = math.nan
    certified_gap: float = math.nan
    cone_violation_rel: float = math.nan
    cone_violation_max: float = math.nan
    certified: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CronosFit:
        return cls(**_with_accuracies(values))


@dataclass(frozen=True)
class PhaseTwoFit:
    """Phase II: the kept solution (``solver``, ``loss``, ``grad_norm``, ``gap_bound``), Newton's certified
    optimum (``optimum_*``), the paper's AdamW run (``adamw_*``, its ``adamw_history`` of losses and reward
    margins), pairwise accuracies of the kept head on train and held-out pairs, the held-out accuracy of
    Phase I's :math:`w_2` (``stage1_eval_pairwise``) and the wall-clock ``seconds``."""

    solver: str
    loss: float
    grad_norm: float
    gap_bound: float
    optimum_loss: float
    optimum_grad_norm: float
    optimum_converged: bool
    adamw_loss: float
    adamw_grad_norm: float
    adamw_history: dict[str, list[float]]
    train_pairwise: float
    eval_pairwise: float
    stage1_eval_pairwise: float
    seconds: float


@dataclass(frozen=True)
class HeadReport:
    """What :func:`coala_lib.head.training.train_or_load_head` measured, with the ``config`` it ran.

    ``phase1`` is the Phase I head, ``adamw_head`` the same-width AdamW head of the comparison (Table 7),
    ``phase2`` the convex Phase II fit. The provenance fields are filled by ``train_or_load_head`` (empty
    from :func:`coala_lib.head.training.fit_head`): the cache ``key``, the ``backbone`` identity, the feature
    extraction's ``feature_seconds``, the feature cache keys, the data parameters and the ``environment``.
    """

    config: HeadConfig
    phase1: CronosFit
    adamw_head: NetworkFit
    phase2: PhaseTwoFit
    key: str = ""
    backbone: dict[str, Any] = field(default_factory=dict)
    feature_seconds: float | None = None
    features: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready nesting (the stored ``report.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HeadReport:
        """Read a ``report.json`` back (the inverse of :meth:`to_dict`)."""
        return cls(
            **{
                **values,
                "config": HeadConfig.from_dict(values["config"]),
                "phase1": CronosFit.from_dict(values["phase1"]),
                "adamw_head": NetworkFit.from_dict(values["adamw_head"]),
                "phase2": PhaseTwoFit(**values["phase2"]),
            }
        )


def _with_accuracies(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "train": Accuracy(**values["train"]), "eval": Accuracy(**values["eval"])}
