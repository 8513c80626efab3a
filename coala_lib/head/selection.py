"""Choosing a preference head on validation pairs: the grid, four arms with one budget, one rule.

Every arm scores texts from the same pooled features (:mod:`coala_lib.backbone.prefix_features`), normalised
per dimension on its training texts, and is judged by its **pairwise accuracy** (a pair is ranked right when
:math:`s(f_c) > s(f_r)`, a tie counts one half; :func:`coala_lib.core.metrics.pairwise_accuracy`):

* ``convex``: Phase I, the convex two-layer ReLU head along a certified regularisation path
  (:func:`coala_lib.convex.path.regularisation_path`) for each ``P``; the recovered network scores;
* ``coala``: ``convex`` followed by Phase II (the convex pairwise Bradley-Terry fit of the last layer,
  :func:`coala_lib.head.phase2.solve_newton`) over a grid of its ridge and scale: the COALA head;
* ``adamw``: the same-width two-layer ReLU network trained by AdamW on the same squared loss (the paper's
  Table 7 comparison), over a grid of learning rate and weight decay, each run stopped early at its best
  validation epoch;
* ``probe``: a ridge-regularised pairwise logistic regression on the features themselves (a linear probe).

The feature choices (:class:`FeatureChoice`: rendering, pooled view, whole-text or prefix-matched training)
are shared by all arms, and ``convex``, ``adamw`` and ``probe`` try the same number of settings per choice
(:class:`StudyConfig`). **The rule** (:func:`select`): the highest validation pairwise accuracy; ties go to
the simpler setting (larger :math:`\\beta`, weight decay or ridge; then the earlier feature choice). Two
scores are used: on whole texts (what Table 7 measures) and, for the head guided decoding deploys, the mean
over response prefixes of 4, 8, 16, 32 and 48 tokens (what the decoder scores). The report split is read
only by :func:`report_outcomes`, after every choice is made.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from coala_lib.backbone.features import PairFeatures
from coala_lib.backbone.pooling import POOLING_TABLE
from coala_lib.backbone.prefix_features import PrefixFeatures
from coala_lib.convex.cronos import CronosConfig, fit_cronos
from coala_lib.convex.path import RegularisationPath, regularisation_path
from coala_lib.convex.two_layer import TwoLayerReLU, init_two_layer
from coala_lib.core.metrics import outcomes_from_scores
from coala_lib.core.runtime import progress_off
from coala_lib.head.phase2 import design, solve_newton

__all__ = [
    "ARMS",
    "Candidate",
    "FeatureChoice",
    "Study",
    "StudyConfig",
    "report_outcomes",
    "run_study",
    "select",
]

ARMS: tuple[str, ...] = ("convex", "coala", "adamw", "probe")
FULL = "full"
SCALE_FLOOR = 1e-6
Scorer = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FeatureChoice:
    """Which features a head reads: ``rendering`` (``"chat"``: the chat template with its system prompt, what
    the decoder extends; ``"plain"``: no template), ``view`` (a view of
    :mod:`coala_lib.backbone.prefix_features`) and ``training`` (``"full"``: whole texts; ``"prefix"``: each
    training pair cut at one random slot, chosen and rejected alike)."""

    rendering: str
    view: str
    training: str = "full"
    #: The pattern counts tried on this choice (``None``: :attr:`StudyConfig.P_values`); the AdamW arm tries
    #: the same widths :math:`2P`, so every arm's budget stays equal on each choice.
    P_values: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.rendering}/{self.view}/{self.training}"

    @property
    def deployable(self) -> bool:
        """Whether the KV-cached guided decoder computes these features: the chat rendering it decodes with
        and a registered pooling with an incremental form."""
        pooling = POOLING_TABLE.get(self.view)
        return self.rendering == "chat" and pooling is not None and pooling.has_incremental


@dataclass(frozen=True)
class StudyConfig:
    """The grid (see the module docstring). Per feature choice, ``convex`` fits ``path_points - 1`` betas for
    each ``P`` (the path's first point is the zero head), ``adamw`` tries ``len(adamw_lrs) * len(adamw_decays)``
    settings for each width ``2P``, ``probe`` ``len(probe_l2s)`` ridges: 12 each per ``P`` by default."""

    choices: tuple[FeatureChoice, ...]
    P_values: tuple[int, ...] = (10, 32)
    path_points: int = 13
    decades: float = 3.0
    tol: float = 1e-4
    max_iters: int = 20_000
    phase2_l2s: tuple[float, ...] = (1e-4, 1e-2, 1.0)
    phase2_betas: tuple[float, ...] = (1.0, 2.5)
    phase2_gamma: float = 0.5
    adamw_lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3)
    adamw_decays: tuple[float, ...] = (0.0, 1e-2, 1e-1)
    adamw_epochs: int = 100
    adamw_patience: int = 10
    adamw_batch: int = 128
    probe_l2s: tuple[float, ...] = tuple(float(x) for x in np.logspace(-4, 3, 12))
    prefix_lengths: tuple[int, ...] = (4, 8, 16, 32, 48)
    paper: dict[str, Any] = field(
        default_factory=lambda: {"P": 10, "beta": 1e-3, "phase2_l2": 1e-4, "phase2_beta": 2.5, "phase2_gamma": 0.5}
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError("StudyConfig.choices is empty: give at least one FeatureChoice")
        if self.path_points < 2:
            raise ValueError(f"StudyConfig.path_points must be >= 2, got {self.path_points}")

    def Ps(self, choice: FeatureChoice) -> tuple[int, ...]:
        """The pattern counts tried on ``choice``."""
        return choice.P_values if choice.P_values is not None else self.P_values

    def budget(self, choice: FeatureChoice) -> dict[str, int]:
        """Settings tried on ``choice`` by each Phase I arm: ``convex`` and ``adamw`` the same number (per ``P``:
        the path's fitted points, and learning rates times weight decays), the probe (no width) its ridges."""
        Ps = self.Ps(choice)
        return {
            "convex": (self.path_points - 1) * len(Ps),
            "adamw": len(self.adamw_lrs) * len(self.adamw_decays) * len(Ps),
            "probe": len(self.probe_l2s),
        }


@dataclass
class Candidate:
    """One setting of one arm: its feature ``choice``, ``params``, a ``simplicity`` key (larger is simpler; ties
    of the rule go to it), validation accuracies by slot (``"full"`` and each prefix length) and the ``scorer``
    that maps normalised features to scores (kept to report the chosen ones)."""

    arm: str
    choice: FeatureChoice
    params: dict[str, Any]
    simplicity: tuple[float, ...]
    validation: dict[str, float]
    scorer: Scorer = field(repr=False)

    def prefix_score(self, lengths: Sequence[int]) -> float:
        """Mean validation accuracy over the response prefixes (the deployed head's criterion)."""
        return float(np.mean([self.validation[str(L)] for L in lengths]))

    def summary(self) -> dict[str, Any]:
        return {"arm": self.arm, "features": self.choice.label, "params": self.params, "validation": self.validation}


@dataclass
class Normalised:
    """One feature choice's data, normalised per dimension on its training texts: Phase I's stacked ``X``
    (chosen texts, then rejected) with ``y`` (+1, then -1), the training pairs, and the held-out pairs by slot
    label (``"4"``, ..., ``"full"``)."""

    X: torch.Tensor
    y: torch.Tensor
    train: PairFeatures
    validation: dict[str, PairFeatures]


def training_slots(n: int, slots: int, training: str, seed: int) -> torch.Tensor:
    """Slot of each training pair: the whole text (``"full"``), or one uniform over every slot (``"prefix"``)."""
    if training == "full":
        return torch.full((n,), slots - 1, dtype=torch.long)
    if training == "prefix":
        return torch.randint(0, slots, (n,), generator=torch.Generator().manual_seed(seed + 7))
    raise ValueError(f"FeatureChoice.training must be 'full' or 'prefix', got {training!r}")


def slot_labels(lengths: Sequence[int]) -> list[str]:
    return [str(L) for L in lengths] + [FULL]


def prepare(choice: FeatureChoice, train: PrefixFeatures, validation: PrefixFeatures, seed: int) -> Normalised:
    """Training data of ``choice`` and its validation pairs at every slot, normalised on the training texts."""
    slots = training_slots(len(train), len(train.lengths) + 1, choice.training, seed)
    pairs = train.cut(choice.view, slots)
    stacked = torch.cat([pairs.chosen, pairs.rejected]).double()
    mean, scale = stacked.mean(0), stacked.std(0).clamp(min=SCALE_FLOOR)

    def normalised(f: PairFeatures) -> PairFeatures:
        return PairFeatures((f.chosen.double() - mean) / scale, (f.rejected.double() - mean) / scale)

    held = {
        label: normalised(validation.at(choice.view, L))
        for label, L in zip(slot_labels(validation.lengths), [*validation.lengths, None], strict=True)
    }
    y = torch.cat([torch.ones(len(pairs)), -torch.ones(len(pairs))]).double()
    return Normalised((stacked - mean) / scale, y, normalised(pairs), held)


def accuracies(scorer: Scorer, pairs: dict[str, PairFeatures]) -> dict[str, float]:
    return {
        label: float(outcomes_from_scores(scorer(p.chosen), scorer(p.rejected)).mean()) for label, p in pairs.items()
    }


def _network_scorer(net: TwoLayerReLU) -> Scorer:
    W1, w2 = net.W1.double().cpu(), net.w2.double().cpu()
    return lambda f: torch.relu(f @ W1.T) @ w2


def _phase2_candidates(
    choice: FeatureChoice,
    net: TwoLayerReLU,
    data: Normalised,
    config: StudyConfig,
    base: dict[str, Any],
    simplicity: tuple[float, ...],
) -> list[Candidate]:
    """Phase II over its grid on the recovered first layer of ``net`` (arm ``coala``)."""
    W1 = net.W1.double().cpu()
    hc, hr = torch.relu(data.train.chosen @ W1.T), torch.relu(data.train.rejected @ W1.T)
    Z = design(hc, hr, "pairwise", "matched", config.seed)
    out = []
    for l2 in sorted(config.phase2_l2s, reverse=True):
        for beta2 in config.phase2_betas:
            theta = solve_newton(Z, beta=beta2, gamma=config.phase2_gamma, l2=l2).theta

            def scorer(f: torch.Tensor, W1: torch.Tensor = W1, theta: torch.Tensor = theta) -> torch.Tensor:
                return torch.relu(f @ W1.T) @ theta

            params = base | {"phase2_l2": l2, "phase2_beta": beta2, "phase2_gamma": config.phase2_gamma}
            validation = accuracies(scorer, data.validation)
            out.append(Candidate("coala", choice, params, (*simplicity, l2), validation, scorer))
    return out


@dataclass
class Study:
    """What :func:`run_study` measured: every ``candidate`` with its validation accuracies, the Phase I
    ``paths`` (a summary per feature choice and ``P``), the warm-against-cold ``path_timing`` and the ``config``."""

    candidates: list[Candidate]
    paths: list[dict[str, Any]]
    path_timing: dict[str, Any]
    config: StudyConfig
    seconds: dict[str, float] = field(default_factory=dict)

    def arm(self, name: str, deployable: bool = False) -> list[Candidate]:
        return [c for c in self.candidates if c.arm == name and (c.choice.deployable or not deployable)]


def convex_candidates(
    choice: FeatureChoice, data: Normalised, config: StudyConfig, progress: bool
) -> tuple[list[Candidate], list[dict[str, Any]], dict[int, RegularisationPath]]:
    """Arms ``convex`` and ``coala`` on one feature choice: a certified path per ``P``, Phase II on each point."""
    candidates, summaries, paths = [], [], {}
    for P in config.Ps(choice):
        cronos = CronosConfig(P=P, tol=config.tol, cone_tol=config.tol, max_iters=config.max_iters, seed=config.seed)
        path = regularisation_path(
            data.X, data.y, cronos, points=config.path_points, decades=config.decades, progress=progress
        )
        paths[P] = path
        rows = []
        for point in path.points[1:]:  # the zero head ranks nothing
            net = point.model.to_two_layer()
            scorer = _network_scorer(net)
            base = {"P": P, "beta": point.beta, "width": net.width}
            simplicity = (point.beta, -P)
            validation = accuracies(scorer, data.validation)
            candidates.append(Candidate("convex", choice, base, simplicity, validation, scorer))
            train_acc = float(outcomes_from_scores(scorer(data.train.chosen), scorer(data.train.rejected)).mean())
            rows.append(point.summary() | {"width": net.width, "train_pairwise": train_acc, "validation": validation})
            if net.width > 0:
                candidates += _phase2_candidates(choice, net, data, config, base, simplicity)
        summaries.append(
            {"features": choice.label, "P": P, "beta_max": path.beta_max, "seconds": path.seconds, "points": rows}
        )
    return candidates, summaries, paths


def paper_candidates(choice: FeatureChoice, data: Normalised, config: StudyConfig) -> list[Candidate]:
    """The paper's Phase I and Phase II values (the frontier's head until this study), as one more setting."""
    paper = config.paper
    cronos = CronosConfig(
        P=paper["P"],
        beta=paper["beta"],
        tol=config.tol,
        cone_tol=config.tol,
        max_iters=config.max_iters,
        seed=config.seed,
    )
    fit = fit_cronos(data.X, data.y, cronos)
    net = fit.model.to_two_layer()
    scorer = _network_scorer(net)
    base = {"P": paper["P"], "beta": paper["beta"], "width": net.width, "paper": True}
    out = [Candidate("convex", choice, base, (paper["beta"], -paper["P"]), accuracies(scorer, data.validation), scorer)]
    grid = replace(config, phase2_l2s=(paper["phase2_l2"],), phase2_betas=(paper["phase2_beta"],))
    return out + _phase2_candidates(choice, net, data, grid, base, (paper["beta"], -paper["P"]))


def adamw_epochs(
    data: Normalised, width: int, lr: float, decay: float, epochs: int, batch: int, seed: int
) -> Iterator[TwoLayerReLU]:
    """AdamW on :math:`\\tfrac{1}{2n}\\|h(X) - y\\|^2` with decoupled weight decay ``decay``, from the seeded
    :func:`coala_lib.convex.two_layer.init_two_layer` start, on seeded minibatches of ``batch``: the network
    after each of ``epochs`` epochs (a copy)."""
    X, y = data.X, data.y
    start = init_two_layer(X.shape[1], width, seed, X.dtype)
    W1, w2 = start.W1.clone().requires_grad_(True), start.w2.clone().requires_grad_(True)
    opt = torch.optim.AdamW([W1, w2], lr=lr, weight_decay=decay)
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(epochs):
        for rows in torch.randperm(X.shape[0], generator=gen).split(batch):
            loss = 0.5 * (torch.relu(X[rows] @ W1.T) @ w2 - y[rows]).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        yield TwoLayerReLU(W1.detach().clone(), w2.detach().clone())


def train_adamw_head(
    data: Normalised, width: int, lr: float, decay: float, config: StudyConfig
) -> tuple[TwoLayerReLU, int, dict[str, float]]:
    """:func:`adamw_epochs` with early stopping: after each epoch the validation accuracy on whole texts is
    measured and the best epoch's network kept; it stops after ``adamw_patience`` epochs without improvement.
    Returns (net, best epoch, its validation accuracies)."""
    best: tuple[float, int, TwoLayerReLU | None] = (-1.0, 0, None)
    runs = adamw_epochs(data, width, lr, decay, config.adamw_epochs, config.adamw_batch, config.seed)
    for epoch, net in enumerate(runs, start=1):
        val = accuracies(_network_scorer(net), {FULL: data.validation[FULL]})[FULL]
        if val > best[0]:
            best = (val, epoch, net)
        elif epoch - best[1] >= config.adamw_patience:
            break
    assert best[2] is not None  # adamw_epochs >= 1 yields at least one network
    return best[2], best[1], accuracies(_network_scorer(best[2]), data.validation)


def adamw_candidates(choice: FeatureChoice, data: Normalised, config: StudyConfig) -> list[Candidate]:
    out = []
    for P in config.Ps(choice):
        for decay in sorted(config.adamw_decays, reverse=True):
            for lr in config.adamw_lrs:
                net, epoch, validation = train_adamw_head(data, 2 * P, lr, decay, config)
                params = {"width": 2 * P, "lr": lr, "weight_decay": decay, "best_epoch": epoch}
                out.append(Candidate("adamw", choice, params, (decay, -P, -lr), validation, _network_scorer(net)))
    return out


def probe_candidates(choice: FeatureChoice, data: Normalised, config: StudyConfig) -> list[Candidate]:
    """Ridge pairwise logistic regression :math:`\\min_w \\frac1N\\sum\\log(1 + e^{-w^\\top(f_c - f_r)}) +
    \\frac{\\lambda}{2}\\|w\\|^2` on the normalised features, one fit per ridge ``lambda``."""
    Z = data.train.chosen - data.train.rejected
    out = []
    for l2 in sorted(config.probe_l2s, reverse=True):
        w = solve_newton(Z, beta=1.0, gamma=0.0, l2=l2).theta

        def scorer(f: torch.Tensor, w: torch.Tensor = w) -> torch.Tensor:
            return f @ w

        out.append(Candidate("probe", choice, {"l2": l2}, (l2,), accuracies(scorer, data.validation), scorer))
    return out


def path_timing(data: Normalised, config: StudyConfig, P: int) -> dict[str, Any]:
    """The path of one feature choice fitted warm (each point from the previous one) and cold (each from
    zero): total seconds and steps of each, and whether every point of both is certified."""
    cronos = CronosConfig(P=P, tol=config.tol, cone_tol=config.tol, max_iters=config.max_iters, seed=config.seed)
    runs: dict[str, Any] = {}
    for warm in (True, False):
        path = regularisation_path(data.X, data.y, cronos, points=config.path_points, decades=config.decades, warm=warm)
        runs["warm" if warm else "cold"] = {
            "seconds": path.seconds,
            "iterations": sum(p.iterations for p in path.points),
            "certified": path.certified,
            "per_point": [{"beta": p.beta, "iterations": p.iterations, "seconds": p.seconds} for p in path.points],
        }
    runs["speedup"] = runs["cold"]["seconds"] / runs["warm"]["seconds"] if runs["warm"]["seconds"] > 0 else math.nan
    return runs


def run_study(
    train: dict[str, PrefixFeatures],
    validation: dict[str, PrefixFeatures],
    config: StudyConfig,
    *,
    arms: Iterable[str] = ARMS,
    progress: bool = False,
) -> Study:
    """Every arm on every feature choice of ``config`` (``train`` and ``validation`` by rendering); nothing
    here reads the report split."""
    arms = tuple(arms)
    candidates: list[Candidate] = []
    summaries: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    timing: dict[str, Any] = {}
    for choice in tqdm(config.choices, desc="feature choices", disable=progress_off(progress)):
        data = prepare(choice, train[choice.rendering], validation[choice.rendering], config.seed)
        started = time.perf_counter()
        if "convex" in arms or "coala" in arms:
            found, rows, _ = convex_candidates(choice, data, config, progress)
            candidates += [c for c in found if c.arm in arms]
            summaries += rows
            if choice == config.choices[0]:
                candidates += [c for c in paper_candidates(choice, data, config) if c.arm in arms]
                P = config.Ps(choice)[0]
                timing = {"features": choice.label, "P": P} | path_timing(data, config, P)
        seconds[f"convex {choice.label}"] = time.perf_counter() - started
        started = time.perf_counter()
        if "adamw" in arms:
            candidates += adamw_candidates(choice, data, config)
        seconds[f"adamw {choice.label}"] = time.perf_counter() - started
        if "probe" in arms:
            candidates += probe_candidates(choice, data, config)
    return Study(candidates, summaries, timing, config, seconds)


def select(candidates: Sequence[Candidate], criterion: Callable[[Candidate], float]) -> Candidate:
    """The rule: the highest ``criterion`` (a validation accuracy); ties go to the larger ``simplicity``,
    then to the earlier candidate (the earlier feature choice of the grid)."""
    if not candidates:
        raise ValueError("no candidates to select from: run the arm on at least one feature choice")
    order = sorted(
        range(len(candidates)),
        key=lambda i: (-criterion(candidates[i]), tuple(-s for s in candidates[i].simplicity), i),
    )
    return candidates[order[0]]


def report_outcomes(
    candidate: Candidate, report: PrefixFeatures, train: PrefixFeatures, config: StudyConfig
) -> dict[str, np.ndarray]:
    """Per-pair outcomes (1 / 0.5 / 0) of a chosen ``candidate`` on the ``report`` pairs at every slot, with
    the normalisation of its own training data (``train`` of its rendering)."""
    data = prepare(candidate.choice, train, report, config.seed)
    return {
        label: outcomes_from_scores(candidate.scorer(p.chosen), candidate.scorer(p.rejected))
        for label, p in data.validation.items()
    }
