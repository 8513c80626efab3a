"""The book builds warning-free from the committed executed notebooks and needs no network to read."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_checks import ROOT, colab_url, notebook_names, toc_files

REMOTE_ASSET = re.compile(
    r"<(?:script|link|img)\b[^>]*?(?:src|href)=\"(https?:)?//(?!colab\.research\.google\.com)[^\"]+\""
)


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not (ROOT / "book" / "_vendor" / "mathjax" / "tex-chtml.js").exists():
        pytest.fail("MathJax is not vendored: run bash scripts/setup.sh")
    run = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, f"jupyter-book build failed:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    return out / "_build" / "html"


def test_every_toc_page_is_built(html: Path) -> None:
    for entry in toc_files():
        assert (html / f"{entry}.html").is_file(), f"{entry} was not built"


def test_math_renders_offline(html: Path) -> None:
    page = (html / "book" / "intro.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_no_page_loads_remote_assets(html: Path) -> None:
    for page in html.rglob("*.html"):
        match = REMOTE_ASSET.search(page.read_text())
        assert match is None, f"{page.relative_to(html)} loads a remote asset: {match and match.group(0)}"


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_page_has_colab_badge(html: Path, name: str) -> None:
    page = (html / "book" / "executed" / f"{name}.html").read_text()
    assert f'href="{colab_url(name)}"' in page
