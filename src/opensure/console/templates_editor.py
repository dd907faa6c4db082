"""E-mail templates (admins only, reading included: templates are the programme's set-up).

The list, a new template, the editor of one (with the placeholders it may use and a preview
with sample values, text and HTML), deleting one, and a test send to the signed-in user's own
address. Saving checks the fields with ``accounts.service.template_field_problems`` and the text
with ``dispatch.templating.template_problems`` (the CLI's checks), then saves through the
accounts service the CLI calls; every problem is shown by its field, with its line. The preview
and the test e-mail are built by ``dispatch.preview``, through the dispatcher's own renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import FormData
from starlette.responses import Response

from opensure.accounts import service as accounts
from opensure.api.deps import read, transaction
from opensure.config import Settings
from opensure.console import web
from opensure.console.session import Viewer, checked_form, require_admin, signed_in
from opensure.console.viewer import record
from opensure.core.errors import AdminError
from opensure.dispatch import preview as previews
from opensure.dispatch.templating import (
    DEFAULT_BODY,
    DEFAULT_SUBJECT,
    PLACEHOLDER_NOTES,
    TemplateProblem,
    template_problems,
)

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

LIST = f"{web.PREFIX}/templates"
PREVIEW = f"{LIST}/preview"
FIELDS = ("name", "subject", "body")
LABELS = {"name": "Name", "subject": "Subject", "body": "Body"}
# The editor's script fetches its preview from this site: the console's policy, plus that.
EDITOR_CSP = web.SECURITY_HEADERS["Content-Security-Policy"] + "; connect-src 'self'"
# What a redirect's ``done`` says (fixed sentences: nothing typed goes in a URL).
NOTICES = {
    "created": "The template is saved. Requests that name it are sent in it from now on.",
    "updated": "The template is saved. Requests not sent yet are sent in the new text.",
    "deleted": "The template is deleted.",
}


@dataclass(frozen=True)
class Problem:
    """One problem of the form, shown beside its field (``line``: the template's line)."""

    field: str
    text: str
    line: int | None = None


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _text_problems(found: list[TemplateProblem]) -> list[Problem]:
    return [Problem(p.part or "body", _sentence(p.problem), p.line) for p in found]


def _typed(form: FormData) -> dict[str, str]:
    body = form.get("body")
    return {
        "name": web.form_text(form, "name"),
        "subject": web.form_text(form, "subject"),
        # Kept as typed, but browsers send CR LF for a textarea's line breaks: the template has LF.
        "body": body.replace("\r\n", "\n") if isinstance(body, str) else "",
    }


def _audited(template: dict[str, Any]) -> dict[str, Any]:
    return {k: template[k] for k in FIELDS}


async def _record(
    conn: AsyncConnection,
    viewer: Viewer,
    action: str,
    template_id: int,
    name: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One ``template.*`` event of the audit log, in the change's transaction."""
    subject = f"Template {template_id} ({name})"
    await record(conn, viewer, action, subject, subject_id=template_id, before=before, after=after)


def _preview(
    request: Request, viewer: Viewer, subject: str, body: str, *, to: str | None = None
) -> previews.Preview | None:
    """None when there is nothing to preview yet (no subject or no body)."""
    if not subject.strip() or not body.strip():
        return None
    settings: Settings = request.app.state.settings
    return previews.preview(
        subject,
        body,
        company=viewer.account_name,
        base=settings.public_base,
        sender=settings.mail_from,
        to=to,
    )


async def _template(request: Request, viewer: Viewer, template_id: int) -> dict[str, Any]:
    """The account's template (another account's, or none: 404)."""
    try:
        async with read(request) as conn:
            return await accounts.show_template(conn, viewer.account_id, template_id)
    except AdminError:
        raise web.NotFound from None


def _editor(
    request: Request,
    viewer: Viewer,
    *,
    template: dict[str, Any] | None,
    typed: dict[str, str],
    problems: list[Problem] | None = None,
    preview: previews.Preview | None = None,
    previewed: bool = False,
    failure: str | None = None,
    status_code: int = 200,
) -> Response:
    problems = problems or []
    by_field: dict[str, list[Problem]] = {name: [] for name in FIELDS}
    for p in problems:
        by_field.setdefault(p.field, []).append(p)
    notice = None
    if not problems and failure is None and not previewed:
        done = request.query_params.get("done") or ""
        notice = NOTICES.get(done)
        if done == "test-sent":
            notice = f"Sent a test to {viewer.email}."
    context = {
        "title": f"Template: {template['name']}" if template else "New template",
        "nav": "templates",
        "template": template,
        "action": f"{LIST}/{template['id']}" if template else f"{LIST}/new",
        "typed": typed,
        "problems": problems,
        "by_field": by_field,
        "labels": LABELS,
        "placeholders": PLACEHOLDER_NOTES,
        "sample": previews.SAMPLE,
        "preview": preview,
        "previewed": previewed,
        "failure": failure,
        "notice": notice,
    }
    response = web.page(request, viewer, "template_edit.html", context, status_code)
    response.headers["Content-Security-Policy"] = EDITOR_CSP
    return response


@router.get("/templates")
async def list_page(request: Request, viewer: SignedIn) -> Response:
    """The account's e-mail templates: id, name, subject, when each was created."""
    require_admin(viewer)
    async with read(request) as conn:
        rows = await accounts.list_templates(conn, viewer.account_id)
    context = {
        "title": "E-mail templates",
        "nav": "templates",
        "rows": rows,
        "notice": NOTICES.get(request.query_params.get("done") or ""),
    }
    return web.page(request, viewer, "templates_list.html", context)


@router.get("/templates/new")
async def new_page(request: Request, viewer: SignedIn) -> Response:
    """An empty editor, starting from the built-in e-mail's text."""
    require_admin(viewer)
    typed = {"name": "", "subject": DEFAULT_SUBJECT, "body": DEFAULT_BODY}
    return _editor(
        request, viewer, template=None, typed=typed, preview=_preview(request, viewer, *_sb(typed))
    )


def _sb(typed: dict[str, str]) -> tuple[str, str]:
    return typed["subject"], typed["body"]


def _save_problems(typed: dict[str, str]) -> list[Problem]:
    """The CLI's checks, each problem by its field: the fields first, then the text."""
    fields = [Problem(f, _sentence(text)) for f, text in accounts.template_field_problems(**typed)]
    if any(p.field in ("subject", "body") for p in fields):
        return fields
    return fields + _text_problems(template_problems(*_sb(typed)))


@router.post("/templates/new")
async def create(request: Request, viewer: SignedIn) -> Response:
    """Save a new template, if it renders; otherwise the form again with each problem."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    typed = _typed(form)
    problems = _save_problems(typed)
    if not problems:
        try:
            async with transaction(request) as conn:
                made = await accounts.create_template(
                    conn,
                    viewer.account_id,
                    name=typed["name"],
                    subject=typed["subject"],
                    body=typed["body"],
                )
                await _record(
                    conn,
                    viewer,
                    "template.created",
                    made["id"],
                    typed["name"],
                    before=None,
                    after=typed,
                )
        except AdminError as exc:
            problems = [Problem("name", _sentence(str(exc)))]
        else:
            return web.redirect(f"{LIST}/{made['id']}?done=created")
    return _refused(request, viewer, None, typed, problems)


def _refused(
    request: Request,
    viewer: Viewer,
    template: dict[str, Any] | None,
    typed: dict[str, str],
    problems: list[Problem],
) -> Response:
    """The editor again, as typed, with each problem (and the preview shows them too)."""
    return _editor(
        request,
        viewer,
        template=template,
        typed=typed,
        problems=problems,
        preview=_preview(request, viewer, *_sb(typed)),
        status_code=422,
    )


@router.post("/templates/preview")
async def preview(request: Request, viewer: SignedIn) -> Response:
    """The typed template with sample values: the subject, the text part and the HTML part
    (sandboxed), or its problems. ``fragment=1`` (the editor's script): only the preview."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    typed = _typed(form)
    shown = _preview(request, viewer, *_sb(typed))
    if form.get("fragment") == "1":
        context = {"preview": shown, "sample": previews.SAMPLE}
        return web.page(request, viewer, "template_preview.html", context)
    raw_id = form.get("template_id")
    template = None
    if isinstance(raw_id, str) and raw_id:
        template = await _template(request, viewer, web.path_id(raw_id))
    return _editor(request, viewer, template=template, typed=typed, preview=shown, previewed=True)


@router.get("/templates/{template_id}")
async def edit_page(request: Request, template_id: str, viewer: SignedIn) -> Response:
    """One template in the editor, with its preview."""
    require_admin(viewer)
    template = await _template(request, viewer, web.path_id(template_id))
    return _saved(request, viewer, template)


def _saved(
    request: Request,
    viewer: Viewer,
    template: dict[str, Any],
    *,
    failure: str | None = None,
    status_code: int = 200,
) -> Response:
    """The editor of the saved template, with its preview (and what failed, if anything)."""
    typed = _audited(template)
    return _editor(
        request,
        viewer,
        template=template,
        typed=typed,
        preview=_preview(request, viewer, *_sb(typed)),
        failure=failure,
        status_code=status_code,
    )


@router.post("/templates/{template_id}")
async def update(request: Request, template_id: str, viewer: SignedIn) -> Response:
    """Save a template's new name, subject and body, if it renders."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    template = await _template(request, viewer, web.path_id(template_id))
    typed = _typed(form)
    problems = _save_problems(typed)
    if not problems:
        try:
            async with transaction(request) as conn:
                before = await accounts.show_template(conn, viewer.account_id, template["id"])
                await accounts.update_template(conn, viewer.account_id, template["id"], **typed)
                await _record(
                    conn,
                    viewer,
                    "template.updated",
                    template["id"],
                    typed["name"],
                    before=_audited(before),
                    after=typed,
                )
        except AdminError:
            raise web.NotFound from None  # deleted meanwhile: the fields were checked above
        return web.redirect(f"{LIST}/{template['id']}?done=updated")
    return _refused(request, viewer, template, typed, problems)


@router.post("/templates/{template_id}/delete")
async def delete(request: Request, template_id: str, viewer: SignedIn) -> Response:
    """Delete a template that no pending request uses (409 with the reason otherwise)."""
    await checked_form(request, viewer)
    require_admin(viewer)
    template = await _template(request, viewer, web.path_id(template_id))
    try:
        async with transaction(request) as conn:
            await accounts.delete_template(conn, viewer.account_id, template["id"])
            await _record(
                conn,
                viewer,
                "template.deleted",
                template["id"],
                template["name"],
                before=_audited(template),
                after=None,
            )
    except AdminError as exc:
        return _saved(request, viewer, template, failure=_sentence(str(exc)), status_code=409)
    return web.redirect(f"{LIST}?done=deleted")


@router.post("/templates/{template_id}/test")
async def send_test(request: Request, template_id: str, viewer: SignedIn) -> Response:
    """Send the saved template, with sample values, to the signed-in user's own address."""
    await checked_form(request, viewer)
    require_admin(viewer)
    template = await _template(request, viewer, web.path_id(template_id))
    settings: Settings = request.app.state.settings
    made = _preview(request, viewer, template["subject"], template["body"], to=viewer.email)
    failure = None
    if made is None or made.email is None:
        failure = "The saved template cannot be rendered; fix it and save it first."
    else:
        try:
            await previews.send_test(
                previews.as_test(made.email),
                mail_url=settings.mail_url,
                sender=settings.mail_from,
                to=viewer.email,
            )
        except previews.SendFailed as exc:
            failure = str(exc)
    if failure is not None:
        return _saved(request, viewer, template, failure=failure, status_code=502)
    async with transaction(request) as conn:
        await _record(conn, viewer, "template.test_sent", template["id"], template["name"])
    return web.redirect(f"{LIST}/{template['id']}?done=test-sent")
