"""Figures and tables of guided decoding (notebook 04): the lambda sweep and the speed benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

SWEEP_Y = {"judge": "judge positivity", "head_score": "head score of the text"}


def plot_lambda_sweep(frame: pd.DataFrame, y: str = "judge", ax: plt.Axes | None = None) -> plt.Axes:
    """Mean of ``y`` against the guidance scale, with 95% bootstrap intervals over prompts."""
    if y not in frame:
        raise ValueError(f"y={y!r} is not a column of the sweep; choose one of {sorted(SWEEP_Y)}")
    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    sns.pointplot(data=frame, x="lambda", y=y, errorbar=("ci", 95), seed=0, capsize=0.1, ax=ax)
    sns.stripplot(data=frame, x="lambda", y=y, color="0.6", size=3, alpha=0.6, ax=ax)
    ax.set(xlabel=r"guidance scale $\lambda$", ylabel=SWEEP_Y.get(y, y))
    return ax


def merge_bench_records(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One record from several ``bench/guidance.py`` runs taken apart (e.g. batch 1 and batch 8): their rows and
    summaries concatenated. The runs must share model, dtype, device and thread count, so every ratio and
    rate in the merged table compares like with like; ``parameters`` lists each run's."""
    if not records:
        raise ValueError("no benchmark records: bench_files is empty")

    def setting(record: dict[str, Any]) -> tuple:
        env = record["environment"]
        return record["model"], record["dtype"], env["device"], env["device_name"], env.get("torch_threads")

    settings = {setting(r) for r in records}
    if len(settings) > 1:
        raise ValueError(f"bench_files mix (model, dtype, device, name, threads) settings {sorted(settings, key=str)}: "
                         "rerun bench/guidance.py so that all records share them")
    return records[0] | {"rows": [row for r in records for row in r["rows"]],
                         "summary": [row for r in records for row in r["summary"]],
                         "parameters": [r["parameters"] for r in records]}


def bench_frame(record: dict[str, Any]) -> pd.DataFrame:
    """The benchmark's rows: tokens/s, and counted GFLOPs per generated token with and without the
    prompt's first forward (``decode_gflops_per_token``), for each method and shape."""
    frame = pd.DataFrame(record["rows"])
    frame["gflops_per_token"] = frame["flops_per_token"] / 1e9
    frame["decode_gflops_per_token"] = frame["decode_flops_per_token"] / 1e9
    columns = ["method", "prompt_length", "batch_size", "new_tokens", "tokens_per_second", "gflops_per_token",
               "decode_gflops_per_token", "mean_pool_size"]
    return frame[columns].sort_values(["prompt_length", "batch_size", "new_tokens", "method"]).reset_index(drop=True)


def plot_bench(record: dict[str, Any], ax: plt.Axes | None = None) -> plt.Axes:
    """Tokens per second of each method and token budget (log scale), per prompt length and batch."""
    frame = bench_frame(record)
    frame = frame.assign(shape=[f"T={t}, B={b}" for t, b in zip(frame["prompt_length"], frame["batch_size"])],
                         run=[f"{m} ({n} tokens)" for m, n in zip(frame["method"], frame["new_tokens"])])
    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    sns.barplot(data=frame, x="shape", y="tokens_per_second", hue="run", ax=ax)
    ax.set(yscale="log", xlabel="prompt length T, batch B", ylabel="generated tokens / s")
    return ax
