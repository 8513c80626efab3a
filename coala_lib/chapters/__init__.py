"""Chapter helpers: experiments and figures that exist for one notebook each, named after their
chapter. They may import every stage; nothing in the library imports them.

What the notebooks use, by module (the figures are in :mod:`coala_lib.chapters.plots`):

* ``tables``: :func:`readable` (every table a notebook shows) and :func:`side_by_side` (texts by system);
* ``convex_experiments``: notebooks 01-02's small experiments, used as a module (``ex.planar_dataset``);
* ``guidance_sweep``: notebook 04's :func:`lambda_sweep` and :func:`step_frame`;
* ``frontier``: notebook 09's reading of the IMDb frontier record (:func:`load_record` and its tables);
* ``head_selection``: notebook 09's reading of the head study (:func:`load_head_study` and its tables).
"""

from coala_lib.chapters import convex_experiments
from coala_lib.chapters.frontier import (
    budget_table,
    cost_table,
    examples,
    excluded_methods,
    frontier_frame,
    head_control_table,
    head_provenance,
    load_record,
    matched_kl_table,
    paired_table,
    protocol_seconds,
    read_generations,
    win_rate_table,
)
from coala_lib.chapters.guidance_sweep import lambda_sweep, step_frame
from coala_lib.chapters.head_selection import (
    arms_table,
    authors_table,
    comparison_table,
    load_head_study,
    path_frame,
    prefix_frame,
    timing_summary,
)
from coala_lib.chapters.tables import readable, side_by_side

__all__ = [
    "arms_table",
    "authors_table",
    "budget_table",
    "comparison_table",
    "convex_experiments",
    "cost_table",
    "examples",
    "excluded_methods",
    "frontier_frame",
    "head_control_table",
    "head_provenance",
    "lambda_sweep",
    "load_head_study",
    "load_record",
    "matched_kl_table",
    "paired_table",
    "path_frame",
    "prefix_frame",
    "protocol_seconds",
    "read_generations",
    "readable",
    "side_by_side",
    "step_frame",
    "timing_summary",
    "win_rate_table",
]
