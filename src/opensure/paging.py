"""The page query shape every list uses: fast on the first page and on the last.

``OFFSET n`` walks n index entries, so a plain query gets slower page by page (about 430 ms at
offset 990,000 on PostgreSQL). Two things keep the cost down:
- a deferred join: the offset walks an index-only scan of ids, and only the page's rows are
  then fetched in full;
- pages in the second half are read from the other end (ascending, a small offset) and put
  back in order, so the last page is as cheap as the first; the middle page is the slowest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, select
from sqlalchemy.sql.elements import UnaryExpression


def page_select(
    columns: Sequence[Any],
    id_column: Column[Any],
    where: ColumnElement[bool],
    order: Sequence[ColumnElement[Any]],
    *,
    limit: int,
    offset: int,
    total: int,
) -> Select[*tuple[Any, ...]]:
    """SELECT ``columns`` of rows [offset, offset + limit) in ``order`` (descending columns)."""
    reverse = offset + limit / 2 > total / 2
    if reverse:
        count = min(limit, total - offset)
        ids = (
            select(id_column)
            .where(where)
            .order_by(*(_flip(c) for c in order))
            .limit(count)
            .offset(total - offset - count)
        )
    else:
        ids = select(id_column).where(where).order_by(*order).limit(limit).offset(offset)
    page = ids.subquery("page")
    return (
        select(*columns)
        .select_from(id_column.table.join(page, id_column == page.c[id_column.key]))
        .order_by(*order)
    )


def _flip(column: ColumnElement[Any]) -> ColumnElement[Any]:
    if isinstance(column, UnaryExpression) and column.modifier is not None:
        return column.element.asc()
    raise ValueError("page_select expects descending order columns")
