"""The paper's numbers (one source), the ledger that notebooks write their numbers to, and the
verdict rules that compare the two.
"""

from coala_lib.claims.ledger import Claim, ledger_rows, load_records, record, results_dir
from coala_lib.claims.verdicts import (
    curve_stats,
    judge_apm,
    judge_compute_share,
    judge_head_accuracy,
    judge_human_study,
    judge_margins,
    judge_optimality,
    judge_single_gpu,
    judge_win_rates,
    papermill_command,
    round_sig,
)

__all__ = [
    "Claim",
    "curve_stats",
    "judge_apm",
    "judge_compute_share",
    "judge_head_accuracy",
    "judge_human_study",
    "judge_margins",
    "judge_optimality",
    "judge_single_gpu",
    "judge_win_rates",
    "ledger_rows",
    "load_records",
    "papermill_command",
    "record",
    "results_dir",
    "round_sig",
]
