# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The claims ledger: the paper's claims next to our numbers
#
# [![Open In Colab](/book/assets/colab-badge.svg)](https://colab.research.google.com/github/coala-book/coala-book/blob/main/notebooks/08_claims_ledger.ipynb)
#
# Every experiment notebook of this book ends by recording its key numbers, its parameters and the
# machine it ran on as JSON under `results/claims/`; the benchmarks write `results/bench_*.json`. This
# page reads them back and sets each of the paper's eight main claims against them, one row per claim:
# the paper's number, ours, the command and the record that produced ours (a notebook's, or a benchmark's
# such as the IMDb frontier's), the hardware it ran on, and a verdict decided by a stated rule
# (`coala_lib.claims.verdicts`), never by hand. On a phone each claim is a card with its verdict beside it.

# %% tags=["remove-cell"]
# Colab only: install coala_lib and the packages Colab lacks; elsewhere this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "coala-lib @ git+https://github.com/coala-book/coala-book@main"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% tags=["parameters"]
results_dir = None  # None: coala_lib.core.files.results_dir() ($COALA_RESULTS_DIR or the checkout's results/)

# %% tags=["hide-input"]
from pathlib import Path

from coala_lib.chapters.plots import ledger_view
from coala_lib.claims import ledger_table, load_all_records
from coala_lib.core import results_dir as find_results_dir

folder = find_results_dir(results_dir) or Path("results")  # pip-installed: no records
records = load_all_records(folder)
print("records found in", folder.name + "/", ":", sorted(records) or "none")

# %% [markdown]
# ## Verdicts
#
# Each claim gets one of five verdicts, decided by its rule (a `verdict_*` function in one of
# `coala_lib/claims/*_verdicts.py`, re-exported by `coala_lib.claims`, whose docstring states the
# thresholds):
#
# * **holds**: our numbers agree, and the interval or certificate behind them excludes the opposite;
# * **holds with caveats**: they agree, with a stated reservation (a bound instead of a number, a
#   stand-in dataset, a hyper-parameter not chosen on held-out prompts);
# * **does not hold at our scale**: our numbers contradict the claim, at the scale we ran;
# * **inconclusive**: the evidence cannot separate the claim from its negation (an interval that
#   contains the null, too few points, no optimality certificate);
# * **not testable here**: the record or the hardware the rule needs is missing; the note says which.
#
# The default runs use a 135M-parameter model on a 2-core CPU with a few hundred pairs, so a verdict
# here is about the mechanism, not about the paper's 7-8B numbers.

# %% tags=["remove-input"]
ledger = ledger_table(records)
ledger_view(ledger)

# %% [markdown]
# `tests/test_claims.py` drives every rule through each verdict it can reach, with records of the
# size a real run writes (the committed records' own numbers among them), so that no verdict here is
# one its rule could not have withheld. To fill the "not testable here" rows, run the notebooks
# with `COALA_RESULTS_DIR` set (`bash scripts/execute_notebooks.sh` from a checkout with
# `COALA_RESULTS_DIR=$PWD/results`), and the GPU rows with the benchmark on a GPU; the page
# {doc}`../reproduce` gives the commands at the paper's scale and {doc}`../limitations` lists where this
# book departs from the paper's code.
