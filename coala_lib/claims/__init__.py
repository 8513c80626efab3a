"""The paper's numbers (one source), the ledger that notebooks write their numbers to, and the
verdict rules that compare the two (notebooks read ``paper`` and write with ``ledger.record`` through this
package).
"""

from coala_lib.claims import ledger, paper
from coala_lib.claims.ledger import (
    VERDICTS,
    Claim,
    hardware_text,
    ledger_rows,
    load_all_records,
    load_records,
    record,
)
from coala_lib.claims.verdicts import (
    CLAIMS,
    budget_text,
    compute_share_bounds,
    compute_share_source,
    curve_stats,
    difference_interval,
    lambda_sweep_outcome,
    ledger_table,
    papermill_command,
    record_source,
    round_sig,
    verdict_apm,
    verdict_compute_share,
    verdict_head_accuracy,
    verdict_human_study,
    verdict_margins,
    verdict_optimality,
    verdict_single_gpu,
    verdict_win_rates,
    win_rates_source,
)

__all__ = [
    "CLAIMS",
    "VERDICTS",
    "Claim",
    "budget_text",
    "compute_share_bounds",
    "compute_share_source",
    "curve_stats",
    "difference_interval",
    "hardware_text",
    "lambda_sweep_outcome",
    "ledger",
    "ledger_rows",
    "ledger_table",
    "load_all_records",
    "load_records",
    "paper",
    "papermill_command",
    "record",
    "record_source",
    "round_sig",
    "verdict_apm",
    "verdict_compute_share",
    "verdict_head_accuracy",
    "verdict_human_study",
    "verdict_margins",
    "verdict_optimality",
    "verdict_single_gpu",
    "verdict_win_rates",
    "win_rates_source",
]
