"""The paper's numbers (one source), the ledger that notebooks write their numbers to, and the
verdict rules that compare the two.
"""

from coala_lib.claims.ledger import (
    VERDICTS,
    Claim,
    ledger_rows,
    load_all_records,
    load_records,
    record,
)
from coala_lib.claims.verdicts import (
    CLAIMS,
    compute_share_bounds,
    curve_stats,
    difference_interval,
    lambda_sweep_outcome,
    ledger_table,
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
    "CLAIMS",
    "VERDICTS",
    "Claim",
    "compute_share_bounds",
    "curve_stats",
    "difference_interval",
    "lambda_sweep_outcome",
    "ledger_rows",
    "ledger_table",
    "load_all_records",
    "load_records",
    "papermill_command",
    "record",
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
