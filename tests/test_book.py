"""The book builds warning-free from the committed executed notebooks, needs no network to read, and its
executed pages carry no progress bars, warnings or paths of the machine that built them."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nbformat
import pytest
from notebook_checks import EXECUTED, ROOT, built_book, colab_url, notebook_names, toc_files

#: A script, stylesheet or image fetched from the network (the Colab badge too is a local SVG now).
REMOTE_ASSET = re.compile(r"<(?:script|link|img)\b[^>]*?(?:src|href)=\"(https?:)?//[^\"]+\"")

#: What a page must not show. A progress bar: tqdm's "NN%|" gauge or its "it/s]" rate.
PROGRESS_BAR = re.compile(r"\d+%\|[^\n]*\||\d+(?:\.\d+)?(?:it|s)/(?:s|it)\]")
#: A warning as Python prints it: "file.py:123: SomeWarning: ..."
PRINTED_WARNING = re.compile(r"\.py:\d+: \w*Warning\b")
#: Paths that belong to the building machine: installed packages, home and temporary folders, this checkout.
MACHINE_PATH = re.compile(
    "|".join(
        [
            r"site-packages",
            r"dist-packages",
            r"(?<![\w.])/(?:home|Users|root|tmp|var/folders|private/var)/",
            re.escape(str(ROOT)),
            re.escape(str(Path.home())) + r"/",
            re.escape(tempfile.gettempdir()) + r"/",
        ]
    )
)


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_book(tmp_path_factory)


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


def test_book_stylesheet_is_linked(html: Path) -> None:
    page = (html / "book" / "intro.html").read_text()
    assert 'href="../_static/coala.css' in page, "_config.yml html_css_files must link book/assets/coala.css"


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_page_has_colab_badge(html: Path, name: str) -> None:
    page = (html / "book" / "executed" / f"{name}.html").read_text()
    badge = re.search(rf'<a [^>]*href="{re.escape(colab_url(name))}"[^>]*>\s*<img [^>]*src="([^"]+)"', page)
    assert badge, f"no Colab badge linking to {colab_url(name)}"
    assert badge.group(1).endswith("colab-badge.svg") and "//" not in badge.group(1), "the badge must be the local SVG"
    assert "# Colab only:" not in page, "the Colab set-up cell is for Colab; the page leaves it out (remove-cell)"


def output_texts(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(cell index, text) of every textual output: streams, plain text, HTML, markdown, tracebacks."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                found.append((index, output.text))
            elif output.output_type == "error":
                found.append((index, "\n".join(output.traceback)))
            else:
                for mime, value in output.get("data", {}).items():
                    if mime.startswith("text/") or mime.endswith("json"):
                        found.append((index, value if isinstance(value, str) else str(value)))
    return found


def scan(nb: nbformat.NotebookNode) -> list[str]:
    """Every progress bar, printed warning, stderr output and machine path in ``nb``'s outputs."""
    problems = []
    for index, text in output_texts(nb):
        for label, pattern in (("progress bar", PROGRESS_BAR), ("warning", PRINTED_WARNING), ("path", MACHINE_PATH)):
            if match := pattern.search(text):
                line = text[text.rfind("\n", 0, match.start()) + 1 :].split("\n", 1)[0]
                problems.append(f"cell {index}: {label}: {line[:160]!r}")
    for index, cell in enumerate(nb.cells):
        if any(
            o.output_type == "stream" and o.name == "stderr" and PROGRESS_BAR.search(o.text)
            for o in cell.get("outputs", [])
        ):
            problems.append(f"cell {index}: progress bar on stderr")
    return problems


def test_scan_finds_what_it_looks_for() -> None:
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="features:  3%|▎         | 1/32 [00:01<00:30,  1.02it/s]"),
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text=f"{ROOT}/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found",
        ),
        nbformat.v4.new_output(
            "execute_result",
            data={"text/plain": "PosixPath('/home/someone/results/claims/03.json')"},
            execution_count=1,
        ),
    ]
    clean = nbformat.v4.new_code_cell("y")
    clean.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="recorded: claims/03_train.json\naccuracy 71.5% | 0.62\n")
    ]
    problems = scan(nbformat.v4.new_notebook(cells=[cell, clean]))
    assert {p.split(":")[1].strip() for p in problems} >= {"progress bar", "warning", "path"}
    assert not [p for p in problems if p.startswith("cell 1")], problems


@pytest.mark.parametrize("name", notebook_names())
def test_executed_page_is_clean(name: str) -> None:
    """No progress bars, printed warnings or building-machine paths in book/executed/<name>.ipynb
    (scripts/execute_notebooks.sh sets TQDM_DISABLE; notebooks print paths relative to results/)."""
    path = EXECUTED / f"{name}.ipynb"
    if not path.exists():
        pytest.fail(f"run: bash scripts/execute_notebooks.sh {name}")
    problems = scan(nbformat.read(path, as_version=4))
    assert not problems, f"book/executed/{name}.ipynb:\n" + "\n".join(problems[:20])
