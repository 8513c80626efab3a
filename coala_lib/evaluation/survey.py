"""The human-study kit: a blind multiple-choice survey page and the analysis of its responses.

The paper's human study (its Table 4): 107 raters, 25 multiple-choice items per dataset; each item shows
one prompt and the responses of COALA, DPO, ORPO and SFT, and a rater picks the best one.

* :func:`build_survey` writes the page as MyST markdown for the book: per item the prompt and the options
  labelled A, B, C, ... in an order drawn per item from ``seed`` (a rater cannot learn a position), with no
  method name on the page. The answer key (item -> letter -> method) is returned separately and
  :func:`write_survey` stores it in its own JSON file, which the page does not link to.
* :func:`analyse_responses` reads responses ``(rater, item, choice)`` (a CSV with those columns, ``choice``
  a letter), decodes them with the key and reports, per item and pooled, the share of judgments won by
  each method. Judgments are clustered: one rater answers every item and one item is answered by every
  rater, so a rater's taste or an item's difficulty moves many judgments together. The pooled interval
  (``low``, ``high``) is therefore a two-way cluster bootstrap (:func:`two_way_bootstrap`: raters and items
  resampled independently, Owen's pigeonhole bootstrap); the Wilson interval over all judgments, which
  treats them as independent, and the paper's Wald interval with :math:`n` = the number of raters are
  kept beside it for comparison (:mod:`coala_lib.evaluation.win_rates`). Per item (one judgment per rater)
  the Wilson interval is used.

The paper's Table 4 numbers live in :mod:`coala_lib.claims.paper` (a higher stage): pass them in.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from coala_lib.core.files import atomic_write_bytes, atomic_write_json
from coala_lib.evaluation.win_rates import wald_interval, wilson_interval

RESPONSE_COLUMNS = ("rater", "item", "choice")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|$:~^&%])")


@dataclass(frozen=True)
class SurveyItem:
    """One question: a ``prompt`` and each method's response to it (``{method: text}``)."""

    prompt: str
    responses: Mapping[str, str]


def escape_markdown(text: str) -> str:
    """``text`` with every markdown / MyST special character backslash-escaped and newlines as line breaks."""
    lines = [_MARKDOWN_SPECIAL.sub(r"\\\1", line) for line in text.strip().splitlines() or [""]]
    return "\\\n".join(lines)


def build_survey(items: Sequence[SurveyItem], seed: int = 0, title: str = "Which answer is best?") -> tuple[str, dict]:
    """The survey page (MyST markdown) and its answer key ``{"seed", "items": {"1": {"A": method, ...}}}``."""
    if not items:
        raise ValueError("items is empty: a survey needs at least one question")
    methods = sorted(items[0].responses)
    if len(methods) < 2 or len(methods) > len(string.ascii_uppercase):
        raise ValueError(f"each item needs between 2 and 26 responses, got {len(methods)}")
    rng = np.random.default_rng(seed)
    lines = [
        f"# {title}",
        "",
        "For each item, read the prompt and the candidate answers, then choose the one you find "
        "best. Record your answers as rows `rater,item,choice` (for example `r07,3,B`).",
        "",
    ]
    key: dict[str, dict[str, str]] = {}
    for number, item in enumerate(items, start=1):
        if sorted(item.responses) != methods:
            raise ValueError(f"item {number} has responses from {sorted(item.responses)}, expected {methods}")
        order = [methods[i] for i in rng.permutation(len(methods))]
        letters = string.ascii_uppercase[: len(order)]
        key[str(number)] = dict(zip(letters, order))
        lines += [f"## Item {number}", "", "**Prompt.** " + escape_markdown(item.prompt), ""]
        for letter, method in zip(letters, order):
            lines += [f"**{letter}.** " + escape_markdown(item.responses[method]), ""]
    return "\n".join(lines), {"seed": seed, "methods": methods, "items": key}


def write_survey(
    page: str | os.PathLike,
    key_path: str | os.PathLike,
    items: Sequence[SurveyItem],
    seed: int = 0,
    title: str = "Which answer is best?",
) -> tuple[Path, Path]:
    """Write the page and, separately, its answer key (atomically); return both paths."""
    if Path(page).resolve() == Path(key_path).resolve():
        raise ValueError("page and key_path must differ: the key is stored apart from the page")
    text, key = build_survey(items, seed, title)
    return atomic_write_bytes(page, (text + "\n").encode("utf-8")), atomic_write_json(key_path, key)


def decode_responses(responses: pd.DataFrame | str | os.PathLike, key: Mapping) -> pd.DataFrame:
    """Responses (a DataFrame or a CSV path with columns rater, item, choice) with a ``method`` column added.

    Raises a ``ValueError`` naming the row for an unknown item or a letter the item does not have.
    """
    frame = pd.read_csv(responses) if not isinstance(responses, pd.DataFrame) else responses.copy()
    missing = set(RESPONSE_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"responses lack the column(s) {sorted(missing)}; expected {RESPONSE_COLUMNS}")
    frame["item"] = frame["item"].astype(str)
    frame["choice"] = frame["choice"].astype(str).str.strip().str.upper()
    methods = []
    for row in frame.itertuples(index=False):
        options = key["items"].get(row.item)
        if options is None or row.choice not in options:
            raise ValueError(
                f"response (rater={row.rater}, item={row.item}, choice={row.choice}) does not match the key"
            )
        methods.append(options[row.choice])
    frame["method"] = methods
    return frame


def two_way_bootstrap(
    frame: pd.DataFrame, methods: Sequence[str], n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    r"""Percentile interval of each method's pooled share under the two-way (rater x item) bootstrap.

    Draw multiplicities :math:`a_r` for the raters and :math:`b_i` for the items (multinomial, as resampling
    each with replacement); a judgment of rater :math:`r` on item :math:`i` gets weight :math:`a_r b_i`, and the
    share of method :math:`m` is :math:`\sum_j a_{r_j} b_{i_j} [m_j = m] / \sum_j a_{r_j} b_{i_j}`. Its variance
    counts the rater and the item effects, which an interval over independent judgments ignores.
    """
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError(f"need n_boot >= 1 and level in (0, 1), got {n_boot} and {level}")
    raters, r_idx = np.unique(frame["rater"].astype(str), return_inverse=True)
    items, i_idx = np.unique(frame["item"].astype(str), return_inverse=True)
    chosen = np.stack([(frame["method"] == m).to_numpy(float) for m in methods], axis=1)  # (J, M)
    rng = np.random.default_rng(seed)
    a = rng.multinomial(len(raters), np.full(len(raters), 1 / len(raters)), size=n_boot)  # (B, R)
    b = rng.multinomial(len(items), np.full(len(items), 1 / len(items)), size=n_boot)  # (B, I)
    weights = a[:, r_idx] * b[:, i_idx]  # (B, J)
    total = weights.sum(axis=1, keepdims=True)
    shares = (weights @ chosen) / np.where(total > 0, total, 1)  # (B, M)
    lows, highs = np.quantile(shares[total[:, 0] > 0], [(1 - level) / 2, (1 + level) / 2], axis=0)
    return {m: (float(lo), float(hi)) for m, lo, hi in zip(methods, lows, highs, strict=True)}


def _shares(frame: pd.DataFrame, methods: Sequence[str], level: float, pooled: bool, seed: int = 0) -> list[dict]:
    n = len(frame)
    clustered = two_way_bootstrap(frame, methods, seed=seed, level=level) if pooled else {}
    rows = []
    for method in methods:
        won = int((frame["method"] == method).sum())
        wilson = wilson_interval(won, n, level)
        row = {"method": method, "won": won, "judgments": n, "share": won / n}
        row["low"], row["high"] = clustered.get(method, wilson)
        if pooled:
            row["wilson_low"], row["wilson_high"] = wilson
            row["wald_low"], row["wald_high"] = wald_interval(won / n, int(frame["rater"].nunique()), level)
        rows.append(row)
    return rows


@dataclass
class SurveyAnalysis:
    """``pooled`` (one row per method) and ``per_item`` (one row per item and method) win shares."""

    pooled: pd.DataFrame
    per_item: pd.DataFrame
    n_raters: int
    n_items: int


def analyse_responses(
    responses: pd.DataFrame | str | os.PathLike, key: Mapping, level: float = 0.95, seed: int = 0
) -> SurveyAnalysis:
    """Win shares per item (Wilson intervals) and pooled over all judgments: ``low``/``high`` the two-way
    cluster bootstrap (seeded by ``seed``), ``wilson_*`` the interval that treats judgments as independent,
    ``wald_*`` the paper's Wald interval with ``n`` = the number of raters."""
    frame = decode_responses(responses, key)
    if frame.empty:
        raise ValueError("responses is empty: there is nothing to analyse")
    methods = list(key["methods"])
    n_raters = int(frame["rater"].nunique())
    pooled = pd.DataFrame(_shares(frame, methods, level, True, seed)).set_index("method")
    per_item = pd.DataFrame(
        [
            {"item": item, **row}
            for item, group in frame.groupby("item", sort=False)
            for row in _shares(group, methods, level, False)
        ]
    )
    return SurveyAnalysis(pooled, per_item, n_raters, int(frame["item"].nunique()))


def simulate_responses(key: Mapping, shares: Mapping[str, float], n_raters: int, seed: int = 0) -> pd.DataFrame:
    """Every rater answers every item, picking method ``m`` with probability ``shares[m]``: a test fixture and a
    dry run of the analysis (the letters are found through the key, as a real rater's would be)."""
    methods = list(key["methods"])
    p = np.array([shares[m] for m in methods], dtype=float)
    if (p < 0).any() or not np.isclose(p.sum(), 1):
        raise ValueError(f"shares must be non-negative and sum to 1 over {methods}, got {dict(shares)}")
    rng = np.random.default_rng(seed)
    rows = []
    for rater in range(n_raters):
        for item, options in key["items"].items():
            letter_of = {method: letter for letter, method in options.items()}
            rows.append(
                {"rater": f"r{rater:03d}", "item": item, "choice": letter_of[methods[rng.choice(len(methods), p=p)]]}
            )
    return pd.DataFrame(rows, columns=list(RESPONSE_COLUMNS))
