"""Dataset summaries for the book: our triplet counts (next to the paper's, given by the caller from
:data:`coala_lib.claims.paper.DATASET_PAIRS`, the paper numbers' one home), and text lengths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from coala_lib.data.loaders import TripletDataset
from coala_lib.data.schema import Triplet


def counts_table(splits: Sequence[TripletDataset], paper_counts: Mapping[str, int] | None = None) -> pd.DataFrame:
    """One row per dataset: the paper's count (``paper_counts``, its Table 2), ours per split and in total,
    rows read, and where ours came from."""
    paper_counts = paper_counts or {}
    records: dict[str, dict] = {}
    for ds in splits:
        rec = records.setdefault(
            ds.name,
            {
                "dataset": ds.name,
                "paper (Table 2)": paper_counts.get(ds.name),
                "ours: train": 0,
                "ours: eval": 0,
                "rows read": 0,
                "source": "",
            },
        )
        rec[f"ours: {ds.split}"] += len(ds)
        rec["rows read"] += ds.report.rows
        read = f"{ds.params['read'].rsplit('/', 1)[-1]} ({ds.params['split_rule']})"
        if read not in rec["source"]:
            rec["source"] = f"{rec['source']}; {read}" if rec["source"] else f"{ds.params['origin']}: {read}"
    table = pd.DataFrame(list(records.values())).astype({"paper (Table 2)": "Int64"})
    table.insert(4, "ours: total", table["ours: train"] + table["ours: eval"])
    return table


def show_triplet(triplet: Triplet, width: int = 400) -> str:
    """A readable view of one triplet, each text shortened to about ``width`` characters."""

    def short(text: str) -> str:
        return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " […]"

    return "\n".join(
        [
            f"[{triplet.source} row {triplet.row}]",
            "PROMPT:   " + short(triplet.prompt),
            "CHOSEN:   " + short(triplet.chosen),
            "REJECTED: " + short(triplet.rejected),
        ]
    )


def length_frame(datasets: Mapping[str, TripletDataset]) -> pd.DataFrame:
    """Long format: one row per (dataset, field, triplet) with the text's length in words."""
    rows = [
        {"dataset": name, "field": field, "words": len(getattr(t, field).split())}
        for name, ds in datasets.items()
        for t in ds
        for field in ("prompt", "chosen", "rejected")
    ]
    return pd.DataFrame(rows)
