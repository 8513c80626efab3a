"""The head's cache key and record form are pinned: a refactor of HeadConfig or of Phase I must not move them.

Heads are cached under ``cache_dir()/heads/<key>`` and the frontier's head stage and the claims records store
``HeadConfig``'s flat form (``phase1_method``, ``phase1_max_iters``, ``phase1_tol``, ...). The hex strings below were
computed on the code before Phase I got its solver-neutral config (issue 30, item 4); they must never change.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from coala_lib.core.files import content_key
from coala_lib.head.config import HeadConfig
from coala_lib.head.training import PIPELINE_VERSION, cache_fields

DEFAULT = HeadConfig()
OTHER = HeadConfig(P=32, beta=149.0095503544234, phase2_l2=0.01, phase2_beta=1)
#: HeadConfig's record form: flat, in this order (the cache key hashes it, records and report.json store it).
FLAT = {
    "model": "smollm2",
    "dataset": "imdb",
    "n_pairs": 300,
    "n_eval": 200,
    "max_length": 128,
    "pooling": "mean",
    "P": 10,
    "beta": 1e-3,
    "rho": None,
    "phase1_method": "auto",
    "phase1_max_iters": 5000,
    "phase1_tol": 1e-4,
    "phase2": "pairwise",
    "pairing": "matched",
    "phase2_beta": 2.5,
    "phase2_gamma": 0.5,
    "phase2_l2": 1e-4,
    "phase2_solver": "newton",
    "adamw_lr": 1e-4,
    "adamw_epochs": 500,
    "adamw_batch": 128,
    "baseline_lr": 1e-3,
    "baseline_steps": 1000,
    "seed": 0,
    "revision": None,
}
IDENTITY = {"model_id": "m", "revision": "r"}
#: (config, content_key of its record form, the head's cache key for IDENTITY, float32 and fixed digests)
PINNED = [
    (DEFAULT, "03c6acb63d3e42cf", "94f56d738da97c02"),
    (OTHER, "f063530a662adf46", "14e9fec1a70d263c"),
]


def test_record_form_is_flat_and_unchanged() -> None:
    assert asdict(DEFAULT) == FLAT
    assert list(asdict(DEFAULT)) == list(FLAT)  # order too: it is what the key hashes
    assert asdict(OTHER) == FLAT | {"P": 32, "beta": 149.0095503544234, "phase2_l2": 0.01, "phase2_beta": 1}
    for config in (DEFAULT, OTHER):
        assert HeadConfig.from_dict(asdict(config)) == config
        assert HeadConfig.from_dict(asdict(config) | {"key": "x", "phase1_width": 3}) == config


@pytest.mark.parametrize(("config", "config_key", "head_key"), PINNED, ids=["default", "other"])
def test_head_keys_are_pinned(config: HeadConfig, config_key: str, head_key: str) -> None:
    assert content_key(asdict(config)) == config_key
    fields = cache_fields(config, IDENTITY, "torch.float32", "t" * 8, "e" * 8)
    assert fields == {
        "version": PIPELINE_VERSION,
        "config": FLAT | asdict(config),
        "backbone": IDENTITY,
        "dtype": "torch.float32",
        "train": "t" * 8,
        "eval": "e" * 8,
    }
    assert content_key(fields) == head_key
