"""Cells 1-2 of every notebook, generated from the one place that holds the repository URL.

``_config.yml`` (``repository.url`` and ``repository.branch``) is that place. Cell 1 carries the Colab
badge (a local SVG, ``book/assets/colab-badge.svg``, so the page needs no network) linking to the
notebook on Colab; cell 2 installs coala_lib from the repository when run on Colab (tagged
``remove-cell``: the book's pages leave it out).

Usage: python scripts/colab_cells.py [--check]   (rewrites notebooks/*.py in place; then
``jupytext --sync notebooks/*.py``). With ``--check`` nothing is written and the exit status says
whether every notebook is up to date. tests/test_notebooks.py checks the same through this module.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

#: Source-root path of the badge image: Sphinx reads a leading "/" as the book's root folder, so the same
#: line serves notebooks/ and book/executed/.
BADGE_IMAGE = "/book/assets/colab-badge.svg"

SETUP_CELL = """\
# Colab only: install coala_lib and the packages Colab lacks; elsewhere this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "coala-lib @ git+{url}@{branch}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)"""

BADGE_LINE = re.compile(r"^# \[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)$", re.MULTILINE)
# The code cell that follows the title cell, up to the next cell marker.
SETUP_BLOCK = re.compile(r"(# %%[^\n]*\n)(# Colab only:.*?)(\n\n# %%)", re.DOTALL)
#: The set-up cell's marker: the cell runs on Colab, and the book leaves it out (it does nothing there).
SETUP_MARKER = '# %% tags=["remove-cell"]\n'


def repository() -> tuple[str, str]:
    """(URL without a trailing slash, branch) from ``_config.yml``."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    url = str(repo["url"]).rstrip("/")
    if not url.startswith("https://github.com/"):
        raise ValueError(f"_config.yml repository.url must be a https://github.com/ URL, got {url!r}")
    return url, str(repo["branch"])


def colab_url(name: str) -> str:
    """Colab's address of ``notebooks/<name>.ipynb`` on the repository's branch."""
    url, branch = repository()
    slug = url.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{name}.ipynb"


def badge_markdown(name: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(name)})"


def setup_cell() -> str:
    url, branch = repository()
    return SETUP_CELL.format(url=url, branch=branch)


def render(name: str, text: str) -> str:
    """``text`` (a percent-format notebook) with its badge line and set-up cell regenerated."""
    if not BADGE_LINE.search(text):
        raise ValueError(f"notebooks/{name}.py: cell 1 has no '# [![Open In Colab](...)](...)' line")
    if not SETUP_BLOCK.search(text):
        raise ValueError(f"notebooks/{name}.py: cell 2 is not the '# Colab only:' set-up cell")
    text = BADGE_LINE.sub(lambda _: "# " + badge_markdown(name), text, count=1)
    return SETUP_BLOCK.sub(lambda m: SETUP_MARKER + setup_cell() + m.group(3), text, count=1)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path in sorted(NOTEBOOKS.glob("*.py")):
        text = path.read_text()
        new = render(path.stem, text)
        if new != text:
            stale.append(path.name)
            if not check:
                path.write_text(new)
    verb = "out of date" if check else "rewritten (now run: jupytext --sync notebooks/*.py)"
    print(f"{len(stale)} notebook(s) {verb}: {', '.join(stale) or '-'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
