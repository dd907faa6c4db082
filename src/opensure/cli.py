"""The ``opensure`` command: serve, migrate and the admin commands of SPEC §7."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import yaml
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.accounts import repository as accounts_repo
from opensure.accounts import service as admin
from opensure.api import timestamps
from opensure.audit import service as audit
from opensure.config import get_settings
from opensure.core import runtime
from opensure.core.branding import LogoRefused
from opensure.core.clock import utcnow
from opensure.core.errors import AdminError
from opensure.core.links import set_password_link
from opensure.core.tokens import SHOWN_PREFIX_LENGTH
from opensure.db import create_engine
from opensure.db.migrate import ensure_current, upgrade
from opensure.surveys import admin as surveys_admin
from opensure.surveys import importer
from opensure.telemetry import log_config
from opensure.users import service as users
from opensure.webhooks import service as webhooks

app = typer.Typer(
    help="OpenSure: self-hosted customer feedback, speaking the CustomerSure API v1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
surveys_app = typer.Typer(help="Surveys.", no_args_is_help=True)
templates_app = typer.Typer(help="Email templates.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff members (and their teams).", no_args_is_help=True)
segments_app = typer.Typer(help="Segments.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log (read only).", no_args_is_help=True)
teams_app = typer.Typer(help="Teams (of staff members).", no_args_is_help=True)
users_app = typer.Typer(help="Console users (SPEC §8).", no_args_is_help=True)
sites_app = typer.Typer(help="Sites (as the API's /sites).", no_args_is_help=True)
unsubscribes_app = typer.Typer(help="Addresses that are not surveyed.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook endpoints (SPEC §9).", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(tokens_app, name="tokens")
app.add_typer(surveys_app, name="surveys")
app.add_typer(templates_app, name="templates")
app.add_typer(staff_app, name="staff")
app.add_typer(teams_app, name="teams")
app.add_typer(audit_app, name="audit")
app.add_typer(segments_app, name="segments")
app.add_typer(users_app, name="users")
app.add_typer(sites_app, name="sites")
app.add_typer(unsubscribes_app, name="unsubscribes")
app.add_typer(webhooks_app, name="webhooks")

T = TypeVar("T")
DEMO_USER = "demo@example.com"
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as a JSON object.")]
ListJsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as a JSON array.")]
AccountOpt = Annotated[str, typer.Option("--account", help="The account's id or name.")]
IdOpt = Annotated[
    int | None,
    typer.Option(
        "--id", help="Create it with this id (the one clients already use, e.g. CustomerSure's)."
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Check every line and report; import nothing.")
]


def fail(message: str) -> NoReturn:
    """Exit 1 with ``message`` on stderr, each of its lines prefixed ``opensure: ``."""
    typer.echo("\n".join(f"opensure: {line}" for line in message.splitlines()), err=True)
    raise typer.Exit(1)


def run_db(work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the configured database (migrated first)."""

    async def go() -> T:
        engine = create_engine(get_settings().database_url)
        try:
            await ensure_current(engine)
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except AdminError as exc:
        fail(str(exc))
    except (SQLAlchemyError, OSError) as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    except ValueError as exc:  # a malformed setting, e.g. an unsupported database URL
        fail(str(exc))


def in_account(account: str, work: Callable[[AsyncConnection, int], Awaitable[T]]) -> T:
    """Run ``work(conn, account id)`` in one transaction, the account found by id or name."""

    async def go(conn: AsyncConnection) -> T:
        found = await admin.find_account(conn, account)
        return await work(conn, int(found["id"]))

    return run_db(go)


# Never in the audit log: what a token or a password link lets one do.
SECRETS = frozenset({"token", "password_link_token", "password_link", "password", "secret"})
Show = Callable[[AsyncConnection, int], Awaitable[dict[str, Any]]]


def _subject(kind: str, obj: dict[str, Any]) -> tuple[Any, str]:
    """(id, "Staff ana (Ana Lopez)"): the object as the audit log names it."""
    key = next((obj[k] for k in ("code", "site_code", "key", "email") if obj.get(k)), None)
    name, ident = obj.get("name"), obj.get("id", key)
    if kind == "token":
        return ident, f"API token {obj.get('prefix', '')}…"
    label = f"{key or ident} ({name})" if name and (key or ident) else str(name or key or ident)
    return ident, f"{kind.replace('_', ' ').capitalize()} {label}"


async def record_change(
    conn: AsyncConnection,
    account_id: int,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    subject: str | None = None,
) -> None:
    """Record a change made by this command in the account's audit log (by the operating
    system's user, via "cli"); nothing when there is neither a before nor an after."""
    if before is None and after is None:
        return
    kind = action.partition(".")[0]
    ident, named = _subject(kind, after or before or {})
    before, after = (
        None if d is None else {k: v for k, v in d.items() if k not in SECRETS and k != "id"}
        for d in (before, after)
    )
    await audit.record(
        conn,
        account_id,
        audit.cli_actor(),
        action,
        subject_type=kind,
        subject_id=ident,
        subject=subject or named,
        before=before,
        after=after,
    )


def audited(
    account: str,
    action: str,
    change: Callable[[AsyncConnection, int], Awaitable[T]],
    *,
    show: Show | None = None,
    logged: Callable[[T], dict[str, Any] | None] | None = None,
    subject: str | None = None,
) -> T:
    """``in_account`` that records the change in the audit log, in its transaction: the object
    before from ``show`` (none: a creation), after from the result (``logged`` picks it; None:
    a deletion, or nothing changed); an update's result is laid over the object before."""

    async def work(conn: AsyncConnection, account_id: int) -> T:
        try:
            before = None if show is None else await show(conn, account_id)
        except AdminError:
            # No such object: the change fails too, with its own first complaint (a bad
            # argument before an unknown object), as it did before it was audited.
            before = None
        result = await change(conn, account_id)
        after = logged(result) if logged else result if isinstance(result, dict) else None
        if before is not None and after is not None:
            after = {**before, **after}
        await record_change(conn, account_id, action, before, after, subject)
        return result

    return in_account(account, work)


def imported(result: dict[str, Any]) -> dict[str, Any] | None:
    """What a CSV import changed, for the audit log (a dry run changed nothing)."""
    if result["dry_run"]:
        return None
    return {k: v for k, v in result.items() if k in ("created", "replaced", "new_teams")}


async def user_fields(conn: AsyncConnection, account_id: int, email: str) -> dict[str, Any]:
    """A user as the audit log records them: not the other accounts they belong to."""
    user = await users.show_user(conn, account_id, email)
    return {"id": user["id"], "email": user["email"], "role": user["role"]}


def report(result: dict[str, Any], as_json: bool, line: str) -> None:
    typer.echo(json.dumps(result) if as_json else line)


def report_list(rows: list[dict[str, Any]], as_json: bool, keys: tuple[str, ...]) -> None:
    """A JSON array, or a line per row: the values of ``keys``, tab-separated."""
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo("\t".join("" if row.get(k) is None else str(row[k]) for k in keys))


def report_object(result: dict[str, Any], as_json: bool) -> None:
    """A JSON object, or a ``key: value`` line per field."""
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        shown = json.dumps(value) if isinstance(value, list | dict) else value
        typer.echo(f"{key}: {'' if shown is None else shown}")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")


def report_import(what: str, result: dict[str, Any], as_json: bool) -> None:
    line = f"{what}: {len(result['created'])} created, {len(result['replaced'])} replaced"
    if result.get("new_teams"):
        line += f", new teams: {', '.join(result['new_teams'])}"
    if result["dry_run"]:
        line += " (dry run: nothing imported)"
    report(result, as_json, line)


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the newest version."""

    async def go() -> None:
        engine = create_engine(get_settings().database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(go())
    except (SQLAlchemyError, OSError) as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    except ValueError as exc:  # a malformed setting, e.g. an unsupported database URL
        fail(str(exc))
    typer.echo("database is at the newest schema")


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="The account's name (your company name).")],
    min_interval_days: Annotated[
        int, typer.Option(help="Do not survey one address again within this many days (0 = off).")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Create an account and its first API token (shown once)."""

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        made = await admin.create_account(conn, name, min_interval_days)
        shown = {"id": made["id"], "name": made["name"], "min_interval_days": min_interval_days}
        await record_change(conn, made["id"], "account.created", None, shown)
        return made

    result = run_db(work)
    report(
        result,
        as_json,
        f"account {result['id']} {result['name']!r} created; token: {result['token']}",
    )


@accounts_app.command("link-back")
def accounts_link_back(
    account: AccountOpt,
    template: Annotated[
        str | None,
        typer.Option(
            help="A URL with {reference} or {machine_id}, e.g. "
            "https://desk.example.com/tickets/{machine_id}; empty to remove it."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Link each response's reference back to its ticket in the console (docs/console.md)."""

    result = audited(
        account,
        "account.updated",
        lambda conn, a: admin.set_link_back(conn, a, template),
        show=lambda conn, a: admin.show_account(conn, str(a)),
    )
    shown = result["link_back_template"]
    report(result, as_json, f"link back: {shown}" if shown else "link back removed")


@accounts_app.command("list")
def accounts_list(as_json: ListJsonOpt = False) -> None:
    """Every account."""
    report_list(run_db(admin.list_accounts), as_json, ("id", "name", "min_interval_days"))


@accounts_app.command("show")
def accounts_show(
    account: Annotated[str, typer.Argument(help="The account's id or name.")],
    as_json: JsonOpt = False,
) -> None:
    """An account's settings."""
    report_object(run_db(lambda conn: admin.show_account(conn, account)), as_json)


@accounts_app.command("update")
def accounts_update(
    account: Annotated[str, typer.Argument(help="The account's id or name.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    min_interval_days: Annotated[
        int | None, typer.Option(help="Do not survey one address again within this many days.")
    ] = None,
    reminder_after_days: Annotated[
        int | None,
        typer.Option(
            help="Send one reminder this many days after the first e-mail to customers who "
            "have not answered (0: none; a survey's own setting wins)."
        ),
    ] = None,
    display_name: Annotated[
        str | None,
        typer.Option(help="The company name in e-mails and on survey pages; empty: the name."),
    ] = None,
    sender_name: Annotated[
        str | None, typer.Option(help="The From name of survey e-mails; empty to remove it.")
    ] = None,
    reply_to: Annotated[
        str | None, typer.Option(help="The Reply-To address of survey e-mails; empty: none.")
    ] = None,
    brand_colour: Annotated[
        str | None, typer.Option(help="#rrggbb for survey pages and e-mails; empty: none.")
    ] = None,
    logo: Annotated[
        Path | None,
        typer.Option(help="A PNG, JPEG, GIF or WebP logo file (at most 512 KiB)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename an account or change its settings: the minimum interval between surveys to one
    address, and how its e-mails and survey pages look (docs/console.md)."""
    data = None
    if logo is not None:
        try:
            data = logo.read_bytes()
        except OSError as exc:
            fail(f"cannot read {logo}: {exc}")

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        before = await admin.show_account(conn, account)
        settings = {
            "display_name": display_name,
            "sender_name": sender_name,
            "reply_to": reply_to,
            "brand_colour": brand_colour,
        }
        given = name is not None or min_interval_days is not None or reminder_after_days is not None
        if data is None or given or any(v is not None for v in settings.values()):
            result = await admin.update_account(
                conn,
                account,
                name=name,
                min_interval_days=min_interval_days,
                reminder_after_days=reminder_after_days,
                **settings,
            )
        else:
            result = await admin.show_account(conn, account)
        if data is not None:
            try:
                result["logo"] = await admin.set_logo(conn, result["id"], data)
            except LogoRefused as exc:
                raise AdminError(f"logo not saved: {exc}") from None
        await record_change(
            conn, int(before["id"]), "account.updated", before, {**before, **result}
        )
        return result

    result = run_db(work)
    report(result, as_json, f"account {result['id']} {result['name']!r} updated")


@accounts_app.command("delete")
def accounts_delete(
    account: Annotated[str, typer.Argument(help="The account's id or name.")],
    confirm: Annotated[
        str, typer.Option(help="The account's name again: everything it owns is deleted.")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Delete an account with all its surveys, requests, responses, tokens and memberships."""
    # Not in the audit log: the account's log is deleted with it.
    result = run_db(lambda conn: admin.delete_account(conn, account, confirm=confirm))
    report(result, as_json, f"account {result['id']} {result['name']!r} deleted")


@tokens_app.command("create")
def tokens_create(account: AccountOpt, as_json: JsonOpt = False) -> None:
    """Create another API token for an account (shown once)."""

    async def work(conn: AsyncConnection, account_id: int) -> dict[str, Any]:
        return {"token": await admin.create_token(conn, account_id)}

    result = audited(
        account,
        "token.created",
        work,
        logged=lambda r: {"prefix": r["token"][:SHOWN_PREFIX_LENGTH]},
    )
    report(result, as_json, f"token: {result['token']}")


@tokens_app.command("import")
def tokens_import(
    account: AccountOpt,
    token: Annotated[str, typer.Argument(help="The token the clients already send.")],
    as_json: JsonOpt = False,
) -> None:
    """Make an existing token (e.g. CustomerSure's) a token of this account, stored as a hash."""
    result = audited(
        account,
        "token.imported",
        lambda conn, a: admin.import_token(conn, a, token),
        logged=lambda r: {"prefix": r["prefix"]},
    )
    report(result, as_json, f"token {result['prefix']}… imported")


@tokens_app.command("list")
def tokens_list(account: AccountOpt, as_json: ListJsonOpt = False) -> None:
    """The account's tokens by prefix, newest first (created, revoked, last used)."""
    rows = in_account(account, admin.list_tokens)
    report_list(rows, as_json, ("prefix", "created_at", "revoked_at", "last_used_at"))


@tokens_app.command("revoke")
def tokens_revoke(
    token: Annotated[str | None, typer.Argument(help="The token to revoke.")] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="With --prefix: the account's id or name.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Revoke the account's one active token with this prefix.")
    ] = None,
) -> None:
    """Revoke a token (by its value, or by --account and --prefix as listed); it stops working
    within 5 seconds."""

    async def revoked(conn: AsyncConnection, account_id: int, found: dict[str, Any]) -> None:
        was = {"id": found["id"], "prefix": found["prefix"]}
        after = {**was, "state": "revoked"}
        await record_change(conn, account_id, "token.revoked", {**was, "state": "active"}, after)

    async def by_value(conn: AsyncConnection) -> None:
        found = await admin.revoke_token(conn, token or "")
        await revoked(conn, int(found["account_id"]), found)

    async def by_prefix(conn: AsyncConnection, account_id: int) -> None:
        await revoked(
            conn, account_id, await admin.revoke_token_by_prefix(conn, account_id, prefix or "")
        )

    if token is not None:
        if account is not None or prefix is not None:
            fail("give the token, or --account and --prefix, not both")
        run_db(by_value)
    elif account is not None and prefix is not None:
        in_account(account, by_prefix)
    else:
        fail("give the token to revoke, or --account and --prefix")
    typer.echo("token revoked")


@surveys_app.command("import")
def surveys_import(
    account: AccountOpt,
    file: Annotated[Path, typer.Argument(help="A survey in YAML or JSON.")],
    survey_id: IdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a survey with its questions (all or nothing)."""
    try:
        doc = importer.load(file)
        importer.validate(doc)
    except AdminError as exc:
        fail(str(exc))

    result = audited(
        account,
        "survey.imported",
        lambda conn, a: importer.import_survey(conn, a, doc, survey_id=survey_id),
    )
    report(
        result,
        as_json,
        f"survey {result['id']} {result['name']!r} imported with {len(result['questions'])} "
        f"questions; public code {result['code']}",
    )


@surveys_app.command("list")
def surveys_list(account: AccountOpt, as_json: ListJsonOpt = False) -> None:
    """The account's surveys, archived ones too (archived_at)."""
    rows = in_account(account, surveys_admin.list_surveys)
    report_list(rows, as_json, ("id", "code", "name", "version", "questions", "archived_at"))


SurveyIdArg = Annotated[int, typer.Argument(metavar="ID", help="The survey's id.")]


@surveys_app.command("show")
def surveys_show(survey_id: SurveyIdArg, account: AccountOpt, as_json: JsonOpt = False) -> None:
    """A survey with its questions as customers are asked them now."""
    result = in_account(account, lambda conn, a: surveys_admin.show_survey(conn, a, survey_id))
    report_object(result, as_json)


@surveys_app.command("export")
def surveys_export(survey_id: SurveyIdArg, account: AccountOpt) -> None:
    """The survey as a survey file (YAML), each question with its id: edit it and give it to
    `surveys update`."""
    result = in_account(account, lambda conn, a: surveys_admin.show_survey(conn, a, survey_id))
    typer.echo(
        yaml.safe_dump(surveys_admin.as_file(result), sort_keys=False, allow_unicode=True),
        nl=False,
    )


@surveys_app.command("update")
def surveys_update(
    survey_id: SurveyIdArg,
    account: AccountOpt,
    file: Annotated[
        Path,
        typer.Argument(help="The survey file; kept questions carry their id (`surveys export`)."),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Change a survey: a new version; earlier answers keep the questions as they were asked.
    A question without an id is added, one left out is removed."""
    try:
        doc = importer.load(file)
        importer.validate(doc, with_ids=True)
    except AdminError as exc:
        fail(str(exc))
    result = audited(
        account,
        "survey.updated",
        lambda conn, a: surveys_admin.update_survey(conn, a, survey_id, doc),
        show=lambda conn, a: surveys_admin.show_survey(conn, a, survey_id),
        logged=lambda r: {k: v for k, v in r.items() if k != "changed"},
    )
    version = result["version"]
    line = {
        "version": f"survey {survey_id} is now version {version}",
        "settings": f"survey {survey_id}: settings saved (still version {version}: the "
        "questions did not change)",
    }.get(result.pop("changed"), f"survey {survey_id} unchanged (version {version})")
    report(result, as_json, line)


@surveys_app.command("archive")
def surveys_archive(survey_id: SurveyIdArg, account: AccountOpt, as_json: JsonOpt = False) -> None:
    """Archive a survey: its page closes and its pending requests end not_sent ("survey
    removed"); its responses stay."""
    result = audited(
        account,
        "survey.archived",
        lambda conn, a: surveys_admin.set_archived(conn, a, survey_id, True),
        show=lambda conn, a: surveys_admin.show_survey(conn, a, survey_id),
    )
    report(result, as_json, f"survey {survey_id} archived")


@surveys_app.command("restore")
def surveys_restore(survey_id: SurveyIdArg, account: AccountOpt, as_json: JsonOpt = False) -> None:
    """Restore an archived survey: its page takes answers again."""
    result = audited(
        account,
        "survey.restored",
        lambda conn, a: surveys_admin.set_archived(conn, a, survey_id, False),
        show=lambda conn, a: surveys_admin.show_survey(conn, a, survey_id),
    )
    report(result, as_json, f"survey {survey_id} restored")


@surveys_app.command("duplicate")
def surveys_duplicate(
    survey_id: SurveyIdArg,
    account: AccountOpt,
    name: Annotated[str | None, typer.Option(help="The copy's name.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A new survey (new id and public code) asking the same questions."""
    result = audited(
        account, "survey.created", lambda conn, a: surveys_admin.duplicate(conn, a, survey_id, name)
    )
    report(result, as_json, f"survey {result['id']} {result['name']!r} created")


@templates_app.command("create")
def templates_create(
    account: AccountOpt,
    name: Annotated[str, typer.Option(help="A name for the template.")],
    subject: Annotated[str, typer.Option(help="The email's subject line.")],
    body_file: Annotated[
        Path, typer.Option(help="A file with the email body (Jinja2 placeholders).")
    ],
    template_id: IdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an email template."""
    body = read_text(body_file)
    result = audited(
        account,
        "template.created",
        lambda conn, a: admin.create_template(
            conn, a, name=name, subject=subject, body=body, template_id=template_id
        ),
        logged=lambda r: {**r, "body": body},
    )
    report(result, as_json, f"template {result['id']} {result['name']!r} created")


@templates_app.command("list")
def templates_list(account: AccountOpt, as_json: ListJsonOpt = False) -> None:
    """The account's email templates."""
    rows = in_account(account, admin.list_templates)
    report_list(rows, as_json, ("id", "name", "subject"))


@templates_app.command("show")
def templates_show(
    template_id: Annotated[int, typer.Argument(metavar="ID", help="The template's id.")],
    account: AccountOpt,
    as_json: JsonOpt = False,
) -> None:
    """A template with its body."""
    result = in_account(account, lambda conn, a: admin.show_template(conn, a, template_id))
    report_object(result, as_json)


@templates_app.command("update")
def templates_update(
    template_id: Annotated[int, typer.Argument(metavar="ID", help="The template's id.")],
    account: AccountOpt,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    subject: Annotated[str | None, typer.Option(help="A new subject line.")] = None,
    body_file: Annotated[Path | None, typer.Option(help="A file with the new body.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a template (checked as at creation); unsent requests use the new text."""
    body = None if body_file is None else read_text(body_file)
    result = audited(
        account,
        "template.updated",
        lambda conn, a: admin.update_template(
            conn, a, template_id, name=name, subject=subject, body=body
        ),
        show=lambda conn, a: admin.show_template(conn, a, template_id),
    )
    report(result, as_json, f"template {result['id']} {result['name']!r} updated")


@templates_app.command("delete")
def templates_delete(
    template_id: Annotated[int, typer.Argument(metavar="ID", help="The template's id.")],
    account: AccountOpt,
) -> None:
    """Delete a template that no pending request uses."""
    audited(
        account,
        "template.deleted",
        lambda conn, a: admin.delete_template(conn, a, template_id),
        show=lambda conn, a: admin.show_template(conn, a, template_id),
    )
    typer.echo(f"template {template_id} deleted")


@staff_app.command("create")
def staff_create(
    account: AccountOpt,
    code: Annotated[str, typer.Option(help="The staff_code sent in feedback request data.")],
    name: Annotated[str, typer.Option(help="The staff member's name.")],
    team: Annotated[str | None, typer.Option(help="Team name (created if new).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a staff member, optionally in a team."""

    result = audited(
        account,
        "staff.created",
        lambda conn, a: admin.create_staff(conn, a, code=code, name=name, team=team),
    )
    team_text = f" in team {result['team']!r}" if result["team"] else ""
    report(result, as_json, f"staff {result['id']} {result['code']!r} created{team_text}")


@segments_app.command("create")
def segments_create(
    account: AccountOpt,
    key: Annotated[str, typer.Option(help="The data key whose values become segment options.")],
    as_json: JsonOpt = False,
) -> None:
    """Create a segment: request data under this key is stored as its options."""

    result = audited(
        account, "segment.created", lambda conn, a: admin.create_segment(conn, a, key=key)
    )
    report(result, as_json, f"segment {result['id']} {result['key']!r} created")


@staff_app.command("import")
def staff_import(
    account: AccountOpt,
    file: Annotated[Path, typer.Argument(help="CSV with a header: code,name[,team].")],
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or update staff from CSV (all lines or none); teams are created as needed."""
    text = read_text(file)
    result = audited(
        account,
        "staff.imported",
        lambda conn, a: admin.import_staff(conn, a, text, dry_run=dry_run),
        logged=imported,
        subject=f"Staff from {file.name}",
    )
    report_import("staff", result, as_json)


@staff_app.command("list")
def staff_list(account: AccountOpt, as_json: ListJsonOpt = False) -> None:
    """The account's staff with their teams."""
    report_list(in_account(account, admin.list_staff), as_json, ("id", "code", "name", "team"))


@staff_app.command("show")
def staff_show(
    code: Annotated[str, typer.Argument(help="The staff member's code (or id).")],
    account: AccountOpt,
    as_json: JsonOpt = False,
) -> None:
    """A staff member."""
    report_object(in_account(account, lambda conn, a: admin.show_staff(conn, a, code)), as_json)


@staff_app.command("update")
def staff_update(
    code: Annotated[str, typer.Argument(help="The staff member's code (or id).")],
    account: AccountOpt,
    new_code: Annotated[str | None, typer.Option("--code", help="A new staff_code.")] = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    team: Annotated[
        str | None, typer.Option(help="A team (created if new); empty for none.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a staff member's code, name or team."""
    result = audited(
        account,
        "staff.updated",
        lambda conn, a: admin.update_staff(conn, a, code, code=new_code, name=name, team=team),
        show=lambda conn, a: admin.show_staff(conn, a, code),
    )
    report(result, as_json, f"staff {result['id']} {result['code']!r} updated")


@staff_app.command("delete")
def staff_delete(
    code: Annotated[str, typer.Argument(help="The staff member's code (or id).")],
    account: AccountOpt,
) -> None:
    """Delete a staff member; their feedback stays, without the link to them."""
    result = audited(
        account,
        "staff.deleted",
        lambda conn, a: admin.delete_staff(conn, a, code),
        show=lambda conn, a: admin.show_staff(conn, a, code),
        logged=lambda r: None,
    )
    typer.echo(f"staff {result['id']} {result['code']!r} deleted")


@audit_app.command("list")
def audit_list(
    account: AccountOpt,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only changes to this kind of object (survey, …).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: ListJsonOpt = False,
) -> None:
    """The account's audit log, newest first: when, who, via, what, and each field changed."""

    async def work(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
        rows = await audit.events(conn, account_id, subject_type=kind, limit=limit)
        keys = ("id", "at", "actor", "via", "action", "subject_type", "subject_id", "subject")
        return [
            {**{k: r[k] for k in keys}, "at": timestamps.format(r["at"]), "changes": r["changes"]}
            for r in rows
        ]

    rows = in_account(account, work)
    report_list(rows, as_json, ("at", "actor", "via", "action", "subject"))


TeamArg = Annotated[str, typer.Argument(metavar="TEAM", help="The team's name (or id).")]


@teams_app.command("list")
def teams_list(account: AccountOpt, as_json: ListJsonOpt = False) -> None:
    """The account's teams, with their number of staff members."""
    report_list(in_account(account, admin.list_teams), as_json, ("id", "name", "staff"))


@teams_app.command("show")
def teams_show(team: TeamArg, account: AccountOpt, as_json: JsonOpt = False) -> None:
    """A team."""
    report_object(in_account(account, lambda conn, a: admin.show_team(conn, a, team)), as_json)


@teams_app.command("update")
def teams_update(
    team: TeamArg,
    account: AccountOpt,
    name: Annotated[str, typer.Option(help="The team's new name.")],
    as_json: JsonOpt = False,
) -> None:
    """Rename a team: its staff, requests and responses stay with it."""
    result = audited(
        account,
        "team.updated",
        lambda conn, a: admin.rename_team(conn, a, team, name),
        show=lambda conn, a: admin.show_team(conn, a, team),
    )
    report(result, as_json, f"team {result['id']} renamed {result['name']!r}")


@teams_app.command("delete")
def teams_delete(team: TeamArg, account: AccountOpt) -> None:
    """Delete a team with no staff members and no responses (otherwise rename it)."""
    result = audited(
        account,
        "team.deleted",
        lambda conn, a: admin.delete_team(conn, a, team),
        show=lambda conn, a: admin.show_team(conn, a, team),
        logged=lambda r: None,
    )
    typer.echo(f"team {result['id']} {result['name']!r} deleted")


@segments_app.command("list")
def segments_list(account: AccountOpt, as_json: ListJsonOpt = False) -> None:
    """The account's segments."""
    report_list(in_account(account, admin.list_segments), as_json, ("id", "key"))


@segments_app.command("show")
def segments_show(
    key: Annotated[str, typer.Argument(help="The segment's key (or id).")],
    account: AccountOpt,
    as_json: JsonOpt = False,
) -> None:
    """A segment with the options seen so far."""
    report_object(in_account(account, lambda conn, a: admin.show_segment(conn, a, key)), as_json)


@segments_app.command("update")
def segments_update(
    key: Annotated[str, typer.Argument(help="The segment's key (or id).")],
    account: AccountOpt,
    new_key: Annotated[str, typer.Option("--key", help="The new data key.")],
    as_json: JsonOpt = False,
) -> None:
    """Change the data key a segment reads its options from."""
    result = audited(
        account,
        "segment.updated",
        lambda conn, a: admin.update_segment(conn, a, key, key=new_key),
        show=lambda conn, a: admin.show_segment(conn, a, key),
    )
    report(result, as_json, f"segment {result['id']} is now {result['key']!r}")


@segments_app.command("delete")
def segments_delete(
    key: Annotated[str, typer.Argument(help="The segment's key (or id).")],
    account: AccountOpt,
) -> None:
    """Delete a segment and its options; requests keep their data."""
    result = audited(
        account,
        "segment.deleted",
        lambda conn, a: admin.delete_segment(conn, a, key),
        show=lambda conn, a: admin.show_segment(conn, a, key),
        logged=lambda r: None,
    )
    typer.echo(f"segment {result['id']} {result['key']!r} deleted")


@sites_app.command("import")
def sites_import(
    account: AccountOpt,
    file: Annotated[
        Path, typer.Argument(help="CSV with a header: site_code,name[,city,region,country_code].")
    ],
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or replace sites from CSV with the API's rules (all lines or none)."""
    sites = sites_service()
    text = read_text(file)
    result = audited(
        account,
        "site.imported",
        lambda conn, a: sites.import_rows(conn, a, text, dry_run=dry_run),
        logged=imported,
        subject=f"Sites from {file.name}",
    )
    report_import("sites", result, as_json)


@sites_app.command("list")
def sites_list(account: AccountOpt, as_json: ListJsonOpt = False) -> None:
    """The account's sites, by name."""
    sites = sites_service()
    rows = in_account(account, sites.list_all)
    report_list(rows, as_json, ("site_code", "name", "city", "region", "country_code"))


@sites_app.command("show")
def sites_show(
    code: Annotated[str, typer.Argument(help="The site_code.")],
    account: AccountOpt,
    as_json: JsonOpt = False,
) -> None:
    """A site."""
    sites = sites_service()
    report_object(in_account(account, lambda conn, a: sites.admin_get(conn, a, code)), as_json)


@sites_app.command("update")
def sites_update(
    code: Annotated[str, typer.Argument(help="The site_code.")],
    account: AccountOpt,
    new_code: Annotated[
        str | None, typer.Option("--code", help="A new site_code (the old one redirects).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    city: Annotated[str | None, typer.Option(help="City; empty to clear.")] = None,
    region: Annotated[str | None, typer.Option(help="Region; empty to clear.")] = None,
    country_code: Annotated[
        str | None, typer.Option(help="ISO 3166-1 alpha-2; empty to clear.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a site as PATCH /sites/CODE does."""
    sites = sites_service()
    given = {
        "site_code": new_code,
        "name": name,
        "city": city,
        "region": region,
        "country_code": country_code,
    }
    changes = {k: (v or None) for k, v in given.items() if v is not None}
    result = audited(
        account,
        "site.updated",
        lambda conn, a: sites.admin_update(conn, a, code, changes),
        show=lambda conn, a: sites.admin_get(conn, a, code),
    )
    report(result, as_json, f"site {result['site_code']!r} updated")


@sites_app.command("delete")
def sites_delete(
    code: Annotated[str, typer.Argument(help="The site_code.")],
    account: AccountOpt,
) -> None:
    """Delete a site, as DELETE /sites/CODE; its feedback stays, without the link."""
    sites = sites_service()
    audited(
        account,
        "site.deleted",
        lambda conn, a: sites.admin_delete(conn, a, code),
        show=lambda conn, a: sites.admin_get(conn, a, code),
    )
    typer.echo(f"site {code!r} deleted")


@unsubscribes_app.command("list")
def unsubscribes_list(
    account: AccountOpt,
    search: Annotated[str | None, typer.Option(help="Only addresses containing this.")] = None,
    as_json: ListJsonOpt = False,
) -> None:
    """The account's unsubscribed addresses."""
    rows = in_account(account, lambda conn, a: admin.list_unsubscribes(conn, a, search))
    report_list(rows, as_json, ("email", "created_at"))


@unsubscribes_app.command("add")
def unsubscribes_add(
    account: AccountOpt,
    email: Annotated[str, typer.Argument(help="The address.")],
    as_json: JsonOpt = False,
) -> None:
    """Survey this address no more (requests not yet sent end not_sent)."""
    result = audited(
        account,
        "unsubscribe.added",
        lambda conn, a: admin.add_unsubscribe(conn, a, email),
        logged=lambda r: {"email": r["email"]} if r["added"] else None,
    )
    state = "unsubscribed" if result["added"] else "was already unsubscribed"
    report(result, as_json, f"{result['email']} {state}")


@unsubscribes_app.command("remove")
def unsubscribes_remove(
    account: AccountOpt,
    email: Annotated[str, typer.Argument(help="The address.")],
    as_json: JsonOpt = False,
) -> None:
    """Survey this address again (at the customer's request)."""

    async def work(conn: AsyncConnection, account_id: int) -> dict[str, Any]:
        removed = await admin.remove_unsubscribe(conn, account_id, email)
        await record_change(
            conn, account_id, "unsubscribe.removed", {"email": removed["email"]}, None
        )
        return removed

    result = in_account(account, work)
    report(result, as_json, f"{result['email']} may be surveyed again")


@users_app.command("create")
def users_create(
    account: AccountOpt,
    email: Annotated[str, typer.Option("--email", help="The person's e-mail address.")],
    role: Annotated[
        str, typer.Option("--role", help="admin (changes everything) or viewer (reads, exports).")
    ] = "admin",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from standard input (one line) instead of printing a "
            "one-time link to set it.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a person a user of an account. Without --password-stdin, prints a one-time link
    (valid 24 hours) where they set their password."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("--password-stdin: no password on standard input")

    result = audited(
        account,
        "user.created",
        lambda conn, a: users.create_user(
            conn, a, email=email, role=role, password=password, now=utcnow()
        ),
    )
    token = result.pop("password_link_token", None)
    if token is not None:
        result["password_link"] = set_password_link(get_settings().public_base, token)
    line = f"user {result['id']} {result['email']} ({result['role']}) added"
    if token is not None:
        line += f"; link to set a password (valid 24 hours): {result['password_link']}"
    report(result, as_json, line)


@users_app.command("list")
def users_list(account: AccountOpt, as_json: JsonOpt = False) -> None:
    """The account's console users."""

    async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
        found = await admin.find_account(conn, account)
        return await users.list_users(conn, found["id"])

    result = run_db(work)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for user in result:
        pending = "" if user["has_password"] else "  (no password set yet)"
        typer.echo(f"{user['id']}\t{user['email']}\t{user['role']}{pending}")


@users_app.command("remove")
def users_remove(
    account: AccountOpt,
    email: Annotated[str, typer.Option("--email", help="The user's e-mail address.")],
) -> None:
    """Remove a user from an account; their sessions in it end at once. Unlike the console,
    this may remove the account's last admin (add another with users create)."""

    audited(
        account,
        "user.removed",
        # The operator may remove an account's last admin (and add another with users create).
        lambda conn, a: users.remove_user(conn, a, email, allow_last_admin=True),
        show=lambda conn, a: user_fields(conn, a, email),
    )
    typer.echo(f"{email} removed")


@users_app.command("show")
def users_show(
    account: AccountOpt,
    email: Annotated[str, typer.Option("--email", help="The user's e-mail address.")],
    as_json: JsonOpt = False,
) -> None:
    """A user: role here, whether a password is set, and their accounts."""
    report_object(in_account(account, lambda conn, a: users.show_user(conn, a, email)), as_json)


@users_app.command("update")
def users_update(
    account: AccountOpt,
    email: Annotated[str, typer.Option("--email", help="The user's e-mail address.")],
    role: Annotated[str, typer.Option("--role", help="admin or viewer.")],
    as_json: JsonOpt = False,
) -> None:
    """Change a user's role (an account keeps at least one admin)."""
    result = audited(
        account,
        "user.role_changed",
        lambda conn, a: users.change_role(conn, a, email, role),
        show=lambda conn, a: user_fields(conn, a, email),
    )
    report(result, as_json, f"{result['email']} is now {result['role']}")


async def _create_demo(conn: AsyncConnection) -> dict[str, Any] | None:
    """On an empty database: a 'Demo' account with a survey, so there is something to call."""
    if await accounts_repo.count_accounts(conn):
        return None
    account = await admin.create_account(conn, "Demo")
    doc = importer.load(Path(__file__).parent / "demo" / "survey.yaml")
    survey = await importer.import_survey(conn, account["id"], doc)
    password = secrets.token_urlsafe(12)
    user = await users.create_user(
        conn, account["id"], email=DEMO_USER, role="admin", password=password, now=utcnow()
    )
    return {"account": account, "survey": survey, "user": user, "password": password}


def _print_demo(demo: dict[str, Any], base: str) -> None:
    token = demo["account"]["token"]
    survey_id = demo["survey"]["id"]
    body = json.dumps(
        {
            "email": "customer@example.com",
            "send_at": timestamps.format(utcnow()),
            "survey_id": survey_id,
            "first_name": "Kate",
            "surname": "Smith",
            "reference": "#1041",
        }
    )
    typer.echo(
        "\nCreated a demo account 'Demo' (this database was empty).\n"
        f"  Console:    {base}/app/  sign in as {demo['user']['email']}, "
        f"password {demo['password']}   (shown only now)\n"
        f"  API token:  {token}   (shown only now)\n"
        f"  survey id:  {survey_id}   (public page {base}/s/{demo['survey']['code']})\n\n"
        "Create a feedback request:\n\n"
        f"curl -i -X POST {base}/feedback_requests \\\n"
        "  -H 'User-Agent: Demo' \\\n"
        f"  -H 'Accept: {media_type()}' \\\n"
        f"  -H 'Authorization: Token token=\"{token}\"' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'\n"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes.", min=1)] = 1,
    no_dispatcher: Annotated[
        bool,
        typer.Option(
            "--no-dispatcher", help="Serve the API only; run `opensure dispatcher` apart."
        ),
    ] = False,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(help="Proxies trusted for X-Forwarded-* headers (comma list or *)."),
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Create a demo account in an empty database (default: only for SQLite).",
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
) -> None:
    """Migrate the database to the newest schema, then serve the API and survey pages."""
    import uvicorn

    # Read by create_app() in this process and in every worker process.
    os.environ["OPENSURE_RUN_DISPATCHER"] = "0" if no_dispatcher else "1"
    if forwarded_allow_ips is not None:
        os.environ["OPENSURE_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    get_settings.cache_clear()
    settings = get_settings()
    if (ssl_certfile is None) != (ssl_keyfile is None):
        fail("--ssl-certfile and --ssl-keyfile go together")
    want_demo = demo if demo is not None else settings.database_url.startswith("sqlite")

    async def prepare() -> dict[str, Any] | None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            if not want_demo:
                return None
            async with engine.begin() as conn:
                return await _create_demo(conn)
        finally:
            await engine.dispose()

    try:
        created = asyncio.run(prepare())
    except (SQLAlchemyError, OSError) as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    except ValueError as exc:  # a malformed setting, e.g. an unsupported database URL
        fail(str(exc))
    if created:
        _print_demo(created, settings.public_base)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Worker processes share their metrics through files, so /metrics counts them all.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="opensure-metrics-")
    typer.echo(
        f"OpenSure serving on {'https' if ssl_certfile else 'http'}://{host}:{port}", err=True
    )
    from opensure.ops import workers as supervisor
    from opensure.ops.slowclients import HeaderTimeoutProtocol

    config = uvicorn.Config(
        "opensure.app:create_app",
        factory=True,
        # uvicorn's httptools protocol plus a deadline for request headers.
        http=HeaderTimeoutProtocol,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=access_log,
        log_level="info",
        # A loaded host may take longer than uvicorn's default 5 s to start a worker.
        timeout_worker_healthcheck=30,
        timeout_graceful_shutdown=30,
        log_config=log_config(settings.log_format),
    )
    # Several workers: a listening socket each, so connections spread evenly over them.
    supervisor.run(config)


WebhookArg = Annotated[int, typer.Argument(metavar="ID", help="The endpoint's id.")]


def on_endpoint(
    endpoint_id: int,
    action: str,
    change: Callable[[AsyncConnection, int], Awaitable[dict[str, Any]]],
    logged: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Run ``change(conn, account id)`` on an endpoint found by id alone, recorded in its
    account's audit log."""

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        account_id = await webhooks.account_of(conn, endpoint_id)
        before = await webhooks.show_endpoint(conn, account_id, endpoint_id)
        before.pop("deliveries"), before.pop("pending_events")
        result = await change(conn, account_id)
        after = logged(result) if logged else result
        await record_change(conn, account_id, action, before, after, f"Webhook {endpoint_id}")
        return result

    return run_db(work)


@webhooks_app.command("create")
def webhooks_create(
    account: AccountOpt,
    url: Annotated[str, typer.Option(help="Where events are POSTed (https:// or http://).")],
    events: Annotated[
        str | None,
        typer.Option(help="The event types it receives, comma-separated (default: all)."),
    ] = None,
    allow_private_network: Annotated[
        bool,
        typer.Option(
            "--allow-private-network",
            help="Allow a URL on a loopback, private or link-local address (e.g. on this host).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a webhook endpoint; its signing secret is shown once."""
    result = audited(
        account,
        "webhook.created",
        lambda conn, a: webhooks.create_endpoint(
            conn, a, url=url, events=events, allow_private_network=allow_private_network
        ),
        subject=f"Webhook {url}",
    )
    report(result, as_json, f"webhook {result['id']} created; secret: {result['secret']}")


@webhooks_app.command("list")
def webhooks_list(account: AccountOpt, as_json: ListJsonOpt = False) -> None:
    """The account's webhook endpoints, with whether each is failing and why."""
    rows = in_account(account, webhooks.list_endpoints)
    report_list(rows, as_json, ("id", "url", "events", "failing_since", "failure_reason"))


@webhooks_app.command("show")
def webhooks_show(endpoint: WebhookArg, as_json: JsonOpt = False) -> None:
    """A webhook endpoint with its latest delivery attempts (never its secret)."""
    report_object(run_db(lambda conn: webhooks.show_endpoint(conn, None, endpoint)), as_json)


@webhooks_app.command("remove")
def webhooks_remove(endpoint: WebhookArg) -> None:
    """Remove a webhook endpoint: nothing more is sent to it."""
    on_endpoint(
        endpoint,
        "webhook.removed",
        lambda conn, a: webhooks.remove_endpoint(conn, a, endpoint),
        logged=lambda r: None,
    )
    typer.echo(f"webhook {endpoint} removed")


@webhooks_app.command("rotate-secret")
def webhooks_rotate_secret(endpoint: WebhookArg, as_json: JsonOpt = False) -> None:
    """A new signing secret (shown once); the old one keeps signing for 24 hours."""
    result = on_endpoint(
        endpoint,
        "webhook.secret_rotated",
        lambda conn, a: webhooks.rotate_secret(conn, a, endpoint),
        logged=lambda r: {"previous_secret_expires_at": r["previous_secret_expires_at"]},
    )
    report(result, as_json, f"webhook {endpoint} secret: {result['secret']}")


@app.command()
def dispatcher(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics (emails sent, failed, ...) on this port."),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address for --metrics-port.")] = "127.0.0.1",
) -> None:
    """Send due survey emails until stopped (SIGTERM/SIGINT: finish the email in flight, exit)."""
    import logging.config
    import signal

    from opensure.dispatch import bouncebox
    from opensure.dispatch.housekeeping import Housekeeping
    from opensure.dispatch.webhooks import WebhookSender
    from opensure.dispatch.worker import Dispatcher
    from opensure.feedback_requests.events import DispatchEvents, delivery_failed
    from opensure.hooks.service import complain

    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_format))
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)

    async def go() -> None:
        # Signals first: a stop while still migrating is a clean exit too.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        engine = create_engine(settings.database_url)
        try:
            await ensure_current(engine)
            if not stop.is_set():
                # Expired Idempotency-Keys and ended console sessions are swept wherever a
                # dispatcher runs.
                job = users.housekeeping_job(settings)
                housekeeping = asyncio.create_task(Housekeeping(engine, also=[job]).run(stop))
                # OPENSURE_BOUNCE_MAILBOX; a recorded bounce writes its webhook event, a
                # complaint (a feedback report) unsubscribes the address.
                reader = bouncebox.reader_for(
                    engine, settings, on_failed=delivery_failed, on_complaint=complain
                )
                bounces = asyncio.create_task(reader.run(stop)) if reader else None
                # Webhook events are delivered beside the e-mails.
                hooks = asyncio.create_task(WebhookSender.from_settings(engine, settings).run(stop))
                try:
                    await Dispatcher(engine, settings, events=DispatchEvents()).run(stop)
                finally:
                    stop.set()
                    await housekeeping
                    if bounces is not None:
                        await bounces
                    await hooks
        finally:
            await engine.dispose()

    try:
        runtime.run_event_loop(go())
    except (SQLAlchemyError, OSError) as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    except ValueError as exc:  # a malformed setting, e.g. an unsupported mail URL
        fail(str(exc))


def main() -> None:
    """Entry point: usage errors become one line on stderr, never a traceback."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="opensure", standalone_mode=False)
    except Exception as exc:
        # Typer ships its own copy of click, so its exception classes are matched by shape.
        name = type(exc).__name__
        exit_code = getattr(exc, "exit_code", 1)
        if name == "NoArgsIsHelpError":
            typer.echo(exc.format_message(), err=True)  # type: ignore[attr-defined]
        elif name in ("Exit",):
            pass
        elif name == "Abort":
            typer.echo("opensure: aborted", err=True)
            exit_code = 130
        elif hasattr(exc, "format_message"):
            message = " ".join(exc.format_message().split())
            typer.echo(f"opensure: {message} (see 'opensure --help')", err=True)
        else:
            raise
        sys.exit(exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def sites_service() -> ModuleType:
    # Imported when needed: the sites' rules are the API's, and importing the web layer costs
    # every other command a third of a second.
    from opensure.sites import service

    return service


def media_type() -> str:
    # Imported when needed: the web layer costs a third of a second to import, and every
    # admin command would pay it.
    from opensure.api.negotiation import MEDIA_TYPE

    return MEDIA_TYPE
