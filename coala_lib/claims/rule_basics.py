"""What every verdict rule shares: the records it reads, the assessment it returns, the interval level,
and the few helpers that read a notebook's values, say that a record is missing, and place an interval
against a null or against another interval.

A rule (a ``verdict_*`` function of :mod:`coala_lib.claims.verdicts` and the modules it names) maps the
records (:func:`coala_lib.claims.ledger.load_all_records`) to an :data:`Assessment`,
``(ours, verdict, note)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coala_lib.claims.ledger import Verdict

Records = Mapping[str, Mapping[str, Any]]
Assessment = tuple[str, Verdict, str]

#: Intervals are two-sided at this level.
LEVEL = 0.95


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits, as a plain float (for the JSON records)."""
    return float(f"{float(value):.{digits}g}")


def notebook_values(records: Records, name: str) -> Mapping[str, Any] | None:
    """The ``values`` of notebook ``name``'s record (``None`` when there is no record)."""
    record = records.get(name)
    return None if record is None else record.get("values")


def missing_record(what: str) -> Assessment:
    """The assessment of a rule whose record is missing: ``"not testable here"``, saying which."""
    return "-", "not testable here", f"no {what} (run it with COALA_RESULTS_DIR set)"


def interval_side(low: float, high: float, null: float) -> int:
    """+1 when ``[low, high]`` lies above ``null``, -1 below, 0 when it contains it."""
    return 1 if low > null else -1 if high < null else 0


def compare_intervals(a: tuple[float, float], b: tuple[float, float]) -> int:
    """+1 when interval ``a`` lies above ``b``, -1 below, 0 when they overlap."""
    return 1 if a[0] > b[1] else -1 if a[1] < b[0] else 0
