"""The COALA training pipeline as one call: :func:`train_or_load_head`.

    triplets -> pooled features (cached) -> normalise -> Phase I (convex ReLU) -> Phase II (convex BT) -> head

Phase I fits the convex two-layer ReLU program on the stacked, normalised features
:math:`X = [\\tilde F_c; \\tilde F_r]` with labels :math:`y = [+1; -1]` (:func:`coala_lib.convex.phase1.fit_phase1` with
:meth:`HeadConfig.phase1_config`) and keeps the recovered network's first layer :math:`W_1`. As the paper's comparison (its Table 7), a
two-layer net of the same width is trained by AdamW on the same data
(:func:`coala_lib.convex.two_layer.train_two_layer`). Phase II freezes :math:`W_1` and fits :math:`\\theta_2` on
:math:`h = (W_1 \\tilde f)_+` with the loss of :mod:`coala_lib.head.phase2`, solved to a certified optimum
(Newton); the paper's AdamW run, started from Phase I's :math:`w_2`, is recorded alongside for its
reward-margin curve and its distance from that optimum.

"beta" names two different numbers here, kept apart in the code: Phase I's regularisation, the group-lasso
weight ``HeadConfig.beta`` (``lasso_weight``; the AdamW comparison net is penalised and scored with the same
weight), and Phase II's Bradley-Terry temperature ``HeadConfig.phase2_beta`` (``temperature``, with its margin
``phase2_gamma``); ``phase2_l2`` is Phase II's ridge.

Accuracies: *pointwise* is the sign accuracy :math:`\\mathrm{sign}\\, s(f) = y` over all texts; *pairwise* is the
fraction of prompt-matched pairs with :math:`s(f_c) > s(f_r)`, a tie counting one half
(:func:`coala_lib.core.metrics.pairwise_accuracy`).

The pipeline takes a :class:`coala_lib.head.config.HeadConfig` and returns the head with a typed
:class:`coala_lib.head.config.HeadReport`. Both are stored under ``cache_dir()/heads/<key>`` (the report as
``report.json``) where the key hashes every parameter, the backbone identity, the feature dtype and the
exact triplets, so notebooks 04-06 find the head notebook 03 trained by calling this function with
notebook 03's config (:mod:`coala_lib.head.handoff`). The entry is published and
read back verified by :mod:`coala_lib.core.cache` (hashes, key fields, row counts): a damaged or
mismatched entry is reported with its path and retrained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from coala_lib.backbone.features import PairFeatures, pair_features, triplets_digest
from coala_lib.backbone.pooling import POOLINGS
from coala_lib.backbone.registry import Backbone, default_dtype, load_backbone, resolve_model
from coala_lib.convex.phase1 import Phase1Config, Phase1Result, fit_phase1
from coala_lib.convex.two_layer import TwoLayerReLU, train_two_layer
from coala_lib.core.cache import CacheEntry, CacheError, load_cached, publishing
from coala_lib.core.files import atomic_write_json, cache_dir, content_key, environment_record
from coala_lib.core.metrics import pairwise_accuracy
from coala_lib.core.runtime import resolve_device, seed_everything, timed
from coala_lib.data import Triplet, TripletDataset, load_triplets
from coala_lib.data.sources import dataset_source
from coala_lib.head.coala_head import CoalaHead
from coala_lib.head.config import Accuracy, CronosFit, HeadConfig, HeadReport, NetworkFit, PhaseTwoFit
from coala_lib.head.phase2 import design, head_pairwise_accuracy, solve_newton, train_adamw

PIPELINE_VERSION = 3  # 3: Phase I by the exact over-relaxed ADMM (certified heads)
REPORT = "report.json"
KIND = "head"
SCALE_FLOOR = 1e-6


@dataclass
class Normaliser:
    """Per-dimension :math:`\\tilde f = (f - \\mu)/\\sigma` with :math:`\\mu, \\sigma` from the training texts."""

    mean: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def fit(cls, feats: PairFeatures) -> Normaliser:
        stacked = torch.cat([feats.chosen, feats.rejected]).double()
        return cls(stacked.mean(0).float(), stacked.std(0).clamp(min=SCALE_FLOOR).float())

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.mean.to(f.device, f.dtype)) / self.scale.to(f.device, f.dtype)


def load_splits(config: HeadConfig, data_dir: str | Path | None = None) -> tuple[TripletDataset, TripletDataset]:
    """The ``n_pairs`` training and ``n_eval`` held-out triplets of ``config.dataset`` (seeded)."""
    splits = (
        load_triplets(config.dataset, "train", n=config.n_pairs, seed=config.seed, data_dir=data_dir),
        load_triplets(config.dataset, "eval", n=config.n_eval, seed=config.seed, data_dir=data_dir),
    )
    for part in splits:
        if len(part) == 0:
            raise ValueError(f"dataset {config.dataset!r} split {part.split!r} gave no triplets; check data_dir and n")
    return splits


def splits_features(
    backbone: Backbone,
    config: HeadConfig,
    splits: tuple[TripletDataset, TripletDataset],
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> tuple[PairFeatures, PairFeatures]:
    """Cached pair features of the (train, eval) triplets with ``config``'s max_length and pooling."""
    return tuple(  # type: ignore[return-value]
        pair_features(
            backbone,
            part.triplets,
            config.max_length,
            config.pooling,
            source=dataset_source(part.params),
            cache_root=cache_root,
            progress=progress,
        )
        for part in splits
    )


def stacked(
    feats: PairFeatures, normaliser: Normaliser, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase I data: :math:`X = [\\tilde F_c; \\tilde F_r]` and :math:`y = [+1; -1]`."""
    X = normaliser(torch.cat([feats.chosen, feats.rejected]).to(device, dtype))
    y = torch.cat([torch.ones(len(feats)), -torch.ones(len(feats))]).to(device, dtype)
    return X, y


def accuracies(net: TwoLayerReLU, feats: PairFeatures, normaliser: Normaliser) -> Accuracy:
    """Pointwise sign accuracy over all texts and pairwise accuracy :math:`s_c > s_r` over matched pairs."""
    W1 = net.W1.double().cpu()
    w2 = net.w2.double().cpu()
    s_c = torch.relu(normaliser(feats.chosen).double() @ W1.T) @ w2
    s_r = torch.relu(normaliser(feats.rejected).double() @ W1.T) @ w2
    pointwise = float(torch.cat([s_c > 0, s_r < 0]).double().mean())
    return Accuracy(pointwise, pairwise_accuracy(s_c, s_r))


def head_features(head: CoalaHead, feats: PairFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase II inputs :math:`h = (W_1 \\tilde f)_+` for the chosen and the rejected texts, row-aligned."""
    return head.hidden(feats.chosen), head.hidden(feats.rejected)


def cache_fields(
    config: HeadConfig, backbone: dict[str, Any], dtype: str, train_digest: str, eval_digest: str
) -> dict[str, Any]:
    """What the head's cache key hashes (``content_key`` of this): the pipeline version, ``config``'s flat
    record form (``asdict``; ``tests/test_head_keys.py`` pins it), the ``backbone`` identity, the feature
    ``dtype`` and the digests of the exact train and eval triplets."""
    return {
        "version": PIPELINE_VERSION,
        "config": asdict(config),
        "backbone": backbone,
        "dtype": dtype,
        "train": train_digest,
        "eval": eval_digest,
    }


def train_or_load_head(
    config: HeadConfig,
    *,
    device: str = "auto",
    data_dir: str | Path | None = None,
    cache_root: str | Path | None = None,
    backbone: Backbone | None = None,
    splits: tuple[TripletDataset, TripletDataset] | None = None,
    force: bool = False,
    progress: bool = True,
) -> tuple[CoalaHead, HeadReport]:
    """Train the COALA head ``config`` describes (or load it if these exact inputs were trained before);
    return (head, report).

    ``backbone`` reuses an already loaded model (it must be ``config.model``); otherwise it is loaded only
    on a cache miss. ``splits`` reuses the (train, eval) triplets :func:`load_splits` returned for
    ``config`` instead of reading the data again (they enter the cache key by content either way).
    ``force=True`` retrains and overwrites.
    """
    if not isinstance(config, HeadConfig):
        raise TypeError(
            f"config must be a HeadConfig, got {type(config).__name__}; build one: HeadConfig(model=..., n_pairs=...)"
        )
    dev = resolve_device(device)
    ref = resolve_model(config.model, config.revision, config.seed)
    if backbone is not None and backbone.model_id != ref.model_id:
        raise ValueError(
            f"backbone is {backbone.model_id!r} but config.model={config.model!r} resolves to {ref.model_id!r}"
        )
    dtype = backbone.dtype if backbone is not None else default_dtype(dev)
    train, held = splits = splits if splits is not None else load_splits(config, data_dir)
    identity = ref.identity()
    if backbone is not None:  # e.g. after coala_lib.backbone.sft.apply_sft, whose revision records the tuning
        identity["revision"] = backbone.revision
    fields = cache_fields(config, identity, str(dtype), triplets_digest(train.triplets), triplets_digest(held.triplets))
    key = content_key(fields)
    directory = cache_dir(cache_root) / "heads" / key
    shape = {"n_train": len(train), "n_eval": len(held)}
    if not force:
        cached = load_cached(
            directory, lambda entry: _read_cached(entry, key), kind=KIND, key=key, fields=fields, shape=shape
        )
        if cached is not None:
            return cached
    if backbone is None:
        backbone = load_backbone(config.model, dev, revision=config.revision, seed=config.seed)
    with timed(backbone.device) as t_features:
        f_train, f_eval = splits_features(backbone, config, splits, cache_root, progress)
    head, fit = fit_head(config, f_train, f_eval, backbone.model_id, backbone.device, progress)
    report = replace(
        fit,
        key=key,
        backbone=backbone.identity(),
        feature_seconds=t_features["seconds"],
        features={"train": f_train.key, "eval": f_eval.key, "dim": f_train.dim},
        data={"train": train.params, "eval": held.params},
        environment=environment_record(),
    )
    head.config["key"] = key
    _publish(directory, head, report, fields, shape, replace=force)
    return head, report


def fit_head(
    config: HeadConfig,
    f_train: PairFeatures,
    f_eval: PairFeatures,
    model_id: str,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> tuple[CoalaHead, HeadReport]:
    """Phase I, the AdamW comparison and Phase II on given features (no caching); return (head, report)
    (the report's provenance fields stay empty: :func:`train_or_load_head` fills them)."""
    if f_train.dim != f_eval.dim:
        raise ValueError(f"train features have dimension {f_train.dim} but eval features {f_eval.dim}: same backbone?")
    dev = torch.device(device)
    dtype = torch.float64 if dev.type == "cpu" else torch.float32
    seed_everything(config.seed)
    normaliser = Normaliser.fit(f_train)
    X, y = stacked(f_train, normaliser, dtype, dev)
    net, phase1 = fit_phase1_head(config, X, y, (f_train, f_eval), normaliser, progress)
    adamw_head = fit_adamw_comparison(config, X, y, (f_train, f_eval), normaliser, progress)
    del X, y
    W1 = net.W1.float().cpu()
    stage1 = CoalaHead(W1, net.w2.float().cpu(), normaliser.mean, normaliser.scale, model_id, config.pooling)
    theta, phase2 = fit_phase2_head(config, stage1, net.w2, f_train, f_eval, progress)
    head = CoalaHead(
        W1,
        theta.float(),
        normaliser.mean,
        normaliser.scale,
        model_id,
        config.pooling,
        config={**asdict(config), "phase1_width": net.width},
    )
    return head, HeadReport(config, phase1, adamw_head, phase2)


def fit_phase1_head(
    config: HeadConfig,
    X: torch.Tensor,
    y: torch.Tensor,
    feats: tuple[PairFeatures, PairFeatures],
    normaliser: Normaliser,
    progress: bool = False,
) -> tuple[TwoLayerReLU, CronosFit]:
    """Phase I on the stacked data (:meth:`HeadConfig.phase1_config`): the recovered network and its record."""
    phase1_config: Phase1Config = config.phase1_config()
    with timed(X.device) as t_phase1:
        result = fit_phase1(X, y, phase1_config, progress=progress)
    net = result.model.to_two_layer()
    if net.width == 0:
        raise ValueError(f"Phase I kept no neuron (beta={config.beta} zeroes every group); lower beta")
    return net, phase1_record(result, net, X, y, feats, normaliser, t_phase1["seconds"])


def phase1_record(
    result: Phase1Result[Phase1Config],
    net: TwoLayerReLU,
    X: torch.Tensor,
    y: torch.Tensor,
    feats: tuple[PairFeatures, PairFeatures],
    normaliser: Normaliser,
    seconds: float,
) -> CronosFit:
    """The report's ``phase1`` entry of a Phase I fit: its network's objective and accuracies, the solver's run
    and its certificate."""
    f_train, f_eval = feats
    return CronosFit(
        width=net.width,
        objective=result.model.objective(X, y, result.beta),
        seconds=seconds,
        train=accuracies(net, f_train, normaliser),
        eval=accuracies(net, f_eval, normaliser),
        history=result.history.as_dict(),
        iterations=result.iterations,
        converged=result.converged,
        rho=result.rho,
        method=result.method,
        lower_bound=result.certificate.lower_bound,
        certified_gap=result.certificate.relative_gap,
        cone_violation_rel=result.certificate.cone_violation_rel,
        cone_violation_max=result.certificate.cone_violation_max,
        certified=result.certified,
    )


def fit_adamw_comparison(
    config: HeadConfig,
    X: torch.Tensor,
    y: torch.Tensor,
    feats: tuple[PairFeatures, PairFeatures],
    normaliser: Normaliser,
    progress: bool = False,
) -> NetworkFit:
    """The paper's comparison (its Table 7): a two-layer net of Phase I's full width ``2P`` trained by AdamW
    on the same data, penalised and scored with Phase I's group-lasso weight."""
    lasso_weight = config.beta  # Phase I's regularisation
    width = 2 * config.P
    with timed(X.device) as t_baseline:
        baseline, base_history = train_two_layer(
            X,
            y,
            width=width,
            beta=lasso_weight,
            steps=config.baseline_steps,
            lr=config.baseline_lr,
            optimizer="adamw",
            batch_size=min(config.adamw_batch, X.shape[0]),
            seed=config.seed,
            progress=progress,
        )
    f_train, f_eval = feats
    return NetworkFit(
        width=width,
        objective=baseline.objective(X, y, lasso_weight),
        seconds=t_baseline["seconds"],
        train=accuracies(baseline, f_train, normaliser),
        eval=accuracies(baseline, f_eval, normaliser),
        history=base_history.as_dict(),
    )


def fit_phase2_head(
    config: HeadConfig,
    stage1: CoalaHead,
    w2: torch.Tensor,
    f_train: PairFeatures,
    f_eval: PairFeatures,
    progress: bool = False,
) -> tuple[torch.Tensor, PhaseTwoFit]:
    """Phase II on Phase I's frozen first layer (``stage1``): Newton's certified optimum and the paper's AdamW
    run started from Phase I's ``w2``, at the Bradley-Terry temperature ``phase2_beta``, margin ``phase2_gamma``
    and ridge ``phase2_l2``; return the kept second layer (``phase2_solver``) and its record."""
    hc, hr = head_features(stage1, f_train)
    ec, er = head_features(stage1, f_eval)
    Z = design(hc, hr, config.phase2, config.pairing, config.seed)
    temperature, margin, ridge = config.phase2_beta, config.phase2_gamma, config.phase2_l2
    with timed() as t_phase2:
        optimum = solve_newton(Z, beta=temperature, gamma=margin, l2=ridge)
        adamw = train_adamw(
            Z,
            hc,
            hr,
            beta=temperature,
            gamma=margin,
            l2=ridge,
            lr=config.adamw_lr,
            epochs=config.adamw_epochs,
            batch_size=config.adamw_batch,
            theta0=w2,
            seed=config.seed,
            progress=progress,
        )
    chosen = optimum if config.phase2_solver == "newton" else adamw
    return chosen.theta, PhaseTwoFit(
        solver=chosen.solver,
        loss=chosen.loss,
        grad_norm=chosen.grad_norm,
        gap_bound=chosen.gap_bound,
        optimum_loss=optimum.loss,
        optimum_grad_norm=optimum.grad_norm,
        optimum_converged=optimum.converged,
        adamw_loss=adamw.loss,
        adamw_grad_norm=adamw.grad_norm,
        adamw_history=adamw.history,
        train_pairwise=head_pairwise_accuracy(chosen.theta, hc, hr),
        eval_pairwise=head_pairwise_accuracy(chosen.theta, ec, er),
        stage1_eval_pairwise=head_pairwise_accuracy(w2, ec, er),
        seconds=t_phase2["seconds"],
    )


def pooling_mismatch(
    backbone: Backbone,
    head: CoalaHead,
    triplets: Sequence[Triplet],
    max_length: int = 128,
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Pairwise accuracy of ``head`` on ``triplets`` with features pooled each supported way; only
    ``head.pooling`` matches training (the reference code trains on one pooling and decodes with another)."""
    out = {}
    for pooling in POOLINGS:
        feats = pair_features(backbone, triplets, max_length, pooling, cache_root=cache_root, progress=progress)
        out[pooling] = pairwise_accuracy(head.score(feats.chosen), head.score(feats.rejected))
    return out


def _publish(
    directory: Path,
    head: CoalaHead,
    report: HeadReport,
    fields: dict[str, Any],
    shape: dict[str, int],
    replace: bool,
) -> None:
    """Publish head + report as one verified cache entry (:func:`coala_lib.core.cache.publishing`)."""
    with publishing(directory, kind=KIND, key=report.key, fields=fields, shape=shape, replace=replace) as stage:
        head.save(stage.path)
        atomic_write_json(stage.path / REPORT, report.to_dict())


def _read_cached(entry: CacheEntry, key: str) -> tuple[CoalaHead, HeadReport]:
    """The head and report of a verified entry; both must carry ``key``."""
    entry.verify_files()
    try:
        head = CoalaHead.load(entry.path)
    except (OSError, ValueError, KeyError, SafetensorError) as err:
        raise CacheError(f"cache entry {entry.path}: the saved head does not load ({err})") from err
    report = entry.read_json(REPORT)
    if not isinstance(report, dict) or report.get("key") != key or head.config.get("key") != key:
        raise CacheError(f"cache entry {entry.path}: its head or {REPORT} belongs to another key than {key!r}")
    try:
        parsed = HeadReport.from_dict(report)
    except (KeyError, TypeError, ValueError) as err:
        raise CacheError(f"cache entry {entry.path}: {REPORT} is not a HeadReport ({err!r})") from err
    return head, parsed
