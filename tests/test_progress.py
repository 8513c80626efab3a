"""Progress bars: shown to an interactive user, silenced by $TQDM_DISABLE for the book build."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from tqdm.auto import tqdm

from coala_lib.core.runtime import progress_off


@pytest.mark.parametrize(
    ("env", "progress", "off"),
    [(None, True, False), (None, False, True), ("1", True, True), ("0", True, False), ("", True, False)],
)
def test_progress_off(monkeypatch: pytest.MonkeyPatch, env: str | None, progress: bool, off: bool) -> None:
    if env is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", env)
    assert progress_off(progress) is off


def test_env_silences_a_bar_that_passes_disable(monkeypatch: pytest.MonkeyPatch) -> None:
    """tqdm lets an explicit ``disable=False`` override $TQDM_DISABLE; progress_off closes that gap."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    sink = io.StringIO()
    for _ in tqdm(range(3), file=sink, disable=progress_off(True)):
        pass
    assert sink.getvalue() == ""
    monkeypatch.delenv("TQDM_DISABLE")
    for _ in tqdm(range(3), file=sink, disable=progress_off(True)):
        pass
    assert "3/3" in sink.getvalue()


def test_library_bars_use_progress_off() -> None:
    """A ``tqdm(..., disable=not progress)`` would ignore $TQDM_DISABLE and print bars into the book's pages."""
    root = Path(__file__).resolve().parents[1] / "coala_lib"
    pattern = re.compile(r"disable\s*=\s*not\b")
    offenders = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders, f"use disable=progress_off(progress) (coala_lib.core.runtime) at: {offenders}"
