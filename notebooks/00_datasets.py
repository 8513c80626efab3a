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
# # The preference datasets
#
# [![Open In Colab](/book/assets/colab-badge.svg)](https://colab.research.google.com/github/coala-book/coala-book/blob/main/notebooks/00_datasets.ipynb)
#
# COALA learns from *triplets*: a prompt, a preferred (chosen) response and a dispreferred
# (rejected) one. This notebook turns every dataset of the paper into that one schema, validates
# each row (malformed rows are reported, dropped and counted), compares our counts with the
# paper's Table 2, draws the Alternating Population Method (APM) step by step on a real dialogue,
# and builds the IMDb sentiment pairs together with the offline sentiment judge that labels them.
# On its defaults it reads the offline copies in `$COALA_DATA_DIR`; with `use_hub = True` it loads
# the full datasets from the Hugging Face Hub.

# %% tags=["remove-cell"]
# Colab only: install coala_lib and the packages Colab lacks; elsewhere this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "coala-lib @ git+https://github.com/coala-book/coala-book@main"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% tags=["parameters"]
data_dir = None  # None: $COALA_DATA_DIR (offline copies); ignored when use_hub is True
use_hub = False  # True: read every dataset from the Hugging Face Hub by its public id
datasets = [
    "imdb",
    "ultrafeedback",
    "hh-rlhf",
]  # with use_hub add "edufeedback", "helpsteer"
n_per_dataset = (
    None  # None: every triplet of each split; an int keeps a seeded subsample
)
seed = 0
judge_n_train = 1000  # IMDb train reviews for the sentiment judge (balanced)
judge_n_test = 500  # held-out IMDb test reviews for its accuracy
n_judged = 300  # fast IMDb eval triplets scored by the judge
apm_replies = (
    4  # APM is drawn on the first HH-RLHF dialogue with this many assistant replies
)
imdb_generated = (
    False  # True: also build DPO-style pairs sampled from a backbone (slow on CPU)
)
generator_model = "smollm2"  # a coala_lib.backbone.registry alias, local path or Hub id
n_generated = 64
device = "auto"

# %%
import os
from collections import Counter

import pandas as pd

from coala_lib.chapters import readable
from coala_lib.chapters.plots import plot_apm, plot_judge_scores, plot_lengths
from coala_lib.claims import paper as coala_paper
from coala_lib.core import pairwise_accuracy, resolve_device
from coala_lib.data import (
    apm_triplets,
    counts_table,
    length_frame,
    load_hh_conversations,
    load_triplets,
    show_triplet,
)
from coala_lib.evaluation import SentimentJudge

if use_hub:
    os.environ.pop("COALA_DATA_DIR", None)
    data_dir = None
pd.set_option("display.max_colwidth", 80)

# %% [markdown]
# ## One schema, validated
#
# Every loader yields `Triplet(prompt, chosen, rejected, source, row, meta)`; `row` points back to
# the source row (in a local file, its line number counted from 1). Each row goes through five
# checks in order: **schema** (a line that is not a JSON record, a field missing or of the wrong
# type), **empty** (a blank prompt or response), **length** (a text over 100,000 characters),
# **identical** (chosen equals rejected) and **duplicate** (the same triplet seen before in the
# split). Control characters (NUL, backspace, ...) are removed first and the cleaned triplets
# counted. A failing row is recorded with its dataset, row and field, dropped and counted; nothing
# stops the load, but a file that cannot be read, or a split left with no triplet, is an error
# naming the file. Splits: datasets that ship
# a split keep it; the others are divided 90/10 by `seed` by conversation (or prompt) before any
# triplet is built, so that no prompt lands on both sides.

# %%
splits = {
    (name, split): load_triplets(
        name, split, n=n_per_dataset, seed=seed, data_dir=data_dir
    )
    for name in datasets
    for split in ("train", "eval")
}

# %%
# NBVAL_CHECK_OUTPUT
for ds in splits.values():
    print(f"--- {ds.split}", ds.report.summary(), sep="\n")

# %% [markdown]
# The UltraFeedback sample holds a handful of rows whose chosen and rejected answers are the same
# text (as upstream does) and two rows with an empty answer; HH-RLHF has a few transcripts whose
# chosen and rejected versions differ *before* the last assistant turn, so they are not a clean
# comparison. Each is named here:

# %%
# NBVAL_CHECK_OUTPUT
issues = pd.DataFrame([i.__dict__ for ds in splits.values() for i in ds.report.issues])
readable(issues)

# %% [markdown]
# ## Our counts and the paper's Table 2
#
# The paper's column is Table 2 of Feng & Pilanci (2026). Ours says where it came from. Offline, the
# UltraFeedback file is a 1,200-row sample of `trl-lib/ultrafeedback_binarized`, HH-RLHF is its
# harmless-base *test* file (not a dataset of the paper; it is here for its real multi-turn
# dialogues), and IMDb is built from the 25,000 training reviews as the paper's 25,000 pairs are.
# EduFeedback and HelpSteer exist only on the Hub; their loaders are tested on synthetic rows of
# the same schema (`tests/test_data_loaders.py`) and run here with `use_hub = True`.

# %%
# NBVAL_CHECK_OUTPUT
readable(counts_table(list(splits.values()), coala_paper.DATASET_PAIRS))

# %% [markdown]
# ## What the triplets look like
#
# One training triplet of each dataset (texts shortened; HH-RLHF contains red-team prompts with
# harmful text).

# %%
for name in datasets:
    print(show_triplet(splits[(name, "train")][0], width=300), end="\n\n")

# %% [markdown]
# Length in words of prompts and responses. IMDb responses are cut to 48 words by construction
# (below); UltraFeedback answers are long, HH-RLHF answers short, and HH-RLHF prompts grow with
# the dialogue.

# %% mystnb={"figure": {"caption": "Words per text in the training splits (log scale): prompts, chosen and rejected responses, one box per dataset.", "name": "fig-00-lengths"}, "image": {"alt": "Three panels of box plots (prompt, chosen, rejected) of words per text on a log scale, one box per dataset: IMDb prompts are 8 words and its responses at most 48, UltraFeedback responses are the longest (medians near 150 words), HH-RLHF responses short (medians near 20 to 30 words)."}}
fig = plot_lengths(length_frame({name: splits[(name, "train")] for name in datasets}))

# %% [markdown]
# ## The Alternating Population Method, step by step
#
# EduFeedback has no preference labels: APM makes them from the conversation itself (paper
# section 3). With the turns $t_0, t_1, \dots$ alternating user and assistant and
# $r_1 < r_2 < \dots < r_m$ the positions of the assistant replies, triplet $j$ is
#
# $$\text{prompt}_j = \text{system} + t_0 \cdots t_{r_j - 1}, \qquad
#   \text{chosen}_j = t_{r_j}, \qquad \text{rejected}_j = t_{r_j + 2} = t_{r_{j+1}}.$$
#
# The immediate reply is preferred to the assistant's reply two turns later in the message list,
# which is the next assistant reply. For `[u0, a1, u2, a3, u4, a5]`: `u0` gives `a1` over `a3`;
# `u0 a1 u2` gives `a3` over `a5`; `a5` has no reply two turns later, so a conversation with $m$
# replies yields $m - 1$ triplets. The authors' code wraps that last pair around to the first
# reply (`a5` over `a1`); we drop it (`wrap=True` reproduces theirs). Same-role turns in a row are
# merged, empty turns dropped, and the system prompt is kept in every prompt. Prompts use the
# tokenizer's chat template when one is given, else the plain `User: … Assistant:` format.
#
# HH-RLHF transcripts are real multi-turn dialogues, so we draw APM on one of them: the first
# dialogue of the training split with `apm_replies` assistant replies.

# %% mystnb={"figure": {"caption": "APM on one HH-RLHF dialogue: each row a turn (its role and opening words), each column a triplet; a cell says whether the turn is in that triplet's prompt, is its chosen or its rejected reply, or is unused.", "name": "fig-00-apm"}, "image": {"alt": "A grid with one row per dialogue turn and one column per APM triplet; cells coloured and labelled prompt, chosen, rejected or left empty, showing each triplet's prompt growing by two turns and its chosen reply preferred to the next assistant reply."}}
conversations = (
    load_hh_conversations("train", seed=seed, data_dir=data_dir)
    if "hh-rlhf" in datasets
    else {}
)
if conversations:
    row, dialogue = next(
        (r, c) for r, c in conversations.items() if len(c.replies) == apm_replies
    )
    print(
        f"HH-RLHF row {row}: {len(dialogue.turns)} turns, {len(dialogue.replies)} assistant replies"
    )
    plot_apm(dialogue)

# %%
if conversations:
    for step, triplet in enumerate(apm_triplets(dialogue, source="hh-rlhf", row=row)):
        print(f"step {step}:", show_triplet(triplet, width=160), sep="\n", end="\n\n")

# %% [markdown]
# Over all the training dialogues, dropping the wrapped pair versus keeping it:

# %%
# NBVAL_CHECK_OUTPUT
if conversations:
    per_dialogue = {
        wrap: Counter(
            len(apm_triplets(c, source="hh-rlhf", row=r, wrap=wrap))
            for r, c in conversations.items()
        )
        for wrap in (False, True)
    }
    print(
        pd.DataFrame(per_dialogue)
        .fillna(0)
        .astype(int)
        .rename_axis("triplets per dialogue")
        .rename(columns={False: "dialogues (ours)", True: "dialogues (wrap)"})
        .sort_index()
    )
    print(
        "triplets, ours:",
        sum(k * v for k, v in per_dialogue[False].items()),
        "| with wrap-around:",
        sum(k * v for k, v in per_dialogue[True].items()),
    )

# %% [markdown]
# ## IMDb pairs and the sentiment judge
#
# The DPO paper's task: the prompt is the opening of a review, two continuations are sampled from a
# language model, and a sentiment classifier prefers the more positive one. Sampling thousands of
# continuations is slow on a CPU, so the default here is a **fast variant made of real reviews
# only**. Reviews are paired, one positive (rating $\ge 7$) with one negative (rating $\le 4$); the
# first $k = 8$ words of either review are the prompt, and the next $L = 48$ words of the positive
# review are chosen, those of the negative review rejected. Each pair gives two triplets, one per
# prompt source, so the genuine continuation of the prompt is the chosen one half of the time and
# the rejected one the other half: fitting the prompt says nothing about the label. Limits: one
# response is always grafted onto another review's opening, and the label is the whole review's
# rating, which a 48-word window may not show.
#
# The judge is real and offline: MiniLM sentence embeddings $e(x)$ and a logistic regression
# $P(\text{positive} \mid x) = \sigma(w^\top e(x) + b)$ fitted with an $\ell_2$ penalty on a
# balanced sample of IMDb training reviews. Its accuracy is measured on held-out *test* reviews; it
# is cached on disk (safetensors) under a key of its training data and settings.

# %%
judge = SentimentJudge.train_or_load(
    judge_n_train,
    seed,
    data_dir,
    n_test=judge_n_test,
    device=str(resolve_device(device)),
    progress=False,
)
print(
    f"judge trained on {judge_n_train} train reviews; accuracy on {judge_n_test} held-out test reviews: {judge.accuracy:.4g}"
)

# %% [markdown]
# Does the judge agree with the fast variant's labels? It scores both responses of the first
# `n_judged` evaluation triplets; agreement is the share where the chosen text is judged more
# positive than the rejected one (`coala_lib.core.metrics.pairwise_accuracy`).

# %% mystnb={"figure": {"caption": "The sentiment judge's P(positive) for the chosen and the rejected responses of the same IMDb evaluation triplets.", "name": "fig-00-judge"}, "image": {"alt": "Two overlapping histograms of the judge's positivity from 0 to 1: the chosen responses peak near 0.7 and the rejected ones spread between 0.1 and 0.5, with a wide overlap between 0.4 and 0.7."}}
if "imdb" in datasets:
    judged = splits[("imdb", "eval")].triplets[:n_judged]
    p_chosen = judge.positivity([t.chosen for t in judged])
    p_rejected = judge.positivity([t.rejected for t in judged])
    agreement = pairwise_accuracy(p_chosen, p_rejected)  # a tie would count one half
    print(f"judge agrees with the label on {agreement:.4g} of {len(judged)} triplets")
    plot_judge_scores(p_chosen, p_rejected)

# %% [markdown]
# With `imdb_generated = True` the notebook also builds the DPO-style pairs: two continuations of
# each prompt sampled from `generator_model`, labelled by the judge, and cached on disk by content
# (model, prompts, sampling settings, judge).

# %%
if imdb_generated:
    from coala_lib.backbone import load_backbone
    from coala_lib.data import hf_sampler

    backbone = load_backbone(generator_model, device=device)
    sampling = {"max_new_tokens": 48, "temperature": 1.0, "top_p": 0.95, "seed": seed}
    generated = load_triplets(
        "imdb",
        "train",
        n=n_generated,
        seed=seed,
        data_dir=data_dir,
        variant="generated",
        judge=judge,
        generator=hf_sampler(backbone.model, backbone.tokenizer, **sampling),
        generator_key={**backbone.identity(), **sampling},
    )
    print(generated.report.summary())
    print(show_triplet(generated[0], width=300))

# %% [markdown]
# Every later notebook calls the same `load_triplets` with these parameters, so the triplets
# shown here are the ones the features, the convex head and the baselines are trained on.

# %% [markdown]
# Recorded for the claims ledger.

# %% [markdown]
# The paper reports 2.46 triplets per conversation on EduFeedback (65,606 triplets from 26,621
# tutoring conversations of 4-8 turns). EduFeedback is not in the offline copy, so HH-RLHF's shorter
# conversations stand in; the yield per conversation follows the number of assistant replies, and the
# wrap-around count is shown but is not what this book uses.

# %%
# NBVAL_CHECK_OUTPUT
if conversations:
    n_dialogues = len(conversations)
    print(
        f"triplets per conversation on HH-RLHF: "
        f"{sum(k * v for k, v in per_dialogue[False].items()) / n_dialogues:.3g} "
        f"(wrap-around: {sum(k * v for k, v in per_dialogue[True].items()) / n_dialogues:.3g}); "
        f"assistant replies per conversation: "
        f"{sum(len(c.replies) for c in conversations.values()) / n_dialogues:.3g}; "
        f"paper, EduFeedback: {coala_paper.APM_TRIPLETS_PER_CONVERSATION:.3g}"
    )

# %%
from coala_lib.claims import ledger, round_sig

apm = (
    {}
    if not conversations
    else {
        "dialogues": len(conversations),
        "assistant_replies": sum(len(c.replies) for c in conversations.values()),
        "triplets": sum(k * v for k, v in per_dialogue[False].items()),
        "triplets_wrap": sum(k * v for k, v in per_dialogue[True].items()),
        "apm_dataset": "hh-rlhf",
    }
)
recorded = ledger.record(
    "00_datasets",
    values={
        "split_sizes": {
            f"{name}/{split}": len(ds) for (name, split), ds in splits.items()
        },
        "judge_accuracy": round_sig(judge.accuracy),
        **apm,
    },
    params={
        "data_dir": data_dir,
        "use_hub": use_hub,
        "datasets": datasets,
        "n_per_dataset": n_per_dataset,
        "seed": seed,
        "judge_n_train": judge_n_train,
        "judge_n_test": judge_n_test,
        "n_judged": n_judged,
        "apm_replies": apm_replies,
        "imdb_generated": imdb_generated,
        "generator_model": generator_model,
        "n_generated": n_generated,
        "device": device,
    },
)
print("recorded:", recorded and f"claims/{recorded.name}")  # relative: no machine path
