"""Signing in and out, setting a password from a one-time link, changing it, switching account."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from opensure.api.deps import installation_secret, read, transaction
from opensure.console import web
from opensure.console.session import (
    COOKIE,
    Viewer,
    checked_form,
    clear_cookie,
    current,
    posted_form,
    set_cookie,
    signed_in,
)
from opensure.core.clock import utcnow
from opensure.core.errors import AdminError
from opensure.core.links import SET_PASSWORD_PATH
from opensure.core.signing import form_token_ok, make_form_token
from opensure.users import service as users

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

SIGN_IN = "sign-in"
# A sign-in or set-password form is good for this long after it was served.
FORM_SECONDS = 2 * 3600
WRONG = "The e-mail address or password is not right."
THROTTLED = "Too many attempts to sign in. Wait 15 minutes, then try again."


async def _sign_in_page(
    request: Request,
    *,
    email: str = "",
    next_path: str = "",
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "title": "Sign in",
        "email": email,
        "next": web.safe_next(next_path),
        "form_token": make_form_token(await installation_secret(request), SIGN_IN),
        "error": error,
        "notice": notice,
    }
    return web.page(request, None, "sign_in.html", context, status_code)


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    next_path = request.query_params.get("next", "")
    if await current(request) is not None:
        return web.redirect(web.safe_next(next_path))
    notice = None
    if request.query_params.get("done") == "password":
        notice = "Your password is set. Sign in with it."
    elif request.query_params.get("done") == "signed-out":
        notice = "You are signed out."
    return await _sign_in_page(request, next_path=next_path, notice=notice)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await posted_form(request)
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    next_path = str(form.get("next") or "")
    if not form_token_ok(
        await installation_secret(request), SIGN_IN, str(form.get("form_token") or ""), FORM_SECONDS
    ):
        raise web.Forbidden(
            "This sign-in form has expired or did not come from this site. "
            "Open the sign-in page again."
        )
    if not email or not password:
        return await _sign_in_page(
            request,
            email=email,
            next_path=next_path,
            error="Enter your e-mail address and your password.",
            status_code=422,
        )
    settings = request.app.state.settings
    now = utcnow()
    address = request.client.host if request.client else None
    async with transaction(request) as conn:
        try:
            user = await users.authenticate(conn, email, password, address, now)
        except users.Throttled:
            user, throttled = None, True
        else:
            throttled = False
        raw = None
        if user is not None:
            # Whatever session the browser had (if any) ends: a session id chosen before
            # sign-in is never the one after it.
            old = request.cookies.get(COOKIE)
            if old and len(old) <= 100:
                await users.end_session(conn, old)
            raw = await users.start_session(conn, int(user["id"]), now)
    if raw is None:
        return await _sign_in_page(
            request,
            email=email,
            next_path=next_path,
            error=THROTTLED if throttled else WRONG,
            # SPEC §8: a failed sign-in is the form again with 200, 401 or 422; a throttled
            # one too (with its own message), not 429.
            status_code=401,
        )
    response = web.redirect(web.safe_next(next_path))
    set_cookie(response, settings, raw)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    viewer = await current(request)
    if viewer is not None:
        await checked_form(request, viewer)
        async with transaction(request) as conn:
            await users.end_session(conn, viewer.session)
    response = web.redirect(f"{web.PREFIX}/sign-in?done=signed-out")
    clear_cookie(response, request.app.state.settings)
    return response


@router.post("/switch-account")
async def switch_account(request: Request, viewer: SignedIn) -> Response:
    form = await checked_form(request, viewer)
    raw = str(form.get("account_id") or "")
    if not raw.isdigit() or len(raw) > 18:
        raise web.NotFound
    async with transaction(request) as conn:
        if not await users.switch_account(conn, viewer.session, viewer.user_id, int(raw)):
            raise web.NotFound
    return web.redirect(f"{web.PREFIX}/")


# ---- passwords ----


def _purpose(token: str) -> str:
    return f"set-password|{token}"


async def _set_password_page(
    request: Request, token: str, email: str, error: str | None = None, status_code: int = 200
) -> Response:
    context = {
        "title": "Set your password",
        "email": email,
        "action": SET_PASSWORD_PATH.format(token=token),
        "form_token": make_form_token(await installation_secret(request), _purpose(token)),
        "error": error,
        "minimum": users.PASSWORD_MIN,
    }
    return web.page(request, None, "set_password.html", context, status_code)


def _expired(request: Request) -> Response:
    return web.message_page(
        request,
        None,
        410,
        "This link has expired",
        "Links to set a password work once, for 24 hours. Ask an administrator of your "
        "account for a new one.",
    )


@router.get(SET_PASSWORD_PATH.removeprefix(web.PREFIX))
async def set_password_form(request: Request, token: str) -> Response:
    async with read(request) as conn:
        user = await users.password_link_user(conn, token, utcnow())
    if user is None:
        return _expired(request)
    return await _set_password_page(request, token, str(user["email"]))


@router.post(SET_PASSWORD_PATH.removeprefix(web.PREFIX))
async def set_password(request: Request, token: str) -> Response:
    form = await posted_form(request)
    if not form_token_ok(
        await installation_secret(request),
        _purpose(token),
        str(form.get("form_token") or ""),
        FORM_SECONDS,
    ):
        raise web.Forbidden("This form has expired. Open the link again.")
    password = str(form.get("password") or "")
    now = utcnow()
    async with read(request) as conn:
        user = await users.password_link_user(conn, token, now)
    if user is None:
        return _expired(request)
    if password != str(form.get("confirm") or ""):
        return await _set_password_page(
            request, token, str(user["email"]), "The two passwords are not the same.", 422
        )
    try:
        async with transaction(request) as conn:
            await users.set_password_from_link(conn, token, password, now)
    except AdminError as exc:
        return await _set_password_page(request, token, str(user["email"]), str(exc), 422)
    return web.redirect(f"{web.PREFIX}/sign-in?done=password")


@router.get("/account")
async def account_page(request: Request, viewer: SignedIn) -> Response:
    return web.page(request, viewer, "account.html", {"title": "Your account", "nav": "account"})


@router.post("/account/password")
async def change_password(request: Request, viewer: SignedIn) -> Response:
    form = await checked_form(request, viewer)
    new = str(form.get("new_password") or "")
    error = None
    if new != str(form.get("confirm") or ""):
        error = "The two new passwords are not the same."
    else:
        try:
            async with transaction(request) as conn:
                await users.change_password(
                    conn,
                    viewer.user_id,
                    current=str(form.get("current_password") or ""),
                    new=new,
                    keep_session=viewer.session,
                    now=utcnow(),
                )
        except AdminError as exc:
            error = str(exc)
    if error:
        context = {"title": "Your account", "nav": "account", "error": error}
        return web.page(request, viewer, "account.html", context, 422)
    context = {
        "title": "Your account",
        "nav": "account",
        "notice": "Your password is changed. Every other session of yours has ended.",
    }
    return web.page(request, viewer, "account.html", context)
