"""Where notebooks 04-06 start: the seeded backbone, notebook 03's triplet splits and its COALA head.

Notebook 03 ends with :func:`hand_off`, which records the :class:`coala_lib.head.config.HeadConfig` it
trained (under ``cache_dir()/handoffs``, keyed by the run's model, dataset, sizes and seed;
:mod:`coala_lib.core.handoff`). :func:`load_trained` reads that configuration back and makes notebook 03's
calls with it, so after 03 ran the head is a cache hit whatever settings 03 used. On a fresh cache (no
hand-off) it uses :class:`HeadConfig`'s defaults, which are notebook 03's defaults, and trains the head
here identically; :attr:`Trained.source` says which happened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from coala_lib.backbone.registry import Backbone, load_backbone
from coala_lib.core.files import environment_record
from coala_lib.core.handoff import read_handoff, write_handoff
from coala_lib.core.runtime import resolve_device, seed_everything
from coala_lib.data import TripletDataset
from coala_lib.head.coala_head import CoalaHead
from coala_lib.head.config import HeadConfig, HeadReport
from coala_lib.head.training import load_splits, train_or_load_head

#: The hand-off name notebook 03 writes under.
HANDOFF = "03_train"


def hand_off(config: HeadConfig, cache_root: str | Path | None = None) -> Path:
    """Record ``config`` as notebook 03's run for notebooks 04-06 (keyed by :meth:`HeadConfig.selection`)."""
    return write_handoff(HANDOFF, config.selection(), asdict(config), cache_root)


def handed_off_config(
    model: str | None = None,
    dataset: str | None = None,
    n_pairs: int | None = None,
    n_eval: int | None = None,
    seed: int | None = None,
    cache_root: str | Path | None = None,
) -> tuple[HeadConfig, str]:
    """Notebook 03's configuration for the run these arguments select (``None``: :class:`HeadConfig`'s
    default) and its source: ``"notebook 03's hand-off"`` or ``"HeadConfig defaults (no hand-off)"``."""
    defaults = HeadConfig.select(model, dataset, n_pairs, n_eval, seed)
    settings = read_handoff(HANDOFF, defaults.selection(), cache_root)
    if settings is None:
        return defaults, "HeadConfig defaults (no hand-off)"
    return HeadConfig.from_dict(settings), "notebook 03's hand-off"


@dataclass
class Trained:
    """A loaded backbone with notebook 03's config, splits and head (on the backbone's device)."""

    backbone: Backbone
    config: HeadConfig
    train: TripletDataset
    held: TripletDataset
    head: CoalaHead
    report: HeadReport
    source: str

    def describe(self) -> str:
        """One line: model, device and host, the head's held-out pairwise accuracy and its config's source."""
        where = environment_record()
        return (
            f"{self.backbone.model_id} on {where['device']} ({where['device_name']}, {where['cpu_count']} CPUs), "
            f"torch {where['torch']}; head width {self.head.width}, held-out pairwise accuracy "
            f"{self.report.phase2.eval_pairwise:.4g}; settings from {self.source}"
        )


def load_trained(
    model: str | None = None,
    dataset: str | None = None,
    n_pairs: int | None = None,
    n_eval: int | None = None,
    seed: int | None = None,
    device: str = "auto",
    data_dir: str | Path | None = None,
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> Trained:
    """Seed everything, load the backbone on ``device`` and get notebook 03's head for the run selected by
    ``model``, ``dataset``, ``n_pairs``, ``n_eval`` and ``seed`` (``None``: notebook 03's default) with the
    settings notebook 03 handed off (:func:`handed_off_config`)."""
    config, source = handed_off_config(model, dataset, n_pairs, n_eval, seed, cache_root)
    seed_everything(config.seed)
    dev = resolve_device(device)
    train, held = load_splits(config, data_dir)  # before the model: a bad data setting fails in seconds
    backbone = load_backbone(config.model, dev, revision=config.revision, seed=config.seed)
    head, report = train_or_load_head(
        config,
        device=str(dev),
        data_dir=data_dir,
        cache_root=cache_root,
        backbone=backbone,
        splits=(train, held),
        progress=progress,
    )
    return Trained(backbone, config, train, held, head.to(backbone.device), report, source)
