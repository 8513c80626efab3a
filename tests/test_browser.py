"""The built book in a real browser: headless Chromium (Debian's package) at 1280 px, driven by Playwright.

Every page of the table of contents is opened from disk, with the network switched off, and must show:
math typeset by the vendored MathJax (no error boxes), every image loaded from a local file, every local
link pointing at a file that exists, nothing wider than the text column (except inside a box that
scrolls), and on the ledger page a badge for every claim's verdict. Screenshots of the ledger (and of a
frontier page, when the book has one) are kept under ``_build/screenshots/``.

Chromium comes from ``apt-get install chromium`` (scripts/setup.sh does it where apt works); without it
the tests skip and say so.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlparse

import pytest
from notebook_checks import ROOT, built_book, toc_files

from coala_lib.claims import CLAIMS, VERDICTS

CHROMIUM = os.environ.get("COALA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "_build" / "screenshots"
WIDTH = 1280
#: Flags for a closed network (no background connections) and for running as root in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Runs in the page once MathJax has finished: what the checks below need, measured by the browser.
PAGE_FACTS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  const column = article.getBoundingClientRect();
  const scrolls = (el) => {
    for (let a = el.parentElement; a && a !== article; a = a.parentElement) {
      if (["auto", "scroll", "hidden"].includes(getComputedStyle(a).overflowX)) return true;
    }
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const overflowing = [];
  for (const el of article.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= column.right + 1 || scrolls(el)) continue;
    overflowing.push(`${name(el)} reaches ${Math.round(box.right)} px, column ends at ${Math.round(column.right)} px`);
  }
  const math = [...document.querySelectorAll(".math")];
  return {
    mathjax: [...document.scripts].map((s) => s.src).filter((s) => s.includes("mathjax")),
    mathjaxVersion: window.MathJax && MathJax.version,
    math: math.length,
    mathUntypeset: math.filter((m) => !m.querySelector("mjx-container")).length,
    mathErrors: document.querySelectorAll("mjx-merror").length,
    images: [...document.images].map((i) => ({ src: i.currentSrc || i.src, loaded: i.complete && i.naturalWidth > 0 })),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
    overflowing: overflowing.slice(0, 10),
  };
}
"""

LEDGER_FACTS = """
() => {
  const box = document.querySelector(".coala-ledger");
  if (!box) return null;
  const right = box.getBoundingClientRect().right;
  return [...box.querySelectorAll("table .coala-verdict")].map((b) => ({
    verdict: b.dataset.verdict,
    visible: b.getBoundingClientRect().width > 0 && b.getBoundingClientRect().right <= right + 1,
  }));
}
"""


class Browser(NamedTuple):
    page: Any  # a playwright Page
    html: Path  # the built book's root folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium not found: apt-get install chromium (scripts/setup.sh does it where apt works)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -r requirements.txt")
    html = built_book(tmp_path_factory)
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": WIDTH, "height": 900}, offline=True)
        yield Browser(context.new_page(), html)
        context.close()
        chromium.close()


def pages() -> list[str]:
    return [f"{entry}.html" for entry in toc_files()]


def local_file(url: str) -> Path | None:
    """The file a ``file://`` URL points at (fragment and query dropped), or ``None`` for other schemes."""
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def open_page(browser: Browser, page: str) -> dict[str, Any]:
    path = browser.html / page
    assert path.is_file(), f"{page} was not built"
    browser.page.goto(path.as_uri())
    return browser.page.evaluate(PAGE_FACTS)


@pytest.mark.parametrize("page", pages())
def test_page_in_browser(browser: Browser, page: str) -> None:
    facts = open_page(browser, page)
    problems = []
    if facts["math"] and (not facts["mathjaxVersion"] or not all(s.startswith("file://") for s in facts["mathjax"])):
        problems.append(f"MathJax not loaded from the book's own files: {facts['mathjax']}")
    if facts["mathUntypeset"] or facts["mathErrors"]:
        problems.append(
            f"{facts['mathUntypeset']} of {facts['math']} formulas not typeset, {facts['mathErrors']} errors"
        )
    for image in facts["images"]:
        if not image["src"].startswith(("file://", "data:")) or not image["loaded"]:
            problems.append(f"image not loaded locally: {image['src']}")
    for url in facts["links"]:
        target = local_file(url)
        if target is not None and not target.exists():
            problems.append(f"link to a missing file: {url}")
    problems += [f"wider than the text column: {o}" for o in facts["overflowing"]]
    assert not problems, f"{page}:\n" + "\n".join(problems)


def test_checks_are_not_vacuous(browser: Browser) -> None:
    """The page checks see what they look for: typeset formulas by the local MathJax on the
    convex-reformulation page, and an element made wider than the column."""
    facts = open_page(browser, "book/executed/01_convex_reformulation.html")
    assert facts["math"] > 0 and facts["mathUntypeset"] == 0 and facts["mathjaxVersion"]
    assert not facts["overflowing"]
    browser.page.evaluate(
        """() => { const wide = document.createElement("div"); wide.id = "too-wide"; wide.style.width = "3000px";
        wide.textContent = "x"; (document.querySelector("article.bd-article") || document.body).appendChild(wide); }"""
    )
    assert any("div#too-wide" in o for o in browser.page.evaluate(PAGE_FACTS)["overflowing"])


def test_ledger_shows_every_verdict(browser: Browser) -> None:
    open_page(browser, "book/executed/08_claims_ledger.html")
    badges = browser.page.evaluate(LEDGER_FACTS)
    assert badges is not None, "the ledger page has no .coala-ledger table (coala_lib.chapters.plots.ledger)"
    assert len(badges) == len(CLAIMS), f"{len(badges)} verdict badges for {len(CLAIMS)} claims"
    assert all(b["verdict"] in VERDICTS for b in badges), badges
    assert all(b["visible"] for b in badges), f"verdicts cut off: {[b for b in badges if not b['visible']]}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.page.screenshot(path=str(SCREENSHOTS / "08_claims_ledger.png"), full_page=True)


def test_frontier_screenshot(browser: Browser) -> None:
    """Pages named after, or holding a section on, the frontier (the IMDb reward/KL trade-off)."""
    frontier = [
        page
        for page in pages()
        if "frontier" in page or re.search(r'id="[^"]*frontier[^"]*"', (browser.html / page).read_text())
    ]
    if not frontier:
        pytest.skip("the book has no frontier page or section yet")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page in frontier:
        open_page(browser, page)
        browser.page.screenshot(path=str(SCREENSHOTS / (Path(page).stem + ".png")), full_page=True)
