"""Settings for the programme: staff and teams, and segments (and the helpers the other
programme pages share).

Every rule is the service's the CLI uses (``accounts.service``): the console reads the form,
calls the service in one transaction with the audit event, and shows the service's problems
beside the fields they name. Viewers read these pages; every POST needs an admin.
Sites are in :mod:`opensure.console.programme_sites`, the unsubscribe list and the CSV
imports in :mod:`opensure.console.programme_lists`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from opensure.accounts import service as accounts
from opensure.api.deps import read, transaction
from opensure.console import web
from opensure.console.session import Viewer, checked_form, require_admin, signed_in
from opensure.console.viewer import record
from opensure.core.errors import AdminError

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

STAFF = f"{web.PREFIX}/settings/staff"
SEGMENTS = f"{web.PREFIX}/settings/segments"
STAFF_FIELDS = ("code", "name", "team")
# What a redirect's ``done`` says (fixed sentences: nothing typed goes in a URL).
NOTICES = {
    "staff-added": "The staff member is added.",
    "staff-updated": "The staff member is changed.",
    "staff-deleted": "The staff member is deleted; their feedback stays, without the link.",
    "segment-added": "The segment is added.",
    "segment-renamed": "The segment's key is changed.",
    "segment-deleted": "The segment and its options are deleted; requests keep their data.",
    "team-renamed": "The team is renamed; its staff and feedback stay with it.",
    "team-deleted": "The team is deleted.",
}


def notice(request: Request, notices: dict[str, str]) -> str | None:
    return notices.get(request.query_params.get("done") or "")


def problems_by_field(message: str, fields: tuple[str, ...]) -> dict[str, str]:
    """The service's problems ("code: required; name: longer than …") by the form field each
    names; a problem about no one field is under ``""``."""
    found: dict[str, list[str]] = {}
    for part in message.replace("\n", "; ").split("; "):
        field, _, rest = part.partition(": ")
        key = field if field in fields and rest else ""
        found.setdefault(key, []).append(rest if key else part)
    return {k: "; ".join(v) for k, v in found.items()}


def form_state(
    request: Request,
    fields: tuple[str, ...],
    notices: dict[str, str],
    *,
    problem: str | None,
    typed: dict[str, str] | None,
    shown: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A form page's problems by field, the values to show (as typed, else ``shown``, else
    empty) and the notice a redirect asked for."""
    return {
        "problems": problems_by_field(problem, fields) if problem else {},
        "typed": typed or shown or dict.fromkeys(fields, ""),
        "notice": None if problem else notice(request, notices),
    }


def form_values(form: Any, fields: tuple[str, ...]) -> dict[str, str]:
    return {name: web.form_text(form, name) for name in fields}


# ---- staff and teams ----


def _staff_subject(row: dict[str, Any]) -> str:
    return f"Staff {row['code']} ({row['name']})"


def _staff_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {"code": row["code"], "name": row["name"], "team": row["team"]}


async def _new_team(conn: Any, viewer: Viewer, team: str | None, known: set[str]) -> None:
    """Record the team a staff change created (the service creates a team on first use)."""
    if team and team not in known:
        await record(
            conn,
            viewer,
            "team.created",
            f"Team {team}",
            after={"name": team},
        )


async def _team_names(conn: Any, account_id: int) -> set[str]:
    return {str(t["name"]) for t in await accounts.list_teams(conn, account_id)}


async def _staff_page(
    request: Request,
    viewer: Viewer,
    *,
    problem: str | None = None,
    typed: dict[str, str] | None = None,
    team_problem: str | None = None,
    team_failed: tuple[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with read(request) as conn:
        rows = await accounts.list_staff(conn, viewer.account_id)
        teams = await accounts.list_teams(conn, viewer.account_id)
    context = {
        "title": "Staff and teams",
        "nav": "settings",
        "rows": rows,
        "teams": teams,
        **form_state(request, STAFF_FIELDS, NOTICES, problem=problem, typed=typed),
        "team_problem": team_problem,
        # The team whose rename or deletion was refused, and the name as typed.
        "team_failed": team_failed,
    }
    if team_problem:
        context["notice"] = None
    return web.page(request, viewer, "settings_staff.html", context, status_code)


@router.get("/settings/staff")
async def staff_page(request: Request, viewer: SignedIn) -> Response:
    """The account's staff (code, name, team) and teams; an admin's form to add one."""
    return await _staff_page(request, viewer)


@router.post("/settings/staff")
async def add_staff(request: Request, viewer: SignedIn) -> Response:
    """Add a staff member; a new team name creates the team (as `opensure staff create`)."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    typed = form_values(form, STAFF_FIELDS)
    try:
        async with transaction(request) as conn:
            known = await _team_names(conn, viewer.account_id)
            made = await accounts.create_staff(
                conn, viewer.account_id, code=typed["code"], name=typed["name"], team=typed["team"]
            )
            await _new_team(conn, viewer, made["team"], known)
            await record(
                conn,
                viewer,
                "staff.created",
                _staff_subject(made),
                subject_id=made["id"],
                after=_staff_fields(made),
            )
    except AdminError as exc:
        return await _staff_page(request, viewer, problem=str(exc), typed=typed, status_code=422)
    return web.redirect(f"{STAFF}?done=staff-added")


async def _staff_member(request: Request, viewer: Viewer, staff_id: str) -> dict[str, Any]:
    found = web.path_id(staff_id)
    try:
        async with read(request) as conn:
            return await accounts.show_staff(conn, viewer.account_id, found)
    except AdminError:
        raise web.NotFound from None


async def _edit_page(
    request: Request,
    viewer: Viewer,
    member: dict[str, Any],
    *,
    problem: str | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with read(request) as conn:
        teams = await accounts.list_teams(conn, viewer.account_id)
    shown = {k: member[k] or "" for k in STAFF_FIELDS}
    context = {
        "title": f"Staff member {member['code']}",
        "subnav": "staff",
        "nav": "settings",
        "member": member,
        "teams": teams,
        **form_state(request, STAFF_FIELDS, NOTICES, problem=problem, typed=typed, shown=shown),
    }
    return web.page(request, viewer, "settings_staff_edit.html", context, status_code)


@router.get("/settings/staff/{staff_id}")
async def staff_member_page(request: Request, staff_id: str, viewer: SignedIn) -> Response:
    """One staff member, with an admin's forms to change or delete them."""
    return await _edit_page(request, viewer, await _staff_member(request, viewer, staff_id))


@router.post("/settings/staff/{staff_id}")
async def update_staff(request: Request, staff_id: str, viewer: SignedIn) -> Response:
    """Change a staff member's code, name or team (an empty team: no team)."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    member = await _staff_member(request, viewer, staff_id)
    typed = form_values(form, STAFF_FIELDS)
    try:
        async with transaction(request) as conn:
            known = await _team_names(conn, viewer.account_id)
            changed = await accounts.update_staff(
                conn,
                viewer.account_id,
                int(member["id"]),
                code=typed["code"],
                name=typed["name"],
                team=typed["team"],
            )
            await _new_team(conn, viewer, changed["team"], known)
            await record(
                conn,
                viewer,
                "staff.updated",
                _staff_subject(changed),
                subject_id=member["id"],
                before=_staff_fields(member),
                after=_staff_fields(changed),
            )
    except AdminError as exc:
        return await _edit_page(
            request, viewer, member, problem=str(exc), typed=typed, status_code=422
        )
    return web.redirect(f"{STAFF}?done=staff-updated")


@router.post("/settings/staff/{staff_id}/delete")
async def delete_staff(request: Request, staff_id: str, viewer: SignedIn) -> Response:
    """Delete a staff member (as `opensure staff delete`: their feedback stays)."""
    await checked_form(request, viewer)
    require_admin(viewer)
    member = await _staff_member(request, viewer, staff_id)
    async with transaction(request) as conn:
        gone = await accounts.delete_staff(conn, viewer.account_id, int(member["id"]))
        await record(
            conn,
            viewer,
            "staff.deleted",
            _staff_subject(gone),
            subject_id=gone["id"],
            before=_staff_fields(gone),
        )
    return web.redirect(f"{STAFF}?done=staff-deleted")


async def _team(request: Request, viewer: Viewer, team_id: str) -> dict[str, Any]:
    found = web.path_id(team_id)
    try:
        async with read(request) as conn:
            return await accounts.show_team(conn, viewer.account_id, found)
    except AdminError:
        raise web.NotFound from None


@router.post("/settings/teams/{team_id}")
async def rename_team(request: Request, team_id: str, viewer: SignedIn) -> Response:
    """Rename a team (as `opensure teams update`): its staff and feedback stay with it."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    team = await _team(request, viewer, team_id)
    name = web.form_text(form, "name")
    try:
        async with transaction(request) as conn:
            renamed = await accounts.rename_team(conn, viewer.account_id, int(team["id"]), name)
            await record(
                conn,
                viewer,
                "team.updated",
                f"Team {renamed['name']}",
                subject_id=team["id"],
                before={"name": team["name"]},
                after={"name": renamed["name"]},
            )
    except AdminError as exc:
        return await _staff_page(
            request,
            viewer,
            team_problem=str(exc),
            team_failed=(int(team["id"]), name),
            status_code=422,
        )
    return web.redirect(f"{STAFF}?done=team-renamed")


@router.post("/settings/teams/{team_id}/delete")
async def delete_team(request: Request, team_id: str, viewer: SignedIn) -> Response:
    """Delete a team nobody is in and no response is filed under."""
    await checked_form(request, viewer)
    require_admin(viewer)
    team = await _team(request, viewer, team_id)
    try:
        async with transaction(request) as conn:
            await accounts.delete_team(conn, viewer.account_id, int(team["id"]))
            await record(
                conn,
                viewer,
                "team.deleted",
                f"Team {team['name']}",
                subject_id=team["id"],
                before={"name": team["name"]},
            )
    except AdminError as exc:
        return await _staff_page(
            request,
            viewer,
            team_problem=str(exc),
            team_failed=(int(team["id"]), str(team["name"])),
            status_code=409,
        )
    return web.redirect(f"{STAFF}?done=team-deleted")


# ---- segments ----


async def _segments_page(
    request: Request,
    viewer: Viewer,
    *,
    problem: str | None = None,
    typed: str = "",
    failed: int | None = None,
    status_code: int = 200,
) -> Response:
    async with read(request) as conn:
        rows = await accounts.list_segments_with_options(conn, viewer.account_id)
    context = {
        "title": "Segments",
        "nav": "settings",
        "rows": rows,
        "problem": problem,
        "typed": typed,
        "failed": failed,  # the segment whose rename failed (None: the add form)
        "notice": None if problem else notice(request, NOTICES),
    }
    return web.page(request, viewer, "settings_segments.html", context, status_code)


@router.get("/settings/segments")
async def segments_page(request: Request, viewer: SignedIn) -> Response:
    """The account's segments, each with the options clients sent so far."""
    return await _segments_page(request, viewer)


@router.post("/settings/segments")
async def add_segment(request: Request, viewer: SignedIn) -> Response:
    """Add a segment: request data under its key becomes its options."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    key = web.form_text(form, "key")
    try:
        async with transaction(request) as conn:
            made = await accounts.create_segment(conn, viewer.account_id, key=key)
            await record(
                conn,
                viewer,
                "segment.created",
                f"Segment {made['key']}",
                subject_id=made["id"],
                after={"key": made["key"]},
            )
    except AdminError as exc:
        return await _segments_page(request, viewer, problem=str(exc), typed=key, status_code=422)
    return web.redirect(f"{SEGMENTS}?done=segment-added")


async def _segment(request: Request, viewer: Viewer, segment_id: str) -> dict[str, Any]:
    found = web.path_id(segment_id)
    try:
        async with read(request) as conn:
            return await accounts.show_segment(conn, viewer.account_id, found)
    except AdminError:
        raise web.NotFound from None


@router.post("/settings/segments/{segment_id}")
async def rename_segment(request: Request, segment_id: str, viewer: SignedIn) -> Response:
    """Change a segment's key (as `opensure segments update`: its options stay)."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    segment = await _segment(request, viewer, segment_id)
    key = web.form_text(form, "key")
    try:
        async with transaction(request) as conn:
            changed = await accounts.update_segment(
                conn, viewer.account_id, int(segment["id"]), key=key
            )
            await record(
                conn,
                viewer,
                "segment.updated",
                f"Segment {changed['key']}",
                subject_id=segment["id"],
                before={"key": segment["key"]},
                after={"key": changed["key"]},
            )
    except AdminError as exc:
        return await _segments_page(
            request,
            viewer,
            problem=str(exc),
            typed=key,
            failed=int(segment["id"]),
            status_code=422,
        )
    return web.redirect(f"{SEGMENTS}?done=segment-renamed")


@router.post("/settings/segments/{segment_id}/delete")
async def delete_segment(request: Request, segment_id: str, viewer: SignedIn) -> Response:
    """Delete a segment and its options; requests keep their data."""
    await checked_form(request, viewer)
    require_admin(viewer)
    segment = await _segment(request, viewer, segment_id)
    async with transaction(request) as conn:
        await accounts.delete_segment(conn, viewer.account_id, int(segment["id"]))
        await record(
            conn,
            viewer,
            "segment.deleted",
            f"Segment {segment['key']}",
            subject_id=segment["id"],
            before={"key": segment["key"], "options": segment["options"]},
        )
    return web.redirect(f"{SEGMENTS}?done=segment-deleted")
