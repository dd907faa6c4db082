"""Settings for the programme, continued: the unsubscribe list, and CSV imports of sites and
of staff (with teams).

The list is ``accounts.service``'s, searched and validated as ``opensure unsubscribes`` does;
the imports are the services behind ``opensure sites import`` and ``opensure staff import``:
a dry run reports every problem by line, an import takes every line or none.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from opensure.accounts import service as accounts
from opensure.api.deps import read, transaction
from opensure.api.errors import ApiError
from opensure.console import web
from opensure.console.programme import notice
from opensure.console.session import Viewer, checked_form, require_admin, signed_in
from opensure.console.viewer import record
from opensure.core.csvimport import ImportRefused
from opensure.core.errors import AdminError
from opensure.sites import service as sites

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

UNSUBSCRIBES = f"{web.PREFIX}/settings/unsubscribes"
SEARCH_MAX = 254
NOTICES = {
    "added": "The address is on the unsubscribe list: it is sent no more surveys.",
    "already": "The address was already on the unsubscribe list.",
    "removed": "The address is off the unsubscribe list: it may be surveyed again.",
}

# ---- unsubscribes ----


async def _unsubscribes_page(
    request: Request,
    viewer: Viewer,
    *,
    problem: str | None = None,
    field: str = "",
    typed: str = "",
    status_code: int = 200,
) -> Response:
    search = (request.query_params.get("q") or "").strip()
    raw_page = request.query_params.get("page") or "1"
    page = int(raw_page) if raw_page.isdigit() and 0 < int(raw_page) < 10**9 else 0
    if not page and problem is None:
        problem, field, status_code = "Page: this page number does not exist.", "page", 422
    if len(search) > SEARCH_MAX and problem is None:
        problem, field, status_code = (
            f"Search: at most {SEARCH_MAX} characters.",
            "q",
            422,
        )
    found: dict[str, Any] = {"rows": [], "total": 0, "page": 1, "pages": 1}
    if field not in ("page", "q"):
        async with read(request) as conn:
            found = await accounts.unsubscribes_page(
                conn, viewer.account_id, search or None, page=max(page, 1)
            )
    context = {
        "title": "Unsubscribes",
        "nav": "settings",
        "search": search,
        "found": found,
        "problem": problem,
        "field": field,
        "typed": typed,
        "notice": None if problem else notice(request, NOTICES),
    }
    return web.page(request, viewer, "settings_unsubscribes.html", context, status_code)


@router.get("/settings/unsubscribes")
async def unsubscribes_page(request: Request, viewer: SignedIn) -> Response:
    """The account's unsubscribed addresses, newest first, 50 a page, searchable."""
    return await _unsubscribes_page(request, viewer)


@router.post("/settings/unsubscribes/add")
async def add_unsubscribe(request: Request, viewer: SignedIn) -> Response:
    """Put an address on the list: it is sent no more surveys (pending ones end not_sent)."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    email = web.form_text(form, "email")
    try:
        async with transaction(request) as conn:
            added = await accounts.add_unsubscribe(conn, viewer.account_id, email)
            if added["added"]:
                await record(
                    conn,
                    viewer,
                    "unsubscribe.added",
                    added["email"],
                    after={"email": added["email"]},
                )
    except AdminError as exc:
        return await _unsubscribes_page(
            request, viewer, problem=str(exc), field="email", typed=email, status_code=422
        )
    return web.redirect(f"{UNSUBSCRIBES}?done={'added' if added['added'] else 'already'}")


@router.post("/settings/unsubscribes/remove")
async def remove_unsubscribe(request: Request, viewer: SignedIn) -> Response:
    """Take an address off the list, on the customer's request (not on the list: 404)."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    try:
        async with transaction(request) as conn:
            removed = await accounts.remove_unsubscribe(
                conn, viewer.account_id, web.form_text(form, "email")
            )
            await record(
                conn,
                viewer,
                "unsubscribe.removed",
                removed["email"],
                before={"email": removed["email"]},
            )
    except AdminError:
        raise web.NotFound from None
    return web.redirect(f"{UNSUBSCRIBES}?done=removed")


# ---- CSV imports ----

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# The form around the file: the CSRF token, the button, the part headers.
FORM_OVERHEAD = 64 * 1024
KINDS = {
    "sites": {
        "what": "sites",
        "columns": sites.FIELDS,
        "required": ("site_code", "name"),
        "example": "site_code,name,city,region,country_code\n"
        "hq,Head Office,Newcastle,Tyne and Wear,GB\n"
        "leeds,Leeds Store,Leeds,West Yorkshire,GB",
    },
    "staff": {
        "what": "staff",
        "columns": accounts.STAFF_COLUMNS,
        "required": ("code", "name"),
        "example": "code,name,team\nana,Ana Lopez,Support\nben,Ben Okafor,Sales",
    },
}


async def _import_page(
    request: Request,
    viewer: Viewer,
    *,
    kind: str | None = None,
    problem: str | None = None,
    problems: list[tuple[int, str]] | None = None,
    result: dict[str, Any] | None = None,
    filename: str = "",
    status_code: int = 200,
) -> Response:
    context = {
        "title": "Import from CSV",
        "nav": "settings",
        "kinds": KINDS,
        "kind": kind,
        "problem": problem,
        "problems": problems or [],
        "result": result,
        "filename": filename,
        "max_mib": MAX_UPLOAD_BYTES // (1024 * 1024),
    }
    return web.page(request, viewer, "settings_import.html", context, status_code)


@router.get("/settings/import")
async def import_page(request: Request, viewer: SignedIn) -> Response:
    """Upload a CSV file of sites or of staff: check it (a dry run), or import it."""
    return await _import_page(request, viewer)


TOO_LARGE = (
    f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB: split it into smaller files."
)


class TooLarge(AdminError):
    """The upload is over MAX_UPLOAD_BYTES (413)."""


async def _csv_text(upload: Any) -> str:
    """The uploaded file's text; AdminError with a sentence when there is none to read."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise AdminError("Choose a CSV file to check or import.")
    data = await upload.read()
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge(TOO_LARGE)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AdminError(
            "The file is not UTF-8 text: save it from your spreadsheet as CSV (UTF-8)."
        ) from None


async def _run_import(conn: Any, kind: str, account_id: int, text: str, dry_run: bool) -> Any:
    if kind == "sites":
        return await sites.import_rows(conn, account_id, text, dry_run=dry_run)
    return await accounts.import_staff(conn, account_id, text, dry_run=dry_run)


async def _import(request: Request, viewer: Viewer, kind: str) -> Response:
    try:
        form = await checked_form(request, viewer, max_bytes=MAX_UPLOAD_BYTES + FORM_OVERHEAD)
    except ApiError as exc:  # too large (413) or too slow (408): said on the page
        too_large = exc.status_code == 413
        message = TOO_LARGE if too_large else "The file did not arrive in time: try again."
        return await _import_page(
            request, viewer, kind=kind, problem=message, status_code=exc.status_code
        )
    require_admin(viewer)
    upload = form.get("file")
    filename = (upload.filename or "") if isinstance(upload, UploadFile) else ""
    dry_run = web.form_text(form, "action") != "import"
    try:
        text = await _csv_text(upload)
        async with transaction(request) as conn:
            result = await _run_import(conn, kind, viewer.account_id, text, dry_run)
            rows = len(result["created"]) + len(result["replaced"])
            if not dry_run:
                await record(
                    conn,
                    viewer,
                    f"{kind}.imported",
                    f"{rows} {KINDS[kind]['what']} from {filename}",
                    subject_type="site" if kind == "sites" else "staff",
                    after={"rows": rows},
                )
    except ImportRefused as exc:
        return await _import_page(
            request,
            viewer,
            kind=kind,
            problems=exc.problems,
            filename=filename,
            status_code=422,
        )
    except AdminError as exc:
        return await _import_page(
            request,
            viewer,
            kind=kind,
            problem=str(exc),
            filename=filename,
            status_code=413 if isinstance(exc, TooLarge) else 422,
        )
    return await _import_page(
        request, viewer, kind=kind, result={**result, "rows": rows}, filename=filename
    )


@router.post("/settings/import/sites")
async def import_sites(request: Request, viewer: SignedIn) -> Response:
    """Check or import sites from CSV (as `opensure sites import`): every line or none."""
    return await _import(request, viewer, "sites")


@router.post("/settings/import/staff")
async def import_staff(request: Request, viewer: SignedIn) -> Response:
    """Check or import staff and teams from CSV (as `opensure staff import`)."""
    return await _import(request, viewer, "staff")
