"""The claims ledger as a page a reader scans in ten seconds (notebook 08).

:func:`ledger_view` takes the table of :func:`coala_lib.claims.ledger_table` (one row per claim) and
shows four columns, the claim, the paper's number, ours and the verdict as a coloured badge, with a fold
under each claim holding what decides it: the note, the rule (its ``verdict_*`` docstring), the command,
the record and the hardware. The styles are inline, so the table looks the same in the book, in Jupyter
and on Colab; wide content wraps inside the table's own scrolling box.
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from coala_lib.claims import CLAIMS, VERDICTS, Claim

#: Badge colours (background, text) per verdict; contrast at least 4.5:1 against white text.
VERDICT_COLOURS: Mapping[str, str] = {
    "holds": "#1a7f37",
    "holds with caveats": "#9a6700",
    "does not hold at our scale": "#cf222e",
    "inconclusive": "#6639ba",
    "not testable here": "#57606a",
}
COLUMNS = ("claim", "paper", "ours", "verdict", "note", "notebook", "command", "hardware")


def verdict_badge(verdict: str, wrap: bool = False) -> str:
    """A verdict as an HTML badge, coloured by :data:`VERDICT_COLOURS` (``wrap``: may break into lines)."""
    if verdict not in VERDICT_COLOURS:
        raise ValueError(f"verdict {verdict!r} is not one of {tuple(VERDICT_COLOURS)}")
    return (
        f'<span class="coala-verdict" data-verdict="{html.escape(verdict)}" style="display:inline-block;'
        f"padding:0.15em 0.6em;border-radius:0.8em;background:{VERDICT_COLOURS[verdict]};color:#fff;"
        f'font-size:0.85em;font-weight:600;white-space:{"normal" if wrap else "nowrap"}">{html.escape(verdict)}</span>'
    )


def rule_text(claim: Claim) -> str:
    """The claim's rule in words: its ``verdict_*`` docstring, Sphinx roles reduced to their text."""
    doc = inspect.getdoc(claim.rule) or claim.rule.__name__
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", " ".join(doc.split()))


@dataclass(frozen=True)
class LedgerView:
    """The ledger page's table: HTML in a notebook (``_repr_html_``), the plain table elsewhere."""

    table: pd.DataFrame
    rules: Mapping[str, str]

    def _repr_html_(self) -> str:
        return ledger_html(self.table, self.rules)

    def __repr__(self) -> str:
        return self.table[["claim", "paper", "ours", "verdict"]].to_string(index=False)


def ledger_view(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> LedgerView:
    """The display of ``table`` (columns :data:`COLUMNS`), with each claim's rule from ``claims``."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"the ledger table lacks the columns {missing}; build it with coala_lib.claims.ledger_table")
    rules = {c.statement: rule_text(c) for c in claims}
    return LedgerView(table.reset_index(drop=True), rules)


def _cell(text: object, style: str = "") -> str:
    return f'<td style="padding:0.5em 0.6em;vertical-align:top;{style}">{html.escape(str(text))}</td>'


def _details(row: pd.Series, rule: str) -> str:
    record = f"results/claims/{row['notebook']}.json" if row["hardware"] != "-" else "none yet: run the command"
    items = [
        ("Note", html.escape(str(row["note"]))),
        ("Rule", html.escape(rule)),
        ("Command", f"<code>{html.escape(str(row['command']))}</code>"),
        ("Record", f"{html.escape(record)} (notebook {html.escape(str(row['notebook']))})"),
        ("Hardware", html.escape(str(row["hardware"]))),
    ]
    body = "".join(
        f'<dt style="font-weight:600;margin-top:0.3em">{k}</dt><dd style="margin:0 0 0 1em">{v}</dd>' for k, v in items
    )
    return (
        '<details class="coala-ledger-details" style="margin-top:0.4em;font-size:0.9em">'
        f'<summary style="cursor:pointer;color:#555">details</summary><dl style="margin:0.3em 0">{body}</dl></details>'
    )


def verdict_summary(table: pd.DataFrame) -> str:
    """One line of badges with the number of claims per verdict (verdicts with none left out)."""
    counts = table["verdict"].value_counts()
    parts = [f"{verdict_badge(v)}&nbsp;{int(counts[v])}" for v in VERDICTS if counts.get(v, 0)]
    return '<p class="coala-ledger-summary">' + " &nbsp; ".join(parts) + "</p>"


def ledger_html(table: pd.DataFrame, rules: Mapping[str, str]) -> str:
    """The ledger as an HTML table: claim (with its details fold), paper, ours, verdict badge."""
    head = "".join(
        f'<th style="text-align:left;padding:0.5em 0.6em;width:{w}">{name}</th>'
        for name, w in (("Claim", "29%"), ("Paper", "19%"), ("Ours", "30%"), ("Verdict", "22%"))
    )
    rows = []
    for _, row in table.iterrows():
        claim = html.escape(str(row["claim"])) + _details(row, rules.get(str(row["claim"]), "not stated"))
        rows.append(
            '<tr class="coala-ledger-row" style="border-top:1px solid #ddd">'
            f'<td style="padding:0.5em 0.6em;vertical-align:top">{claim}</td>'
            + _cell(row["paper"])
            + _cell(row["ours"])
            + f'<td style="padding:0.5em 0.6em;vertical-align:top">{verdict_badge(str(row["verdict"]), wrap=True)}</td></tr>'
        )
    return (
        '<div class="coala-ledger" style="overflow-x:auto;max-width:100%">'
        + verdict_summary(table)
        + '<table style="width:100%;min-width:36em;table-layout:fixed;border-collapse:collapse;'
        'overflow-wrap:break-word;text-align:left">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
