"""The ledger page's table: four columns, a badge per verdict, a details fold per claim."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from coala_lib.chapters.plots.ledger import (
    VERDICT_COLOURS,
    landing_summary,
    ledger_view,
    rule_text,
    short_ours,
    verdict_badge,
    verdict_counts,
)
from coala_lib.claims import CLAIMS, VERDICTS, ledger_table


def table(verdicts: list[str]) -> pd.DataFrame:
    rows = [
        {
            "claim": claim.statement,
            "paper": claim.paper,
            "ours": f"ours <{i}>",
            "verdict": verdict,
            "note": "a note & more",
            "notebook": claim.notebook,
            "command": f"papermill notebooks/{claim.notebook}.ipynb out.ipynb",
            "hardware": "x86_64" if i % 2 else "-",
        }
        for i, (claim, verdict) in enumerate(zip(CLAIMS, verdicts))
    ]
    return pd.DataFrame(rows)


def test_every_verdict_has_a_colour() -> None:
    assert set(VERDICT_COLOURS) == set(VERDICTS)


def test_one_row_per_claim_with_badge_and_details() -> None:
    verdicts = [VERDICTS[i % len(VERDICTS)] for i in range(len(CLAIMS))]
    html = ledger_view(table(verdicts))._repr_html_()
    assert html.count('class="coala-ledger-row"') == len(CLAIMS)
    assert re.findall(r'data-verdict="([^"]+)"', html.split("<table", 1)[1]) == verdicts
    assert html.count("<details") == len(CLAIMS)
    assert "ours &lt;1&gt;" in html and "a note &amp; more" in html, "cell text must be escaped"
    assert "results/claims/" in html and "none yet: run the command" in html
    for name in ("Claim", "Paper", "Ours", "Verdict"):
        assert f">{name}</th>" in html


def test_summary_counts_each_verdict() -> None:
    verdicts = ["holds"] * 3 + ["not testable here"] * (len(CLAIMS) - 3)
    summary = ledger_view(table(verdicts))._repr_html_().split("<table", 1)[0]
    assert "holds</span>&nbsp;3" in summary and f"not testable here</span>&nbsp;{len(CLAIMS) - 3}" in summary
    assert "inconclusive" not in summary


def test_rule_is_the_docstring_without_roles() -> None:
    text = rule_text(CLAIMS[0])
    assert text and ":func:" not in text and "\n" not in text


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="lacks the columns"):
        ledger_view(pd.DataFrame({"claim": ["x"]}))
    with pytest.raises(ValueError, match="not one of"):
        verdict_badge("maybe")


def test_built_from_the_real_table() -> None:
    view = ledger_view(ledger_table({}))
    assert view._repr_html_().count('class="coala-ledger-row"') == len(CLAIMS)
    assert "claim" in repr(view) and "verdict" in repr(view)


def test_narrow_screens_stack_each_claim_with_its_verdict() -> None:
    """No fixed minimum width (the verdict column used to sit off-screen on a phone); a media query turns
    each claim into a card with the verdict beside it; each fold has a full-width row of its own."""
    html = ledger_view(table([VERDICTS[0]] * len(CLAIMS)))._repr_html_()
    assert "min-width" not in html
    assert "@media (max-width:" in html and "coala-ledger-verdict" in html.split("@media", 1)[1]
    assert html.count('<tr class="coala-ledger-fold"><td colspan="4"><details') == len(CLAIMS)
    row = html.split('<tr class="coala-ledger-row">', 2)[1].split("</tr>", 1)[0]
    assert "<details" not in row, "the fold spans the row, not the claim's cell"
    assert re.findall(r'<td class="coala-ledger-(\w+)"', row) == ["claim", "paper", "ours", "verdict"]


def test_details_name_the_rows_record() -> None:
    rows = table(["holds"] * len(CLAIMS)).assign(record="results/imdb_frontier/record.json")
    rows.loc[1, "record"] = "none yet: run the command"
    html = ledger_view(rows)._repr_html_()
    assert html.count("<code>results/imdb_frontier/record.json</code>") == len(CLAIMS) - 1
    assert "none yet: run the command" in html and "results/claims/" not in html
    assert "(notebook " in html, "a notebook's own record names the notebook"
    frontier = rows.assign(source="imdb_frontier")
    assert "(notebook " not in ledger_view(frontier)._repr_html_(), "a benchmark's record is not the notebook's"


def test_short_ours_keeps_whole_clauses() -> None:
    assert short_ours("a: 1; b: 2; c: 3", limit=10) == "a: 1; b: 2"
    assert short_ours("1.49 per conversation (2081 dialogues; wrap 2.2); more", limit=20) == (
        "1.49 per conversation (2081 dialogues; wrap 2.2)"
    )
    assert short_ours("-") == "-"


def test_landing_summary_counts_and_sentences() -> None:
    verdicts = ["holds", "does not hold at our scale", "inconclusive", "not testable here"] * 2
    rows = table(verdicts[: len(CLAIMS)])
    text = landing_summary(rows)
    counts = dict(re.findall(r'class="coala-landing-count" data-verdict="([^"]+)" data-count="(\d+)"', text))
    assert {v: int(n) for v, n in counts.items()} == verdict_counts(rows)
    assert "{doc}`ledger <executed/08_claims_ledger>`" in text
    sentences = [line for line in text.splitlines() if line.startswith("- ")]
    decided = rows[rows["verdict"].isin(["holds", "holds with caveats", "does not hold at our scale"])]
    assert len(sentences) == len(decided)
    for line, (_, row) in zip(sentences, decided.iterrows()):
        assert f'data-verdict="{row["verdict"]}"' in line and row["claim"] in line
