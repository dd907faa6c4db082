"""Every query of the admin side: accounts, e-mail templates, staff and teams, segments,
unsubscribes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.db.ids import id_taken, move_sequence_past_max
from opensure.models import (
    Account,
    AccountLogo,
    EmailTemplate,
    FeedbackRequest,
    FeedbackResponse,
    Segment,
    SegmentOption,
    Staff,
    Team,
    Unsubscribe,
)

_accounts = Account.__table__
_logos = AccountLogo.__table__
_templates = EmailTemplate.__table__
_staff = Staff.__table__
_teams = Team.__table__
_segments = Segment.__table__
_options = SegmentOption.__table__
_unsubscribes = Unsubscribe.__table__
_requests = FeedbackRequest.__table__


async def accounts_by_ref(conn: AsyncConnection, ref: str) -> list[dict[str, Any]]:
    """Accounts whose name is ``ref``, or whose id is ``ref`` when it is a number."""
    condition = _accounts.c.name == ref
    if ref.isdigit():
        condition = or_(condition, _accounts.c.id == int(ref))
    rows = (await conn.execute(select(_accounts).where(condition))).mappings().all()
    return [dict(r) for r in rows]


async def account_id_named(conn: AsyncConnection, name: str) -> int | None:
    row = (await conn.execute(select(_accounts.c.id).where(_accounts.c.name == name))).first()
    return None if row is None else int(row.id)


async def count_accounts(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(_accounts))).scalar_one())


async def insert_account(
    conn: AsyncConnection, *, name: str, min_interval_days: int, now: dt.datetime
) -> int:
    stmt = (
        insert(_accounts)
        .values(name=name, min_interval_days=min_interval_days, created_at=now)
        .returning(_accounts.c.id)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def set_link_back_template(
    conn: AsyncConnection, account_id: int, template: str | None
) -> None:
    await conn.execute(
        update(_accounts).where(_accounts.c.id == account_id).values(link_back_template=template)
    )


async def account_settings(conn: AsyncConnection, account_id: int) -> dict[str, Any] | None:
    """The account's settings and its logo's hash and type (not its bytes)."""
    a = _accounts
    stmt = (
        select(
            a.c.id,
            a.c.name,
            a.c.display_name,
            a.c.min_interval_days,
            a.c.reminder_after_days,
            a.c.link_back_template,
            a.c.sender_name,
            a.c.reply_to,
            a.c.brand_colour,
            _logos.c.sha256.label("logo_sha256"),
            _logos.c.content_type.label("logo_type"),
        )
        .select_from(a.outerjoin(_logos, _logos.c.account_id == a.c.id))
        .where(a.c.id == account_id)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else dict(row)


async def logo(conn: AsyncConnection, account_id: int) -> dict[str, Any] | None:
    stmt = select(_logos).where(_logos.c.account_id == account_id)
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else dict(row)


async def put_logo(
    conn: AsyncConnection,
    account_id: int,
    *,
    content_type: str,
    data: bytes,
    sha256: str,
    now: dt.datetime,
) -> None:
    """Store the account's logo, replacing the one it had."""
    values = {"content_type": content_type, "bytes": data, "sha256": sha256, "updated_at": now}
    await conn.execute(delete(_logos).where(_logos.c.account_id == account_id))
    await conn.execute(insert(_logos).values(account_id=account_id, **values))


async def delete_logo(conn: AsyncConnection, account_id: int) -> str | None:
    """Delete the account's logo; the deleted logo's hash, or None if there was none."""
    stmt = delete(_logos).where(_logos.c.account_id == account_id).returning(_logos.c.sha256)
    row = (await conn.execute(stmt)).first()
    return None if row is None else str(row.sha256)


async def list_accounts(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(_accounts).order_by(_accounts.c.id))
    return [dict(r) for r in rows.mappings()]


async def update_account(conn: AsyncConnection, account_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(_accounts).where(_accounts.c.id == account_id).values(**values))


async def delete_account(conn: AsyncConnection, account_id: int) -> None:
    """The account and, by its foreign keys' ON DELETE CASCADE, everything it owns."""
    await conn.execute(delete(_accounts).where(_accounts.c.id == account_id))


async def template_id_taken(conn: AsyncConnection, template_id: int) -> bool:
    return await id_taken(conn, _templates, template_id)


async def insert_template(
    conn: AsyncConnection,
    *,
    account_id: int,
    name: str,
    subject: str,
    body: str,
    now: dt.datetime,
    template_id: int | None = None,
) -> int:
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": name,
        "subject": subject,
        "body": body,
        "created_at": now,
    }
    if template_id is not None:
        values["id"] = template_id
    stmt = insert(_templates).values(**values).returning(_templates.c.id)
    new_id = int((await conn.execute(stmt)).scalar_one())
    if template_id is not None:
        await move_sequence_past_max(conn, _templates)
    return new_id


async def list_templates(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    stmt = select(_templates).where(_templates.c.account_id == account_id).order_by(_templates.c.id)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def template(
    conn: AsyncConnection, account_id: int, template_id: int
) -> dict[str, Any] | None:
    stmt = select(_templates).where(
        _templates.c.account_id == account_id, _templates.c.id == template_id
    )
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else dict(row)


async def update_template(conn: AsyncConnection, template_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(_templates).where(_templates.c.id == template_id).values(**values))


async def pending_requests_with_template(conn: AsyncConnection, template_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(_requests)
        .where(_requests.c.email_template_id == template_id, _requests.c.state == "pending")
    )
    return int((await conn.execute(stmt)).scalar_one())


async def delete_template(conn: AsyncConnection, template_id: int) -> None:
    await conn.execute(delete(_templates).where(_templates.c.id == template_id))


async def team_id(conn: AsyncConnection, account_id: int, name: str) -> int:
    """The team of this name, created on first use."""
    t = Team.__table__
    found = (
        await conn.execute(select(t.c.id).where(t.c.account_id == account_id, t.c.name == name))
    ).first()
    if found:
        return int(found.id)
    stmt = insert(t).values(account_id=account_id, name=name).returning(t.c.id)
    return int((await conn.execute(stmt)).scalar_one())


async def team_names(conn: AsyncConnection, account_id: int) -> dict[str, int]:
    stmt = select(_teams.c.name, _teams.c.id).where(_teams.c.account_id == account_id)
    return {str(name): int(i) for name, i in await conn.execute(stmt)}


_STAFF_COLUMNS = (
    _staff.c.id,
    _staff.c.code,
    _staff.c.name,
    _staff.c.team_id,
    _teams.c.name.label("team"),
)


async def list_staff(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    stmt = (
        select(*_STAFF_COLUMNS)
        .select_from(_staff.outerjoin(_teams, _teams.c.id == _staff.c.team_id))
        .where(_staff.c.account_id == account_id)
        .order_by(_staff.c.code)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def staff_member(
    conn: AsyncConnection, account_id: int, ref: str | int
) -> dict[str, Any] | None:
    """A staff member by code, or by id when ``ref`` is a number and no code is ``ref``; an
    ``int`` ref (the console's links) is an id only."""
    base = (
        select(*_STAFF_COLUMNS)
        .select_from(_staff.outerjoin(_teams, _teams.c.id == _staff.c.team_id))
        .where(_staff.c.account_id == account_id)
    )
    if isinstance(ref, int):
        row = (await conn.execute(base.where(_staff.c.id == ref))).mappings().first()
        return None if row is None else dict(row)
    row = (await conn.execute(base.where(_staff.c.code == ref))).mappings().first()
    if row is None and ref.isdigit():
        row = (await conn.execute(base.where(_staff.c.id == int(ref)))).mappings().first()
    return None if row is None else dict(row)


async def list_teams(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """The account's teams by name, each with how many staff members it has."""
    members = func.count(_staff.c.id)
    stmt = (
        select(_teams.c.id, _teams.c.name, members.label("staff"))
        .select_from(_teams.outerjoin(_staff, _staff.c.team_id == _teams.c.id))
        .where(_teams.c.account_id == account_id)
        .group_by(_teams.c.id, _teams.c.name)
        .order_by(_teams.c.name)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def team(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any] | None:
    """A team of the account by id (an int) or name, with its number of staff members."""
    members = func.count(_staff.c.id)
    stmt = (
        select(_teams.c.id, _teams.c.name, members.label("staff"))
        .select_from(_teams.outerjoin(_staff, _staff.c.team_id == _teams.c.id))
        .where(_teams.c.account_id == account_id)
        .where(_teams.c.id == ref if isinstance(ref, int) else _teams.c.name == ref)
        .group_by(_teams.c.id, _teams.c.name)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else dict(row)


async def team_has_responses(conn: AsyncConnection, team_id: int) -> bool:
    r = FeedbackResponse.__table__
    stmt = select(r.c.id).where(r.c.team_id == team_id).limit(1)
    return (await conn.execute(stmt)).first() is not None


async def rename_team(conn: AsyncConnection, team_id: int, name: str) -> None:
    """Raises IntegrityError (in a savepoint) when the name is taken."""
    async with conn.begin_nested():
        await conn.execute(update(_teams).where(_teams.c.id == team_id).values(name=name))


async def delete_team(conn: AsyncConnection, team_id: int) -> None:
    await conn.execute(delete(_teams).where(_teams.c.id == team_id))


async def staff_codes(conn: AsyncConnection, account_id: int) -> set[str]:
    stmt = select(_staff.c.code).where(_staff.c.account_id == account_id)
    return {str(c) for (c,) in await conn.execute(stmt)}


async def update_staff(conn: AsyncConnection, staff_id: int, values: dict[str, Any]) -> None:
    """Raises IntegrityError (in a savepoint) when the new code is taken."""
    async with conn.begin_nested():
        await conn.execute(update(_staff).where(_staff.c.id == staff_id).values(**values))


async def delete_staff(conn: AsyncConnection, staff_id: int) -> None:
    await conn.execute(delete(_staff).where(_staff.c.id == staff_id))


async def insert_staff(
    conn: AsyncConnection, *, account_id: int, code: str, name: str, team_id: int | None
) -> int:
    """The new staff member's id (IntegrityError, in a savepoint, when the code is taken)."""
    s = Staff.__table__
    stmt = (
        insert(s)
        .values(account_id=account_id, code=code, name=name, team_id=team_id)
        .returning(s.c.id)
    )
    async with conn.begin_nested():
        return int((await conn.execute(stmt)).scalar_one())


async def insert_segment(conn: AsyncConnection, *, account_id: int, key: str) -> int:
    """The new segment's id (IntegrityError, in a savepoint, when the key is taken)."""
    s = Segment.__table__
    stmt = insert(s).values(account_id=account_id, key=key).returning(s.c.id)
    async with conn.begin_nested():
        return int((await conn.execute(stmt)).scalar_one())


async def list_segments(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    stmt = select(_segments.c.id, _segments.c.key).where(_segments.c.account_id == account_id)
    return [dict(r) for r in (await conn.execute(stmt.order_by(_segments.c.key))).mappings()]


async def segment(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any] | None:
    """A segment by key, or by id when ``ref`` is a number and no key is ``ref``; an ``int``
    ref (the console's links) is an id only."""
    base = select(_segments.c.id, _segments.c.key).where(_segments.c.account_id == account_id)
    if isinstance(ref, int):
        row = (await conn.execute(base.where(_segments.c.id == ref))).mappings().first()
        return None if row is None else dict(row)
    row = (await conn.execute(base.where(_segments.c.key == ref))).mappings().first()
    if row is None and ref.isdigit():
        row = (await conn.execute(base.where(_segments.c.id == int(ref)))).mappings().first()
    return None if row is None else dict(row)


async def segment_options(conn: AsyncConnection, segment_id: int) -> list[str]:
    stmt = select(_options.c.value).where(_options.c.segment_id == segment_id)
    return [str(v) for (v,) in await conn.execute(stmt.order_by(_options.c.value))]


async def options_of_segments(conn: AsyncConnection, account_id: int) -> dict[int, list[str]]:
    """The options seen so far of every segment of the account, by segment id."""
    stmt = (
        select(_options.c.segment_id, _options.c.value)
        .join(_segments, _segments.c.id == _options.c.segment_id)
        .where(_segments.c.account_id == account_id)
        .order_by(_options.c.segment_id, _options.c.value)
    )
    found: dict[int, list[str]] = {}
    for segment_id, value in await conn.execute(stmt):
        found.setdefault(int(segment_id), []).append(str(value))
    return found


async def update_segment(conn: AsyncConnection, segment_id: int, key: str) -> None:
    """Raises IntegrityError (in a savepoint) when the key is taken."""
    async with conn.begin_nested():
        await conn.execute(update(_segments).where(_segments.c.id == segment_id).values(key=key))


async def delete_segment(conn: AsyncConnection, segment_id: int) -> None:
    """The segment and, by ON DELETE CASCADE, its options and their links to requests."""
    await conn.execute(delete(_segments).where(_segments.c.id == segment_id))


async def list_unsubscribes(
    conn: AsyncConnection, account_id: int, containing: str | None = None
) -> list[dict[str, Any]]:
    stmt = select(_unsubscribes.c.email, _unsubscribes.c.created_at).where(
        _unsubscribes.c.account_id == account_id
    )
    if containing:
        stmt = stmt.where(_unsubscribes.c.email.contains(containing, autoescape=True))
    rows = await conn.execute(stmt.order_by(_unsubscribes.c.email))
    return [dict(r) for r in rows.mappings()]


async def unsubscribes_page(
    conn: AsyncConnection, account_id: int, containing: str | None, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the account's unsubscribed addresses, newest first, and how many match."""
    where = [_unsubscribes.c.account_id == account_id]
    if containing:
        where.append(_unsubscribes.c.email.contains(containing, autoescape=True))
    count = select(func.count()).select_from(_unsubscribes).where(*where)
    total = int((await conn.execute(count)).scalar_one())
    stmt = (
        select(_unsubscribes.c.email, _unsubscribes.c.created_at)
        .where(*where)
        .order_by(_unsubscribes.c.created_at.desc(), _unsubscribes.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()], total


async def insert_unsubscribe(
    conn: AsyncConnection, account_id: int, normalized: str, now: dt.datetime
) -> bool:
    """False if the address was already on the list."""
    stmt = select(_unsubscribes.c.id).where(
        _unsubscribes.c.account_id == account_id, _unsubscribes.c.email == normalized
    )
    if (await conn.execute(stmt)).first() is not None:
        return False
    await conn.execute(
        insert(_unsubscribes).values(account_id=account_id, email=normalized, created_at=now)
    )
    return True


async def delete_unsubscribe(conn: AsyncConnection, account_id: int, normalized: str) -> int:
    result = await conn.execute(
        delete(_unsubscribes).where(
            _unsubscribes.c.account_id == account_id, _unsubscribes.c.email == normalized
        )
    )
    return int(result.rowcount)
