"""Shared facts about the book's notebooks, used by the notebook and book tests."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
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


_BUILT: dict[str, Path] = {}


def built_book(factory: pytest.TempPathFactory) -> Path:
    """The HTML book built once per test session (``jupyter-book build -W -n``) into a temporary folder;
    the book and browser tests share it."""
    if "html" not in _BUILT:
        if not (ROOT / "book" / "_vendor" / "mathjax" / "tex-chtml.js").exists():
            pytest.fail("MathJax is not vendored: run bash scripts/setup.sh")
        out = factory.mktemp("book")
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        run = subprocess.run(
            [str(jupyter_book), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, f"jupyter-book build failed:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
        _BUILT["html"] = out / "_build" / "html"
    return _BUILT["html"]
