"""The landing page's verdicts (book/intro.md), generated from the committed records.

The block between the ``landing-verdicts`` markers of ``book/intro.md`` is the output of
:func:`coala_lib.chapters.plots.ledger.landing_summary` on the ledger table that notebook 08 shows
(:func:`coala_lib.claims.ledger_table` of :func:`coala_lib.claims.load_all_records` on ``results/``): the
number of claims per verdict and one sentence per decided claim, never typed by hand.

Usage: python scripts/landing_summary.py [--check]   (rewrites the block in place; with ``--check`` nothing
is written and the exit status says whether the page is up to date). tests/test_landing.py checks the same
through this module.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from coala_lib.chapters.plots.ledger import landing_summary
from coala_lib.claims import ledger_table, load_all_records

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "intro.md"
RESULTS = ROOT / "results"
START = "<!-- landing-verdicts: made by python scripts/landing_summary.py from results/; do not edit by hand -->"
END = "<!-- /landing-verdicts -->"
BLOCK = re.compile(re.escape(START) + r"\n(.*?)" + re.escape(END), re.S)


def expected(results: Path = RESULTS) -> str:
    """The block as the committed records make it."""
    return landing_summary(ledger_table(load_all_records(results)))


def current(page: Path = PAGE) -> str:
    """The block as the page holds it."""
    match = BLOCK.search(page.read_text())
    if match is None:
        raise ValueError(f"{page} has no block between {START!r} and {END!r}")
    return match.group(1)


def main(argv: list[str]) -> int:
    want = expected()
    if current() == want:
        return 0
    if "--check" in argv:
        print(f"{PAGE.relative_to(ROOT)}: the verdicts are stale; run python scripts/landing_summary.py")
        return 1
    text = PAGE.read_text()
    PAGE.write_text(BLOCK.sub(lambda _: f"{START}\n{want}{END}", text, count=1))
    print(f"rewrote the verdicts of {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
