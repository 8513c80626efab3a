"""Shared facts about the book's notebooks, used by the notebook and book tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "book" / "executed"


def _load_colab_cells():  # scripts/ is not a package: load the generator of cells 1-2 by path
    spec = importlib.util.spec_from_file_location("colab_cells", ROOT / "scripts" / "colab_cells.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab_cells = _load_colab_cells()


def notebook_names() -> list[str]:
    """Names (without suffix) of the paired notebooks, from their reviewed ``.py`` sources."""
    return sorted(p.stem for p in NOTEBOOKS.glob("*.py"))


def colab_url(name: str) -> str:
    return colab_cells.colab_url(name)


def expected_badge(name: str) -> str:
    """Cell 1's badge line, as scripts/colab_cells.py generates it from _config.yml."""
    return colab_cells.badge_markdown(name)


def expected_setup_cell() -> str:
    """Cell 2, as scripts/colab_cells.py generates it from _config.yml."""
    return colab_cells.setup_cell()


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
