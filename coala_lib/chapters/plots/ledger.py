"""The claims ledger as a page a reader scans in ten seconds (notebook 08).

:func:`ledger_view` takes the table of :func:`coala_lib.claims.ledger_table` (one row per claim) and
shows four columns, the claim, the paper's number, ours and the verdict as a coloured badge, with a fold
under each claim holding what decides it: the note, the rule (its ``verdict_*`` docstring), the command,
the record and the hardware. The styles travel with the table (:data:`LEDGER_CSS`), so it looks the same in
the book, in Jupyter and on Colab; on a phone each claim becomes a card with its verdict beside it.
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
#: Optional: ``record``, the path of the record the row's numbers come from (else the notebook's).


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


#: The ledger's layout, scoped to ``.coala-ledger`` and carried inside the HTML so that the table reads the
#: same in the book, in Jupyter and on Colab. Wide screens: a four-column table, each claim's fold on its
#: own full-width row under it. Narrow screens (phones): each claim is a card, the verdict beside the claim,
#: then the paper's number and ours, each labelled; nothing scrolls sideways.
LEDGER_CSS = """
.coala-ledger { max-width: 100%; overflow-x: auto; }
.coala-ledger table { width: 100%; table-layout: fixed; border-collapse: collapse; text-align: left; }
.coala-ledger th { text-align: left; padding: 0.5em 0.6em; }
.coala-ledger td { padding: 0.5em 0.6em; vertical-align: top; overflow-wrap: break-word; }
.coala-ledger tr.coala-ledger-row { border-top: 1px solid #ddd; }
.coala-ledger tr.coala-ledger-fold td { padding-top: 0; }
.coala-ledger details { font-size: 0.9em; }
.coala-ledger summary { cursor: pointer; color: #555; }
.coala-ledger dl { margin: 0.3em 0; }
.coala-ledger dt { font-weight: 600; margin-top: 0.3em; }
.coala-ledger dd { margin: 0 0 0 1em; overflow-wrap: break-word; }
.coala-ledger code { white-space: normal; overflow-wrap: break-word; }
@media (max-width: 640px) {
  .coala-ledger table, .coala-ledger tbody { display: block; width: 100%; }
  .coala-ledger thead { display: none; }
  .coala-ledger tr.coala-ledger-row { display: grid; grid-template-columns: minmax(0, 1fr) auto; column-gap: 0.6em; }
  .coala-ledger tr.coala-ledger-row td { display: block; padding: 0.15em 0; }
  .coala-ledger td.coala-ledger-claim { grid-column: 1; grid-row: 1; font-weight: 600; }
  .coala-ledger td.coala-ledger-verdict { grid-column: 2; grid-row: 1; max-width: 9em; text-align: right; }
  .coala-ledger td.coala-ledger-verdict .coala-verdict { text-align: center; }
  .coala-ledger td.coala-ledger-paper, .coala-ledger td.coala-ledger-ours { grid-column: 1 / -1; }
  .coala-ledger td.coala-ledger-paper::before, .coala-ledger td.coala-ledger-ours::before {
    content: attr(data-label) ": "; font-weight: 600;
  }
  .coala-ledger tr.coala-ledger-fold { display: block; }
  .coala-ledger tr.coala-ledger-fold td { display: block; padding: 0 0 0.6em 0; }
}
"""
#: Column headers and widths of the wide table.
HEADERS = (("Claim", "29%"), ("Paper", "19%"), ("Ours", "30%"), ("Verdict", "22%"))


def _cell(text: object, column: str, label: str) -> str:
    return f'<td class="coala-ledger-{column}" data-label="{label}">{html.escape(str(text))}</td>'


def _record(row: pd.Series) -> str:
    """Where the row's numbers come from: the ``record`` column of :func:`coala_lib.claims.ledger_table`
    (tables without it: the notebook's record, when the row has hardware)."""
    if "record" in row.index:
        return str(row["record"])
    return f"results/claims/{row['notebook']}.json" if row["hardware"] != "-" else "none yet: run the command"


def _own(row: pd.Series) -> bool:
    """Whether the row's numbers come from its notebook's own record (not a benchmark's)."""
    return "source" not in row.index or row["source"] == row["notebook"]


def _details(row: pd.Series, rule: str) -> str:
    record = _record(row)
    shown = f"<code>{html.escape(record)}</code>" if record.startswith("results/") else html.escape(record)
    items = [
        ("Note", html.escape(str(row["note"]))),
        ("Rule", html.escape(rule)),
        ("Command", f"<code>{html.escape(str(row['command']))}</code>"),
        ("Record", shown + (f" (notebook {html.escape(str(row['notebook']))})" if _own(row) else "")),
        ("Hardware", html.escape(str(row["hardware"]))),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return f'<details class="coala-ledger-details"><summary>details</summary><dl>{body}</dl></details>'


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """The number of claims per verdict, in the order of :data:`VERDICTS` (verdicts with none left out)."""
    counts = table["verdict"].value_counts()
    return {v: int(counts[v]) for v in VERDICTS if counts.get(v, 0)}


def verdict_summary(table: pd.DataFrame) -> str:
    """One line of badges with the number of claims per verdict (verdicts with none left out)."""
    parts = [f"{verdict_badge(v)}&nbsp;{n}" for v, n in verdict_counts(table).items()]
    return '<p class="coala-ledger-summary">' + " &nbsp; ".join(parts) + "</p>"


def ledger_html(table: pd.DataFrame, rules: Mapping[str, str]) -> str:
    """The ledger as an HTML table: claim, paper, ours, verdict badge, and under each claim a full-width
    row with its details fold; :data:`LEDGER_CSS` stacks each claim into a card on narrow screens."""
    head = "".join(f'<th style="width:{w}">{name}</th>' for name, w in HEADERS)
    rows = []
    for _, row in table.iterrows():
        rows.append(
            '<tr class="coala-ledger-row">'
            + _cell(row["claim"], "claim", "Claim")
            + _cell(row["paper"], "paper", "Paper")
            + _cell(row["ours"], "ours", "Ours")
            + f'<td class="coala-ledger-verdict" data-label="Verdict">{verdict_badge(str(row["verdict"]), wrap=True)}'
            + "</td></tr>"
            + f'<tr class="coala-ledger-fold"><td colspan="{len(HEADERS)}">'
            + _details(row, rules.get(str(row["claim"]), "not stated"))
            + "</td></tr>"
        )
    return (
        f'<div class="coala-ledger"><style>{LEDGER_CSS}</style>'
        + verdict_summary(table)
        + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


#: Verdicts that decide a claim one way or the other (the landing page gives each such claim a sentence).
DECIDED: tuple[str, ...] = ("holds", "holds with caveats", "does not hold at our scale")
#: The landing page's sentence quotes our number up to this many characters (whole ``;`` clauses).
SHORT_OURS = 50


def short_ours(ours: str, limit: int = SHORT_OURS) -> str:
    """The first ``;``-separated clauses of a ledger row's ``ours`` that fit in ``limit`` characters
    (at least the first clause; a ``;`` inside brackets does not end a clause)."""
    clauses, depth, start = [], 0, 0
    text = str(ours)
    for i, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        if char == ";" and depth == 0:
            clauses.append(text[start:i].strip())
            start = i + 1
    clauses = [c for c in [*clauses, text[start:].strip()] if c]
    kept = clauses[:1]
    for clause in clauses[1:]:
        if len("; ".join([*kept, clause])) > limit:
            break
        kept.append(clause)
    return "; ".join(kept)


def landing_summary(table: pd.DataFrame, ledger_doc: str = "executed/08_claims_ledger") -> str:
    """The landing page's verdicts as MyST markdown, made from the ledger table (notebook 08's own
    :func:`coala_lib.claims.ledger_table`): one line with the number of claims per verdict as badges,
    linked to the ledger page ``ledger_doc``, then one sentence per decided claim (:data:`DECIDED`): its
    verdict, the claim and our number (:func:`short_ours`; the paper's is on the ledger page)."""
    counts = " ".join(
        f'<span class="coala-landing-count" data-verdict="{html.escape(v)}" data-count="{n}">'
        f"{verdict_badge(v)}&nbsp;{n}</span>"
        for v, n in verdict_counts(table).items()
    )
    lines = [
        f"**The paper's {len(table)} claims** against this book's records ({{doc}}`ledger <{ledger_doc}>`): {counts}",
        "",
    ]
    for _, row in table.iterrows():
        if row["verdict"] in DECIDED:
            lines.append(
                f"- {verdict_badge(str(row['verdict']))} {row['claim']} (ours: {short_ours(str(row['ours']))})."
            )
    return "\n".join(lines) + "\n"
