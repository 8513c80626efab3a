"""The IMDb controlled-sentiment frontier: COALA against DPO, ORPO, SimPO, best-of-n and SFT, reward vs KL.

The protocol of the DPO paper's sentiment task (Rafailov et al. 2023, section 6.1), on the book's offline
models and data:

* **Reference policy**: the backbone after a Stage-0 LoRA SFT (:func:`coala_lib.backbone.sft.apply_sft`) on
  the genuine continuations of IMDb *training* reviews (both sentiments: the reference is not pushed
  towards positive text). Every method starts from it and is measured against it.
* **Training pairs**: the book's IMDb triplets (:func:`coala_lib.data.load_triplets`, ``variant="fast"``:
  prompt = the first 8 words of a review, chosen = 48 words of a positive review, rejected = of a
  negative one; off-policy pairs, no generation needed). The same ``n_train_pairs`` pairs train the COALA
  head and every LM-updating baseline. IMDb's 25,000 training reviews are split 90/10 *by review* before
  any pair is built, so no held-out prompt's review is in a training pair.
* **Prompts**: the held-out reviews' pairs are shuffled by seed; the first pairs' prompts are the test
  prompts, the next ones the validation prompts (guidance scale and beta are chosen there, never on the
  test prompts), the remaining pairs the held-out pairs of the baselines' loss and accuracy.
* **Sampling**: every policy samples at temperature 1 without truncation or repetition penalty, so its
  per-token distribution is exactly its softmax and the sequence KL to the reference is finite
  (:mod:`coala_lib.evaluation.kl`). COALA's guided modes truncate to their candidate pools as they are
  defined (paper mode: top-k 50 / top-p 0.9 nucleus, lambda x min-max score every 5 tokens; ARGS: top-10,
  ``log p + w s``, sampled); their KL is estimated from the recorded shifted distributions.
* **Methods** (in the order the run does them, most valuable first): reference sampling; COALA paper mode
  over a lambda sweep (the paper's lambda = 2 first); best-of-n with the COALA head as scorer (n = 2, 4, 8,
  16, from one pool of 16 x 2 reference samples per prompt, the costliest run; the pool is sampled without
  the head, which then scores each whole response, so a new head re-scores the pool in minutes) and its
  strong-scorer control (``best_of_n_judge``: the same pool reranked by the book's sentiment judge, judged
  by VADER; ``scorer_control`` pairs the two at each n); COALA ARGS mode over a weight sweep; the two no-head controls (``pool``: paper mode's nucleus, ``topk``: ARGS mode's top-10, both
  sampled from the reference with no head); DPO over a beta sweep; SFT on the chosen responses
  (preferred-FT); ORPO; SimPO; the authors' released decoding script (``coala_released``: its own sampler,
  temperature 0.7, seen logits / 1.1, whole-vocabulary top-p 0.9, + lambda x score on the top 15 every 6th
  token, over a lambda sweep) and its no-head control (``released_plain``: the same sampler at lambda 0). Baselines train one epoch (the stopping rule: exactly one pass, no early
  stopping), with LoRA, through TRL; their held-out loss and preference accuracy are recorded.
* **Evaluation** per method and setting, on validation and test prompts: mean reward from the book's
  sentiment judge and from VADER (a lexicon nothing here trained); the KL estimates; the win rate
  against the reference's sample of the same prompt (Wilson and paired bootstrap intervals); perplexity
  under the reference; distinct-2; counted FLOPs and wall time of training and of decoding.

Every stage is cached by content under ``cache_dir()/imdb_frontier`` (decoding runs chunk by chunk),
written atomically and verified on read, so a killed run resumes where it stopped. After every stage the
record (``record.json``), the generations (``generations.jsonl.gz``) and every best-of-n candidate
(``best_of_n_pool.jsonl.gz``) are rewritten under the output folder (the bench's ``--out``).

The modules: :mod:`.methods` (every method, declared once), :mod:`.config` (the settings), :mod:`.cache`, :mod:`.runs` (the splits, the
decoding runs and their samplers), :mod:`.context` (the stages), :mod:`.restore` (a lost cache restored
from a saved record), :mod:`.record` (the record's assembly), :mod:`.selection` (the validation choice
and the ledger's view) and :mod:`.pipeline` (:func:`run_frontier`). ``bench/imdb_frontier.py`` is its
command line.
"""

from coala_lib.experiments.frontier.cache import Cache, chunk_seed
from coala_lib.experiments.frontier.config import (
    GENERATIONS,
    METHODS,
    MINIMUMS,
    POOL,
    RECORD,
    RESTORED_COLUMNS,
    SCORER_CONTROL,
    SPLITS,
    TINY,
    UNRECORDED,
    VERSION,
    FrontierConfig,
)
from coala_lib.experiments.frontier.context import Context, measured_steps
from coala_lib.experiments.frontier.methods import (
    BOOK_METHODS,
    FRONTIER_METHODS,
    FrontierMethod,
    control_pairs,
    frontier_method,
    head_guided,
    head_steered,
    is_trained,
    ledger_names,
    register_frontier_method,
    trained_method,
)
from coala_lib.experiments.frontier.pipeline import run_frontier
from coala_lib.experiments.frontier.record import Finished, Summaries, assemble, generation_row, heads_of, run_rows
from coala_lib.experiments.frontier.restore import Saved, read_saved, restore_from_record
from coala_lib.experiments.frontier.runs import Run, decoding_runs, eos_ids, load_data, sampler
from coala_lib.experiments.frontier.selection import (
    choose,
    head_controls,
    headline_on_test,
    headline_setting,
    ledger_view,
    paired_against_coala,
    paired_on_test,
)

__all__ = [
    "BOOK_METHODS",
    "FRONTIER_METHODS",
    "GENERATIONS",
    "METHODS",
    "MINIMUMS",
    "POOL",
    "RECORD",
    "RESTORED_COLUMNS",
    "SCORER_CONTROL",
    "SPLITS",
    "TINY",
    "UNRECORDED",
    "VERSION",
    "Cache",
    "Context",
    "Finished",
    "FrontierConfig",
    "FrontierMethod",
    "Run",
    "Saved",
    "Summaries",
    "assemble",
    "choose",
    "chunk_seed",
    "control_pairs",
    "decoding_runs",
    "eos_ids",
    "frontier_method",
    "generation_row",
    "head_controls",
    "head_guided",
    "head_steered",
    "headline_on_test",
    "headline_setting",
    "heads_of",
    "is_trained",
    "ledger_names",
    "ledger_view",
    "load_data",
    "measured_steps",
    "paired_against_coala",
    "paired_on_test",
    "read_saved",
    "register_frontier_method",
    "restore_from_record",
    "run_frontier",
    "run_rows",
    "sampler",
    "trained_method",
]
