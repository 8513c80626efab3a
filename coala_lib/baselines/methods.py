"""The LM-updating preference methods, each declared once: :data:`REGISTRY`.

A :class:`PreferenceMethod` holds everything the library needs to know about one method: its typed settings
(one small frozen dataclass per method, TRL's style, so that no field means two things), the paper's grid and
notebook 05's, the TRL trainer and config that train it, the dataset it trains on, its loss on a batch of
response log-probabilities and its implicit reward. Training (:mod:`coala_lib.baselines.trl_training`), the
notebook suite, the held-out evaluation (:func:`coala_lib.evaluation.frontier.heldout_preference`), the
frontier experiment, the claims and the chapters iterate :data:`REGISTRY`; adding a method is one
:func:`register` call (CONTRIBUTING.md shows one).

With :math:`\\ell(y) = \\sum_{t \\in y} \\log \\pi(y_t \\mid x, y_{<t})` the summed and :math:`\\bar\\ell = \\ell / |y|`
the per-token response log-probability, chosen :math:`y_w` and rejected :math:`y_l`:

* ``sft``: :math:`L = -\\bar\\ell_\\theta(y_w)`; reward :math:`\\bar\\ell_\\theta(y)` (no implicit reward; the
  length-normalised likelihood is the natural score).
* ``dpo``: :math:`L = -\\log\\sigma(\\beta[(\\ell_\\theta - \\ell_{ref})(y_w) - (\\ell_\\theta - \\ell_{ref})(y_l)])`;
  reward :math:`\\beta(\\ell_\\theta - \\ell_{ref})(y)`.
* ``orpo``: :math:`L = -\\bar\\ell_\\theta(y_w) - \\lambda\\log\\sigma(\\log\\frac{p_w}{1-p_w} - \\log\\frac{p_l}{1-p_l})`,
  :math:`p = e^{\\bar\\ell_\\theta}`; reward :math:`\\lambda\\bar\\ell_\\theta(y)` (TRL's logged reward; the log-odds
  is increasing in :math:`\\bar\\ell`, so it orders pairs the same way).
* ``simpo``: :math:`L = -\\log\\sigma(\\beta(\\bar\\ell_\\theta(y_w) - \\bar\\ell_\\theta(y_l)) - \\gamma)`; reward
  :math:`\\beta\\bar\\ell_\\theta(y)`.

Cache keys. A trained run is keyed by :class:`~coala_lib.baselines.trl_training.BaselineConfig`, whose
``beta`` and ``gamma`` fields are the *key form* of a method's settings (:meth:`MethodSettings.key_fields`):
DPO's beta, ORPO's lambda or SimPO's beta in ``beta``, SimPO's margin in ``gamma``. Methods read their typed
settings (:meth:`PreferenceMethod.settings_of`), never those two fields.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypedDict

import torch
import torch.nn.functional as F

from coala_lib.core.checks import check_number

#: What a method trains on: preference pairs (prompt, chosen, rejected) or completions (prompt, chosen).
DatasetKind = Literal["pairs", "completions"]
#: Response log-probabilities of a batch of pairs, each ``(2, n)``: row 0 chosen, row 1 rejected.
LogProbs = torch.Tensor
#: ``BaselineConfig.gamma`` of a method without a margin (the field's default; it enters every run's key).
NO_MARGIN = 0.5


class KeyFields(TypedDict):
    """A method's settings as ``BaselineConfig``'s key fields (see the module docstring)."""

    beta: float | None
    gamma: float


def dpo_loss(policy_logps: torch.Tensor, reference_logps: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """Mean DPO loss; both inputs hold the chosen rows then the rejected rows (``(2 * pairs,)``)."""
    if policy_logps.shape != reference_logps.shape or policy_logps.shape[0] % 2:
        raise ValueError("policy_logps and reference_logps must both be (2 * pairs,): chosen rows, then rejected rows")
    n = policy_logps.shape[0] // 2
    ratio = policy_logps - reference_logps
    return -F.logsigmoid(beta * (ratio[:n] - ratio[n:])).mean()


def orpo_loss(mean_logps: torch.Tensor, lam: float = 0.1) -> torch.Tensor:
    """Mean ORPO loss from per-token mean log-probabilities (chosen rows, then rejected rows)."""
    n = mean_logps.shape[0] // 2
    log_odds = mean_logps - torch.log1p(-torch.exp(mean_logps).clamp(max=1 - 1e-6))
    return -mean_logps[:n].mean() - lam * F.logsigmoid(log_odds[:n] - log_odds[n:]).mean()


def simpo_loss(mean_logps: torch.Tensor, beta: float = 2.0, gamma: float = 0.5) -> torch.Tensor:
    """Mean SimPO loss from per-token mean log-probabilities (chosen rows, then rejected rows)."""
    n = mean_logps.shape[0] // 2
    return -F.logsigmoid(beta * (mean_logps[:n] - mean_logps[n:]) - gamma).mean()


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class MethodSettings:
    """A method's own hyper-parameters. Subclasses add fields and say which field is which key field."""

    #: this class's field -> ``BaselineConfig`` key field (``"beta"`` or ``"gamma"``).
    KEY_FIELDS: ClassVar[Mapping[str, str]] = {}
    #: this class's field -> the name the record's setting labels use (e.g. ``lam`` -> ``lambda``).
    LABELS: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        for f in fields(self):
            check_number(f.name, getattr(self, f.name), positive=f.name != "gamma")

    def key_fields(self) -> KeyFields:
        """The settings in the form that enters a run's cache key: ``{"beta": ..., "gamma": ...}``."""
        values = {key: float(getattr(self, name)) for name, key in self.KEY_FIELDS.items()}
        return KeyFields(beta=values.get("beta"), gamma=values.get("gamma", NO_MARGIN))

    def label(self) -> str:
        """``"beta=0.1"``, ``"lambda=0.1"``, ``"beta=2,gamma=0.5"``; ``"chosen"`` for a method without any."""
        parts = [f"{self.LABELS.get(f.name, f.name)}={getattr(self, f.name):g}" for f in fields(self)]
        return ",".join(parts) or "chosen"

    @property
    def value(self) -> float | None:
        """The first hyper-parameter (the one a frontier curve sweeps), or ``None``."""
        first = next(iter(fields(self)), None)
        return None if first is None else float(getattr(self, first.name))


@dataclass(frozen=True)
class SFTSettings(MethodSettings):
    """SFT has no hyper-parameter of its own."""


@dataclass(frozen=True)
class DPOSettings(MethodSettings):
    """DPO's KL weight ``beta``."""

    beta: float = 0.01
    KEY_FIELDS: ClassVar[Mapping[str, str]] = {"beta": "beta"}


@dataclass(frozen=True)
class ORPOSettings(MethodSettings):
    """ORPO's odds-ratio weight :math:`\\lambda` (TRL calls it ``beta``)."""

    lam: float = 0.1
    KEY_FIELDS: ClassVar[Mapping[str, str]] = {"lam": "beta"}
    LABELS: ClassVar[Mapping[str, str]] = {"lam": "lambda"}


@dataclass(frozen=True)
class SimPOSettings(MethodSettings):
    """SimPO's reward scale ``beta`` and target margin ``gamma``."""

    beta: float = 2.0
    gamma: float = 0.5
    KEY_FIELDS: ClassVar[Mapping[str, str]] = {"beta": "beta", "gamma": "gamma"}


# ------------------------------------------------------------------------------------------ methods

#: ``(policy log-probs, response lengths, reference log-probs or None, settings)`` -> a tensor.
BatchFunction = Callable[[LogProbs, LogProbs, "LogProbs | None", Any], torch.Tensor]


@dataclass(frozen=True)
class PreferenceMethod:
    """One LM-updating preference method (module docstring).

    ``trainer`` and ``trl_config`` are ``"module:Class"`` paths imported when training starts;
    ``trl_options(settings)`` are the config's method-specific fields; ``loss`` and ``reward`` take the
    response log-probabilities ``(2, n)`` of held-out pairs, their lengths and (when ``uses_reference``) the
    reference's. ``paper_grid`` (the paper's, App. F) and ``notebook_grid`` (notebook 05's CPU-sized one) are
    in key form: each axis is a ``BaselineConfig`` key field (``beta``, ``gamma``), as run labels name them.
    """

    name: str
    label: str
    settings: type[MethodSettings]
    trainer: str
    trl_config: str
    trl_options: Callable[[Any], dict[str, Any]]
    loss: BatchFunction
    reward: BatchFunction
    dataset: DatasetKind = "pairs"
    uses_reference: bool = False
    paper_grid: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    notebook_grid: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def settings_of(self, key_fields: Mapping[str, Any]) -> MethodSettings:
        """The typed settings from a key-form mapping (``BaselineConfig.beta``/``gamma`` or a grid point);
        a key field left ``None`` takes the settings class's default."""
        known = self.settings.KEY_FIELDS
        values = {name: key_fields[key] for name, key in known.items() if key_fields.get(key) is not None}
        return self.settings(**values)

    def trl_classes(self) -> tuple[type, type]:
        """``(trainer class, config class)``, imported on demand (TRL loads slowly)."""
        return _import(self.trainer), _import(self.trl_config)


def _import(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _mean(logps: LogProbs, counts: LogProbs) -> LogProbs:
    return logps / counts.clamp(min=1)


def _reference(ref: LogProbs | None) -> LogProbs:
    if ref is None:
        raise ValueError("this method needs the reference's log-probabilities (it has uses_reference=True)")
    return ref


def _ratio(logps: LogProbs, ref: LogProbs | None) -> LogProbs:
    return logps - _reference(ref)


SFT = PreferenceMethod(
    name="sft",
    label="SFT",
    settings=SFTSettings,
    trainer="trl:SFTTrainer",
    trl_config="trl:SFTConfig",
    trl_options=lambda s: {"completion_only_loss": True},
    loss=lambda lp, n, ref, s: -_mean(lp, n)[0].mean(),
    reward=lambda lp, n, ref, s: _mean(lp, n),
    dataset="completions",
)
DPO = PreferenceMethod(
    name="dpo",
    label="DPO",
    settings=DPOSettings,
    trainer="trl:DPOTrainer",
    trl_config="trl:DPOConfig",
    trl_options=lambda s: {"beta": s.beta, "loss_type": ["sigmoid"]},
    loss=lambda lp, n, ref, s: dpo_loss(lp.reshape(-1), _reference(ref).reshape(-1), s.beta),
    reward=lambda lp, n, ref, s: s.beta * _ratio(lp, ref),
    uses_reference=True,
    paper_grid={"beta": (0.01, 0.05, 0.1)},
    notebook_grid={"beta": (0.1,)},
)
# ORPO and CPO pad pairs with a collator that needs every column kept (they would set it and say so).
ORPO = PreferenceMethod(
    name="orpo",
    label="ORPO",
    settings=ORPOSettings,
    trainer="trl.experimental.orpo:ORPOTrainer",
    trl_config="trl.experimental.orpo:ORPOConfig",
    trl_options=lambda s: {"beta": s.lam, "remove_unused_columns": False},
    loss=lambda lp, n, ref, s: orpo_loss(_mean(lp, n).reshape(-1), s.lam),
    reward=lambda lp, n, ref, s: s.lam * _mean(lp, n),
    paper_grid={"beta": (0.1, 0.5, 1.0, 2.0)},
    notebook_grid={"beta": (0.1,)},
)
SIMPO = PreferenceMethod(
    name="simpo",
    label="SimPO",
    settings=SimPOSettings,
    trainer="trl.experimental.cpo:CPOTrainer",
    trl_config="trl.experimental.cpo:CPOConfig",
    trl_options=lambda s: {
        "beta": s.beta,
        "loss_type": "simpo",
        "simpo_gamma": s.gamma,
        "cpo_alpha": 0.0,  # no extra NLL term
        "remove_unused_columns": False,
    },
    loss=lambda lp, n, ref, s: simpo_loss(_mean(lp, n).reshape(-1), s.beta, s.gamma),
    reward=lambda lp, n, ref, s: s.beta * _mean(lp, n),
    paper_grid={"beta": (2.0, 2.5), "gamma": (0.3, 0.5, 0.8, 1.0, 1.2, 1.4, 1.6)},
    notebook_grid={"beta": (2.0,), "gamma": (0.5,)},
)

#: Every registered method by name, in registration order (the book's order: SFT, DPO, ORPO, SimPO).
REGISTRY: dict[str, PreferenceMethod] = {}


def register(method: PreferenceMethod) -> PreferenceMethod:
    """Add ``method`` to :data:`REGISTRY` (replacing one of the same name); return it."""
    if not method.name.isidentifier() or method.name != method.name.lower():
        raise ValueError(f"method name {method.name!r} must be a lower-case identifier (it names cache folders)")
    REGISTRY[method.name] = method
    return method


def preference_method(name: str) -> PreferenceMethod:
    """The registered method called ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"method={name!r} is not a registered preference method; choose one of {method_names()}"
        ) from None


def method_names() -> tuple[str, ...]:
    """The registered methods' names, in registration order."""
    return tuple(REGISTRY)


def rival_order() -> tuple[str, ...]:
    """The registered methods in the order tables and the ledger list them as COALA's rivals: the methods that
    learn from preference pairs in registration order (DPO, ORPO, SimPO), then those trained on completions
    (SFT)."""
    return tuple(sorted(REGISTRY, key=lambda name: REGISTRY[name].dataset == "completions"))


for _method in (SFT, DPO, ORPO, SIMPO):
    register(_method)
