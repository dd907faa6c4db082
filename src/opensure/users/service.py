"""Console users: who may sign in to which account with which role, passwords, sessions.

Passwords are hashed with Argon2id (argon2-cffi) at OWASP's recommended minimum: 19 MiB of
memory, 2 passes, 1 lane (about 60 ms on one core here; argon2-cffi's default of 64 MiB and 3
passes took 280 ms, and a sign-in holds a core that long). Never logged. A stored hash made
with other parameters still verifies (the PHC string carries them).

Sign-in says the same thing for an unknown e-mail and a wrong password, and costs the same
time (an unknown e-mail is checked against a dummy hash).
Failures are counted per e-mail and per client address in the database, so every API process
of an installation shares the throttle.

A session is a random id in the cookie; the database keeps only its SHA-256, the user, the
account the console shows, and the session's CSRF token. It ends after ``idle`` without a
request or ``absolute`` after sign-in, at sign-out, and when the user's password changes (every
other session of the user).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.config import Settings
from opensure.core.emails import normalise_email, operator_address
from opensure.core.errors import AdminError
from opensure.users import repository as repo

ROLES = ("admin", "viewer")
PASSWORD_MIN = 10
PASSWORD_MAX = 1000
LINK_LIFETIME = dt.timedelta(hours=24)
# The throttle: this many failures within the window block further tries for that key.
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 30
# A session's last-seen time is written at most this often (not on every page).
TOUCH_EVERY = dt.timedelta(minutes=1)

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_dummy_hash: str | None = None


class Throttled(Exception):
    """Too many failed sign-ins for this e-mail or from this address; try again later."""


@dataclass(frozen=True)
class Lifetimes:
    idle: dt.timedelta
    absolute: dt.timedelta

    @classmethod
    def of(cls, settings: Settings) -> Lifetimes:
        return cls(
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
            absolute=dt.timedelta(hours=settings.session_max_hours),
        )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def hash_password(password: str) -> str:
    # Argon2 is deliberately slow (tens of ms, 64 MiB): off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < PASSWORD_MIN:
        return f"Use at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"Use at most {PASSWORD_MAX} characters."
    if not password.strip():
        return "A password of spaces only is not allowed."
    return None


async def create_user(
    conn: AsyncConnection,
    account_id: int,
    *,
    email: str,
    role: str,
    password: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Make ``email`` a user of the account. An existing user (of another account) keeps their
    password; a new user without one gets a one-time link (``password_link_token``) to set it."""
    if role not in ROLES:
        raise AdminError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    email = operator_address(email)
    if password is not None and (problem := password_problem(password)):
        raise AdminError(f"password refused: {problem}")
    normalized = normalise_email(email)
    user = await repo.user_by_email(conn, normalized)
    if user is None:
        hashed = None if password is None else await hash_password(password)
        user_id = await repo.insert_user(
            conn, email=email, normalized=normalized, password_hash=hashed, now=now
        )
        has_password = hashed is not None
    else:
        user_id = int(user["id"])
        if await repo.membership(conn, user_id, account_id) is not None:
            raise AdminError(f"{email} is already a user of this account")
        has_password = user["password_hash"] is not None
        if password is not None:
            await _set_password(conn, user_id, password, now)
            has_password = True
    await repo.insert_membership(conn, user_id=user_id, account_id=account_id, role=role, now=now)
    result: dict[str, Any] = {"id": user_id, "email": email, "role": role}
    if not has_password:
        result["password_link_token"] = await new_password_link(conn, user_id, now)
    return result


async def new_password_link(conn: AsyncConnection, user_id: int, now: dt.datetime) -> str:
    token = secrets.token_urlsafe(32)
    await repo.insert_password_link(
        conn, token_hash=_digest(token), user_id=user_id, expires_at=now + LINK_LIFETIME
    )
    return token


async def list_users(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    return [
        {"id": m["id"], "email": m["email"], "role": m["role"], "has_password": m["has_password"]}
        for m in await repo.account_members(conn, account_id)
    ]


async def show_user(conn: AsyncConnection, account_id: int, email: str) -> dict[str, Any]:
    """A user of the account, with the other accounts they belong to."""
    user = await repo.user_by_email(conn, normalise_email(email))
    role = None if user is None else await repo.membership(conn, int(user["id"]), account_id)
    if user is None or role is None:
        raise AdminError(f"{email} is not a user of this account")
    accounts = await repo.memberships_of(conn, int(user["id"]))
    return {
        "id": user["id"],
        "email": user["email"],
        "role": role,
        "has_password": user["password_hash"] is not None,
        "accounts": [
            {"id": a["account_id"], "name": a["account_name"], "role": a["role"]} for a in accounts
        ],
    }


async def change_role(
    conn: AsyncConnection, account_id: int, email: str, role: str
) -> dict[str, Any]:
    """Change a user's role in the account; the last admin stays an admin (someone must be
    able to manage the account in the console)."""
    if role not in ROLES:
        raise AdminError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    user = await show_user(conn, account_id, email)
    demoting = user["role"] == "admin" and role != "admin"
    if demoting and await repo.count_role(conn, account_id, "admin") <= 1:
        raise AdminError(f"{user['email']} is this account's only admin: make another first")
    await repo.set_role(conn, int(user["id"]), account_id, role)
    return {"id": user["id"], "email": user["email"], "role": role}


async def member_email(conn: AsyncConnection, account_id: int, user_id: int) -> str | None:
    """The e-mail of the account's user ``user_id``, or None (no such user in this account)."""
    if await repo.membership(conn, user_id, account_id) is None:
        return None
    user = await repo.user_by_id(conn, user_id)
    return None if user is None else str(user["email"])


async def remove_user(
    conn: AsyncConnection, account_id: int, email: str, *, allow_last_admin: bool = False
) -> None:
    """The user leaves the account (their sessions in it end); a user left with no account is
    deleted. The account's last admin stays, unless ``allow_last_admin`` (the operator's CLI:
    the operator can always make another admin, an account's own admins cannot)."""
    user = await repo.user_by_email(conn, normalise_email(email))
    role = None if user is None else await repo.membership(conn, int(user["id"]), account_id)
    if user is None or role is None:
        raise AdminError(f"{email} is not a user of this account")
    if (
        role == "admin"
        and not allow_last_admin
        and await repo.count_role(conn, account_id, "admin") <= 1
    ):
        raise AdminError(f"{user['email']} is this account's only admin: make another first")
    await repo.delete_membership(conn, int(user["id"]), account_id)
    await repo.delete_user_sessions(conn, int(user["id"]), account_id=account_id)
    if not await repo.count_memberships(conn, int(user["id"])):
        await repo.delete_user(conn, int(user["id"]))


# ---- passwords ----


async def _set_password(
    conn: AsyncConnection, user_id: int, password: str, now: dt.datetime
) -> None:
    await repo.set_password_hash(conn, user_id, await hash_password(password))
    await repo.use_password_links(conn, user_id, now)


async def password_link_user(
    conn: AsyncConnection, token: str, now: dt.datetime
) -> dict[str, Any] | None:
    """The user a one-time link is for, if it is unused and unexpired."""
    link = await repo.password_link(conn, _digest(token))
    if link is None or link["used_at"] is not None or link["expires_at"] <= now:
        return None
    return await repo.user_by_id(conn, int(link["user_id"]))


async def set_password_from_link(
    conn: AsyncConnection, token: str, password: str, now: dt.datetime
) -> dict[str, Any]:
    user = await password_link_user(conn, token, now)
    if user is None:
        raise AdminError("This link has expired or was already used.")
    if problem := password_problem(password):
        raise AdminError(problem)
    await _set_password(conn, int(user["id"]), password, now)
    # Whoever held a session of this user before no longer does.
    await repo.delete_user_sessions(conn, int(user["id"]))
    return user


async def change_password(
    conn: AsyncConnection,
    user_id: int,
    *,
    current: str,
    new: str,
    keep_session: str,
    now: dt.datetime,
) -> None:
    """Change the password; every other session of the user ends."""
    user = await repo.user_by_id(conn, user_id)
    if (
        user is None
        or not user["password_hash"]
        or not await _verify(user["password_hash"], current)
    ):
        raise AdminError("The current password is not right.")
    if problem := password_problem(new):
        raise AdminError(problem)
    await _set_password(conn, user_id, new, now)
    await repo.delete_user_sessions(conn, user_id, keep=_digest(keep_session))


# ---- sign-in ----


def _keys(email: str, address: str | None) -> list[str]:
    keys = [f"email:{normalise_email(email)[:254]}"]
    if address:
        keys.append(f"addr:{address}")
    return keys


async def authenticate(
    conn: AsyncConnection, email: str, password: str, address: str | None, now: dt.datetime
) -> dict[str, Any] | None:
    """The user whose e-mail and password these are and who belongs to an account, or None
    (whatever was wrong); raises Throttled after too many failures for the e-mail or address."""
    global _dummy_hash
    keys = _keys(email, address)
    since = now - THROTTLE_WINDOW
    if await repo.count_failures(conn, keys[0], since) >= MAX_FAILURES_PER_EMAIL:
        raise Throttled
    if (
        len(keys) > 1
        and await repo.count_failures(conn, keys[1], since) >= MAX_FAILURES_PER_ADDRESS
    ):
        raise Throttled
    user = None
    if len(email) <= 254 and len(password) <= PASSWORD_MAX:
        user = await repo.user_by_email(conn, normalise_email(email))
    if user is not None and user["password_hash"]:
        ok = await _verify(user["password_hash"], password)
    else:
        # The same work for an unknown address, so timing tells nothing either.
        if _dummy_hash is None:
            _dummy_hash = await hash_password(secrets.token_hex(16))
        await _verify(_dummy_hash, password)
        ok = False
    if ok and user is not None and await repo.memberships_of(conn, int(user["id"])):
        await repo.clear_failures(conn, keys[0])
        return user
    await repo.insert_failures(conn, keys, now)
    await repo.delete_failures_before(conn, now - THROTTLE_WINDOW)
    return None


# ---- sessions ----


async def start_session(conn: AsyncConnection, user_id: int, now: dt.datetime) -> str:
    """A new session (a new random id, never one the browser had before) on the user's first
    account; the cookie's value is returned."""
    accounts = await repo.memberships_of(conn, user_id)
    raw = secrets.token_urlsafe(32)
    await repo.insert_session(
        conn,
        id_hash=_digest(raw),
        user_id=user_id,
        account_id=int(accounts[0]["account_id"]),
        csrf_token=secrets.token_urlsafe(32),
        now=now,
    )
    return raw


@dataclass(frozen=True)
class Loaded:
    """A session as read: ``live``, ``touch`` (live, its last-seen time is due to be written)
    or ``ended`` (expired, or its user left its account: to be deleted)."""

    state: str
    row: dict[str, Any]
    memberships: list[dict[str, Any]]


async def load_session(
    conn: AsyncConnection, raw: str, now: dt.datetime, lifetimes: Lifetimes
) -> Loaded | None:
    """The session behind a cookie value, read without writing (pages must not queue behind
    SQLite's writer): ``after_load`` does what its state asks, in a transaction."""
    found = await repo.session_with_user(conn, _digest(raw))
    if found is None:
        return None
    expired = (
        found["created_at"] + lifetimes.absolute <= now
        or found["last_seen_at"] + lifetimes.idle <= now
    )
    if expired or found["role"] is None:
        return Loaded("ended", found, [])
    state = "touch" if now - found["last_seen_at"] >= TOUCH_EVERY else "live"
    return Loaded(state, found, await repo.memberships_of(conn, int(found["user_id"])))


async def after_load(conn: AsyncConnection, raw: str, state: str, now: dt.datetime) -> None:
    if state == "ended":
        await repo.delete_session(conn, _digest(raw))
    elif state == "touch":
        await repo.touch_session(conn, _digest(raw), now)


async def end_session(conn: AsyncConnection, raw: str) -> None:
    await repo.delete_session(conn, _digest(raw))


async def switch_account(conn: AsyncConnection, raw: str, user_id: int, account_id: int) -> bool:
    """Show another of the user's accounts in this session; False if not a member."""
    if await repo.membership(conn, user_id, account_id) is None:
        return False
    await repo.switch_session(conn, _digest(raw), account_id)
    return True


async def sweep(conn: AsyncConnection, now: dt.datetime, lifetimes: Lifetimes) -> None:
    """Forget ended sessions and old sign-in failures (run by the dispatchers' housekeeping:
    a session nobody comes back to is otherwise never read again, so never deleted)."""
    await repo.delete_sessions_before(
        conn, created_before=now - lifetimes.absolute, seen_before=now - lifetimes.idle
    )
    await repo.delete_failures_before(conn, now - THROTTLE_WINDOW)


def housekeeping_job(
    settings: Settings,
) -> Callable[[AsyncConnection, dt.datetime], Awaitable[None]]:
    """``sweep`` with the installation's lifetimes, for ``dispatch.housekeeping``."""
    lifetimes = Lifetimes.of(settings)

    async def job(conn: AsyncConnection, now: dt.datetime) -> None:
        await sweep(conn, now, lifetimes)

    return job
