"""Every query of console users, memberships, sessions, password links and sign-in failures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.models import Account, ConsoleSession, Membership, PasswordLink, SignInFailure, User

_users = User.__table__
_members = Membership.__table__
_sessions = ConsoleSession.__table__
_links = PasswordLink.__table__
_failures = SignInFailure.__table__
_accounts = Account.__table__


async def user_by_email(conn: AsyncConnection, normalized: str) -> dict[str, Any] | None:
    row = (
        (await conn.execute(select(_users).where(_users.c.email_normalized == normalized)))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


async def user_by_id(conn: AsyncConnection, user_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(_users).where(_users.c.id == user_id))).mappings().first()
    return None if row is None else dict(row)


async def insert_user(
    conn: AsyncConnection,
    *,
    email: str,
    normalized: str,
    password_hash: str | None,
    now: dt.datetime,
) -> int:
    stmt = (
        insert(_users)
        .values(
            email=email, email_normalized=normalized, password_hash=password_hash, created_at=now
        )
        .returning(_users.c.id)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(
        update(_users).where(_users.c.id == user_id).values(password_hash=password_hash)
    )


async def membership(conn: AsyncConnection, user_id: int, account_id: int) -> str | None:
    """The user's role in the account, or None."""
    row = (
        await conn.execute(
            select(_members.c.role).where(
                _members.c.user_id == user_id, _members.c.account_id == account_id
            )
        )
    ).first()
    return None if row is None else str(row.role)


async def memberships_of(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """The user's accounts with their role, by account name."""
    stmt = (
        select(_members.c.account_id, _accounts.c.name.label("account_name"), _members.c.role)
        .join(_accounts, _accounts.c.id == _members.c.account_id)
        .where(_members.c.user_id == user_id)
        .order_by(_accounts.c.name, _accounts.c.id)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


async def insert_membership(
    conn: AsyncConnection, *, user_id: int, account_id: int, role: str, now: dt.datetime
) -> None:
    await conn.execute(
        insert(_members).values(user_id=user_id, account_id=account_id, role=role, created_at=now)
    )


async def delete_membership(conn: AsyncConnection, user_id: int, account_id: int) -> int:
    result = await conn.execute(
        delete(_members).where(_members.c.user_id == user_id, _members.c.account_id == account_id)
    )
    return int(result.rowcount)


async def set_role(conn: AsyncConnection, user_id: int, account_id: int, role: str) -> None:
    await conn.execute(
        update(_members)
        .where(_members.c.user_id == user_id, _members.c.account_id == account_id)
        .values(role=role)
    )


async def count_role(conn: AsyncConnection, account_id: int, role: str) -> int:
    stmt = (
        select(func.count())
        .select_from(_members)
        .where(_members.c.account_id == account_id, _members.c.role == role)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def count_memberships(conn: AsyncConnection, user_id: int) -> int:
    stmt = select(func.count()).select_from(_members).where(_members.c.user_id == user_id)
    return int((await conn.execute(stmt)).scalar_one())


async def delete_user(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(delete(_users).where(_users.c.id == user_id))


async def account_members(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    stmt = (
        select(
            _users.c.id,
            _users.c.email,
            _members.c.role,
            (_users.c.password_hash.is_not(None)).label("has_password"),
            _members.c.created_at,
        )
        .join(_members, _members.c.user_id == _users.c.id)
        .where(_members.c.account_id == account_id)
        .order_by(_users.c.email_normalized)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


# ---- one-time password links ----


async def insert_password_link(
    conn: AsyncConnection, *, token_hash: str, user_id: int, expires_at: dt.datetime
) -> None:
    await conn.execute(
        insert(_links).values(token_hash=token_hash, user_id=user_id, expires_at=expires_at)
    )


async def password_link(conn: AsyncConnection, token_hash: str) -> dict[str, Any] | None:
    row = (
        (await conn.execute(select(_links).where(_links.c.token_hash == token_hash)))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


async def use_password_links(conn: AsyncConnection, user_id: int, now: dt.datetime) -> None:
    """Every open link of the user is spent (one set password ends them all)."""
    await conn.execute(
        update(_links)
        .where(_links.c.user_id == user_id, _links.c.used_at.is_(None))
        .values(used_at=now)
    )


# ---- sessions ----


async def insert_session(
    conn: AsyncConnection,
    *,
    id_hash: str,
    user_id: int,
    account_id: int,
    csrf_token: str,
    now: dt.datetime,
) -> None:
    await conn.execute(
        insert(_sessions).values(
            id_hash=id_hash,
            user_id=user_id,
            account_id=account_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
        )
    )


async def session_with_user(conn: AsyncConnection, id_hash: str) -> dict[str, Any] | None:
    """The session, its user's e-mail and the user's role in the session's account."""
    stmt = (
        select(
            _sessions.c.id_hash,
            _sessions.c.user_id,
            _sessions.c.account_id,
            _sessions.c.csrf_token,
            _sessions.c.created_at,
            _sessions.c.last_seen_at,
            _users.c.email,
            _members.c.role,
            _accounts.c.name.label("account_name"),
        )
        .join(_users, _users.c.id == _sessions.c.user_id)
        .join(_accounts, _accounts.c.id == _sessions.c.account_id)
        .outerjoin(
            _members,
            (_members.c.user_id == _sessions.c.user_id)
            & (_members.c.account_id == _sessions.c.account_id),
        )
        .where(_sessions.c.id_hash == id_hash)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else dict(row)


async def touch_session(conn: AsyncConnection, id_hash: str, now: dt.datetime) -> None:
    await conn.execute(
        update(_sessions).where(_sessions.c.id_hash == id_hash).values(last_seen_at=now)
    )


async def switch_session(conn: AsyncConnection, id_hash: str, account_id: int) -> None:
    await conn.execute(
        update(_sessions).where(_sessions.c.id_hash == id_hash).values(account_id=account_id)
    )


async def delete_session(conn: AsyncConnection, id_hash: str) -> None:
    await conn.execute(delete(_sessions).where(_sessions.c.id_hash == id_hash))


async def delete_user_sessions(
    conn: AsyncConnection, user_id: int, *, keep: str | None = None, account_id: int | None = None
) -> None:
    """The user's sessions (in one account only, when given), but ``keep``."""
    stmt = delete(_sessions).where(_sessions.c.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(_sessions.c.id_hash != keep)
    if account_id is not None:
        stmt = stmt.where(_sessions.c.account_id == account_id)
    await conn.execute(stmt)


async def delete_sessions_before(
    conn: AsyncConnection, *, created_before: dt.datetime, seen_before: dt.datetime
) -> None:
    await conn.execute(
        delete(_sessions).where(
            (_sessions.c.created_at < created_before) | (_sessions.c.last_seen_at < seen_before)
        )
    )


# ---- the sign-in throttle ----


async def count_failures(conn: AsyncConnection, key: str, since: dt.datetime) -> int:
    stmt = (
        select(func.count())
        .select_from(_failures)
        .where(_failures.c.key == key, _failures.c.failed_at >= since)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def insert_failures(conn: AsyncConnection, keys: list[str], now: dt.datetime) -> None:
    await conn.execute(insert(_failures), [{"key": k, "failed_at": now} for k in keys])


async def clear_failures(conn: AsyncConnection, key: str) -> None:
    await conn.execute(delete(_failures).where(_failures.c.key == key))


async def delete_failures_before(conn: AsyncConnection, before: dt.datetime) -> None:
    await conn.execute(delete(_failures).where(_failures.c.failed_at < before))
