"""Bulk imports from CSV (sites, staff): the rows by line number, and every problem found, so
that one report names all of them and nothing is imported unless every line is good."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from opensure.core.errors import AdminError

# A line longer than this is no sensible site or staff record.
MAX_FIELD = 10_000


class ImportRefused(AdminError):
    """Nothing was imported; ``problems`` are (line, message) in line order, for a page to
    show beside the lines (the message lists them all, for the CLI)."""

    def __init__(self, message: str, problems: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass
class Rows:
    """The data rows of a CSV text, each with the line it starts on (the header is line 1)."""

    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)

    def problem(self, line: int, message: str) -> None:
        self.problems.append((line, message))

    def raise_if_any(self, what: str) -> None:
        """ImportRefused naming every problem, by line (in order), if there is any."""
        if self.problems:
            count = len(self.problems)
            ordered = sorted(self.problems, key=lambda p: p[0])  # stable: a line's own order
            raise ImportRefused(
                f"{what}: nothing imported, {count} problem{'s' if count != 1 else ''}:\n"
                + "\n".join(f"line {line}: {message}" for line, message in ordered),
                ordered,
            )


def read(text: str, *, columns: tuple[str, ...], required: tuple[str, ...]) -> Rows:
    """Parse ``text`` (a header row naming some of ``columns``, then data). Unknown or missing
    columns and ragged rows are problems; empty lines are skipped; cells are stripped."""
    out = Rows()
    text = text.removeprefix("\ufeff")  # a byte-order mark, as spreadsheets write
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        out.problem(1, f"not valid CSV: {exc}")
        return out
    if header is None:
        out.problem(1, f"empty file; expected a header row: {','.join(columns)}")
        return out
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in columns]
    missing = [c for c in required if c not in names]
    if unknown:
        out.problem(
            1, f"unknown column {', '.join(map(repr, unknown))} (columns: {', '.join(columns)})"
        )
    if missing:
        out.problem(1, f"missing column {', '.join(missing)}")
    if len(set(names)) != len(names):
        out.problem(1, "a column is named twice")
    if out.problems:
        return out
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.problem(start, f"not valid CSV: {exc}")
            break
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            out.problem(line, f"{len(cells)} cells, the header has {len(names)}")
            continue
        if any(len(c) > MAX_FIELD for c in cells):
            out.problem(line, f"a cell is longer than {MAX_FIELD} characters")
            continue
        out.rows.append((line, {n: c.strip() for n, c in zip(names, cells, strict=True)}))
    return out
