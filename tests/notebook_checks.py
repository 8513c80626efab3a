"""Shared facts about the book's notebooks, used by the notebook and book tests."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "book" / "executed"

COLAB_SETUP_CELL = """\
# Colab only: install coala_lib and the packages Colab lacks; elsewhere this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "coala-lib @ git+{url}@{branch}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)"""


def notebook_names() -> list[str]:
    """Names (without suffix) of the paired notebooks, from their reviewed ``.py`` sources."""
    return sorted(p.stem for p in NOTEBOOKS.glob("*.py"))


def book_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def repository() -> tuple[str, str]:
    repo = book_config()["repository"]
    return repo["url"].rstrip("/"), repo["branch"]


def colab_url(name: str) -> str:
    url, branch = repository()
    slug = url.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{name}.ipynb"


def expected_setup_cell() -> str:
    url, branch = repository()
    return COLAB_SETUP_CELL.format(url=url, branch=branch)


def toc_files() -> list[str]:
    """Every ``file:`` entry of ``_toc.yml``, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found: list[str] = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found
