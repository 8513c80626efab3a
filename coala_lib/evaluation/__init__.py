"""Evaluation: judges, win rates with their intervals, KL to the reference, every system's answers.

Entry points, by module (helpers stay in their modules, e.g. ``coala_lib.evaluation.win_rates.wald_interval``):

* ``judges``: the comparison protocols, a :class:`Judge` (:class:`SentimentPairJudge`,
  :class:`PreferenceJudge`, :class:`AlpacaEvalJudge`) and :func:`judge_texts` (a judge's inputs);
* ``sentiment``: :class:`SentimentJudge`, the offline IMDb classifier; ``lexicon``: :class:`LexiconJudge` (VADER);
* ``win_rates``: :func:`win_rate` (a :class:`WinRate` with its :func:`wilson_interval`), :func:`win_rate_table`,
  :func:`length_controlled_win_rate`, :func:`length_stats`, :func:`margin_summary`;
* ``kl``: :func:`policy_kl_terms` (a policy's KL to the reference), a :class:`SamplingRecorder` for the
  sampler's own distribution, :func:`best_of_n_kl_bound`;
* ``frontier``: the reward-KL frontier's statistics, :func:`summarise_setting`, :func:`paired_difference`,
  :func:`matched_kl_difference`;
* ``systems``: :func:`generate_systems` and :func:`compare_systems` (notebook 06);
* ``survey``: the human-study kit, :func:`write_survey` of :class:`SurveyItem`, :func:`simulate_responses`,
  :func:`analyse_responses`;
* ``head_study``: the head study's record (:func:`study_record`) and :func:`authors_protocol`.
"""

from coala_lib.evaluation.frontier import matched_kl_difference, paired_difference, summarise_setting
from coala_lib.evaluation.head_study import authors_protocol, study_record
from coala_lib.evaluation.judges import AlpacaEvalJudge, Judge, PreferenceJudge, SentimentPairJudge, judge_texts
from coala_lib.evaluation.kl import SamplingRecorder, best_of_n_kl_bound, policy_kl_terms
from coala_lib.evaluation.lexicon import LexiconJudge
from coala_lib.evaluation.sentiment import SentimentJudge
from coala_lib.evaluation.survey import SurveyItem, analyse_responses, simulate_responses, write_survey
from coala_lib.evaluation.systems import compare_systems, generate_systems
from coala_lib.evaluation.win_rates import (
    WinRate,
    length_controlled_win_rate,
    length_stats,
    margin_summary,
    wilson_interval,
    win_rate,
    win_rate_table,
)

__all__ = [
    "AlpacaEvalJudge",
    "Judge",
    "LexiconJudge",
    "PreferenceJudge",
    "SamplingRecorder",
    "SentimentJudge",
    "SentimentPairJudge",
    "SurveyItem",
    "WinRate",
    "analyse_responses",
    "authors_protocol",
    "best_of_n_kl_bound",
    "compare_systems",
    "generate_systems",
    "judge_texts",
    "length_controlled_win_rate",
    "length_stats",
    "margin_summary",
    "matched_kl_difference",
    "paired_difference",
    "policy_kl_terms",
    "simulate_responses",
    "study_record",
    "summarise_setting",
    "wilson_interval",
    "win_rate",
    "win_rate_table",
    "write_survey",
]
