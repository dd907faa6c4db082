"""Recording and reading the audit log.

Every change made in the console or through the CLI is recorded by its caller (a console page
or a CLI command), in the transaction that makes the change, with :func:`record`: who
(:class:`Actor`), what (a dotted verb like ``survey.updated`` and the object), when, and the
object's fields before and after. Secrets are never recorded: a token by its prefix, a password
not at all. An update that changed nothing records nothing.
"""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.audit import repository as repo
from opensure.core.clock import utcnow

PAGE_SIZE = 50
SUBJECT_MAX = 300


@dataclass(frozen=True)
class Actor:
    """Who made a change: a console user (by e-mail and id) or the CLI's operating-system user."""

    label: str
    via: str  # "console" or "cli"
    user_id: int | None = None


def console_actor(email: str, user_id: int) -> Actor:
    return Actor(label=email, via="console", user_id=user_id)


def cli_actor() -> Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (a bare container)
        who = "unknown"
    return Actor(label=who, via="cli")


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: datetimes as ISO 8601, tuples and sets as lists."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


async def record(
    conn: AsyncConnection,
    account_id: int,
    actor: Actor,
    action: str,
    *,
    subject_type: str,
    subject_id: int | str | None,
    subject: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Record one change; False (nothing recorded) when ``before`` and ``after`` are equal."""
    before, after = plain(before), plain(after)
    if before is not None and after is not None and before == after:
        return False
    await repo.insert_event(
        conn,
        {
            "account_id": account_id,
            "at": now or utcnow(),
            "actor": actor.label[:320],
            "actor_user_id": actor.user_id,
            "via": actor.via,
            "action": action,
            "subject_type": subject_type,
            "subject_id": None if subject_id is None else str(subject_id),
            "subject": subject[:SUBJECT_MAX],
            "before": before,
            "after": after,
        },
    )
    return True


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The fields that differ, in the order they appear: ``{"field","before","after"}``."""
    old, new = before or {}, after or {}
    keys = list(old) + [k for k in new if k not in old]
    return [
        {"field": k, "before": old.get(k), "after": new.get(k)}
        for k in keys
        if old.get(k) != new.get(k)
    ]


async def events(
    conn: AsyncConnection,
    account_id: int,
    *,
    before_id: int | None = None,
    subject_type: str | None = None,
    limit: int = PAGE_SIZE,
) -> list[dict[str, Any]]:
    """The account's events, newest first, each with its ``changes``."""
    rows = await repo.page(
        conn, account_id, before_id=before_id, limit=limit, subject_type=subject_type
    )
    return [{**r, "changes": changes(r["before"], r["after"])} for r in rows]


async def subject_types(conn: AsyncConnection, account_id: int) -> list[str]:
    """The kinds of object (``subject_type``) the account's log holds events about."""
    return await repo.subject_types(conn, account_id)
