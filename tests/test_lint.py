"""Lint, format and types: ruff check, ruff format --check and mypy report nothing (configs in
pyproject.toml and notebooks/ruff.toml; versions pinned in requirements.txt). A failure shows the tool's output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What ruff checks and formats: the library, the tests, the benchmarks and the notebooks' sources.
RUFF_PATHS = ["coala_lib", "tests", "bench", *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("notebooks/*.py"))]


def _tool(name: str) -> list[str]:
    """``python -m name`` from this interpreter's environment (skip when the tool is not installed)."""
    if shutil.which(name, path=str(Path(sys.executable).parent)) is None:
        pytest.skip(f"{name} is not installed in this environment: pip install -r requirements.txt")
    return [sys.executable, "-m", name]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(command[2:])}` failed:\n{done.stdout}{done.stderr}", pytrace=False)


def test_ruff_check() -> None:
    _run([*_tool("ruff"), "check", "--no-fix", *RUFF_PATHS])


def test_ruff_format() -> None:
    _run([*_tool("ruff"), "format", "--check", *RUFF_PATHS])


def test_mypy() -> None:
    """Types of ``coala_lib`` (the files and options of ``[tool.mypy]``); warm runs reuse ``.mypy_cache``."""
    _run(_tool("mypy"))
