"""All SQL for feedback requests (SQLAlchemy Core: this is the API's hot path)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.db import AnyRow
from opensure.db.fast import Query, Record, Session
from opensure.models import (
    FeedbackRequest,
    FeedbackRequestItem,
    FeedbackResponse,
    RequestCount,
)
from opensure.paging import page_select

fr = FeedbackRequest.__table__
item = FeedbackRequestItem.__table__

# The columns the API shows, in the order it shows them.
PUBLIC_COLUMNS = (
    fr.c.id,
    fr.c.email,
    fr.c.state,
    fr.c.first_name,
    fr.c.surname,
    fr.c.survey_id,
    fr.c.email_template_id,
    fr.c.reference,
    fr.c.machine_id,
    fr.c.send_at,
    fr.c.sent_at,
    fr.c.created_at,
    fr.c.updated_at,
    fr.c.deletion_requested_at,
    fr.c.not_sent_reason,
    fr.c.delivery_failure,
)

Items = list[Record]  # (id, kind, key, value) of each item

# ---- the hot path: hand-written SQL on the bare driver (opensure.db.fast) ----

COLUMNS = tuple(c.name for c in PUBLIC_COLUMNS)
_FR_COLS = ", ".join(f"fr.{c}" for c in COLUMNS)

GET = Query(
    f'SELECT {_FR_COLS}, i.id, i.kind, i."key", i.value FROM feedback_requests fr '
    "LEFT OUTER JOIN feedback_request_items i ON i.feedback_request_id = fr.id "
    "WHERE fr.id = $1 AND fr.account_id = $2 ORDER BY i.id"
)


async def get(session: Session, account_id: int, request_id: int) -> tuple[Record, Items] | None:
    """The request and its items in one round trip (a LEFT JOIN; one row per item)."""
    rows = await session.fetch(GET, request_id, account_id)
    if not rows:
        return None
    n = len(COLUMNS)
    items: Items = [tuple(r[n:]) for r in rows if r[n] is not None]
    return tuple(rows[0][:n]), items


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
    f"RETURNING {', '.join(COLUMNS)}"
)


async def insert_request(session: Session, values: dict[str, Any]) -> Record:
    """Insert a request (``values`` keyed by INSERT_COLUMNS; absent ones NULL), return its row."""
    row = await session.fetchrow(INSERT, *(values.get(c) for c in INSERT_COLUMNS))
    assert row is not None
    return tuple(row)


_PG_INSERT_ITEMS = Query(
    'INSERT INTO feedback_request_items (feedback_request_id, kind, "key", value) '
    "SELECT $1, t.kind, t.ikey, t.val FROM unnest($2::text[], $3::text[], $4::text[]) "
    'WITH ORDINALITY AS t(kind, ikey, val, n) ORDER BY t.n RETURNING id, kind, "key", value'
)


@functools.cache
def _sqlite_insert_items(count: int) -> Query:
    rows = ", ".join(f"(?1, ?{3 * n + 2}, ?{3 * n + 3}, ?{3 * n + 4})" for n in range(count))
    sql = (
        'INSERT INTO feedback_request_items (feedback_request_id, kind, "key", value) '
        f'VALUES {rows} RETURNING id, kind, "key", value'
    )
    return Query(sql, sql)


async def insert_items(
    session: Session, request_id: int, items: Sequence[tuple[str, str, str]]
) -> Items:
    """Insert (kind, key, value) items in one statement; their rows, in id order."""
    if not items:
        return []
    if session.dialect == "postgresql":
        kinds, keys, values = ([entry[n] for entry in items] for n in range(3))
        rows = await session.fetch(_PG_INSERT_ITEMS, request_id, kinds, keys, values)
    else:
        flat = [v for entry in items for v in entry]
        rows = await session.fetch(_sqlite_insert_items(len(items)), request_id, *flat)
    return sorted((tuple(r) for r in rows), key=lambda r: int(r[0]))


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


# ---- the rest: SQLAlchemy Core ----


async def items_for(conn: AsyncConnection, request_ids: Sequence[int]) -> dict[int, Items]:
    by_request: dict[int, Items] = {rid: [] for rid in request_ids}
    if not request_ids:
        return by_request
    stmt = (
        select(
            item.c.feedback_request_id,
            item.c.id.label("item_id"),
            item.c.kind,
            item.c.key,
            item.c.value,
        )
        .where(item.c.feedback_request_id.in_(request_ids))
        .order_by(item.c.id)
    )
    for row in await conn.execute(stmt):
        by_request[row[0]].append(tuple(row[1:]))
    return by_request


def _filters(account_id: int, states: list[str] | None, survey_ids: list[int] | None) -> list[Any]:
    conditions: list[Any] = [fr.c.account_id == account_id]
    if states:
        conditions.append(fr.c.state.in_(states))
    if survey_ids:
        conditions.append(fr.c.survey_id.in_(survey_ids))
    return conditions


async def list_page(
    conn: AsyncConnection,
    account_id: int,
    *,
    states: list[str] | None,
    survey_ids: list[int] | None,
    limit: int,
    offset: int,
) -> tuple[list[AnyRow], int]:
    conditions = _filters(account_id, states, survey_ids)
    if conn.dialect.name == "postgresql":
        # Exact totals kept by triggers (migration 0005): no COUNT(*) over the account.
        rc = RequestCount.__table__
        counted: list[Any] = [rc.c.account_id == account_id]
        if states:
            counted.append(rc.c.state.in_(states))
        if survey_ids:
            counted.append(rc.c.survey_id.in_(survey_ids))
        count_stmt = select(func.coalesce(func.sum(rc.c.n), 0)).where(*counted)
    else:
        count_stmt = select(func.count()).select_from(fr).where(and_(*conditions))
    total = int((await conn.execute(count_stmt)).scalar_one())
    if offset >= total:
        return [], total
    stmt = page_select(
        PUBLIC_COLUMNS,
        fr.c.id,
        and_(*conditions),
        (fr.c.send_at.desc(), fr.c.id.desc()),
        limit=limit,
        offset=offset,
        total=total,
    )
    return list((await conn.execute(stmt)).all()), total


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
        .values(email=None, name=None, telephone_number=None)
    )


async def many(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, tuple[AnyRow, Items]]:
    """Requests by id with their items (for embedding in responses), two queries in all."""
    if not ids:
        return {}
    rows = (await conn.execute(select(*PUBLIC_COLUMNS).where(fr.c.id.in_(ids)))).all()
    items = await items_for(conn, [r.id for r in rows])
    return {r.id: (r, items[r.id]) for r in rows}
