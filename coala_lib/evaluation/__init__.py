"""Win rates and their intervals, judges (pairwise comparison protocols), the IMDb sentiment
classifier, every system's responses, and the human-study kit.
"""

from coala_lib.core.metrics import outcomes_from_scores
from coala_lib.evaluation.judges import AlpacaEvalJudge, Judge, PreferenceJudge, SentimentPairJudge, judge_texts
from coala_lib.evaluation.sentiment import SentimentJudge, fit_logistic
from coala_lib.evaluation.survey import (
    SurveyAnalysis,
    SurveyItem,
    analyse_responses,
    build_survey,
    decode_responses,
    escape_markdown,
    simulate_responses,
    write_survey,
)
from coala_lib.evaluation.systems import compare_systems, generate_systems
from coala_lib.evaluation.win_rates import (
    LengthControlled,
    WinRate,
    as_outcomes,
    length_controlled_win_rate,
    length_stats,
    margin_summary,
    mean_sigmoid_margin,
    standardized_margin_score,
    wald_interval,
    wilson_interval,
    win_rate,
    win_rate_table,
    word_lengths,
)

__all__ = [
    "AlpacaEvalJudge",
    "Judge",
    "LengthControlled",
    "PreferenceJudge",
    "SentimentJudge",
    "SentimentPairJudge",
    "SurveyAnalysis",
    "SurveyItem",
    "WinRate",
    "analyse_responses",
    "as_outcomes",
    "build_survey",
    "compare_systems",
    "decode_responses",
    "escape_markdown",
    "fit_logistic",
    "generate_systems",
    "judge_texts",
    "length_controlled_win_rate",
    "length_stats",
    "margin_summary",
    "mean_sigmoid_margin",
    "outcomes_from_scores",
    "simulate_responses",
    "standardized_margin_score",
    "wald_interval",
    "wilson_interval",
    "win_rate",
    "win_rate_table",
    "word_lengths",
    "write_survey",
]
