"""Admin-side operations: accounts, API tokens, email templates, staff and teams, segments.

Used by the CLI. Each function takes an open transaction and only flushes; the caller commits.
The queries are in :mod:`opensure.accounts.repository` and :mod:`opensure.stores.tokens`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.accounts import repository as repo
from opensure.core import linkback
from opensure.core.clock import utcnow
from opensure.core.errors import AdminError
from opensure.core.tokens import SHOWN_PREFIX_LENGTH, hash_token, new_token
from opensure.dispatch.templating import template_problems
from opensure.models import Account
from opensure.models.feedback import max_length
from opensure.stores import tokens as tokens_store

__all__ = ["AdminError", "new_token"]

LINK_BACK_MAX = max_length(Account.__table__.c.link_back_template)


async def find_account(conn: AsyncConnection, ref: str) -> dict[str, Any]:
    """An account by id or by name."""
    rows = await repo.accounts_by_ref(conn, ref)
    if not rows:
        raise AdminError(f"no account with id or name {ref!r}")
    exact = [r for r in rows if str(r["id"]) == ref] or list(rows)
    return dict(exact[0])


async def set_link_back(
    conn: AsyncConnection, account_id: int, template: str | None
) -> dict[str, Any]:
    """Set (or, with None, clear) the URL template that links a response's reference back to
    its ticket (``opensure.core.linkback``); a template that could never give a web link is
    refused."""
    template = template.strip() if template else None
    if template:
        if len(template) > LINK_BACK_MAX:
            raise AdminError(f"a link-back template is at most {LINK_BACK_MAX} characters")
        problem = linkback.template_problem(template)
        if problem:
            raise AdminError(f"link-back template {template!r}: {problem}")
    await repo.set_link_back_template(conn, account_id, template or None)
    return {"id": account_id, "link_back_template": template or None}


async def create_account(
    conn: AsyncConnection, name: str, min_interval_days: int = 0
) -> dict[str, Any]:
    name = name.strip()
    if not name:
        raise AdminError("the account name must not be empty")
    if min_interval_days < 0:
        raise AdminError("--min-interval-days must be 0 or more")
    exists = await repo.account_id_named(conn, name)
    if exists is not None:
        raise AdminError(f"an account named {name!r} already exists (id {exists})")
    account_id = await repo.insert_account(
        conn, name=name, min_interval_days=min_interval_days, now=utcnow()
    )
    token = await create_token(conn, account_id)
    return {"id": account_id, "name": name, "token": token}


async def create_token(conn: AsyncConnection, account_id: int) -> str:
    token = new_token()
    await tokens_store.insert_token(
        conn,
        account_id=account_id,
        digest=hash_token(token),
        prefix=token[:SHOWN_PREFIX_LENGTH],
        now=utcnow(),
    )
    return token


async def revoke_token(conn: AsyncConnection, token: str) -> None:
    if await tokens_store.revoke(conn, hash_token(token.strip()), utcnow()) == 0:
        raise AdminError("no active token matches")


async def create_template(
    conn: AsyncConnection, account_id: int, *, name: str, subject: str, body: str
) -> dict[str, Any]:
    if not name.strip() or not subject.strip() or not body.strip():
        raise AdminError("a template needs a non-empty name, subject and body")
    # Refused now rather than stored and failing every request that uses it (not_sent).
    problems = template_problems(subject, body)
    if problems:
        raise AdminError("\n".join(f"template not saved: {p.where()}" for p in problems))
    template_id = await repo.insert_template(
        conn, account_id=account_id, name=name, subject=subject, body=body, now=utcnow()
    )
    return {"id": template_id, "name": name, "subject": subject}


async def create_staff(
    conn: AsyncConnection, account_id: int, *, code: str, name: str, team: str | None
) -> dict[str, Any]:
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise AdminError("staff need a non-empty --code and --name")
    if len(code) > 100:
        raise AdminError("--code is longer than 100 characters")
    team_id = await repo.team_id(conn, account_id, team.strip()) if team and team.strip() else None
    try:
        staff_id = await repo.insert_staff(
            conn, account_id=account_id, code=code, name=name, team_id=team_id
        )
    except IntegrityError:
        raise AdminError(f"staff code {code!r} is already taken in this account") from None
    return {"id": staff_id, "code": code, "name": name, "team": team or None, "team_id": team_id}


async def create_segment(conn: AsyncConnection, account_id: int, *, key: str) -> dict[str, Any]:
    key = key.strip()
    if not key or len(key) > 30:
        raise AdminError("a segment key is 1 to 30 characters (it is matched against data keys)")
    if key in ("staff_code", "site_code"):
        raise AdminError(f"{key!r} is reserved for linking staff and sites")
    try:
        segment_id = await repo.insert_segment(conn, account_id=account_id, key=key)
    except IntegrityError:
        raise AdminError(f"segment {key!r} already exists in this account") from None
    return {"id": segment_id, "key": key}
