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


def window(offset: int, limit: int, total: int) -> tuple[bool, int, int]:
    """(read from the other end?, LIMIT, OFFSET) for rows [offset, offset + limit) of
    ``total`` rows."""
    if offset + limit / 2 > total / 2:
        count = min(limit, total - offset)
        return True, count, total - offset - count
    return False, limit, offset


def page_sql(
    columns: str,
    table: str,
    alias: str,
    where: Sequence[str],
    order: Sequence[str],
    *,
    limit: str,
    offset: str,
    reverse: bool,
) -> str:
    """SELECT ``columns`` (of ``table`` as ``alias``) of one page, newest ``order`` first:
    the ids walked with ``limit``/``offset`` (parameter markers), then the rows joined."""
    direction = "ASC" if reverse else "DESC"
    walk = ", ".join(f"{c} {direction}" for c in order)
    shown = ", ".join(f"{alias}.{c} DESC" for c in order)
    return (
        f"SELECT {columns} FROM (SELECT id FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY {walk} LIMIT {limit} OFFSET {offset}) AS page "
        f"JOIN {table} {alias} ON {alias}.id = page.id ORDER BY {shown}"
    )
