"""Figures and tables of guided decoding (notebook 04): the lambda sweep and the speed benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from coala_lib.chapters.plots.style import column_figure, column_size

SWEEP_Y = {"judge": "judge positivity", "head_score": "head score of the text"}


@column_figure
def plot_lambda_sweep(frame: pd.DataFrame, y: str = "judge", ax: plt.Axes | None = None) -> plt.Axes:
    """Mean of ``y`` against the guidance scale, with 95% bootstrap intervals over prompts."""
    if y not in frame:
        raise ValueError(f"y={y!r} is not a column of the sweep; choose one of {sorted(SWEEP_Y)}")
    ax = ax or plt.subplots(figsize=column_size(3.2, width=0.8))[1]
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
        raise ValueError(
            f"bench_files mix (model, dtype, device, name, threads) settings {sorted(settings, key=str)}: "
            "rerun bench/guidance.py so that all records share them"
        )
    return records[0] | {
        "rows": [row for r in records for row in r["rows"]],
        "summary": [row for r in records for row in r["summary"]],
        "parameters": [r["parameters"] for r in records],
    }


def bench_frame(record: dict[str, Any]) -> pd.DataFrame:
    """The benchmark's rows: tokens/s, counted GFLOPs per generated token with and without the prompt's
    first forward (``decode_gflops_per_token``), the mean candidate pool and, for the cached path, the
    candidate positions one scored step ran per row (``candidate_positions``: the batch's largest pool,
    since a batch shares one candidate forward; the chosen candidate's keys and values are kept).

    Cached-path accounting: ``processed_tokens`` = :math:`B L + B (T - S) + B k_{run} S` for batch
    :math:`B`, prompt :math:`L`, :math:`T` new tokens and :math:`S` scored steps, solved for :math:`k_{run}`."""
    frame = pd.DataFrame(record["rows"])
    frame["gflops_per_token"] = frame["flops_per_token"] / 1e9
    frame["decode_gflops_per_token"] = frame["decode_flops_per_token"] / 1e9
    B, L, T, S = (frame[c] for c in ("batch_size", "prompt_length", "new_tokens", "scored_steps"))
    positions = (frame["processed_tokens"] - B * L - B * (T - S)) / (B * S).where(S > 0)
    frame["candidate_positions"] = positions.where(frame["method"] == "cached_guided")
    columns = [
        "method",
        "prompt_length",
        "batch_size",
        "new_tokens",
        "tokens_per_second",
        "gflops_per_token",
        "decode_gflops_per_token",
        "mean_pool_size",
        "candidate_positions",
    ]
    return frame[columns].sort_values(["prompt_length", "batch_size", "new_tokens", "method"]).reset_index(drop=True)


@column_figure
def plot_bench(record: dict[str, Any], ax: plt.Axes | None = None) -> plt.Axes:
    """Tokens per second of each method and token budget (log scale), per prompt length and batch."""
    frame = bench_frame(record)
    frame = frame.assign(
        shape=[f"T={t}, B={b}" for t, b in zip(frame["prompt_length"], frame["batch_size"])],
        run=[f"{m} ({n} tokens)" for m, n in zip(frame["method"], frame["new_tokens"])],
    )
    ax = ax or plt.subplots(figsize=column_size(3.4))[1]
    sns.barplot(data=frame, x="shape", y="tokens_per_second", hue="run", ax=ax)
    ax.set(yscale="log", xlabel="prompt length T, batch B", ylabel="generated tokens / s")
    sns.move_legend(ax, "upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)  # off the bars
    return ax
