"""The built book in a real browser: headless Chromium (Debian's package) at 1280 px and at a phone's
390 px, driven by Playwright.

Every page of the table of contents is opened from disk, with the network switched off, and must show:
math typeset by the vendored MathJax (no error boxes), every image loaded from a local file, every local
link pointing at a file that exists, nothing wider than the text column (except inside a box that
scrolls), no error in the browser's console, and on the ledger page a badge for every claim's verdict.
On a phone, the ledger's verdicts are visible without scrolling sideways and an opened fold spans its
row, and at both widths the landing page's first screen holds the ledger's verdict counts and the
README's two commands. On every page, at both widths, each figure is shown once, with alt text and a
caption, and each table of a notebook's output has human headers (no snake_case) and no index column; at
1280 px no figure is drawn wider than the text column (a wider one would be scaled down, and its text with
it, below the 9 px that coala_lib.chapters.plots.style's fonts are as drawn). Screenshots of the ledger and the landing page (and of a frontier page, when the
book has one) are kept under ``_build/screenshots/``.

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

from coala_lib.chapters.plots.ledger import verdict_counts
from coala_lib.chapters.plots.style import COLUMN_PX
from coala_lib.claims import CLAIMS, VERDICTS, ledger_table, load_all_records

CHROMIUM = os.environ.get("COALA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "_build" / "screenshots"
WIDTH = 1280
#: A phone's viewport (an iPhone 12-15's CSS pixels).
PHONE = {"width": 390, "height": 844}
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


#: The figures and tables of a page's notebook outputs, as the browser lays them out.
OUTPUT_FACTS = """
() => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  const images = [...article.querySelectorAll(".cell_output img")].map((img) => {
    const figure = img.closest("figure");
    const caption = figure && figure.querySelector("figcaption");
    return {
      src: img.getAttribute("src"), alt: (img.getAttribute("alt") || "").trim(),
      caption: caption ? caption.innerText.trim() : "",
      width: img.getBoundingClientRect().width, natural: img.naturalWidth,
    };
  });
  const tables = [...article.querySelectorAll(".cell_output table")].map((table) => ({
    headers: [...table.querySelectorAll("thead th")].map((th) => th.innerText.trim()),
    rowHeaders: table.querySelectorAll("tbody th").length,
    literalBreaks: table.innerText.includes("\\\\n"),
  }));
  return { column: article.getBoundingClientRect().width, images, tables };
}
"""
SNAKE_CASE = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]")


class Browser(NamedTuple):
    page: Any  # a playwright Page
    html: Path  # the built book's root folder
    errors: list[str]  # console errors and uncaught exceptions since the last open_page


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium not found: apt-get install chromium (scripts/setup.sh does it where apt works)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -r requirements.txt")
    html = built_book(tmp_path_factory)
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched, html
        launched.close()


def _browser(chromium: tuple[Any, Path], viewport: dict[str, int]) -> Iterator[Browser]:
    launched, html = chromium
    context = launched.new_context(viewport=viewport, offline=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught {error}"))
    yield Browser(page, html, errors)
    context.close()


@pytest.fixture(scope="module")
def browser(chromium: tuple[Any, Path]) -> Iterator[Browser]:
    yield from _browser(chromium, {"width": WIDTH, "height": 900})


@pytest.fixture(scope="module")
def phone(chromium: tuple[Any, Path]) -> Iterator[Browser]:
    yield from _browser(chromium, PHONE)


def pages() -> list[str]:
    return [f"{entry}.html" for entry in toc_files()]


def local_file(url: str) -> Path | None:
    """The file a ``file://`` URL points at (fragment and query dropped), or ``None`` for other schemes."""
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def open_page(browser: Browser, page: str) -> dict[str, Any]:
    path = browser.html / page
    assert path.is_file(), f"{page} was not built"
    browser.errors.clear()
    browser.page.goto(path.as_uri())
    return browser.page.evaluate(PAGE_FACTS)


def page_problems(browser: Browser, page: str) -> list[str]:
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
    problems += [f"browser console: {e}" for e in browser.errors]
    return problems


@pytest.mark.parametrize("page", pages())
def test_page_in_browser(browser: Browser, page: str) -> None:
    problems = page_problems(browser, page)
    assert not problems, f"{page}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", ["book/intro.html", "book/executed/08_claims_ledger.html"])
def test_page_on_a_phone(phone: Browser, page: str) -> None:
    problems = page_problems(phone, page)
    assert not problems, f"{page} at {PHONE['width']} px:\n" + "\n".join(problems)


def output_problems(facts: dict[str, Any], at_column_width: bool) -> list[str]:
    """What is wrong with a page's figures and tables (``OUTPUT_FACTS``); the size of figures is judged
    only ``at_column_width`` (1280 px), where the column is the book's widest."""
    problems = []
    sources = [image["src"] for image in facts["images"]]
    problems += [f"figure shown {sources.count(s)} times: {s}" for s in sorted(set(sources)) if sources.count(s) > 1]
    for image in facts["images"]:
        name = Path(image["src"]).name
        if not image["alt"] or image["alt"].endswith(name):
            problems.append(f"figure without alt text: {name}")
        if not image["caption"]:
            problems.append(f"figure without a caption: {name}")
        if at_column_width and image["natural"] > COLUMN_PX:
            problems.append(f"figure drawn {image['natural']} px wide for a {COLUMN_PX} px column: {name}")
        if at_column_width and image["width"] < 0.95 * image["natural"]:
            problems.append(f"figure scaled to {image['width']:.0f} of its {image['natural']} px: {name}")
    for i, table in enumerate(facts["tables"], start=1):
        if table["rowHeaders"] or (table["headers"] and not table["headers"][0]):
            problems.append(f"table {i} has an index column: {table['headers'][:4]}")
        if snake := [h for h in table["headers"] if SNAKE_CASE.search(h)]:
            problems.append(f"table {i} has snake_case headers: {snake}")
        if table["literalBreaks"]:
            problems.append(f"table {i} shows a literal \\n")
    return problems


@pytest.mark.parametrize("page", pages())
@pytest.mark.parametrize("device", ["browser", "phone"])
def test_figures_and_tables(request: pytest.FixtureRequest, device: str, page: str) -> None:
    """Each figure once, with alt text and a caption, no wider than the column at 1280 px; tables with
    human headers, no index column and their line breaks."""
    browser: Browser = request.getfixturevalue(device)
    open_page(browser, page)
    problems = output_problems(browser.page.evaluate(OUTPUT_FACTS), at_column_width=device == "browser")
    assert not problems, f"{page} at {browser.page.viewport_size['width']} px:\n" + "\n".join(problems)


def test_output_checks_are_not_vacuous(browser: Browser) -> None:
    """The figure and table checks see a page's figures and tables and fail on a duplicated figure, one
    without alt text or caption, one drawn wider than the column, and a pandas table with its index column,
    snake_case headers and a literal \\n."""
    page = "book/executed/09_imdb_frontier.html"
    open_page(browser, page)
    facts = browser.page.evaluate(OUTPUT_FACTS)
    assert len(facts["images"]) >= 4 and len(facts["tables"]) >= 8, facts
    assert not output_problems(facts, at_column_width=True)
    browser.page.evaluate(
        """() => {
        const output = document.querySelector("article .cell_output");
        const img = document.querySelector("article .cell_output img");
        const copy = img.cloneNode(); copy.alt = ""; output.appendChild(copy);
        const wide = document.createElement("img"); wide.setAttribute("src", img.getAttribute("src")); wide.style.width = "300px";
        wide.alt = "a figure"; output.appendChild(wide);
        output.insertAdjacentHTML("beforeend", "<table><thead><tr><th></th><th>win_low</th></tr></thead>"
          + "<tbody><tr><th>0</th><td>a\\\\nb</td></tr></tbody></table>");
    }"""
    )
    browser.page.wait_for_timeout(200)
    problems = "\n".join(output_problems(browser.page.evaluate(OUTPUT_FACTS), at_column_width=True))
    for expected in ("shown 3 times", "without alt text", "without a caption", "scaled to 300", "index column"):
        assert expected in problems, problems
    assert "snake_case headers: ['win_low']" in problems and "literal" in problems, problems


def test_checks_are_not_vacuous(browser: Browser) -> None:
    """The page checks see what they look for: typeset formulas by the local MathJax on the
    convex-reformulation page, an element made wider than the column, and errors in the console."""
    facts = open_page(browser, "book/executed/01_convex_reformulation.html")
    assert facts["math"] > 0 and facts["mathUntypeset"] == 0 and facts["mathjaxVersion"]
    assert not facts["overflowing"]
    browser.page.evaluate(
        """() => { const wide = document.createElement("div"); wide.id = "too-wide"; wide.style.width = "3000px";
        wide.textContent = "x"; (document.querySelector("article.bd-article") || document.body).appendChild(wide); }"""
    )
    assert any("div#too-wide" in o for o in browser.page.evaluate(PAGE_FACTS)["overflowing"])
    assert not browser.errors
    browser.page.evaluate("() => { console.error('probe'); setTimeout(() => { throw new Error('thrown'); }); }")
    browser.page.wait_for_timeout(100)
    assert browser.errors[0] == "probe" and "thrown" in browser.errors[1], browser.errors


def test_ledger_shows_every_verdict(browser: Browser) -> None:
    open_page(browser, "book/executed/08_claims_ledger.html")
    badges = browser.page.evaluate(LEDGER_FACTS)
    assert badges is not None, "the ledger page has no .coala-ledger table (coala_lib.chapters.plots.ledger)"
    assert len(badges) == len(CLAIMS), f"{len(badges)} verdict badges for {len(CLAIMS)} claims"
    assert all(b["verdict"] in VERDICTS for b in badges), badges
    assert all(b["visible"] for b in badges), f"verdicts cut off: {[b for b in badges if not b['visible']]}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.page.screenshot(path=str(SCREENSHOTS / "08_claims_ledger.png"), full_page=True)


#: The ledger on a phone: whether its box scrolls sideways, where each verdict badge sits, and how wide an
#: opened fold is against its table.
PHONE_LEDGER_FACTS = """
() => {
  const box = document.querySelector(".coala-ledger");
  if (!box) return null;
  const table = box.querySelector("table").getBoundingClientRect();
  const fold = box.querySelector("details");
  fold.open = true;
  const facts = {
    scrollsSideways: box.scrollWidth > box.clientWidth + 1,
    viewport: window.innerWidth,
    badges: [...box.querySelectorAll("table .coala-verdict")].map((b) => {
      const r = b.getBoundingClientRect();
      return { verdict: b.dataset.verdict, left: r.left, right: r.right, width: r.width };
    }),
    foldWidth: fold.getBoundingClientRect().width,
    tableWidth: table.width,
  };
  fold.open = false;
  return facts;
}
"""


def test_ledger_verdicts_on_a_phone(phone: Browser) -> None:
    """At 390 px every verdict is on screen without scrolling sideways, and an opened details fold spans
    the claim's row (not squeezed into the claim's column)."""
    open_page(phone, "book/executed/08_claims_ledger.html")
    facts = phone.page.evaluate(PHONE_LEDGER_FACTS)
    assert facts is not None, "the ledger page has no .coala-ledger table (coala_lib.chapters.plots.ledger)"
    assert not facts["scrollsSideways"], "the ledger scrolls sideways on a phone"
    badges = facts["badges"]
    assert len(badges) == len(CLAIMS), f"{len(badges)} verdict badges for {len(CLAIMS)} claims"
    hidden = [b for b in badges if b["width"] == 0 or b["left"] < 0 or b["right"] > facts["viewport"]]
    assert not hidden, f"verdicts off-screen at {PHONE['width']} px: {hidden}"
    assert facts["foldWidth"] >= 0.9 * facts["tableWidth"], facts
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.page.screenshot(path=str(SCREENSHOTS / "08_claims_ledger_390.png"), full_page=True)


#: The landing page's first screen: the verdict counts shown and where the counts and the commands sit.
LANDING_FACTS = """
() => {
  const bottom = (el) => el.getBoundingClientRect().bottom;
  return {
    height: window.innerHeight,
    counts: [...document.querySelectorAll(".coala-landing-count")].map((c) => ({
      verdict: c.dataset.verdict, count: Number(c.dataset.count), bottom: bottom(c),
      visible: c.getBoundingClientRect().width > 0,
    })),
    commands: [...document.querySelectorAll(".coala-landing-commands pre")].map((p) => ({
      text: p.innerText, bottom: bottom(p),
    })),
  };
}
"""


@pytest.mark.parametrize("device", ["browser", "phone"])
def test_landing_first_screen(request: pytest.FixtureRequest, device: str) -> None:
    """The landing page's first screen, at 1280 and at 390 px, holds the verdict counts (those of the
    ledger notebook 08 shows, from the committed records) and the README's two commands."""
    browser: Browser = request.getfixturevalue(device)
    open_page(browser, "book/intro.html")
    facts = browser.page.evaluate(LANDING_FACTS)
    ledger = verdict_counts(ledger_table(load_all_records(ROOT / "results")))
    assert {c["verdict"]: c["count"] for c in facts["counts"]} == ledger
    assert all(c["visible"] and c["bottom"] <= facts["height"] for c in facts["counts"]), facts
    readme = (ROOT / "README.md").read_text()
    commands = [line for block in facts["commands"] for line in block["text"].splitlines() if line.strip()]
    assert len(commands) == 2 and all(c in readme for c in commands), commands
    assert all(block["bottom"] <= facts["height"] for block in facts["commands"]), facts
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = browser.page.viewport_size["width"]
    browser.page.screenshot(path=str(SCREENSHOTS / f"intro_{width}.png"))


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
