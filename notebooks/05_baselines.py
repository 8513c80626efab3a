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
# # Baselines: SFT, DPO, ORPO and SimPO with TRL
#
# [![Open In Colab](/book/assets/colab-badge.svg)](https://colab.research.google.com/github/coala-book/coala-book/blob/main/notebooks/05_baselines.ipynb)
#
# The paper compares COALA with methods that *update the language model*: supervised fine-tuning (SFT),
# DPO, ORPO and (in one table) SimPO, all trained with LoRA adapters. This notebook trains each of them
# through TRL on exactly the triplets COALA's head was trained on in notebook 03 (same loader, split and
# seed), keeps TRL's per-step log, and then puts every method, COALA included, on **one** scale: the
# pairwise accuracy of its implicit reward on held-out pairs. It also redraws the paper's reward-margin
# figure and explains why its axis mixes different quantities.

# %% tags=["remove-cell"]
# Colab only: install coala_lib and the packages Colab lacks; elsewhere this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "coala-lib @ git+https://github.com/coala-book/coala-book@main"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% tags=["parameters"]
# Which run of notebook 03 supplies COALA's head and the triplets (None: 03's default; its settings come
# from 03's hand-off); the baselines train on its training triplets.
model = None  # e.g. "mistral", "llama", "dolphin" on a GPU
dataset = None
n_pairs = None
n_eval = None
seed = None  # notebook 03's seed, also every baseline run's
baseline_options = {}  # n_train, grids or any BaselineConfig field (papermill -y); defaults: BaselineSuite
# e.g. {"n_train": None, "max_length": 128}; the paper's grids: each method's paper_grid
# (coala_lib.baselines.REGISTRY)
n_heldout = (
    16  # held-out pairs on which every implicit reward is compared (None: all n_eval)
)
device = "auto"
data_dir = None  # None: $COALA_DATA_DIR (offline copies) or the Hub

# %%
import pandas as pd

from coala_lib.baselines import BaselineSuite, hand_off_baselines, head_rewards, sweep
from coala_lib.chapters import readable
from coala_lib.chapters.plots import plot_reward_margins
from coala_lib.core import environment_record
from coala_lib.evaluation import margin_summary
from coala_lib.head import load_trained

# %% [markdown]
# ## 1. The same triplets as COALA
#
# `load_trained` reads the configuration notebook 03 handed off and makes 03's calls with it: the same
# seeded splits, and COALA's head (a cache hit once notebook 03 has run). The baselines train on the first
# `n_train` of those training triplets (`BaselineSuite`; all of them at full scale), and every method is
# scored on the same held-out triplets. Notebook 06 reads this notebook's suite back the same way.

# %%
trained = load_trained(model, dataset, n_pairs, n_eval, seed, device, data_dir)
backbone, head, report = trained.backbone, trained.head, trained.report
suite = BaselineSuite.select(baseline_options, seed=trained.config.seed)
train_triplets = trained.train.triplets[: suite.n_train]
heldout = trained.held.triplets[:n_heldout]
print(trained.describe())
print(
    f"baselines: {len(train_triplets)} of COALA's {len(trained.train)} training triplets; {len(heldout)} held-out pairs"
)

# %% [markdown]
# ## 2. Training through TRL (LoRA everywhere)
#
# Every method trains LoRA adapters with the paper's settings ($r = 16$, $\alpha = 32$, dropout 0.05, on the
# attention and MLP projections). With $\ell(y)$ the summed and $\bar\ell(y) = \ell(y)/|y|$ the mean response
# log-probability, the losses are
#
# * SFT: $-\bar\ell_\theta(y_w)$;
# * DPO: $-\log\sigma\big(\beta[(\ell_\theta - \ell_{\mathrm{ref}})(y_w) - (\ell_\theta - \ell_{\mathrm{ref}})(y_l)]\big)$;
# * ORPO: $-\bar\ell_\theta(y_w) - \lambda\log\sigma\big(\log\frac{p_w}{1-p_w} - \log\frac{p_l}{1-p_l}\big)$ with $p = e^{\bar\ell_\theta}$;
# * SimPO: $-\log\sigma\big(\beta(\bar\ell_\theta(y_w) - \bar\ell_\theta(y_l)) - \gamma\big)$.
#
# LoRA matters beyond memory: DPO's reference $\pi_{\mathrm{ref}}$ is then the same network with its adapters
# switched off. Without LoRA and without an explicit reference model, TRL would rebuild the reference from
# the model's saved path, which the offline SmolLM2 (de-quantised from a GGUF file) does not have.
# Runs are cached by content: notebook 06 loads these adapters instead of retraining.

# %%
runs = sweep(backbone, train_triplets, heldout, suite.grids, suite.config)
hand_off_baselines(
    suite, trained.config.selection()
)  # notebook 06 evaluates these runs
steps = {label: len(result.metric("loss")) for label, (result, _) in runs.items()}
print("optimiser steps per run:", steps)

# %% [markdown]
# TRL's per-step log is kept with each run (`result.json` next to the adapter). The preference methods log
# their implicit rewards of the training batch: `rewards/chosen`, `rewards/rejected`, their difference
# `rewards/margins` and `rewards/accuracies`, the fraction of pairs whose chosen reward is higher.

# %%
log = pd.concat(
    {
        label: pd.DataFrame(result.log_history).set_index("step")
        for label, (result, _) in runs.items()
    }
)
columns = [
    c
    for c in (
        "loss",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
    )
    if c in log
]
readable(log[columns].dropna(how="all"), index="method", decimals=4)

# %% [markdown]
# ## 3. One scale for every method
#
# Each method defines an implicit reward $r(x, y)$, computed here by the same code for all of them on the
# held-out pairs:
#
# | method | $r(x, y)$ |
# |---|---|
# | DPO | $\beta\,(\ell_\theta(y) - \ell_{\mathrm{ref}}(y))$ |
# | ORPO, SimPO | $\beta\,\bar\ell_\theta(y)$ (ORPO's log-odds is increasing in $\bar\ell$: same ordering) |
# | SFT | $\bar\ell_\theta(y)$ (SFT has no implicit reward; its length-normalised likelihood) |
# | COALA | the head score $s(f(x \oplus y))$ |
#
# With margins $m_i = r(x_i, y_{w,i}) - r(x_i, y_{l,i})$ we report the **pairwise accuracy**
# $\frac1n\sum_i 1[m_i > 0]$ (a tie counts one half) and the **standardised-margin score**
# $\frac1n\sum_i\sigma(m_i/\sqrt{\overline{m^2}})$, which does not change when a reward is multiplied by a positive
# constant (such as $\beta$), so it can be compared across methods: 0.5 means no preference, and
# $\sigma(1) \approx 0.73$ means every margin is positive and equal.

# %%
# NBVAL_CHECK_OUTPUT
rewards = {label: (r.chosen, r.rejected) for label, (_, r) in runs.items()}
coala = head_rewards(backbone, head, heldout, trained.config.max_length)
rewards["coala"] = (coala.chosen, coala.rejected)
summary = margin_summary(rewards)
print(summary["pairwise_accuracy"].round(4).to_string())

# %% [markdown]
# The other columns: the standardised-margin score, and the raw mean margin and mean $\sigma(m)$, which
# depend on each method's reward scale (they are what the paper's figure mixes).

# %%
readable(summary, decimals=4)

# %% [markdown]
# ## 4. The paper's reward-margin figure, and ours
#
# The paper plots a "reward margin" per training step for every method on one axis. For COALA that is the
# mean $\sigma(s_c - s_r)$ of head scores during Phase II (a number in $(0, 1)$); for DPO it is TRL's
# $\beta\,[(\ell_\theta - \ell_{\mathrm{ref}})(y_w) - (\ell_\theta - \ell_{\mathrm{ref}})(y_l)]$ (unbounded, scaled by $\beta$); ORPO and SimPO
# log $\beta$ times a difference of mean log-probabilities. These are different quantities, so their
# heights cannot be compared (top panel). The bottom panel puts every method on the scales of section 3.

# %% mystnb={"figure": {"caption": "Top: each method's own logged \u201creward margin\u201d per training step, the quantities the paper's figure puts on one axis. Bottom: every method on one scale on the held-out pairs, pairwise accuracy and the standardised-margin score; the dashed line at 0.5 is no preference.", "name": "fig-05-margins"}, "image": {"alt": "Two stacked charts. Top: line chart of logged reward margins against training step, one line per method, on very different scales. Bottom: grouped bars of pairwise accuracy and standardised-margin score per method, with a dashed line at 0.5."}}
curves = {
    label: (
        list(range(1, len(result.metric("rewards/margins")) + 1)),
        result.metric("rewards/margins"),
    )
    for label, (result, _) in runs.items()
    if result.metric("rewards/margins")
}
history = report.phase2.adamw_history
curves["coala (mean sigmoid margin)"] = (history["step"], history["margin_sigmoid"])
fig = plot_reward_margins(curves, summary)

# %% [markdown]
# ## 5. Where this ran, and the full-scale command
#
# The default run is deliberately tiny (a handful of optimiser steps per method on a CPU): it shows the
# machinery and the comparable scale, not the paper's numbers. The paper's setting (Mistral-7B or
# Llama-3.1-8B, all training pairs, the full grids, lr $2\cdot10^{-4}$, warm-up 1000, gradient accumulation 8,
# DeepSpeed ZeRO-3) runs on a GPU with, for example:
#
# ```bash
# papermill notebooks/05_baselines.ipynb out.ipynb -p model mistral -p n_heldout None \
#   -y '{"baseline_options": {"n_train": null, "max_length": 128, "epochs": 1,
#   "grids": {"sft": {}, "dpo": {"beta": [0.01, 0.05, 0.1]}, "orpo": {"beta": [0.1, 0.5, 1, 2]},
#   "simpo": {"beta": [2, 2.5], "gamma": [0.3, 0.5, 0.8, 1.0, 1.2, 1.4, 1.6]}},
#   "training_args": {"warmup_steps": 1000, "gradient_accumulation_steps": 8, "deepspeed": "ds_zero3.json"}}}'
# ```

# %%
where = environment_record()
print(
    {
        "device": where["device"],
        "device_name": where["device_name"],
        "model": backbone.model_id,
        "n_train": len(train_triplets),
        "n_heldout": len(heldout),
        "max_length": suite.config.max_length,
        "trl": next(iter(runs.values()))[0].params["trl"],
    }
)

# %% [markdown]
# Recorded for the claims ledger.

# %%
from coala_lib.claims import curve_stats, ledger, round_sig

recorded = ledger.record(
    "05_baselines",
    values={
        "pairwise_accuracy": {
            name: round_sig(acc) for name, acc in summary["pairwise_accuracy"].items()
        },
        "margin_curves": {
            name: curve_stats(ys) for name, (_, ys) in curves.items() if len(ys) >= 2
        },
        "optimiser_steps": steps,
        "n_train": len(train_triplets),
        "n_heldout": len(heldout),
        "model_id": backbone.model_id,
    },
    params={
        **trained.config.selection(),  # notebook 03's run (its settings: head_config)
        "head_config": trained.config,
        "baselines": suite,
        "n_heldout": n_heldout,
        "device": device,
        "data_dir": data_dir,
    },
)
print("recorded:", recorded and f"claims/{recorded.name}")  # relative: no machine path
