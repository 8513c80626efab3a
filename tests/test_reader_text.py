"""What a reader reads names no path of the machine that wrote it and no word of the project's tracker:
the book's prose pages, the committed records and the benchmarks (their docstrings are the commands a
reader runs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from notebook_checks import ROOT

#: Absolute paths of a machine: its work, temporary, home and root folders.
MACHINE_PATH = re.compile(r"(?<![\w.~<>-])/(?:work|tmp|home|root)/")
#: Words for the project's tracker, not for readers.
TRACKER_WORDS = re.compile(r"\bthe issue\b|\bissue's\b", re.I)


def scanned() -> list[Path]:
    files = sorted(ROOT.glob("book/*.md"))
    files += sorted(p for p in (ROOT / "results").rglob("*") if p.is_file() and p.suffix in {".json", ".md", ".txt"})
    files += sorted((ROOT / "bench").rglob("*.py"))
    return files


def problems(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for label, pattern in (("machine path", MACHINE_PATH), ("tracker word", TRACKER_WORDS)):
            if match := pattern.search(line):
                found.append(f"line {number}: {label} {match.group(0)!r}: {line.strip()[:120]}")
    return found


def test_scan_finds_what_it_looks_for() -> None:
    text = (
        'COALA_DATA_DIR=/work/shared/data\n"read": "/tmp/x"\nthe issue\'s minimums\nsee ~/home/ and <COALA_DATA_DIR>/x'
    )
    labels = [re.sub(r"^line \d+: (machine path|tracker word) .*", r"\1", p) for p in problems(text)]
    assert labels == ["machine path", "machine path", "tracker word"]
    assert len(problems("What the issue asks\n/root/.cache")) == 2
    assert not problems("results/imdb_frontier/record.json; <COALA_DATA_DIR>/imdb-train.jsonl.gz; issue 7")


def test_files_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in scanned()}
    assert {"book/intro.md", "results/imdb_frontier/record.json", "bench/imdb_frontier.py"} <= names


@pytest.mark.parametrize("path", scanned(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_reader_text_is_clean(path: Path) -> None:
    found = problems(path.read_text(errors="replace"))
    assert not found, f"{path.relative_to(ROOT)}:\n" + "\n".join(found[:20])
