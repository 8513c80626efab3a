"""Row validation: every malformed row is reported (dataset, row, field), dropped and counted.

Loaders turn raw rows into triplets with a *converter*; a converter raises :class:`RowError` when a
row is malformed (missing field, wrong type), which :func:`build_triplets` catches, records and
skips, so one bad row never stops a load and never disappears silently. The triplets then go
through the checks of :data:`CHECKS` in order; the report says how many survived each one.

=============  =================================================================
check          a triplet (or row) is dropped when
=============  =================================================================
``schema``     the line is not a JSON record (invalid UTF-8, not JSON), the row
               lacks a field or a field has the wrong type
``empty``      the prompt, the chosen or the rejected text is empty after stripping
``length``     the prompt, the chosen or the rejected text is longer than
               :data:`MAX_TEXT_CHARS` characters (a scraping error, not a text:
               the features would only see its last ``max_length`` tokens)
``identical``  chosen and rejected are the same text (after stripping)
``duplicate``  the same (prompt, chosen, rejected) already appeared earlier
=============  =================================================================

Control characters (C0 except tab, newline and carriage return, and DEL; e.g. NUL or the backspaces
of two IMDb reviews) are *removed* from every text before the checks; the triplets so cleaned are
kept and counted in ``cleaned``.

Rows that are well formed but yield no triplet by construction (a HelpSteer prompt whose
responses all tie, a conversation too short for the Alternating Population Method) are not
errors; they are counted as ``skipped`` with their reason.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from coala_lib.data.schema import Triplet

log = logging.getLogger(__name__)

CHECKS: tuple[str, ...] = ("schema", "empty", "length", "identical", "duplicate")
#: Longest prompt or response kept, in characters (about 25,000 tokens; the longest text of the offline
#: IMDb, HH-RLHF and UltraFeedback copies has 13,704).
MAX_TEXT_CHARS = 100_000
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CLEANED_CONTROL = "control characters removed"


@dataclass(frozen=True)
class BadLine:
    """A line of a data file that is not a JSON record (``reason`` says why): a row validation reports."""

    reason: str


class RowError(ValueError):
    """A malformed row: ``field`` names the offending field, the message says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Issue:
    """One dropped row or triplet: which dataset, which row, which check, which field, and why."""

    dataset: str
    row: int | str
    check: str
    field: str
    detail: str


@dataclass
class ValidationReport:
    """What a load read, dropped (with reasons) and kept.

    ``rows`` is the number of raw rows read, ``candidates`` the number of triplets the well-formed
    rows produced, ``survivors[check]`` the number still standing after each check of
    :data:`CHECKS` (``schema`` counts rows, the others triplets), ``skipped`` the rows that yield no
    triplet by construction, counted by reason, ``cleaned`` the triplets whose texts were repaired
    (control characters removed). ``source`` is the file (or Hub split) the rows came from; an
    issue's ``row`` is its 1-based line number in a local file.
    """

    dataset: str
    rows: int = 0
    candidates: int = 0
    issues: list[Issue] = field(default_factory=list)
    survivors: dict[str, int] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    cleaned: Counter = field(default_factory=Counter)
    source: str = ""

    @property
    def dropped(self) -> dict[str, int]:
        """Number of rows/triplets dropped by each check."""
        counts = Counter(issue.check for issue in self.issues)
        return {check: counts.get(check, 0) for check in CHECKS}

    @property
    def kept(self) -> int:
        return self.survivors.get(CHECKS[-1], 0)

    def summary(self) -> str:
        """One line per check: how many survived it and how many it dropped."""
        lines = [f"{self.dataset}: {self.rows} rows read"]
        dropped = self.dropped
        lines.append(f"  schema     : {self.survivors.get('schema', 0)} rows well formed ({dropped['schema']} dropped)")
        lines.append(f"  triplets   : {self.candidates} built from them")
        for check in CHECKS[1:]:
            lines.append(f"  {check:<11}: {self.survivors.get(check, 0)} survive ({dropped[check]} dropped)")
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"  skipped    : {count} rows ({reason})")
        for reason, count in sorted(self.cleaned.items()):
            lines.append(f"  cleaned    : {count} triplets ({reason})")
        return "\n".join(lines)

    def first_issues(self, limit: int = 3) -> str:
        """The first ``limit`` issues in row order as ``row R, field F: detail`` (a file's rows are its
        1-based line numbers)."""
        ordered = sorted(self.issues, key=lambda i: (isinstance(i.row, str), i.row if isinstance(i.row, int) else 0))
        shown = [f"row {i.row}, field {i.field!r}: {i.detail}" for i in ordered[:limit]]
        more = len(self.issues) - len(shown)
        skipped = [f"{count} skipped ({reason})" for reason, count in sorted(self.skipped.items())]
        return "; ".join(shown + skipped) + (f"; and {more} more issues" if more > 0 else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "candidates": self.candidates,
            "survivors": dict(self.survivors),
            "dropped": self.dropped,
            "skipped": dict(self.skipped),
            "cleaned": dict(self.cleaned),
            "source": self.source,
            "issues": [issue.__dict__ for issue in self.issues],
        }


class SkipRow(Exception):
    """Raised by a converter for a well-formed row that yields no triplet; the message is the reason."""


Converter = Callable[[int | str, Mapping[str, Any]], list[Triplet]]


def require_str(record: Mapping[str, Any], name: str) -> str:
    """``record[name]`` as a string, or :class:`RowError` naming the missing or mistyped field."""
    if name not in record or record[name] is None:
        raise RowError(name, f"missing field {name!r}")
    value = record[name]
    if not isinstance(value, str):
        raise RowError(name, f"field {name!r} must be a string, got {type(value).__name__}")
    return value


def build_triplets(
    dataset: str,
    rows: Iterable[tuple[int | str, Any]],
    convert: Converter,
    *,
    check_row: Callable[[Mapping[str, Any]], None] | None = None,
    group: Callable[[list[tuple[int | str, Mapping[str, Any]]]], list[tuple[int | str, Mapping[str, Any]]]]
    | None = None,
) -> tuple[list[Triplet], ValidationReport]:
    """Convert ``(row_id, record)`` pairs with ``convert`` and validate the result.

    ``check_row`` (raises :class:`RowError`) vets each raw row first; ``group`` then merges the
    clean rows into units (e.g. all HelpSteer responses to one prompt) that ``convert`` receives.
    Returns the surviving triplets (input order) and the :class:`ValidationReport`; logs one
    warning per dataset when anything was dropped.
    """
    report = ValidationReport(dataset)
    clean: list[tuple[int | str, Mapping[str, Any]]] = []
    for row_id, record in rows:
        report.rows += 1
        try:
            fields = as_fields(record)
            if check_row is not None:
                check_row(fields)
            clean.append((row_id, fields))
        except RowError as err:
            report.issues.append(Issue(dataset, row_id, "schema", err.field, str(err)))
    candidates: list[Triplet] = []
    for unit_id, unit in group(clean) if group is not None else clean:
        try:
            candidates.extend(convert(unit_id, unit))
        except RowError as err:
            report.issues.append(Issue(dataset, unit_id, "schema", err.field, str(err)))
        except SkipRow as skip:
            report.skipped[str(skip)] += 1
    report.survivors["schema"] = report.rows - report.dropped["schema"]
    report.candidates = len(candidates)
    kept = _check(report, [_without_control(report, t) for t in candidates], "empty", _empty_field)
    kept = _check(report, kept, "length", _too_long)
    kept = _check(report, kept, "identical", _identical)
    seen: set[tuple[str, str, str]] = set()
    kept = _check(report, kept, "duplicate", lambda t: _duplicate(t, seen))
    warn_dropped(report)
    return kept, report


def as_fields(record: Any) -> Mapping[str, Any]:
    """``record`` as a row's fields, or :class:`RowError` for a line that is no JSON record (a
    :class:`BadLine`) or a row that is not a mapping."""
    if isinstance(record, BadLine):
        raise RowError("<line>", record.reason)
    if not isinstance(record, Mapping):
        raise RowError("<row>", f"row must be a mapping of fields, got {type(record).__name__}")
    return record


def warn_dropped(report: ValidationReport, detail: bool = False) -> None:
    """The one warning a load logs when it dropped anything: ``"<dataset>: schema dropped 2, ..."`` and,
    with ``detail`` (for loaders that hand no report back), the first issues with their rows."""
    if not report.issues:
        return
    counts = ", ".join(f"{k} dropped {v}" for k, v in report.dropped.items() if v)
    if detail:
        log.warning("%s: %s (%s)", report.dataset, counts, report.first_issues())
    else:
        log.warning("%s: %s", report.dataset, counts)


def _check(
    report: ValidationReport, triplets: list[Triplet], check: str, problem: Callable[[Triplet], tuple[str, str] | None]
) -> list[Triplet]:
    kept = []
    for triplet in triplets:
        found = problem(triplet)
        if found is None:
            kept.append(triplet)
        else:
            report.issues.append(Issue(report.dataset, triplet.row, check, found[0], found[1]))
    report.survivors[check] = len(kept)
    return kept


def _empty_field(t: Triplet) -> tuple[str, str] | None:
    for name in ("prompt", "chosen", "rejected"):
        if not getattr(t, name).strip():
            return name, f"{name} is empty"
    return None


def _without_control(report: ValidationReport, t: Triplet) -> Triplet:
    prompt, chosen, rejected = (CONTROL_CHARS.sub("", text) for text in (t.prompt, t.chosen, t.rejected))
    if (prompt, chosen, rejected) == (t.prompt, t.chosen, t.rejected):
        return t
    report.cleaned[CLEANED_CONTROL] += 1
    return replace(t, prompt=prompt, chosen=chosen, rejected=rejected)


def _too_long(t: Triplet) -> tuple[str, str] | None:
    for name in ("prompt", "chosen", "rejected"):
        size = len(getattr(t, name))
        if size > MAX_TEXT_CHARS:
            return name, f"{name} has {size:,} characters, more than MAX_TEXT_CHARS = {MAX_TEXT_CHARS:,}"
    return None


def _identical(t: Triplet) -> tuple[str, str] | None:
    if t.chosen.strip() == t.rejected.strip():
        return "chosen", "chosen and rejected are identical"
    return None


def _duplicate(t: Triplet, seen: set[tuple[str, str, str]]) -> tuple[str, str] | None:
    key = (t.prompt, t.chosen, t.rejected)
    if key in seen:
        return "prompt", "duplicate of an earlier (prompt, chosen, rejected)"
    seen.add(key)
    return None
