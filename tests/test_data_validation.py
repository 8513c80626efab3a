"""Validation: malformed rows are reported with dataset, row and field, dropped and counted."""

from coala_lib.data.schema import Triplet
from coala_lib.data.validation import CHECKS, RowError, SkipRow, build_triplets, require_str


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
                "not json",  # unparsable line
                {"skip": True},  # well formed, no pair
                {"prompt": "q", "chosen": "a", "rejected": "b"},
            ]
        )
    )
    kept, report = build_triplets("toy", rows, convert)
    assert [t.row for t in kept] == [0, 8]
    assert report.rows == 9 and report.candidates == 5  # rows 0, 3, 4, 5, 8
    assert report.dropped == {"schema": 3, "empty": 1, "identical": 1, "duplicate": 1}
    assert report.survivors == {"schema": 6, "empty": 4, "identical": 3, "duplicate": 2}
    assert report.skipped == {"nothing to pair": 1}
    where = {(i.row, i.check, i.field) for i in report.issues}
    assert where == {
        (1, "schema", "rejected"),
        (2, "schema", "chosen"),
        (6, "schema", "<row>"),
        (3, "empty", "prompt"),
        (4, "identical", "chosen"),
        (5, "duplicate", "prompt"),
    }
    assert all(i.dataset == "toy" for i in report.issues)
    summary = report.summary()
    assert "9 rows read" in summary and "identical  : 3 survive (1 dropped)" in summary


def test_check_row_runs_before_grouping():
    def check(record):
        if "bad" in record:
            raise RowError("bad", "bad row")

    def group(rows):
        return [(rows[0][0], {"prompt": "p", "chosen": "+".join(str(r[0]) for r in rows), "rejected": "x"})]

    kept, report = build_triplets("toy", enumerate([{}, {"bad": 1}, {}]), convert, check_row=check, group=group)
    assert kept[0].chosen == "0+2" and report.dropped["schema"] == 1 and tuple(report.survivors) == CHECKS
