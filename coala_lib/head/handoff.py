"""Where notebooks 04-06 start: the seeded backbone, notebook 03's triplet splits and its COALA head.

:func:`load_trained` makes the same calls notebook 03 made (:func:`coala_lib.head.training.load_splits` and
:func:`coala_lib.head.training.train_or_load_head` with the same arguments), so after 03 ran the head is a cache
hit; on a cold cache it is trained here, identically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from coala_lib.backbone.registry import Backbone, load_backbone
from coala_lib.core.files import environment_record
from coala_lib.core.runtime import resolve_device, seed_everything
from coala_lib.data import TripletDataset
from coala_lib.head.coala_head import CoalaHead
from coala_lib.head.training import HeadConfig, load_splits, train_or_load_head


@dataclass
class Trained:
    """A loaded backbone with notebook 03's splits and head (moved to the backbone's device)."""

    backbone: Backbone
    config: HeadConfig
    train: TripletDataset
    held: TripletDataset
    head: CoalaHead
    report: dict[str, Any]

    def describe(self) -> str:
        """One line: model, device and host, and the head's held-out pairwise accuracy."""
        where = environment_record()
        return (
            f"{self.backbone.model_id} on {where['device']} ({where['device_name']}, {where['cpu_count']} CPUs), "
            f"torch {where['torch']}; head width {self.head.width}, held-out pairwise accuracy "
            f"{self.report['phase2']['eval_pairwise']:.4g}"
        )


def load_trained(
    model: str = "smollm2",
    dataset: str = "imdb",
    n_pairs: int = 300,
    n_eval: int = 200,
    seed: int = 0,
    device: str = "auto",
    data_dir: str | Path | None = None,
    cache_root: str | Path | None = None,
    progress: bool = True,
    **options: Any,
) -> Trained:
    """Seed everything, load ``model`` on ``device`` and get notebook 03's head for these arguments
    (``options``: further :class:`coala_lib.head.training.HeadConfig` fields, left at their defaults by 03)."""
    seed_everything(seed)
    dev = resolve_device(device)
    config = HeadConfig(model=model, dataset=dataset, n_pairs=n_pairs, n_eval=n_eval, seed=seed, **options)
    backbone = load_backbone(model, dev, seed=seed)
    train, held = load_splits(config, data_dir)
    head, report = train_or_load_head(
        **asdict(config),
        device=str(dev),
        data_dir=data_dir,
        cache_root=cache_root,
        backbone=backbone,
        splits=(train, held),
        progress=progress,
    )
    return Trained(backbone, config, train, held, head.to(backbone.device), report)
