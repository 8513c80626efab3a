"""Notebook 05's baseline runs, handed to notebook 06, which evaluates the same adapters.

:class:`BaselineSuite` is what notebook 05 trains: LoRA baselines on the first ``n_train`` of notebook 03's
training triplets (``None``: all of them), one run per point of ``grids`` (method -> hyper-parameter ->
values; default :func:`notebook_grids`, the paper's grids are each method's ``paper_grid`` in
:mod:`coala_lib.baselines.methods`), every run with the shared
:class:`coala_lib.baselines.trl_training.BaselineConfig` ``config``. The defaults are notebook 05's CPU-sized
run (64 tokens per text, the paper 128; batch 2, the paper 2 per device x 8 accumulation steps; the
paper's learning rate 2e-4, one epoch). Notebook 05 records its suite with :func:`hand_off_baselines`;
notebook 06 gets it back with :func:`handed_off_baselines` (the defaults when 05 has not run, so 06 then
trains the very same runs) and never holds a second copy of these settings.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from coala_lib.baselines.methods import REGISTRY
from coala_lib.baselines.trl_training import BaselineConfig
from coala_lib.core.handoff import read_handoff, write_handoff


def notebook_grids() -> dict[str, dict[str, list[float]]]:
    """Notebook 05's grids: every registered method at its ``notebook_grid`` (one point each for the book's
    methods; the paper sweeps each method's ``paper_grid``), in registration order."""
    return {name: {axis: list(values) for axis, values in m.notebook_grid.items()} for name, m in REGISTRY.items()}


#: The hand-off name notebook 05 writes under.
HANDOFF = "05_baselines"


@dataclass(frozen=True)
class BaselineSuite:
    """The baseline runs of notebook 05 (module docstring)."""

    n_train: int | None = 8
    grids: dict[str, dict[str, list[float]]] = field(default_factory=notebook_grids)
    config: BaselineConfig = field(default_factory=lambda: BaselineConfig(max_length=64))

    @classmethod
    def select(cls, options: Mapping[str, Any] | None = None, seed: int = 0) -> BaselineSuite:
        """The defaults with ``options`` applied: ``n_train``, ``grids`` and any :class:`BaselineConfig` field
        (``max_length``, ``batch_size``, ``epochs``, ``max_steps``, ``learning_rate``, ``training_args``, ...);
        ``seed`` seeds every run. An unknown option is a ``TypeError`` naming it."""
        rest = dict(options or {})
        base = cls()
        n_train = rest.pop("n_train", base.n_train)
        grids = rest.pop("grids", base.grids)
        return cls(n_train, copy.deepcopy(dict(grids)), replace(base.config, seed=seed, **rest))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BaselineSuite:
        """The inverse of :func:`dataclasses.asdict` (how the hand-off stores a suite)."""
        return cls(values["n_train"], dict(values["grids"]), BaselineConfig(**values["config"]))


def hand_off_baselines(
    suite: BaselineSuite, selection: Mapping[str, Any], cache_root: str | Path | None = None
) -> Path:
    """Record ``suite`` as notebook 05's runs for notebook 03's run ``selection`` (its HeadConfig.selection())."""
    return write_handoff(HANDOFF, selection, asdict(suite), cache_root)


def handed_off_baselines(
    selection: Mapping[str, Any], cache_root: str | Path | None = None
) -> tuple[BaselineSuite, str]:
    """Notebook 05's suite for ``selection`` and its source: ``"notebook 05's hand-off"`` or
    ``"BaselineSuite defaults (no hand-off)"`` (then seeded like notebook 03's run)."""
    settings = read_handoff(HANDOFF, selection, cache_root)
    if settings is None:
        return BaselineSuite.select(seed=int(selection.get("seed", 0))), "BaselineSuite defaults (no hand-off)"
    return BaselineSuite.from_dict(settings), "notebook 05's hand-off"
