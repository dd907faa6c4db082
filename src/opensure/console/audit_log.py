"""The audit log (admins only): every change made in the console or the CLI, newest first.

Fifty events a page, older ones through a keyset cursor (``?before=ID``: the oldest id shown,
so a page never shifts while new events arrive), and a filter by the kind of object
(``subject_type``: the kinds this account's log holds). Each event reads as a sentence made
from its action ("updated the survey") and its subject, with the fields that changed, before
→ after; long values (a template's body) fold away in a ``<details>``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from opensure.api.deps import read
from opensure.api.timestamps import format as iso
from opensure.api.validation import parse_path_id
from opensure.audit import service as audit
from opensure.console import web
from opensure.console.session import Viewer, require_admin, signed_in

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

AUDIT = f"{web.PREFIX}/settings/audit"
# The object of a sentence ("updated the survey"), and the filter's name for its kind.
NOUNS = {
    "account": ("account", "Account settings"),
    "token": ("API token", "API tokens"),
    "user": ("user", "Users and roles"),
    "survey": ("survey", "Surveys"),
    "template": ("e-mail template", "E-mail templates"),
    "email_template": ("e-mail template", "E-mail templates"),
    "staff": ("staff member", "Staff"),
    "team": ("team", "Teams"),
    "segment": ("segment", "Segments"),
    "site": ("site", "Sites"),
    "unsubscribe": ("address", "Unsubscribes"),
    "feedback_request": ("feedback request", "Feedback requests"),
}
VERBS = {"role_changed": "changed the role of"}
# Actions a verb and a noun do not say well.
SENTENCES = {
    "unsubscribe.added": "unsubscribed the address",
    "unsubscribe.removed": "took off the unsubscribe list the address",
    "staff.imported": "imported staff from CSV",
    "site.imported": "imported sites from CSV",
}
# A value longer than this, or of several lines, folds away.
LONG = 80


def sentence(action: str) -> str:
    """``survey.updated`` → "updated the survey"."""
    if action in SENTENCES:
        return SENTENCES[action]
    noun, _, verb = action.partition(".")
    said = NOUNS[noun][0] if noun in NOUNS else noun.replace("_", " ")
    return f"{VERBS.get(verb, verb.replace('_', ' '))} the {said}"


def kind_name(subject_type: str) -> str:
    if subject_type in NOUNS:
        return NOUNS[subject_type][1]
    return subject_type.replace("_", " ").capitalize()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, indent=1 if len(str(value)) > LONG else None)


def _change(change: dict[str, Any]) -> dict[str, Any]:
    before, after = _text(change["before"]), _text(change["after"])
    long = any(v is not None and (len(v) > LONG or "\n" in v) for v in (before, after))
    return {
        "field": str(change["field"]).replace("_", " "),
        "before": before,
        "after": after,
        "long": long,
    }


def _row(event: dict[str, Any]) -> dict[str, Any]:
    when = iso(event["at"]) or ""
    via_cli = event["via"] == "cli"
    return {
        "id": event["id"],
        "when": when,
        "date": when[:10],
        "time": when[11:16],
        "who": f"{event['actor']} (command line)" if via_cli else event["actor"],
        "what": sentence(str(event["action"])),
        "subject": event["subject"],
        "changes": [_change(c) for c in event["changes"]],
    }


@router.get("/settings/audit")
async def audit_log(request: Request, viewer: SignedIn) -> Response:
    """The account's audit log, newest first, fifty events a page."""
    require_admin(viewer)
    before = parse_path_id(request.query_params.get("before") or "")
    typed = request.query_params.get("subject_type") or ""
    async with read(request) as conn:
        kinds = await audit.subject_types(conn, viewer.account_id)
        # A kind the log holds nothing about (a hand-edited link) shows every kind.
        chosen = typed if typed in kinds else None
        events = await audit.events(
            conn,
            viewer.account_id,
            before_id=before,
            subject_type=chosen,
            limit=audit.PAGE_SIZE + 1,
        )
    more = len(events) > audit.PAGE_SIZE
    events = events[: audit.PAGE_SIZE]
    keep = {"subject_type": chosen} if chosen else {}
    older = None
    if more:
        older = f"{AUDIT}?{urlencode({**keep, 'before': events[-1]['id']})}"
    newest = None
    if before is not None:
        newest = f"{AUDIT}?{urlencode(keep)}" if keep else AUDIT
    context = {
        "title": "Audit log",
        "nav": "settings",
        "rows": [_row(e) for e in events],
        "kinds": [(k, kind_name(k)) for k in kinds],
        "chosen": chosen,
        "chosen_name": kind_name(chosen) if chosen else None,
        "older_url": older,
        "newest_url": newest,
    }
    return web.page(request, viewer, "settings_audit.html", context)
