"""The landing page (book/intro.md) opens with what the book found: the verdict counts and one sentence per
decided claim, made from the committed records by the ledger's own code, then the README's two commands."""

from __future__ import annotations

import importlib.util
import re

from notebook_checks import ROOT

from coala_lib.chapters.plots.ledger import verdict_counts
from coala_lib.claims import ledger_table, load_all_records

INTRO = ROOT / "book" / "intro.md"
README = ROOT / "README.md"


def _landing_summary():  # scripts/ is not a package: load the generator by path
    spec = importlib.util.spec_from_file_location("landing_summary", ROOT / "scripts" / "landing_summary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_intro_verdicts_are_the_ledgers() -> None:
    generator = _landing_summary()
    assert generator.current() == generator.expected(), (
        "book/intro.md's verdicts differ from the committed records': run python scripts/landing_summary.py"
    )


def test_intro_counts_equal_the_ledger_counts() -> None:
    shown = re.findall(r'class="coala-landing-count" data-verdict="([^"]+)" data-count="(\d+)"', INTRO.read_text())
    ledger = verdict_counts(ledger_table(load_all_records(ROOT / "results")))
    assert {v: int(n) for v, n in shown} == ledger and sum(ledger.values()) > 0


def test_intro_opens_with_the_findings_and_the_readme_commands() -> None:
    text = INTRO.read_text()
    first_section = text.split("\n## ", 1)[0]
    assert "coala-landing-count" in first_section, "the verdict counts come before the first section"
    commands = re.findall(r"^COALA_DATA_DIR=\S+ bash scripts/\S+$", first_section, re.M)
    readme = README.read_text()
    assert len(commands) == 2 and all(c in readme for c in commands), commands
    assert "README.md" in first_section and "executed/08_claims_ledger" in first_section
