"""The numbers the paper reports, as data, each with the table it comes from.

Feng & Pilanci, "Convex Optimization for Alignment and Preference Learning on a Single GPU",
ICML 2026 (arXiv 2605.23244). These are the paper's measurements, quoted so that the book can
place its own next to them; nothing here was measured by this book.
"""

from __future__ import annotations

import pandas as pd

CITATION = "Feng & Pilanci, ICML 2026 (arXiv 2605.23244)"

#: Table 2: preference pairs per dataset (EduFeedback: triplets from 26,621 conversations).
DATASET_PAIRS: dict[str, int] = {
    "edufeedback": 65_606,
    "ultrafeedback": 60_917,
    "imdb": 25_000,
    "helpsteer": 7_708,
}
EDUFEEDBACK_CONVERSATIONS = 26_621

#: The workload the compute share is scaled to: EduFeedback's 90% training split, and AlpacaEval 2's
#: 805 instructions decoded to the paper's 256 new tokens.
TRAIN_SPLIT = 0.9
TRAIN_PAIRS: int = round(TRAIN_SPLIT * DATASET_PAIRS["edufeedback"])
EVAL_PROMPTS = 805
NEW_TOKENS = 256

#: Table 3: AlpacaEval 2 length-controlled win rate (%), mean over 3 runs: model -> method -> dataset.
ALPACAEVAL_LC_WIN_RATE: dict[str, dict[str, dict[str, float]]] = {
    "mistral": {
        "COALA": {"edufeedback": 24.61, "imdb": 24.88, "ultrafeedback": 20.84},
        "DPO": {"edufeedback": 24.19, "imdb": 24.30, "ultrafeedback": 17.68},
        "ORPO": {"edufeedback": 17.01, "imdb": 17.58, "ultrafeedback": 16.04},
        "SFT": {"edufeedback": 6.80, "imdb": 8.42, "ultrafeedback": 6.18},
    },
    "dolphin": {
        "COALA": {"edufeedback": 40.81, "imdb": 39.72, "ultrafeedback": 31.58},
        "DPO": {"edufeedback": 34.73, "imdb": 33.86, "ultrafeedback": 26.41},
        "ORPO": {"edufeedback": 25.06, "imdb": 24.90, "ultrafeedback": 22.94},
        "SFT": {"edufeedback": 17.36, "imdb": 16.21, "ultrafeedback": 14.88},
    },
    "llama": {
        "COALA": {"edufeedback": 40.90, "imdb": 27.64, "ultrafeedback": 20.64},
        "DPO": {"edufeedback": 40.68, "imdb": 21.79, "ultrafeedback": 18.89},
        "ORPO": {"edufeedback": 23.87, "imdb": 12.10, "ultrafeedback": 12.91},
        "SFT": {"edufeedback": 10.92, "imdb": 8.16, "ultrafeedback": 7.41},
    },
}

#: Table 4: human study, win share (%) per method; 107 raters, 25 items per dataset.
HUMAN_STUDY_WIN_SHARE: dict[str, dict[str, float]] = {
    "edufeedback": {"COALA": 39.1, "DPO": 28.8, "ORPO": 15.5, "SFT": 16.6},
    "imdb": {"COALA": 42.7, "DPO": 24.8, "ORPO": 20.1, "SFT": 12.4},
}
HUMAN_STUDY_RATERS = 107
HUMAN_STUDY_ITEMS_PER_DATASET = 25

#: Table 5: "TFLOPs" on EduFeedback (in the released code: wall seconds x an assumed 231 TFLOP/s,
#: excluding feature extraction and decoding).
REPORTED_TFLOPS: dict[str, dict[str, float]] = {
    "llama": {"COALA": 1_805, "DPO": 10_253, "ORPO": 12_353, "SFT": 2_851},
    "mistral": {"COALA": 1_580, "DPO": 9_285},
    "gpt2": {"COALA": 380, "DPO": 1_087},
}
ASSUMED_TFLOPS_PER_SECOND = 231.0
#: The headline share: Llama-3.1-8B COALA over DPO "TFLOPs" on EduFeedback (17.6%).
COMPUTE_SHARE: float = REPORTED_TFLOPS["llama"]["COALA"] / REPORTED_TFLOPS["llama"]["DPO"]

#: Table 7: Stage-One head accuracy (%), CRONOS vs AdamW, all 15 cells: model -> dataset -> (CRONOS, AdamW).
#: AdamW is ahead in one cell (DistilGPT-2 on UltraFeedback).
STAGE_ONE_ACCURACY: dict[str, dict[str, tuple[float, float]]] = {
    "distilgpt2": {"ultrafeedback": (53.50, 53.80), "edufeedback": (60.60, 56.18), "imdb": (83.05, 82.62)},
    "gpt2": {"ultrafeedback": (53.83, 52.93), "edufeedback": (61.15, 59.80), "imdb": (78.84, 78.78)},
    "mistral": {"ultrafeedback": (57.63, 52.95), "edufeedback": (69.83, 62.02), "imdb": (91.76, 83.52)},
    "dolphin": {"ultrafeedback": (62.27, 56.33), "edufeedback": (72.29, 69.43), "imdb": (93.72, 83.40)},
    "llama": {"ultrafeedback": (57.68, 51.20), "edufeedback": (71.01, 68.55), "imdb": (90.43, 86.60)},
}

#: Display names of the model keys above.
MODEL_NAMES: dict[str, str] = {
    "distilgpt2": "DistilGPT-2 (82M)",
    "gpt2": "GPT-2 (124M)",
    "mistral": "Mistral-7B",
    "dolphin": "Dolphin-7B",
    "llama": "Llama-3.1-8B",
}

#: Table 2 / Section 3: triplets per conversation that the Alternating Population Method gave on EduFeedback.
APM_TRIPLETS_PER_CONVERSATION: float = DATASET_PAIRS["edufeedback"] / EDUFEEDBACK_CONVERSATIONS

#: Table 10 and the reference code: Phase I and Phase II settings.
PHASE1_SETTINGS: dict[str, float | int] = {
    "P": 10,
    "beta": 1e-3,
    "rho_code": 1e-4,
    "rho_table10": 1e-2,
    "admm_iters": 6,
    "pcg_iters": 32,
    "nystrom_rank": 20,
}
PHASE2_SETTINGS: dict[str, float | int] = {"lr": 1e-4, "epochs": 500, "batch": 128, "beta": 2.5, "gamma": 0.5}
#: App. H.3 and the released script: guidance scale, guided every N tokens.
GUIDANCE_SETTINGS: dict[str, float | int] = {"lambda": 2.0, "every_paper": 5, "every_script": 6, "top_k_script": 15}


def table3_frame(dataset: str) -> pd.DataFrame:
    """Table 3's column for ``dataset`` (e.g. ``"imdb"``): methods x models, LC win rate in %."""
    if dataset not in {d for m in ALPACAEVAL_LC_WIN_RATE.values() for r in m.values() for d in r}:
        raise ValueError(f"dataset={dataset!r} is not a Table 3 column; choose edufeedback, imdb or ultrafeedback")
    return pd.DataFrame(
        {
            f"{MODEL_NAMES[model]} LC WR (paper Table 3)": {method: row[dataset] for method, row in methods.items()}
            for model, methods in ALPACAEVAL_LC_WIN_RATE.items()
        }
    )


def table7_frame() -> pd.DataFrame:
    """Table 7 as one row per (model, dataset): CRONOS and AdamW accuracy (%) and their difference."""
    rows = [
        {"model": MODEL_NAMES[model], "dataset": dataset, "CRONOS": c, "AdamW": a, "CRONOS - AdamW": round(c - a, 2)}
        for model, cells in STAGE_ONE_ACCURACY.items()
        for dataset, (c, a) in cells.items()
    ]
    return pd.DataFrame(rows)


def human_study_shares(dataset: str) -> dict[str, float]:
    """Table 4's win shares for ``dataset`` (``"edufeedback"`` or ``"imdb"``) as fractions summing to 1."""
    if dataset not in HUMAN_STUDY_WIN_SHARE:
        raise ValueError(f"dataset={dataset!r} has no Table 4 row; choose one of {sorted(HUMAN_STUDY_WIN_SHARE)}")
    shares = HUMAN_STUDY_WIN_SHARE[dataset]
    total = sum(shares.values())
    return {method: value / total for method, value in shares.items()}
