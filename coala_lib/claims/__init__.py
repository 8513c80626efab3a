"""The paper's numbers (one source), the ledger that notebooks write their numbers to, and the
verdict rules that compare the two.
"""

from coala_lib.claims.ledger import Claim, ledger_rows, load_records, record, results_dir
from coala_lib.claims.verdicts import (
    curve_stats,
    papermill_command,
    round_sig,
    verdict_apm,
    verdict_compute_share,
    verdict_head_accuracy,
    verdict_human_study,
    verdict_margins,
    verdict_optimality,
    verdict_single_gpu,
    verdict_win_rates,
)

__all__ = [
    "Claim",
    "curve_stats",
    "ledger_rows",
    "load_records",
    "papermill_command",
    "record",
    "results_dir",
    "round_sig",
    "verdict_apm",
    "verdict_compute_share",
    "verdict_head_accuracy",
    "verdict_human_study",
    "verdict_margins",
    "verdict_optimality",
    "verdict_single_gpu",
    "verdict_win_rates",
]
