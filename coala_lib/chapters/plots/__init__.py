"""Figures and styled tables of each chapter, drawn with seaborn from results only.

One module per topic (``style`` holds the book's figure size and fonts, :func:`~.style.column_figure`); the
package exports what the notebooks draw and show:

* ``datasets`` (00): :func:`plot_lengths`, :func:`plot_apm`, :func:`plot_judge_scores`;
* ``convex`` (01-02): :func:`plot_activation_patterns`, :func:`plot_objective_traces`,
  :func:`plot_decision_boundaries`, :func:`plot_nystrom_sweep`, :func:`plot_admm_convergence`,
  :func:`plot_accuracy_vs_time`;
* ``training`` (03): :func:`accuracy_table`, :func:`plot_head_accuracies`, :func:`plot_margin_curves`,
  :func:`plot_pairing`;
* ``guidance`` (04): :func:`plot_lambda_sweep`, :func:`merge_bench_records`, :func:`bench_frame`,
  :func:`plot_bench`;
* ``evaluation`` (05-06): :func:`plot_reward_margins`, :func:`plot_win_rates`, :func:`plot_survey_shares`;
* ``efficiency`` (07): :func:`find_bench_records`, the cost tables (:func:`cost_table`, :func:`stage_table`,
  :func:`meta_flops_table`, :func:`gpu_check_table`, :func:`paper_table`) and :func:`plot_costs`,
  :func:`plot_paper_vs_counted`, :func:`plot_stage_memory`;
* ``ledger`` (08): :func:`ledger_view`;
* ``frontier`` and ``head_selection`` (09): :func:`frontier_plot`, :func:`win_rate_plot`, :func:`path_plot`,
  :func:`prefix_plot`.
"""

from coala_lib.chapters.plots.convex import (
    plot_accuracy_vs_time,
    plot_activation_patterns,
    plot_admm_convergence,
    plot_decision_boundaries,
    plot_nystrom_sweep,
    plot_objective_traces,
)
from coala_lib.chapters.plots.datasets import plot_apm, plot_judge_scores, plot_lengths
from coala_lib.chapters.plots.efficiency import (
    cost_table,
    find_bench_records,
    gpu_check_table,
    meta_flops_table,
    paper_table,
    plot_costs,
    plot_paper_vs_counted,
    plot_stage_memory,
    stage_table,
)
from coala_lib.chapters.plots.evaluation import plot_reward_margins, plot_survey_shares, plot_win_rates
from coala_lib.chapters.plots.frontier import frontier_plot, win_rate_plot
from coala_lib.chapters.plots.guidance import bench_frame, merge_bench_records, plot_bench, plot_lambda_sweep
from coala_lib.chapters.plots.head_selection import path_plot, prefix_plot
from coala_lib.chapters.plots.ledger import ledger_view
from coala_lib.chapters.plots.training import accuracy_table, plot_head_accuracies, plot_margin_curves, plot_pairing

__all__ = [
    "accuracy_table",
    "bench_frame",
    "cost_table",
    "find_bench_records",
    "frontier_plot",
    "gpu_check_table",
    "ledger_view",
    "merge_bench_records",
    "meta_flops_table",
    "paper_table",
    "path_plot",
    "plot_accuracy_vs_time",
    "plot_activation_patterns",
    "plot_admm_convergence",
    "plot_apm",
    "plot_bench",
    "plot_costs",
    "plot_decision_boundaries",
    "plot_head_accuracies",
    "plot_judge_scores",
    "plot_lambda_sweep",
    "plot_lengths",
    "plot_margin_curves",
    "plot_nystrom_sweep",
    "plot_objective_traces",
    "plot_pairing",
    "plot_paper_vs_counted",
    "plot_reward_margins",
    "plot_stage_memory",
    "plot_survey_shares",
    "plot_win_rates",
    "prefix_plot",
    "stage_table",
    "win_rate_plot",
]
