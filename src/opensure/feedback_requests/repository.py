"""All SQL for feedback requests.

Reads and creates run hand-written SQL on the bare driver (``opensure.db.fast``: statements
prepared once per connection), the API's hot path; the remaining writes of PATCH and DELETE
use SQLAlchemy Core inside the endpoint's transaction.

A request is read one way: :class:`RequestRow` (its public columns, by name) and its
:class:`ItemRow` list. The SELECT lists are generated from those classes' fields, so a column
cannot land in another column's field.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.db import AnyRow
from opensure.db.fast import Query, Record, Session, Where, in_list, list_param
from opensure.models import FeedbackRequest, FeedbackRequestItem, FeedbackResponse
from opensure.paging import page_sql, window

fr = FeedbackRequest.__table__
item = FeedbackRequestItem.__table__


class RequestRow(NamedTuple):
    """A feedback request's public columns (the API shows them in this order). Timestamps as
    the driver returns them: datetimes on PostgreSQL, text on SQLite. A NamedTuple rather than
    a frozen dataclass: a list page builds 100 of them, in C, without a setattr per field."""

    id: int
    email: str | None
    state: str
    first_name: str | None
    surname: str | None
    survey_id: int
    email_template_id: int | None
    reference: str | None
    machine_id: str | None
    send_at: Any
    sent_at: Any
    created_at: Any
    updated_at: Any
    deletion_requested_at: Any
    not_sent_reason: str | None
    delivery_failure: str | None
    # The one reminder's (docs/reminders.md): None unless it was sent.
    reminder_sent_at: Any


class ItemRow(NamedTuple):
    """A data item (kind ``data``) or query parameter (kind ``query_param``) of a request."""

    id: int
    kind: str
    key: str
    value: str


RequestWithItems = tuple[RequestRow, list[ItemRow]]

COLUMNS = RequestRow._fields  # the one declaration of the public columns
_N = len(COLUMNS)
_RETURNING = ", ".join(f'"{c}"' for c in COLUMNS)
_ITEM_RETURNING = ", ".join(f'"{c}"' for c in ItemRow._fields)
_ITEM_COLUMNS = ", ".join(f'i."{c}"' for c in ItemRow._fields)
# Each column under its field's name: the request's columns, then (GET's LEFT JOIN) its item's.
_REQUEST_SELECT = ", ".join(f'fr."{c}" AS "{c}"' for c in COLUMNS)
_SELECT = _REQUEST_SELECT + ", " + ", ".join(f'i."{c}" AS "item_{c}"' for c in ItemRow._fields)
_JOIN_ITEMS = "LEFT OUTER JOIN feedback_request_items i ON i.feedback_request_id = fr.id"


def _check_columns() -> None:
    # The table must have every field (a typo here fails at import, not on a request).
    missing = [c for c in COLUMNS if c not in fr.c]
    missing += [c for c in ItemRow._fields if c not in item.c]
    if missing:
        raise RuntimeError(f"feedback request columns missing from the tables: {missing}")


_check_columns()


_new = tuple.__new__  # NamedTuple._make without its length check: the SELECTs below are
# generated from the fields, so a record has exactly the fields' columns, in their order.


def request_row(record: Record) -> RequestRow:
    """A request from a record whose first columns are ``COLUMNS`` (as every SELECT here)."""
    return _new(RequestRow, record[:_N])


def item_row(record: Record, start: int = 0) -> ItemRow:
    """An item from a record whose columns from ``start`` on are ItemRow's fields."""
    return _new(ItemRow, record[start : start + 4])


GET = Query(
    f"SELECT {_SELECT} FROM feedback_requests fr {_JOIN_ITEMS} "
    "WHERE fr.id = $1 AND fr.account_id = $2 ORDER BY i.id"
)


async def get(session: Session, account_id: int, request_id: int) -> RequestWithItems | None:
    """The request and its items in one round trip (a LEFT JOIN; one row per item)."""
    records = await session.fetch(GET, request_id, account_id)
    if not records:
        return None
    return request_row(records[0]), [item_row(r, _N) for r in records if r[_N] is not None]


_ITEMS_OF = in_list("i.feedback_request_id", 1)
ITEMS = Query(
    *(
        f"SELECT i.feedback_request_id, {_ITEM_COLUMNS} FROM feedback_request_items i "
        f"WHERE {condition} ORDER BY i.id"
        for condition in _ITEMS_OF
    )
)


async def with_items(session: Session, records: Sequence[Record]) -> list[RequestWithItems]:
    """Requests (records of exactly ``COLUMNS``) with their items, read in one statement.

    For many requests this beats a LEFT JOIN (SQLite: 0.4 ms instead of 0.9 ms for 100
    requests with 2 items each): no request columns repeated per item, no sort of wide rows."""
    if not records:
        return []
    rows = [_new(RequestRow, r) for r in records]  # exactly COLUMNS: no slice
    by_id: dict[int, list[ItemRow]] = {row.id: [] for row in rows}
    for r in await session.fetch(ITEMS, list_param(session, list(by_id))):
        by_id[r[0]].append(_new(ItemRow, r[1:]))
    return [(row, by_id[row.id]) for row in rows]


MANY = Query(
    *(f"SELECT {_REQUEST_SELECT} FROM feedback_requests fr WHERE {c}" for c in in_list("fr.id", 1))
)


async def many(session: Session, ids: Sequence[int]) -> dict[int, RequestWithItems]:
    """Requests by id with their items (for embedding in responses), two statements."""
    if not ids:
        return {}
    found = await with_items(session, await session.fetch(MANY, list_param(session, ids)))
    return {request.id: (request, items) for request, items in found}


# ---- the list: trigger-kept totals on PostgreSQL, a deferred join for the page ----


def _filter_where(states: bool, surveys: bool) -> Where:
    """The filters the API's list and the console's queue share: the account (parameter 1),
    then the states and the survey ids when given (list parameters, in that order)."""
    where = Where()
    where.add("account_id = {}")
    if states:
        where.add_in("state", "text")
    if surveys:
        where.add_in("survey_id")
    return where


def _filter_args(
    session: Session, account_id: int, states: list[str] | None, survey_ids: list[int] | None
) -> list[Any]:
    """The parameters of :func:`_filter_where`, in its order."""
    args: list[Any] = [account_id]
    args += [list_param(session, values) for values in (states, survey_ids) if values]
    return args


@functools.cache
def _list_queries(states: bool, surveys: bool, reverse: bool) -> tuple[Query, Query]:
    """COUNT and page statements for one filter shape (parameters: account, [states],
    [survey ids], limit, offset); each shape is its own prepared statement, so that even a
    generic plan has no filter it does not use."""
    where = _filter_where(states, surveys)
    limit, offset = where.params + 1, where.params + 2
    # Exact totals kept by triggers (migration 0005) on PostgreSQL: no COUNT(*) over the account.
    count = Query(
        "SELECT coalesce(sum(n), 0)::bigint FROM rollup_request_counts "
        f"WHERE {' AND '.join(where.postgresql)}",
        f"SELECT count(*) FROM feedback_requests WHERE {' AND '.join(where.sqlite)}",
    )
    page = [
        page_sql(
            _REQUEST_SELECT,
            "feedback_requests",
            "fr",
            conditions,
            ("send_at", "id"),
            limit=f"{mark}{limit}",
            offset=f"{mark}{offset}",
            reverse=reverse,
        )
        for conditions, mark in ((where.postgresql, "$"), (where.sqlite, "?"))
    ]
    return count, Query(*page)


async def list_page(
    session: Session,
    account_id: int,
    *,
    states: list[str] | None,
    survey_ids: list[int] | None,
    limit: int,
    offset: int,
) -> tuple[list[RequestWithItems], int]:
    """One page of the account's requests (newest ``send_at`` first) and the total."""
    filters = _filter_args(session, account_id, states, survey_ids)
    count, _ = _list_queries(bool(states), bool(survey_ids), False)
    row = await session.fetchrow(count, *filters)
    total = int(row[0]) if row is not None else 0
    if offset >= total:
        return [], total
    reverse, size, start = window(offset, limit, total)
    _, page = _list_queries(bool(states), bool(survey_ids), reverse)
    records = await session.fetch(page, *filters, size, start)
    return await with_items(session, records), total


# ---- the console's queue and its export: keyset pages, newest send_at first ----


@dataclass(frozen=True)
class QueueFilters:
    """What the queue shows: the API list's filters (states, survey ids) and more. ``search``
    is a reference (compared exactly) or an e-mail address, compared as ``search_email``, its
    normalised form (``core.emails.normalise_email``), with the stored ``email_normalized``;
    ``send_from`` is inclusive, ``send_to`` exclusive."""

    states: list[str] | None = None
    survey_ids: list[int] | None = None
    search: str | None = None
    search_email: str | None = None
    send_from: dt.datetime | None = None
    send_to: dt.datetime | None = None


@functools.cache
def _queue_query(
    states: bool, surveys: bool, search: bool, send_from: bool, send_to: bool, after: bool
) -> Query:
    """One keyset page for one filter shape (parameters: the shared filters, [normalised
    e-mail, reference], [from], [to], [after send_at, after id], limit)."""
    where = _filter_where(states, surveys)
    if search:
        # Two indexed equalities (account/e-mail, account/reference): PostgreSQL ORs bitmaps,
        # SQLite its OR-by-union; the few rows found are then sorted.
        where.add("(email_normalized = {} OR reference = {})")
    if send_from:
        where.add("send_at >= {}")
    if send_to:
        where.add("send_at < {}")
    if after:
        # A row value: one index range on (account_id, [state,] send_at, id) on both engines.
        where.add("(send_at, id) < ({}, {})")
    limit = where.params + 1
    sql = [
        f"SELECT {_REQUEST_SELECT} FROM feedback_requests fr WHERE {' AND '.join(conditions)} "
        f"ORDER BY fr.send_at DESC, fr.id DESC LIMIT {mark}{limit}"
        for conditions, mark in ((where.postgresql, "$"), (where.sqlite, "?"))
    ]
    return Query(*sql)


async def queue_page(
    session: Session,
    account_id: int,
    filters: QueueFilters,
    *,
    after: tuple[dt.datetime, int] | None,
    limit: int,
) -> list[RequestRow]:
    """Up to ``limit`` requests of the account, newest ``send_at`` (then id) first, that come
    after ``after`` (the last row's send_at and id of the page before)."""
    args = _filter_args(session, account_id, filters.states, filters.survey_ids)
    if filters.search is not None:
        args += [filters.search_email, filters.search]
    args += [session.ts(t) for t in (filters.send_from, filters.send_to) if t is not None]
    if after is not None:
        args += [session.ts(after[0]), after[1]]
    query = _queue_query(
        bool(filters.states),
        bool(filters.survey_ids),
        filters.search is not None,
        filters.send_from is not None,
        filters.send_to is not None,
        after is not None,
    )
    return [request_row(r) for r in await session.fetch(query, *args, limit)]


# Everything a create/update checks and links, in one statement: the survey and template (if
# they are the account's), the staff member and site the data names (a renamed site is still
# found by its former code), and which data keys name one of the account's segments.
LOOKUPS = Query(
    "SELECT "
    "(SELECT id FROM surveys WHERE id = $2 AND account_id = $1 AND deleted_at IS NULL), "
    "(SELECT id FROM email_templates WHERE id = $3 AND account_id = $1), "
    "(SELECT id FROM staff WHERE code = $4 AND account_id = $1), "
    "coalesce((SELECT id FROM sites WHERE site_code = $5 AND account_id = $1), "
    "(SELECT site_id FROM site_aliases WHERE site_code = $5 AND account_id = $1)), "
    "(SELECT coalesce(json_agg(json_build_array(key, id)), '[]') FROM segments "
    "WHERE account_id = $1 AND key IN (SELECT json_array_elements_text($6::json)))",
    "SELECT "
    "(SELECT id FROM surveys WHERE id = ?2 AND account_id = ?1 AND deleted_at IS NULL), "
    "(SELECT id FROM email_templates WHERE id = ?3 AND account_id = ?1), "
    "(SELECT id FROM staff WHERE code = ?4 AND account_id = ?1), "
    "coalesce((SELECT id FROM sites WHERE site_code = ?5 AND account_id = ?1), "
    "(SELECT site_id FROM site_aliases WHERE site_code = ?5 AND account_id = ?1)), "
    "(SELECT json_group_array(json_array(key, id)) FROM segments "
    "WHERE account_id = ?1 AND key IN (SELECT value FROM json_each(?6)))",
)


@dataclass(frozen=True)
class Found:
    survey_id: int | None
    template_id: int | None
    staff_id: int | None
    site_id: int | None
    segments: dict[str, int]


async def lookups(
    session: Session,
    account_id: int,
    *,
    survey_id: int | None,
    template_id: int | None,
    staff_code: str | None,
    site_code: str | None,
    segment_keys: Sequence[str],
) -> Found:
    row = await session.fetchrow(
        LOOKUPS,
        account_id,
        survey_id,
        template_id,
        staff_code,
        site_code,
        orjson.dumps(list(segment_keys)).decode(),
    )
    assert row is not None
    # JSON text from the bare drivers; SQLAlchemy's asyncpg adapter decodes it already.
    segments = orjson.loads(row[4]) if isinstance(row[4], str | bytes) else row[4]
    return Found(row[0], row[1], row[2], row[3], {k: int(i) for k, i in segments})


INSERT_COLUMNS = (
    "account_id",
    "survey_id",
    "email",
    "email_normalized",
    "first_name",
    "surname",
    "reference",
    "machine_id",
    "email_template_id",
    "staff_id",
    "site_id",
    "state",
    "send_at",
    "created_at",
    "updated_at",
    "token",
)
INSERT = Query(
    f"INSERT INTO feedback_requests ({', '.join(INSERT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(INSERT_COLUMNS) + 1))}) "
    f"RETURNING {_RETURNING}"
)


async def insert_request(session: Session, values: dict[str, Any]) -> RequestRow:
    """Insert a request (``values`` keyed by INSERT_COLUMNS; absent ones NULL), return its row."""
    row = await session.fetchrow(INSERT, *(values.get(c) for c in INSERT_COLUMNS))
    assert row is not None
    return request_row(row)


_PG_INSERT_ITEMS = Query(
    'INSERT INTO feedback_request_items (feedback_request_id, kind, "key", value) '
    "SELECT $1, t.kind, t.ikey, t.val FROM unnest($2::text[], $3::text[], $4::text[]) "
    f"WITH ORDINALITY AS t(kind, ikey, val, n) ORDER BY t.n RETURNING {_ITEM_RETURNING}"
)


@functools.cache
def _sqlite_insert_items(count: int) -> Query:
    rows = ", ".join(f"(?1, ?{3 * n + 2}, ?{3 * n + 3}, ?{3 * n + 4})" for n in range(count))
    sql = (
        'INSERT INTO feedback_request_items (feedback_request_id, kind, "key", value) '
        f"VALUES {rows} RETURNING {_ITEM_RETURNING}"
    )
    return Query(sql, sql)


async def insert_items(
    session: Session, request_id: int, items: Sequence[tuple[str, str, str]]
) -> list[ItemRow]:
    """Insert (kind, key, value) items in one statement; their rows, in id order."""
    if not items:
        return []
    if session.dialect == "postgresql":
        kinds, keys, values = ([entry[n] for entry in items] for n in range(3))
        rows = await session.fetch(_PG_INSERT_ITEMS, request_id, kinds, keys, values)
    else:
        flat = [v for entry in items for v in entry]
        rows = await session.fetch(_sqlite_insert_items(len(items)), request_id, *flat)
    return sorted((item_row(r) for r in rows), key=lambda r: int(r.id))


# Segment links: options are created on first use, then the request's links replaced.
_DELETE_LINKS = Query("DELETE FROM request_segment_options WHERE feedback_request_id = $1")
_ADD_OPTIONS = Query(
    "INSERT INTO segment_options (segment_id, value) "
    "SELECT (p->>0)::bigint, p->>1 FROM json_array_elements($1::json) AS p "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO segment_options (segment_id, value) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?1) "
    "WHERE true ON CONFLICT DO NOTHING",
)
_ADD_LINKS = Query(
    "INSERT INTO request_segment_options (feedback_request_id, segment_option_id) "
    "SELECT DISTINCT $1::bigint, o.id FROM segment_options o "
    "JOIN json_array_elements($2::json) AS p "
    "ON o.segment_id = (p->>0)::bigint AND o.value = p->>1",
    "INSERT INTO request_segment_options (feedback_request_id, segment_option_id) "
    "SELECT DISTINCT ?1, o.id FROM segment_options o JOIN json_each(?2) AS p "
    "ON o.segment_id = json_extract(p.value, '$[0]') AND o.value = json_extract(p.value, '$[1]')",
)


async def link_segments(
    session: Session, request_id: int, pairs: Sequence[tuple[int, str]], *, replace: bool
) -> None:
    """Link the request to the options for (segment id, value) pairs (replacing old links)."""
    if replace:
        await session.execute(_DELETE_LINKS, request_id)
    if not pairs:
        return
    encoded = orjson.dumps([list(p) for p in pairs]).decode()
    await session.execute(_ADD_OPTIONS, encoded)
    await session.execute(_ADD_LINKS, request_id, encoded)


# ---- the rest of PATCH and DELETE: SQLAlchemy Core, in the endpoint's transaction ----


async def update_item(conn: AsyncConnection, item_id: int, values: dict[str, str]) -> None:
    await conn.execute(update(item).where(item.c.id == item_id).values(**values))


async def lock_for_update(conn: AsyncConnection, account_id: int, request_id: int) -> AnyRow | None:
    """The request's state, row-locked on PostgreSQL so a dispatcher cannot send it meanwhile."""
    stmt = select(fr.c.id, fr.c.state).where(fr.c.id == request_id, fr.c.account_id == account_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def update_request(conn: AsyncConnection, request_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(fr).where(fr.c.id == request_id).values(**values))


async def delete_request(conn: AsyncConnection, request_id: int) -> None:
    await conn.execute(delete(fr).where(fr.c.id == request_id))


async def erase_request(conn: AsyncConnection, request_id: int, now: dt.datetime) -> None:
    """Remove the customer's personal data, keep the record (and its metrics) for the account."""
    await conn.execute(delete(item).where(item.c.feedback_request_id == request_id))
    await conn.execute(
        update(fr)
        .where(fr.c.id == request_id)
        .values(
            email=None,
            email_normalized=None,
            first_name=None,
            surname=None,
            deletion_requested_at=func.coalesce(fr.c.deletion_requested_at, now),
            updated_at=now,
        )
    )
    resp = FeedbackResponse.__table__
    await conn.execute(
        update(resp)
        .where(resp.c.feedback_request_id == request_id)
        .values(email=None, email_normalized=None, name=None, telephone_number=None)
    )
