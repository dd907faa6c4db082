"""Admin-side operations: accounts, API tokens, email templates, staff and teams, segments,
unsubscribes.

Used by the CLI (and the console). Each function takes an open transaction and only flushes;
the caller commits.
The queries are in :mod:`opensure.accounts.repository` and :mod:`opensure.stores.tokens`.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.accounts import repository as repo
from opensure.api.timestamps import format as iso
from opensure.core import branding, csvimport, linkback
from opensure.core.clock import utcnow
from opensure.core.emails import normalise_email, operator_address
from opensure.core.errors import AdminError
from opensure.core.tokens import SHOWN_PREFIX_LENGTH, hash_token, new_token
from opensure.db.ids import chosen_id
from opensure.dispatch.templating import template_problems
from opensure.models import Account
from opensure.models.feedback import max_length
from opensure.stores import tokens as tokens_store

__all__ = ["AdminError", "new_token"]

LINK_BACK_MAX = max_length(Account.__table__.c.link_back_template)
NAME_MAX = 200
CODE_MAX = 100
# A token brought from elsewhere (e.g. CustomerSure's 32 hex digits): printable ASCII without
# spaces, and without the two characters `Authorization: Token token="…"` cannot carry.
IMPORTED_TOKEN = re.compile(r"[\x21\x23-\x2b\x2d-\x7e]{16,128}")


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
    try:
        checked = _link_back(template or "")
    except AdminError as exc:
        raise AdminError(f"link-back template {template!r}: {exc}") from None
    await repo.set_link_back_template(conn, account_id, checked)
    return {"id": account_id, "link_back_template": checked}


async def create_account(
    conn: AsyncConnection, name: str, min_interval_days: int = 0
) -> dict[str, Any]:
    name = _account_name(name)
    min_interval_days = _min_interval(min_interval_days)
    exists = await repo.account_id_named(conn, name)
    if exists is not None:
        raise AdminError(f"an account named {name!r} already exists (id {exists})")
    account_id = await repo.insert_account(
        conn, name=name, min_interval_days=min_interval_days, now=utcnow()
    )
    token = await create_token(conn, account_id)
    return {"id": account_id, "name": name, "token": token}


def _account_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise AdminError("the account name must not be empty")
    if len(name) > NAME_MAX:
        raise AdminError(f"the account name is longer than {NAME_MAX} characters")
    return name


def _account_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "min_interval_days": row["min_interval_days"],
        "reminder_after_days": row.get("reminder_after_days", 0),
        "link_back_template": row["link_back_template"],
        **{field: row.get(field) for field in BRANDING},
        "created_at": iso(row["created_at"]),
    }


async def list_accounts(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [_account_json(r) for r in await repo.list_accounts(conn)]


async def show_account(conn: AsyncConnection, ref: str) -> dict[str, Any]:
    return _account_json(await find_account(conn, ref))


async def update_account(
    conn: AsyncConnection,
    ref: str,
    *,
    name: str | None,
    min_interval_days: int | None,
    reminder_after_days: int | None = None,
    **settings: str | None,
) -> dict[str, Any]:
    """Rename an account or change its settings (``SETTINGS``; an empty string clears a text
    setting); every setting is checked as the console checks it."""
    account = await find_account(conn, ref)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _account_name(name)
        other = await repo.account_id_named(conn, values["name"])
        if other not in (None, account["id"]):
            raise AdminError(f"an account named {values['name']!r} already exists (id {other})")
    given: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    if min_interval_days is not None:
        given["min_interval_days"] = min_interval_days
    if reminder_after_days is not None:
        given["reminder_after_days"] = reminder_after_days
    values.update(checked_settings(given))
    if not values:
        raise AdminError(
            "nothing to change: give --name, --min-interval-days, --reminder-after-days, "
            "--display-name, --sender-name, --reply-to or --brand-colour"
        )
    await repo.update_account(conn, account["id"], values)
    return _account_json({**account, **values})


# ---- settings (the console's account settings and `opensure accounts update`) ----

DISPLAY_NAME_MAX = max_length(Account.__table__.c.display_name)
SENDER_NAME_MAX = max_length(Account.__table__.c.sender_name)
# The settings beside the name, each checked by one function below.
BRANDING = ("display_name", "sender_name", "reply_to", "brand_colour")
SETTINGS = (
    "display_name",
    "min_interval_days",
    "reminder_after_days",
    "link_back_template",
    *BRANDING[1:],
)
REMINDER_MAX = 365
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class SettingsRefused(AdminError):
    """Settings that cannot be saved: ``problems`` maps each refused field to its sentence."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


def _min_interval(value: int | str) -> int:
    text = str(value).strip()
    if not text.isdecimal() or len(text) > 5 or int(text) > 36500:
        raise AdminError("The minimum interval is a whole number of days, from 0 (off) to 36500.")
    return int(text)


def _reminder_days(value: int | str) -> int:
    text = str(value).strip()
    if not text.isdecimal() or len(text) > 3 or int(text) > REMINDER_MAX:
        raise AdminError(
            f"The reminder is sent after a whole number of days, from 1 to {REMINDER_MAX}; "
            "0 sends none."
        )
    return int(text)


def _link_back(value: str) -> str | None:
    template = value.strip()
    if not template:
        return None
    if len(template) > LINK_BACK_MAX:
        raise AdminError(f"The link-back template is at most {LINK_BACK_MAX} characters.")
    problem = linkback.template_problem(template)
    if problem:
        raise AdminError(problem)
    return template


def _one_line(value: str, what: str, limit: int) -> str | None:
    text = value.strip()
    if _CONTROL.search(text):
        raise AdminError(f"The {what} must be one line, without control characters.")
    if len(text) > limit:
        raise AdminError(f"The {what} is at most {limit} characters.")
    return text or None


def _reply_to(value: str) -> str | None:
    if not value.strip():
        return None
    try:
        return operator_address(value)
    except AdminError:
        raise AdminError(
            "The reply-to address is not an e-mail address (like name@example.com)."
        ) from None


def _brand_colour(value: str) -> str | None:
    if not value.strip():
        return None
    problem = branding.colour_problem(value)
    if problem:
        raise AdminError(problem)
    return branding.normal_colour(value)


_CHECKS: dict[str, Any] = {
    "display_name": lambda v: _one_line(v, "company name", DISPLAY_NAME_MAX),
    "min_interval_days": _min_interval,
    "reminder_after_days": _reminder_days,
    "link_back_template": _link_back,
    "sender_name": lambda v: _one_line(v, "sender name", SENDER_NAME_MAX),
    "reply_to": _reply_to,
    "brand_colour": _brand_colour,
}


def checked_settings(given: dict[str, Any]) -> dict[str, Any]:
    """The settings in ``given`` as stored (text stripped, empty as None), or SettingsRefused
    naming every problem."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field, value in given.items():
        try:
            values[field] = _CHECKS[field](value)
        except AdminError as exc:
            problems[field] = str(exc)
    if problems:
        raise SettingsRefused(problems)
    return values


async def account_settings(conn: AsyncConnection, account_id: int) -> dict[str, Any]:
    """The account's settings (``SETTINGS``), its name, and its logo's type, hash and path
    (``logo``: None without one)."""
    row = await repo.account_settings(conn, account_id)
    if row is None:
        raise AdminError(f"no account {account_id}")
    found = dict(row)
    found["logo"] = None
    if found.pop("logo_sha256") is not None:
        found["logo"] = {
            "sha256": row["logo_sha256"],
            "content_type": row["logo_type"],
            "path": branding.logo_path(account_id, row["logo_sha256"], row["logo_type"]),
        }
    found.pop("logo_type")
    return found


async def update_settings(
    conn: AsyncConnection, account_id: int, given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check and save ``given`` (SettingsRefused, nothing saved, when any is wrong); the
    changed fields before and after."""
    values = checked_settings(given)
    current = await account_settings(conn, account_id)
    changed = {k: v for k, v in values.items() if current[k] != v}
    if changed:
        await repo.update_account(conn, account_id, changed)
    return {k: current[k] for k in changed}, changed


async def set_logo(conn: AsyncConnection, account_id: int, data: bytes) -> dict[str, Any]:
    """Check and store the account's logo (``branding.LogoRefused`` says why not); its type,
    hash and public path."""
    logo = branding.check_logo(data)
    digest = branding.sha256(data)
    await repo.put_logo(
        conn, account_id, content_type=logo.content_type, data=data, sha256=digest, now=utcnow()
    )
    return {
        "sha256": digest,
        "content_type": logo.content_type,
        "path": branding.logo_path(account_id, digest, logo.content_type),
    }


async def remove_logo(conn: AsyncConnection, account_id: int) -> str | None:
    """Remove the account's logo; the removed logo's hash (None if it had none)."""
    return await repo.delete_logo(conn, account_id)


async def logo_file(
    conn: AsyncConnection, account_id: int, sha_prefix: str, extension: str
) -> tuple[str, bytes] | None:
    """The logo at ``branding.logo_path`` (content type and bytes), if it is still the
    account's: an old hash or another extension is None."""
    found = await repo.logo(conn, account_id)
    if found is None or not found["sha256"].startswith(sha_prefix):
        return None
    if len(sha_prefix) != 12 or branding.LOGO_TYPES.get(found["content_type"]) != extension:
        return None
    return str(found["content_type"]), bytes(found["bytes"])


async def delete_account(conn: AsyncConnection, ref: str, *, confirm: str) -> dict[str, Any]:
    """Delete the account and everything it owns (surveys, requests, responses, tokens, users'
    memberships). ``confirm`` must repeat the account's name."""
    account = await find_account(conn, ref)
    if confirm != account["name"]:
        raise AdminError(
            f"deleting account {account['id']} removes all its data: "
            f"confirm with --confirm {account['name']!r}"
        )
    await repo.delete_account(conn, account["id"])
    return {"id": account["id"], "name": account["name"], "deleted": True}


# ---- API tokens ----


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


async def import_token(conn: AsyncConnection, account_id: int, token: str) -> dict[str, Any]:
    """Make a token issued elsewhere (CustomerSure's) a token of this account, kept only as its
    hash like every other; only a quarter of it, at most the usual prefix, is kept in clear."""
    if not IMPORTED_TOKEN.fullmatch(token):
        raise AdminError(
            "a token to import is 16 to 128 printable ASCII characters, without spaces, "
            "quotes or commas"
        )
    digest = hash_token(token)
    if await tokens_store.exists(conn, digest):
        raise AdminError("this value is already an API token (perhaps a revoked one)")
    prefix = token[: min(SHOWN_PREFIX_LENGTH, len(token) // 4)]
    await tokens_store.insert_token(
        conn, account_id=account_id, digest=digest, prefix=prefix, now=utcnow()
    )
    return {"account_id": account_id, "prefix": prefix}


async def list_tokens(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """Every token of the account by its prefix, newest first; when each was created, revoked
    and last used by an API call (to about a minute; null: never)."""
    return [
        {
            "id": t["id"],
            "prefix": t["prefix"],
            "created_at": iso(t["created_at"]),
            "revoked_at": iso(t["revoked_at"]),
            "last_used_at": iso(t["last_used_at"]),
        }
        for t in await tokens_store.of_account(conn, account_id)
    ]


async def revoke_token(conn: AsyncConnection, token: str) -> dict[str, Any]:
    """Revoke a token by its value: its ``id``, ``account_id`` and ``prefix``."""
    revoked = await tokens_store.revoke(conn, hash_token(token.strip()), utcnow())
    if revoked is None:
        raise AdminError("no active token matches")
    return revoked


async def revoke_token_id(
    conn: AsyncConnection, account_id: int, token_id: int
) -> dict[str, Any] | None:
    """Revoke the account's token ``token_id`` (already revoked: nothing changes): the token as
    it was (``id``, ``prefix``, ``revoked_at``), or None if the account has no such token."""
    found = [t for t in await tokens_store.of_account(conn, account_id) if t["id"] == token_id]
    if not found:
        return None
    await tokens_store.revoke_id(conn, token_id, utcnow())
    return found[0]


async def revoke_token_by_prefix(
    conn: AsyncConnection, account_id: int, prefix: str
) -> dict[str, Any]:
    """Revoke the one active token of the account whose prefix (as listed) starts with
    ``prefix``; the token (``id``, ``prefix``)."""
    if not prefix:
        raise AdminError("--prefix must not be empty")
    active = [
        t
        for t in await tokens_store.of_account(conn, account_id)
        if t["revoked_at"] is None and str(t["prefix"]).startswith(prefix)
    ]
    if not active:
        raise AdminError(f"no active token of this account has the prefix {prefix!r}")
    if len(active) > 1:
        raise AdminError(
            f"{len(active)} active tokens have the prefix {prefix!r}: revoke by the token itself"
        )
    await tokens_store.revoke_id(conn, int(active[0]["id"]), utcnow())
    return {"id": active[0]["id"], "prefix": active[0]["prefix"]}


# ---- e-mail templates ----


SUBJECT_MAX = 500


def template_field_problems(name: str, subject: str, body: str) -> list[tuple[str, str]]:
    """What is wrong with a template's fields before its text is checked: ``(field, problem)``
    for each empty or too long name, subject or body (the console shows each by its field)."""
    found = [
        (field, f"a template needs a non-empty {field}")
        for field, value in (("name", name), ("subject", subject), ("body", body))
        if not value.strip()
    ]
    if len(name) > NAME_MAX:
        found.append(("name", f"a template's name is at most {NAME_MAX} characters"))
    if len(subject) > SUBJECT_MAX:
        found.append(("subject", f"a template's subject is at most {SUBJECT_MAX} characters"))
    return found


def _checked_template(name: str, subject: str, body: str) -> None:
    fields = template_field_problems(name, subject, body)
    if fields:
        raise AdminError("\n".join(problem for _, problem in fields))
    # Refused now rather than stored and failing every request that uses it (not_sent).
    problems = template_problems(subject, body)
    if problems:
        raise AdminError("\n".join(f"template not saved: {p.where()}" for p in problems))


async def create_template(
    conn: AsyncConnection,
    account_id: int,
    *,
    name: str,
    subject: str,
    body: str,
    template_id: int | None = None,
) -> dict[str, Any]:
    """A new template; ``template_id`` keeps the id clients already use (CustomerSure's)."""
    if template_id is not None:
        chosen_id(template_id, "template")
    _checked_template(name, subject, body)
    if template_id is not None and await repo.template_id_taken(conn, template_id):
        raise AdminError(f"template id {template_id} is already taken")
    new_id = await repo.insert_template(
        conn,
        account_id=account_id,
        name=name,
        subject=subject,
        body=body,
        now=utcnow(),
        template_id=template_id,
    )
    return {"id": new_id, "name": name, "subject": subject}


def _template_json(row: dict[str, Any], *, body: bool) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "name": row["name"],
        "subject": row["subject"],
        "created_at": iso(row["created_at"]),
    }
    if body:
        out["body"] = row["body"]
    return out


async def list_templates(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    return [_template_json(r, body=False) for r in await repo.list_templates(conn, account_id)]


async def _template(conn: AsyncConnection, account_id: int, template_id: int) -> dict[str, Any]:
    found = await repo.template(conn, account_id, template_id)
    if found is None:
        raise AdminError(f"no template {template_id} in this account")
    return found


async def show_template(conn: AsyncConnection, account_id: int, template_id: int) -> dict[str, Any]:
    return _template_json(await _template(conn, account_id, template_id), body=True)


async def update_template(
    conn: AsyncConnection,
    account_id: int,
    template_id: int,
    *,
    name: str | None,
    subject: str | None,
    body: str | None,
) -> dict[str, Any]:
    """Change a template, checked as when it was created. Requests not yet sent use the new
    text (the dispatcher reads the template when it sends)."""
    current = await _template(conn, account_id, template_id)
    given = {"name": name, "subject": subject, "body": body}
    values = {k: v for k, v in given.items() if v is not None}
    if not values:
        raise AdminError("nothing to change: give --name, --subject or --body-file")
    merged = {**current, **values}
    _checked_template(merged["name"], merged["subject"], merged["body"])
    await repo.update_template(conn, template_id, values)
    return _template_json(merged, body=True)


async def delete_template(conn: AsyncConnection, account_id: int, template_id: int) -> None:
    """Delete a template no pending request uses. (A request whose template is gone would be
    sent in the default e-mail instead, which is not what its client asked for.) Requests
    already sent keep their e-mail; their email_template_id then reads null."""
    await _template(conn, account_id, template_id)
    pending = await repo.pending_requests_with_template(conn, template_id)
    if pending:
        raise AdminError(
            f"template {template_id} is used by {pending} pending feedback request"
            f"{'s' if pending != 1 else ''}: not deleted (delete or send those first)"
        )
    await repo.delete_template(conn, template_id)


# ---- staff and teams ----


def _staff_problems(code: str, name: str, team: str | None) -> list[str]:
    problems = []
    if not code:
        problems.append("code: required")
    elif len(code) > CODE_MAX:
        problems.append(f"code: longer than {CODE_MAX} characters")
    if not name:
        problems.append("name: required")
    elif len(name) > NAME_MAX:
        problems.append(f"name: longer than {NAME_MAX} characters")
    if team and len(team) > NAME_MAX:
        problems.append(f"team: longer than {NAME_MAX} characters")
    return problems


async def create_staff(
    conn: AsyncConnection, account_id: int, *, code: str, name: str, team: str | None
) -> dict[str, Any]:
    code, name = code.strip(), name.strip()
    if problems := _staff_problems(code, name, team.strip() if team else None):
        raise AdminError("; ".join(problems))
    team_id = await repo.team_id(conn, account_id, team.strip()) if team and team.strip() else None
    try:
        staff_id = await repo.insert_staff(
            conn, account_id=account_id, code=code, name=name, team_id=team_id
        )
    except IntegrityError:
        raise AdminError(f"staff code {code!r} is already taken in this account") from None
    return {
        "id": staff_id,
        "code": code,
        "name": name,
        "team": (team or "").strip() or None,
        "team_id": team_id,
    }


async def create_segment(conn: AsyncConnection, account_id: int, *, key: str) -> dict[str, Any]:
    key = _segment_key(key)
    try:
        segment_id = await repo.insert_segment(conn, account_id=account_id, key=key)
    except IntegrityError:
        raise AdminError(f"segment {key!r} already exists in this account") from None
    return {"id": segment_id, "key": key}


def _staff_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "code": row["code"],
        "name": row["name"],
        "team": row["team"],
        "team_id": row["team_id"],
    }


async def list_staff(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    return [_staff_json(r) for r in await repo.list_staff(conn, account_id)]


async def list_teams(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """The account's teams by name, with how many staff members each has."""
    return await repo.list_teams(conn, account_id)


async def show_team(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any]:
    """A team by id or name, with its number of staff members (``staff``)."""
    found = await repo.team(conn, account_id, ref)
    if found is None and isinstance(ref, str) and ref.isdigit():
        found = await repo.team(conn, account_id, int(ref))
    if found is None:
        raise AdminError(f"no team with name or id {ref!r} in this account")
    return found


async def rename_team(
    conn: AsyncConnection, account_id: int, ref: str | int, name: str
) -> dict[str, Any]:
    """Rename a team: its staff, requests and responses stay with it under the new name."""
    current = await show_team(conn, account_id, ref)
    name = name.strip()
    if not name:
        raise AdminError("name: required, the team's new name")
    if len(name) > NAME_MAX:
        raise AdminError(f"name: longer than {NAME_MAX} characters")
    try:
        await repo.rename_team(conn, int(current["id"]), name)
    except IntegrityError:
        raise AdminError(f"a team named {name!r} already exists in this account") from None
    return {**current, "name": name}


async def delete_team(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any]:
    """Delete a team nobody is in and no response is filed under (history keeps its teams:
    a team with responses can be renamed, never deleted)."""
    current = await show_team(conn, account_id, ref)
    if current["staff"]:
        raise AdminError(
            f"team {current['name']!r} still has {current['staff']} staff member"
            f"{'s' if current['staff'] != 1 else ''}: move them to another team first"
        )
    if await repo.team_has_responses(conn, int(current["id"])):
        raise AdminError(
            f"team {current['name']!r} has responses filed under it: rename it instead "
            "(responses keep the team they were given under)"
        )
    await repo.delete_team(conn, int(current["id"]))
    return current


async def _staff(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any]:
    found = await repo.staff_member(conn, account_id, ref)
    if found is None:
        raise AdminError(f"no staff member with code or id {ref!r} in this account")
    return found


async def show_staff(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any]:
    return _staff_json(await _staff(conn, account_id, ref))


async def update_staff(
    conn: AsyncConnection,
    account_id: int,
    ref: str | int,
    *,
    code: str | None,
    name: str | None,
    team: str | None,
) -> dict[str, Any]:
    """Change a staff member's code, name or team (``team=""`` takes them out of their team).
    Requests and responses stay linked to them; a new code is matched from then on."""
    current = await _staff(conn, account_id, ref)
    if code is None and name is None and team is None:
        raise AdminError("nothing to change: give --code, --name or --team")
    new_code = current["code"] if code is None else code.strip()
    new_name = current["name"] if name is None else name.strip()
    new_team = current["team"] if team is None else (team.strip() or None)
    if problems := _staff_problems(new_code, new_name, new_team):
        raise AdminError("; ".join(problems))
    team_id = await repo.team_id(conn, account_id, new_team) if new_team else None
    try:
        await repo.update_staff(
            conn, int(current["id"]), {"code": new_code, "name": new_name, "team_id": team_id}
        )
    except IntegrityError:
        raise AdminError(f"staff code {new_code!r} is already taken in this account") from None
    return _staff_json(
        {
            "id": current["id"],
            "code": new_code,
            "name": new_name,
            "team": new_team,
            "team_id": team_id,
        }
    )


async def delete_staff(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any]:
    """Delete a staff member. Their requests and responses stay, without the staff link (the
    response keeps its team); their code is free again."""
    current = await _staff(conn, account_id, ref)
    await repo.delete_staff(conn, int(current["id"]))
    return _staff_json(current)


STAFF_COLUMNS = ("code", "name", "team")


async def import_staff(
    conn: AsyncConnection, account_id: int, text: str, *, dry_run: bool
) -> dict[str, Any]:
    """Staff from CSV (header: code,name[,team]); a new code creates a staff member, a known one
    has its name and team replaced; teams are created on first use. Every problem of every line
    is reported (AdminError) and then nothing is imported; ``dry_run`` imports nothing."""
    parsed = csvimport.read(text, columns=STAFF_COLUMNS, required=("code", "name"))
    seen: dict[str, int] = {}
    for line, row in parsed.rows:
        code = row["code"]
        for problem in _staff_problems(code, row["name"], row.get("team")):
            parsed.problem(line, problem)
        if code in seen:
            parsed.problem(line, f"code: {code!r} is on line {seen[code]} too")
        seen.setdefault(code, line)
    parsed.raise_if_any("staff")
    existing = await repo.staff_codes(conn, account_id)
    created = [row["code"] for _, row in parsed.rows if row["code"] not in existing]
    replaced = [row["code"] for _, row in parsed.rows if row["code"] in existing]
    teams = sorted({row["team"] for _, row in parsed.rows if row.get("team")})
    known_teams = await repo.team_names(conn, account_id)
    new_teams = [t for t in teams if t not in known_teams]
    if not dry_run:
        for _, row in parsed.rows:
            team_id = await repo.team_id(conn, account_id, row["team"]) if row.get("team") else None
            if row["code"] in existing:
                current = await _staff(conn, account_id, row["code"])
                await repo.update_staff(
                    conn, int(current["id"]), {"name": row["name"], "team_id": team_id}
                )
            else:
                await repo.insert_staff(
                    conn, account_id=account_id, code=row["code"], name=row["name"], team_id=team_id
                )
    return {"created": created, "replaced": replaced, "new_teams": new_teams, "dry_run": dry_run}


# ---- segments ----


def _segment_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > 30:
        raise AdminError("a segment key is 1 to 30 characters (it is matched against data keys)")
    if key in ("staff_code", "site_code"):
        raise AdminError(f"{key!r} is reserved for linking staff and sites")
    return key


async def list_segments(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    return await repo.list_segments(conn, account_id)


async def list_segments_with_options(
    conn: AsyncConnection, account_id: int
) -> list[dict[str, Any]]:
    """Every segment of the account with the options seen so far in request data."""
    options = await repo.options_of_segments(conn, account_id)
    return [
        {**s, "options": options.get(int(s["id"]), [])}
        for s in await repo.list_segments(conn, account_id)
    ]


async def _segment(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any]:
    found = await repo.segment(conn, account_id, ref)
    if found is None:
        raise AdminError(f"no segment with key or id {ref!r} in this account")
    return found


async def show_segment(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any]:
    """The segment with the options seen so far in request data."""
    found = await _segment(conn, account_id, ref)
    return {**found, "options": await repo.segment_options(conn, int(found["id"]))}


async def update_segment(
    conn: AsyncConnection, account_id: int, ref: str | int, *, key: str
) -> dict[str, Any]:
    """Rename a segment's key: request data under the new key is matched from then on; the
    options seen so far stay."""
    found = await _segment(conn, account_id, ref)
    key = _segment_key(key)
    try:
        await repo.update_segment(conn, int(found["id"]), key)
    except IntegrityError:
        raise AdminError(f"segment {key!r} already exists in this account") from None
    return {"id": found["id"], "key": key}


async def delete_segment(conn: AsyncConnection, account_id: int, ref: str | int) -> dict[str, Any]:
    """Delete a segment with its options; requests keep their data items."""
    found = await _segment(conn, account_id, ref)
    await repo.delete_segment(conn, int(found["id"]))
    return found


# ---- unsubscribes ----


def _address(email: str) -> str:
    return normalise_email(operator_address(email))


def _unsubscribe_search(search: str | None) -> str | None:
    """What a search of the list matches: addresses containing it, normalised like them."""
    found = normalise_email(search) if search else None
    return found or None


def _unsubscribe_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"email": row["email"], "created_at": iso(row["created_at"])}


async def list_unsubscribes(
    conn: AsyncConnection, account_id: int, search: str | None = None
) -> list[dict[str, Any]]:
    rows = await repo.list_unsubscribes(conn, account_id, _unsubscribe_search(search))
    return [_unsubscribe_json(r) for r in rows]


UNSUBSCRIBES_PAGE = 50


async def unsubscribes_page(
    conn: AsyncConnection, account_id: int, search: str | None = None, *, page: int = 1
) -> dict[str, Any]:
    """One page (``UNSUBSCRIBES_PAGE`` addresses) of the list, newest first, searched as
    :func:`list_unsubscribes` searches; ``pages`` is at least 1."""
    per_page = UNSUBSCRIBES_PAGE
    rows, total = await repo.unsubscribes_page(
        conn,
        account_id,
        _unsubscribe_search(search),
        limit=per_page,
        offset=(max(page, 1) - 1) * per_page,
    )
    return {
        "rows": [_unsubscribe_json(r) for r in rows],
        "total": total,
        "page": page,
        "pages": max(1, -(-total // per_page)),
    }


async def add_unsubscribe(conn: AsyncConnection, account_id: int, email: str) -> dict[str, Any]:
    """No more surveys to this address from this account (pending requests end not_sent)."""
    address = _address(email)
    added = await repo.insert_unsubscribe(conn, account_id, address, utcnow())
    return {"email": address, "added": added}


async def remove_unsubscribe(conn: AsyncConnection, account_id: int, email: str) -> dict[str, Any]:
    """The customer asked to be surveyed again."""
    address = normalise_email(email)
    if not await repo.delete_unsubscribe(conn, account_id, address):
        raise AdminError(f"{address} is not on this account's unsubscribe list")
    return {"email": address, "removed": True}
