"""Validation: malformed rows are reported with dataset, row and field, dropped and counted."""

from coala_lib.data.schema import Triplet
from coala_lib.data.validation import (
    CHECKS,
    MAX_TEXT_CHARS,
    BadLine,
    RowError,
    SkipRow,
    build_triplets,
    require_str,
)


def convert(row_id, record):
    if record.get("skip"):
        raise SkipRow("nothing to pair")
    return [
        Triplet(
            require_str(record, "prompt"), require_str(record, "chosen"), require_str(record, "rejected"), "toy", row_id
        )
    ]


def test_every_check_reports_and_counts():
    good = {"prompt": "p", "chosen": "a", "rejected": "b"}
    rows = list(
        enumerate(
            [
                good,
                {"prompt": "p", "chosen": "a"},  # missing field
                {"prompt": "p", "chosen": 3, "rejected": "b"},  # wrong type
                {"prompt": " ", "chosen": "a", "rejected": "b"},  # empty prompt
                {"prompt": "p", "chosen": "same", "rejected": "same "},  # identical after strip
                dict(good),  # duplicate of row 0
                "not json",  # a JSON string, not a record
                {"skip": True},  # well formed, no pair
                {"prompt": "q", "chosen": "a", "rejected": "b"},
                BadLine("line 10 is not JSON (Expecting value at column 1)"),  # what the reader yields
                {"prompt": "long", "chosen": "x" * (MAX_TEXT_CHARS + 1), "rejected": "b"},  # absurd length
                {"prompt": "nul\x00", "chosen": "a\x08\x08", "rejected": "b"},  # control characters: removed
                {"prompt": "\x00", "chosen": "a", "rejected": "b"},  # nothing left but control characters
            ]
        )
    )
    kept, report = build_triplets("toy", rows, convert)
    assert [t.row for t in kept] == [0, 8, 11]
    assert (kept[2].prompt, kept[2].chosen) == ("nul", "a")
    assert report.rows == 13 and report.candidates == 8  # rows 0, 3, 4, 5, 8, 10, 11, 12
    assert report.dropped == {"schema": 4, "empty": 2, "length": 1, "identical": 1, "duplicate": 1}
    assert report.survivors == {"schema": 9, "empty": 6, "length": 5, "identical": 4, "duplicate": 3}
    assert report.skipped == {"nothing to pair": 1}
    assert report.cleaned == {"control characters removed": 2}
    where = {(i.row, i.check, i.field) for i in report.issues}
    assert where == {
        (1, "schema", "rejected"),
        (2, "schema", "chosen"),
        (6, "schema", "<row>"),
        (9, "schema", "<line>"),
        (3, "empty", "prompt"),
        (12, "empty", "prompt"),
        (10, "length", "chosen"),
        (4, "identical", "chosen"),
        (5, "duplicate", "prompt"),
    }
    assert all(i.dataset == "toy" for i in report.issues)
    summary = report.summary()
    assert "13 rows read" in summary and "identical  : 4 survive (1 dropped)" in summary
    assert "length     : 5 survive (1 dropped)" in summary
    assert "cleaned    : 2 triplets (control characters removed)" in summary
    assert report.first_issues(1) == (
        "row 1, field 'rejected': missing field 'rejected'; 1 skipped (nothing to pair); and 8 more issues"
    )


def test_check_row_runs_before_grouping():
    def check(record):
        if "bad" in record:
            raise RowError("bad", "bad row")

    def group(rows):
        return [(rows[0][0], {"prompt": "p", "chosen": "+".join(str(r[0]) for r in rows), "rejected": "x"})]

    kept, report = build_triplets("toy", enumerate([{}, {"bad": 1}, {}]), convert, check_row=check, group=group)
    assert kept[0].chosen == "0+2" and report.dropped["schema"] == 1 and tuple(report.survivors) == CHECKS
