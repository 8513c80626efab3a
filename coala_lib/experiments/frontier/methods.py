"""The frontier's methods, each declared once: :data:`FRONTIER_METHODS`.

A :class:`FrontierMethod` says how one method's decoding runs are made (its settings, its sampler, how many
samples a prompt gets) and what the record says of them (whether it is trained, whether the COALA head steers
its sampling or scores its pool, whether its KL terms are recorded as sampled, which guided mode it is the
no-head control of, its name in the claims ledger). Everything else (the runs, the cache keys, the stages, the
selection, the chapters) iterates the registry, so adding a method is one :func:`register_frontier_method`
call; an LM-updating method is first declared in :mod:`coala_lib.baselines.methods` and enters here through
:func:`trained_method` with the settings the frontier sweeps.

The functions of a :class:`FrontierMethod` take the experiment's
:class:`~coala_lib.experiments.frontier.config.FrontierConfig` (typed ``Any`` here: the config module reads
this registry to check its ``methods``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from coala_lib.baselines.methods import (
    DPOSettings,
    MethodSettings,
    ORPOSettings,
    SFTSettings,
    SimPOSettings,
    preference_method,
    rival_order,
)
from coala_lib.guidance import GuidanceConfig

#: A method's settings on a config: ``(label, value)`` pairs, in the order its curve sweeps them.
Settings = Callable[[Any], Sequence[tuple[str, "float | None"]]]
#: A method's sampler for a config, a setting's value and the vocabulary size.
Sampler = Callable[[Any, "float | None", int], GuidanceConfig]


def _common(config: Any) -> dict[str, Any]:
    return dict(max_new_tokens=config.max_new_tokens, temperature=1.0, repetition_penalty=1.0)


def plain_sampler(config: Any, value: float | None, vocab: int) -> GuidanceConfig:
    """Ancestral sampling at temperature 1 from the whole vocabulary (the reference, every trained policy)."""
    return GuidanceConfig.plain(top_k=vocab, top_p=1.0, **_common(config))


@dataclass(frozen=True)
class FrontierMethod:
    """One method of the frontier (module docstring).

    ``head``: ``"steers"`` (the head guides every sampled step: its key enters the run's), ``"scores"`` (the
    head reranks a pool sampled without it) or ``"none"``. ``pool``: samples per prompt, in units of
    ``config.samples``. ``trained``: the :mod:`coala_lib.baselines.methods` name of an LM-updating method,
    whose typed settings ``trained_settings`` gives. ``recorded_kl``: its per-step distribution is not the
    sampling model's own softmax, so its KL terms come from the distributions recorded as sampled.
    ``control_of``: the guided mode whose no-head control it is. ``ledger``: its name in the claims ledger.
    """

    name: str
    settings: Settings
    sampler: Sampler = plain_sampler
    pool: Callable[[Any], int] = lambda config: 1
    head: Literal["none", "steers", "scores"] = "none"
    recorded_kl: bool = False
    control_of: str | None = None
    ledger: str | None = None
    trained: str | None = None
    trained_settings: Callable[[Any], Sequence[MethodSettings]] | None = None

    def settings_of_run(self, config: Any, setting: str) -> MethodSettings:
        """A trained method's typed settings of the run labelled ``setting`` on ``config``."""
        if self.trained_settings is None:
            raise ValueError(f"{self.name} is not a trained method: it has no typed settings")
        for settings in self.trained_settings(config):
            if settings.label() == setting:
                return settings
        raise ValueError(f"{self.name} has no setting {setting!r} on this config")


def trained_method(
    name: str, settings: Callable[[Any], Sequence[MethodSettings]], ledger: str | None = None
) -> FrontierMethod:
    """The frontier entry of the LM-updating method ``name`` of :mod:`coala_lib.baselines.methods`, swept over
    ``settings(config)`` and sampled plainly from its trained policy; ``ledger`` defaults to ``name``."""
    preference_method(name)  # an undeclared method is named here
    return FrontierMethod(
        name,
        settings=lambda config: [(s.label(), s.value) for s in settings(config)],
        ledger=ledger or name,
        trained=name,
        trained_settings=settings,
    )


#: Every frontier method by name; its order is the order of value (the breadth-first order of the runs).
FRONTIER_METHODS: dict[str, FrontierMethod] = {}


def register_frontier_method(method: FrontierMethod) -> FrontierMethod:
    """Add ``method`` to :data:`FRONTIER_METHODS` (replacing one of the same name); return it."""
    if not method.name.isidentifier():
        raise ValueError(f"frontier method name {method.name!r} must be an identifier (it names cache entries)")
    FRONTIER_METHODS[method.name] = method
    return method


def frontier_method(name: str) -> FrontierMethod:
    """The registered frontier method ``name``; an unknown one is a ``ValueError`` listing the known ones."""
    try:
        return FRONTIER_METHODS[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a frontier method; choose among {tuple(FRONTIER_METHODS)}") from None


def is_trained(name: str) -> bool:
    """Whether the frontier method ``name`` trains a policy (its runs have a training stage)."""
    return frontier_method(name).trained is not None


def head_steered(name: str) -> bool:
    """Whether the COALA head guides the sampling of ``name`` (the head's key enters its runs' keys)."""
    return frontier_method(name).head == "steers"


def head_guided(name: str) -> bool:
    """Whether ``name``'s decoding uses the COALA head at all (to guide each step, or to pick among a pool)."""
    return frontier_method(name).head != "none"


def control_pairs() -> dict[str, str]:
    """Each guided mode and its no-head control, in registry order."""
    return {m.control_of: m.name for m in FRONTIER_METHODS.values() if m.control_of is not None}


def ledger_names() -> dict[str, str]:
    """Frontier method -> ledger name, for every method the claims read: the untrained ones in registry order
    (COALA's paper mode, its ``pool`` control), then the trained rivals in
    :func:`~coala_lib.baselines.methods.rival_order`."""
    untrained = [m for m in FRONTIER_METHODS.values() if m.ledger and m.trained is None]
    rank = {name: i for i, name in enumerate(rival_order())}
    trained = [m for m in FRONTIER_METHODS.values() if m.ledger and m.trained is not None]
    trained.sort(key=lambda m: rank.get(str(m.trained), len(rank)))
    return {m.name: str(m.ledger) for m in [*untrained, *trained]}


# ------------------------------------------------------------------------------------ the book's methods


def _paper_sampler(config: Any, value: float | None, vocab: int) -> GuidanceConfig:
    return GuidanceConfig.paper(
        float(value or 0.0),
        top_k=config.paper_top_k,
        top_p=config.paper_top_p,
        every=config.paper_every,
        **_common(config),
    )


def _pool_sampler(config: Any, value: float | None, vocab: int) -> GuidanceConfig:
    return GuidanceConfig.plain(top_k=config.paper_top_k, top_p=config.paper_top_p, **_common(config))


def _args_sampler(config: Any, value: float | None, vocab: int) -> GuidanceConfig:
    return GuidanceConfig.args(float(value or 0.0), top_k=config.args_top_k, greedy=False, **_common(config))


def _topk_sampler(config: Any, value: float | None, vocab: int) -> GuidanceConfig:
    return GuidanceConfig.plain(top_k=config.args_top_k, top_p=1.0, **_common(config))


def _released_sampler(config: Any, value: float | None, vocab: int) -> GuidanceConfig:
    """The released script's own sampler (its temperature and repetition rule, not the frontier's T = 1)."""
    return GuidanceConfig.released_script(guidance_scale=float(value or 0.0), max_new_tokens=config.max_new_tokens)


BOOK_METHODS: tuple[FrontierMethod, ...] = (
    FrontierMethod("reference", settings=lambda c: [("T=1", None)]),
    FrontierMethod(
        "coala_paper",
        settings=lambda c: [(f"lambda={v:g}", v) for v in c.paper_lambdas],
        sampler=_paper_sampler,
        head="steers",
        recorded_kl=True,
        ledger="coala",
    ),
    # the control of paper mode: the reference sampled from the same top-k / top-p pool with no head
    FrontierMethod(
        "pool",
        settings=lambda c: [(f"top-k={c.paper_top_k},top-p={c.paper_top_p:g}", None)],
        sampler=_pool_sampler,
        recorded_kl=True,
        control_of="coala_paper",
        ledger="pool",
    ),
    trained_method("dpo", lambda c: [DPOSettings(beta=v) for v in c.dpo_betas]),
    # the pool is sampled from the reference alone; the head scores each finished response
    FrontierMethod("best_of_n", settings=lambda c: [("pool", None)], pool=lambda c: max(c.bon_ns), head="scores"),
    FrontierMethod(
        "coala_args",
        settings=lambda c: [(f"w={v:g}", v) for v in c.args_weights],
        sampler=_args_sampler,
        head="steers",
        recorded_kl=True,
    ),
    # the control of ARGS mode: the reference sampled from its top-k with no head
    FrontierMethod(
        "topk",
        settings=lambda c: [(f"top-k={c.args_top_k}", None)],
        sampler=_topk_sampler,
        recorded_kl=True,
        control_of="coala_args",
    ),
    trained_method("sft", lambda c: [SFTSettings()]),
    trained_method("orpo", lambda c: [ORPOSettings(lam=c.orpo_lambda)]),
    trained_method("simpo", lambda c: [SimPOSettings(beta=c.simpo_beta, gamma=c.simpo_gamma)]),
    # the authors' released decoding script (issue 29): its sampler with the head, over a lambda sweep ...
    FrontierMethod(
        "coala_released",
        settings=lambda c: [(f"lambda={v:g}", v) for v in c.released_lambdas],
        sampler=_released_sampler,
        head="steers",
        recorded_kl=True,
    ),
    # ... and its no-head control: the same sampler at lambda 0, with no head
    FrontierMethod(
        "released_plain",
        settings=lambda c: [("lambda=0", 0.0)],
        sampler=_released_sampler,
        recorded_kl=True,
        control_of="coala_released",
    ),
)
for _method in BOOK_METHODS:
    register_frontier_method(_method)
