"""The numbers the paper reports, as data, each with the table it comes from.

Feng & Pilanci, "Convex Optimization for Alignment and Preference Learning on a Single GPU",
ICML 2026 (arXiv 2605.23244). These are the paper's measurements, quoted so that the book can
place its own next to them; nothing here was measured by this book.
"""

from __future__ import annotations

CITATION = "Feng & Pilanci, ICML 2026 (arXiv 2605.23244)"

#: Table 2: preference pairs per dataset (EduFeedback: triplets from 26,621 conversations).
DATASET_PAIRS: dict[str, int] = {
    "edufeedback": 65_606,
    "ultrafeedback": 60_917,
    "imdb": 25_000,
    "helpsteer": 7_708,
}
EDUFEEDBACK_CONVERSATIONS = 26_621

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

#: Table 7: Stage-One head accuracy (%), CRONOS vs AdamW: model -> dataset -> (CRONOS, AdamW).
STAGE_ONE_ACCURACY: dict[str, dict[str, tuple[float, float]]] = {
    "llama": {"ultrafeedback": (57.68, 51.20), "edufeedback": (71.01, 68.55), "imdb": (90.43, 86.60)},
    "mistral": {"ultrafeedback": (57.63, 52.95), "edufeedback": (69.83, 62.02), "imdb": (91.76, 83.52)},
    "gpt2": {"ultrafeedback": (53.83, 52.93), "edufeedback": (61.15, 59.80), "imdb": (78.84, 78.78)},
}
