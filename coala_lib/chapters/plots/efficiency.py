"""Tables and figures of the efficiency chapter (notebook 07), from benchmark records.

Inputs are :class:`coala_lib.accounting.counting.ResultRecord` objects written by ``bench/efficiency.py``; the
functions turn them into tidy :class:`pandas.DataFrame` tables and seaborn figures and compute nothing
beyond unit changes. The paper's Table 5 is quoted from :mod:`coala_lib.claims.paper`: its "TFLOPs" are wall
seconds times an assumed 231 TFLOP/s (excluding extraction and decoding), so we show the seconds they
stand for next to our counted FLOPs, never as the same quantity.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from coala_lib.accounting.counting import ResultRecord
from coala_lib.chapters.plots.style import column_figure, column_size
from coala_lib.claims.paper import ASSUMED_TFLOPS_PER_SECOND, MODEL_NAMES, REPORTED_TFLOPS

METHOD_LABELS = {
    "coala": "COALA (extraction + Phase I + II)",
    "lora_dpo": "LoRA-DPO",
    "full_dpo": "full DPO",
    "lora_orpo": "LoRA-ORPO",
    "lora_sft": "LoRA-SFT",
}


def find_bench_records(directory: str | os.PathLike, prefix: str = "bench_efficiency_") -> dict[str, ResultRecord]:
    """Every ``<prefix>*.json`` record in ``directory``, keyed by the file's suffix (``cpu``, ``cuda``, ...)."""
    folder = Path(directory)
    return {p.stem.removeprefix(prefix): ResultRecord.read(p) for p in sorted(folder.glob(f"{prefix}*.json"))}


def cost_table(record: ResultRecord) -> pd.DataFrame:
    """Per 1,000 pairs, one row per method: seconds, counted TFLOPs, peak memory (GB), pairs/s, status."""
    summary = record.summary
    rows = []
    for key, label in METHOD_LABELS.items():
        entry = summary.get(key)
        if entry is None:
            continue
        ok = entry.get("status", "ok") == "ok"
        rows.append(
            {
                "method": label,
                "seconds": entry["seconds"] if ok else float("nan"),
                "counted_tflops": entry["flops"] / 1e12 if ok else float("nan"),
                "peak_gb": entry["peak_memory_bytes"] / 1e9,
                "pairs_per_second": entry["pairs_per_second"] if ok else float("nan"),
                "status": entry.get("status", "ok"),
            }
        )
    return pd.DataFrame(rows)


def stage_table(record: ResultRecord) -> pd.DataFrame:
    """One row per measured stage: seconds, counted GFLOPs, peak memory (MB), its kind, and the stage's size."""
    rows = []
    for stage in record.stages:
        size = {k: stage.params[k] for k in ("pairs", "tokens", "sequences", "seq_len") if k in stage.params}
        rows.append(
            {
                "stage": stage.stage,
                "seconds": stage.seconds,
                "counted_gflops": stage.flops / 1e9,
                "peak_mb": stage.peak_memory_bytes / 2**20,
                "memory_kind": stage.memory_kind,
                "status": stage.params.get("status", "ok"),
                "size": size,
            }
        )
    return pd.DataFrame(rows)


def meta_flops_table(record: ResultRecord) -> pd.DataFrame:
    """Counted TFLOPs per 1,000 pairs at real shapes (meta device): extraction, LoRA-DPO and full-DPO epochs."""
    rows = []
    for entry in record.summary.get("meta_counted", []):
        pairs_per_batch = entry["sequences"] / 2
        per_1000 = {k: entry[k] / pairs_per_batch * 1000 / 1e12 for k in ("extraction", "lora_dpo", "full_dpo")}
        rows.append(
            {
                "shape": entry["shape"],
                "seq_len": entry["seq_len"],
                "extraction_tflops": per_1000["extraction"],
                "lora_dpo_tflops": per_1000["lora_dpo"],
                "full_dpo_tflops": per_1000["full_dpo"],
                "extraction_over_lora_dpo": per_1000["extraction"] / per_1000["lora_dpo"],
                "formula_matches": entry["extraction"] == entry["extraction_analytic"],
            }
        )
    return pd.DataFrame(rows)


def gpu_check_table(summary: dict) -> pd.DataFrame:
    """One row per stage of a GPU-check summary (:func:`coala_lib.accounting.gpu_check.gpu_check_summary`):
    its status, seconds and peak memory in GiB (empty for stages not measured)."""
    return pd.DataFrame(
        {
            "status": summary["status"],
            "seconds": summary["seconds"],
            "peak GiB": {name: peak / 2**30 for name, peak in summary["peak_memory_bytes"].items()},
        }
    )


def paper_table() -> pd.DataFrame:
    """The paper's Table 5 (EduFeedback) with the wall seconds its "TFLOPs" stand for (÷ 231 TFLOP/s)."""
    rows = [
        {
            "model": MODEL_NAMES[model],
            "method": method,
            "paper_tflops": value,
            "implied_seconds": value / ASSUMED_TFLOPS_PER_SECOND,
            "share_of_dpo": value / methods["DPO"] if "DPO" in methods else float("nan"),
        }
        for model, methods in REPORTED_TFLOPS.items()
        for method, value in methods.items()
    ]
    return pd.DataFrame(rows)


@column_figure
def plot_costs(record: ResultRecord) -> Figure:
    """Three panels per 1,000 pairs: counted TFLOPs, seconds and peak memory of each method (log scales)."""
    table = cost_table(record)
    fig, axes = plt.subplots(3, 1, figsize=column_size(6.0), constrained_layout=True)
    panels = (("counted_tflops", "counted TFLOPs"), ("seconds", "seconds"), ("peak_gb", "peak memory (GB)"))
    for ax, (column, label) in zip(axes, panels):
        sns.barplot(data=table, y="method", x=column, hue="method", ax=ax, legend=False)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 1-2-5 ticks read as plain numbers
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("")
        for row, status in enumerate(table["status"]):
            if status != "ok" and column != "peak_gb":
                ax.text(ax.get_xlim()[0], row, f"  {status}", va="center", color="crimson")
    device = record.environment.get("device_name", "?")
    fig.suptitle(f"per 1,000 pairs, shape {record.parameters.get('shape')} on {device}")
    return fig


@column_figure
def plot_paper_vs_counted(record: ResultRecord) -> Figure:
    """Left: the paper's Table 5 numbers (time x 231 TFLOP/s). Right: our counted TFLOPs per 1,000 pairs at
    real shapes. Different quantities, on separate axes on purpose."""
    paper = paper_table()
    counted = meta_flops_table(record).melt(
        id_vars="shape",
        value_vars=["extraction_tflops", "lora_dpo_tflops", "full_dpo_tflops"],
        var_name="stage",
        value_name="tflops",
    )
    counted["stage"] = counted["stage"].map(
        {"extraction_tflops": "extraction", "lora_dpo_tflops": "LoRA-DPO epoch", "full_dpo_tflops": "full-DPO epoch"}
    )
    fig, axes = plt.subplots(2, 1, figsize=column_size(6.0), constrained_layout=True)
    sns.barplot(data=paper, x="model", y="paper_tflops", hue="method", ax=axes[0])
    axes[0].set_title("paper Table 5: seconds x 231 TFLOP/s (EduFeedback)")
    axes[0].set_ylabel('"TFLOPs" as reported')
    if not counted.empty:
        sns.barplot(data=counted, x="shape", y="tflops", hue="stage", ax=axes[1])
    axes[1].set_title("counted TFLOPs per 1,000 pairs (meta device)")
    axes[1].set_ylabel("counted TFLOPs")
    return fig


@column_figure
def plot_stage_memory(record: ResultRecord) -> Figure:
    """Peak memory of every measured stage (MB), labelled with how it was measured."""
    table = stage_table(record)
    fig, ax = plt.subplots(figsize=column_size(3.4), constrained_layout=True)
    sns.barplot(data=table, y="stage", x="peak_mb", hue="memory_kind", ax=ax)
    ax.legend(title="measured as")
    ax.set_xlabel("peak memory (MB)")
    ax.set_ylabel("")
    return fig
