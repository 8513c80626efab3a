"""The ledger page's table: four columns, a badge per verdict, a details fold per claim."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from coala_lib.chapters.plots.ledger import VERDICT_COLOURS, ledger_view, rule_text, verdict_badge
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
