"""The COALA head at its best honest setting: every knob chosen on validation pairs, reported on others.

Around the IMDb frontier's splits (:mod:`coala_lib.data.frontier_splits`): the frontier's 1,000 training
pairs train every head; 500 validation review pairs from the training reviews choose; 500 report review
pairs from the held-out reviews (none of them gave a frontier test or validation prompt) report. Features
are the frontier reference policy's (the packaged SmolLM2 after the frontier's LoRA SFT), pooled three ways
over two renderings, at the response prefixes the guided decoder scores
(:mod:`coala_lib.backbone.prefix_features`). The arms, the grid and the rule are those of
:mod:`coala_lib.head.selection`; the record (:func:`coala_lib.evaluation.head_study.study_record`) holds every
path point with its certificate and time, the warm-against-cold timing, every candidate's validation
accuracies, the choices and their report accuracies with intervals.

CPU (the book's record)::

    COALA_DATA_DIR=<data> HF_HUB_OFFLINE=1 .venv/bin/python bench/head_selection.py --threads 2

``--scale tiny`` runs the whole command on the tiny random backbone in a minute (the tests do).
Features are cached by content (``cache_dir()/prefix_features``), so a rerun only refits.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from coala_lib.backbone import RENDERINGS, PrefixFeatures, SFTConfig, apply_sft, load_backbone, prefix_pair_features
from coala_lib.core import atomic_write_json, environment_record, resolve_device, seed_everything
from coala_lib.data import frontier_splits, head_splits
from coala_lib.evaluation import authors_protocol, study_record
from coala_lib.head.selection import FeatureChoice, StudyConfig, run_study

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "head_selection" / "record.json"
#: The feature choices of the study, the frontier's own first (chat template, mean over every token, whole
#: texts): both renderings and all three views on whole texts, and prefix-matched training for the views the
#: KV-cached decoder computes (the only ones a deployed head can use; prefix training exists for it).
CHOICES = (
    *(FeatureChoice(r, v, "full") for r in RENDERINGS for v in ("mean", "response_mean", "last")),
    FeatureChoice("chat", "mean", "prefix"),
    FeatureChoice("chat", "last", "prefix"),
)
#: ``--scale tiny``: the tiny backbone, a handful of pairs, a short path (for the tests and a quick look).
TINY_SPLITS = dict(n_train_pairs=16, n_sft=8, n_test_prompts=4, n_val_prompts=2, n_heldout_pairs=4)
TINY_STUDY = dict(
    P_values=(2,),
    path_points=3,
    decades=1.0,
    adamw_lrs=(1e-3,),
    adamw_decays=(0.0,),
    adamw_epochs=3,
    probe_l2s=(1.0, 0.1),
    max_iters=3000,
)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on CPU")
    parser.add_argument("--scale", choices=("full", "tiny"), default="full")
    parser.add_argument("--n-validation", type=int, default=500)
    parser.add_argument("--n-report", type=int, default=500)
    parser.add_argument("--data-dir", default=None, help="default: $COALA_DATA_DIR")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def features(backbone: Any, splits: Any, progress: bool) -> dict[str, dict[str, PrefixFeatures]]:
    """Prefix features of every split (train, validation, report) in every rendering, with extraction seconds."""
    out: dict[str, dict[str, PrefixFeatures]] = {}
    for split in ("train", "validation", "report"):
        out[split] = {
            r: prefix_pair_features(backbone, getattr(splits, split), r, progress=progress) for r in RENDERINGS
        }
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(0)
    device = resolve_device(args.device)
    started = time.perf_counter()
    tiny = args.scale == "tiny"
    data = frontier_splits(data_dir=args.data_dir, **(TINY_SPLITS if tiny else {}))
    n_val, n_rep = (8, 8) if tiny else (args.n_validation, args.n_report)
    splits = head_splits(data, n_val, n_rep)
    model = "tiny" if tiny else args.model
    reference = load_backbone(model, device, seed=0)
    sft = apply_sft(reference, data.sft, SFTConfig(), progress=not args.no_progress)
    t = time.perf_counter()
    feats = features(reference, splits, not args.no_progress)
    feature_seconds = time.perf_counter() - t
    config = StudyConfig(choices=CHOICES, **(TINY_STUDY if tiny else {}))
    study = run_study(feats["train"], feats["validation"], config, progress=not args.no_progress)
    authors = authors_protocol(CHOICES[0], feats["train"]["chat"], feats["report"]["chat"])
    record = study_record(study, feats["train"], feats["report"], authors=authors)
    record.update(
        command=" ".join(["python", "bench/head_selection.py", *(argv if argv is not None else sys.argv[1:])]),
        backbone={"model": model, "revision": reference.revision, "sft": {k: sft[k] for k in ("key", "steps")}},
        splits=splits.params | {"frontier": {k: v for k, v in data.params.items() if k.startswith("n_")}},
        features={
            split: {r: {"key": f.key, "n_pairs": len(f), "lengths": list(f.lengths)} for r, f in by.items()}
            for split, by in feats.items()
        },
        feature_seconds=feature_seconds,
        wall_seconds=time.perf_counter() - started,
        device=str(device),
        environment=environment_record(),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, record)
    return record


if __name__ == "__main__":
    main()
