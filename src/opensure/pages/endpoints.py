"""Public survey pages (SPEC §6): the form, its submission, thank-you and unsubscribe pages.

HTML, not the versioned API: these pages need no API headers. A form token (an HMAC of the
survey code, the link token and the time it was issued, under the installation's secret)
guards against cross-site posts; the token in an emailed link ties the answer to its request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from opensure.api.deps import installation_secret, read, transaction
from opensure.core import branding, ratings, signing
from opensure.core.languages import DEFAULT, direction, negotiate
from opensure.core.links import SURVEY_PATH, TOKEN_PARAM, UNSUBSCRIBE_PATH
from opensure.core.translations import N_, translator
from opensure.db.fast import SaSession
from opensure.feedback_responses import repository as responses_repo
from opensure.feedback_responses import service as responses
from opensure.pages import forms
from opensure.pages.language import shown
from opensure.pages.security import PREVIEW_HEADERS, SECURITY_HEADERS
from opensure.surveys import repository as repo

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["scale"] = ratings.scale

FORM_TOKEN_SECONDS = 7 * 24 * 3600
MAX_FORM_BYTES = 256 * 1024
# ``/s/{code}/thanks?lang=de``: the thank-you page in the language of the request just answered.
LANG_PARAM = "lang"
# ``/s/{code}?preview=1``: the survey as a customer from an e-mail sees it, for the console's
# preview. Its answers are checked as usual and never recorded; the archived survey shows too.
PREVIEW_PARAM = "preview"
PREVIEW_LANGUAGE = "lang"


@dataclass(frozen=True)
class _SampleCustomer:
    """The customer a preview greets, in place of a request from an e-mail."""

    first_name: str = "Sam"
    id: int = 0
    # ``lang`` of the preview's link: the console previews a translation (and the built-in
    # texts in that language); without it, English, as a request without a language item.
    language: str | None = None


def _language(request: Request, feedback_request: Any = None) -> str:
    """The language of a page (SPEC §10): a request's ``language`` data item (missing or
    unknown → English, as its e-mail), else the browser's ``Accept-Language``."""
    if feedback_request is not None:
        return negotiate(feedback_request.language)
    return negotiate(request.headers.get("accept-language"))


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    lang: str | None = None,
) -> Response:
    tr = translator(lang or _language(request))
    # ``<html lang>`` names the language most of the page is in: the survey's own translation
    # when it is shown (``texts_lang``), else the built-in texts'.
    shown_lang = context.get("texts_lang") or tr.lang
    context = {**context, "lang": shown_lang, "dir": direction(shown_lang), "_": tr.gettext}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(PREVIEW_HEADERS if context.get("preview") else SECURITY_HEADERS)
    return response


async def _preview(
    request: Request, conn: Any, code: str, form: dict[str, list[str]] | None
) -> Response:
    """The preview's form (``form`` None) or what submitting it would show; nothing saved."""
    found = await repo.survey_by_code(conn, code)
    if found is None:
        return _message(request, N_("Survey not found"), N_("We couldn't find this survey."), 404)
    survey, questions = found
    secret = await installation_secret(request)
    chosen = (form or {}).get(PREVIEW_LANGUAGE) or [request.query_params.get(PREVIEW_LANGUAGE, "")]
    sample = _SampleCustomer(language=chosen[0][:35] or None)
    lang = _language(request, sample)
    if form is not None:
        submission = forms.check(questions, form, anonymous=False, gettext=translator(lang).gettext)
        if not submission.errors:
            context = {"title": "Thank you", "company": survey.account_name, "preview": True}
            return _page(request, "thanks.html", context, lang=lang)
    context = _context(
        request,
        secret,
        survey,
        questions,
        sample,
        "",
        entered=form,
        errors=submission.errors if form is not None else None,
    )
    context = {**context, "preview": True, "preview_language": sample.language}
    return _page(request, "survey.html", context, 200 if form is None else 422, lang)


def _message(
    request: Request, title: str, message: str, status_code: int, lang: str | None = None
) -> Response:
    """A friendly page with a title and a message (English texts marked with ``N_``), in
    ``lang`` or the browser's language."""
    tr = translator(lang or _language(request))
    context = {"title": tr.gettext(title), "message": tr.gettext(message)}
    return _page(request, "message.html", context, status_code, tr.lang)


def _branded(row: Any, **context: Any) -> dict[str, Any]:
    brand = branding.brand_of(row)
    return {**context, "company": brand.company, "brand": brand}


def make_form_token(secret: str, code: str, token: str) -> str:
    return signing.make_form_token(secret, f"{code}|{token}")


def form_token_ok(secret: str, code: str, token: str, value: str) -> bool:
    return signing.form_token_ok(secret, f"{code}|{token}", value, FORM_TOKEN_SECONDS)


async def _load(request: Request, conn: Any, code: str, token: str) -> tuple[Any, ...] | Response:
    """Survey, questions and the request behind the link, or the friendly page that says why not."""
    found = await repo.survey_by_code(conn, code)
    if found is None:
        return _message(
            request,
            N_("Survey not found"),
            N_("We couldn't find this survey. Please check the link you followed."),
            404,
        )
    survey, questions = found
    if survey.deleted_at is not None:
        return _message(
            request,
            N_("This survey is closed"),
            N_("Thank you for your interest: this survey no longer takes answers."),
            410,
        )
    feedback_request = None
    if token:
        feedback_request = await repo.request_by_token(conn, token)
        if feedback_request is None or feedback_request.survey_id != survey.id:
            return _message(
                request,
                N_("This link isn't valid"),
                N_(
                    "The link you followed is not valid any more. "
                    "Please check you copied the whole link."
                ),
                404,
            )
        if feedback_request.deletion_requested_at is not None:
            return _message(
                request,
                N_("This link has expired"),
                N_("This survey link is no longer active."),
                410,
                _language(request, feedback_request),
            )
    return survey, questions, feedback_request


def _context(
    request: Request,
    secret: str,
    survey: Any,
    questions: list[Any],
    feedback_request: Any,
    token: str,
    *,
    entered: dict[str, list[str]] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    greeting = None
    if feedback_request is not None and feedback_request.first_name:
        greeting = translator(_language(request, feedback_request)).gettext(
            "Hi %(first_name)s, thank you for taking a minute to tell us how we did.",
            first_name=feedback_request.first_name,
        )
    texts = shown(request, feedback_request, survey, questions)
    return _branded(
        survey,
        title=texts.name,
        survey=survey,
        survey_name=texts.name,
        texts_lang=None if texts.language == DEFAULT else texts.language,
        questions=texts.questions,
        token=token,
        token_param=TOKEN_PARAM,
        anonymous=feedback_request is None,
        greeting=greeting,
        form_token=make_form_token(secret, survey.code, token),
        entered=entered or {},
        errors=errors or {},
        limits=forms.FIELD_LIMITS,
    )


@router.get(SURVEY_PATH)
async def survey_page(
    code: str,
    request: Request,
    t: str = Query("", alias=TOKEN_PARAM),
    preview: str = Query("", alias=PREVIEW_PARAM),
) -> Response:
    if preview and not t:
        async with read(request) as conn:
            return await _preview(request, conn, code, None)
    async with read(request) as conn:
        loaded = await _load(request, conn, code, t)
        if isinstance(loaded, Response):
            return loaded
        survey, questions, feedback_request = loaded
        entered: dict[str, list[str]] = {}
        if feedback_request is not None:
            entered = await _previous_answers(conn, feedback_request.id, questions)
    # A value chosen in the e-mail (one click) is shown chosen; a GET never records it.
    entered.update(forms.chosen_in_link(request.query_params.multi_items(), questions))
    return _page(
        request,
        "survey.html",
        _context(
            request,
            await installation_secret(request),
            survey,
            questions,
            feedback_request,
            t,
            entered=entered,
        ),
        lang=_language(request, feedback_request),
    )


async def _previous_answers(
    conn: Any, request_id: int, questions: list[Any]
) -> dict[str, list[str]]:
    """Answers already given through this link, to show them again."""
    response_id = await responses_repo.response_for_request(conn, request_id)
    if response_id is None:
        return {}
    types = {q.id: q.type for q in questions}
    entered: dict[str, list[str]] = {}
    for answer in (await responses_repo.answers_for(SaSession(conn), [response_id]))[response_id]:
        value = answer.value
        values = value.split(", ") if types.get(answer.question_id) == "checkbox" else [value]
        entered[f"q{answer.question_id}"] = values
    return entered


@router.post(SURVEY_PATH)
async def submit_survey(code: str, request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _message(
            request,
            N_("Too much text"),
            N_("Your answers were too long to send. Please shorten them and try again."),
            413,
        )
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError):
        return _message(
            request,
            N_("Something went wrong"),
            N_("We couldn't read your answers. Please go back and try again."),
            400,
        )
    token = (form.get(TOKEN_PARAM) or [""])[0]
    form_token = (form.get("form_token") or [""])[0]
    if not form_token_ok(await installation_secret(request), code, token, form_token):
        return _message(
            request,
            N_("Please try again"),
            N_(
                "This form has expired or didn't come from this site. "
                "Please open the survey link again."
            ),
            403,
        )
    if form.get(PREVIEW_PARAM) and not token:
        async with read(request) as conn:
            return await _preview(request, conn, code, form)
    async with transaction(request) as conn:
        loaded = await _load(request, conn, code, token)
        if isinstance(loaded, Response):
            return loaded
        survey, questions, feedback_request = loaded
        lang = _language(request, feedback_request)
        submission = forms.check(
            questions,
            form,
            anonymous=feedback_request is None,
            gettext=translator(lang).gettext,
        )
        if submission.errors:
            context = _context(
                request,
                await installation_secret(request),
                survey,
                questions,
                feedback_request,
                token,
                entered=form,
                errors=submission.errors,
            )
            return _page(request, "survey.html", context, 422, lang)
        await responses.save_submission(
            conn,
            survey=survey,
            request=feedback_request,
            contact=submission.contact,
            answers=submission.answers,
        )
    thanks = SURVEY_PATH.format(code=code) + "/thanks"
    if feedback_request is not None and feedback_request.language:
        thanks += f"?{LANG_PARAM}={lang}"  # a built-in tag: nothing to escape
    response = RedirectResponse(thanks, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get(SURVEY_PATH + "/thanks")
async def thanks_page(
    code: str, request: Request, lang: str = Query("", alias=LANG_PARAM)
) -> Response:
    language = negotiate(lang) if lang else _language(request)
    async with read(request) as conn:
        found = await repo.survey_by_code(conn, code)
    if found is None:
        return _message(
            request, N_("Survey not found"), N_("We couldn't find this survey."), 404, language
        )
    title = translator(language).gettext("Thank you")
    return _page(request, "thanks.html", _branded(found[0], title=title), lang=language)


async def _unsubscribe_target(request: Request, conn: Any, token: str) -> Any:
    found = await repo.request_by_token(conn, token)
    if found is None or not found.email:
        return _message(
            request,
            N_("This link isn't valid"),
            N_(
                "The unsubscribe link you followed is not valid. "
                "Please check you copied the whole link."
            ),
            404,
        )
    return found


@router.get(UNSUBSCRIBE_PATH)
async def unsubscribe_page(token: str, request: Request) -> Response:
    async with read(request) as conn:
        target = await _unsubscribe_target(request, conn, token)
    if isinstance(target, Response):
        return target
    lang = _language(request, target)
    title = translator(lang).gettext("Unsubscribe")
    context = _branded(target, title=title, email=target.email)
    return _page(request, "unsubscribe.html", {**context, "done": False}, lang=lang)


@router.post(UNSUBSCRIBE_PATH)
async def unsubscribe(token: str, request: Request) -> Response:
    """One click (RFC 8058): a POST to the link unsubscribes at once, no form token needed."""
    async with transaction(request) as conn:
        target = await _unsubscribe_target(request, conn, token)
        if isinstance(target, Response):
            return target
        await repo.unsubscribe(conn, target.account_id, target.email)
    lang = _language(request, target)
    title = translator(lang).gettext("Unsubscribed")
    context = _branded(target, title=title, email=target.email)
    return _page(request, "unsubscribe.html", {**context, "done": True}, lang=lang)


@router.api_route("/s/{rest:path}", methods=["GET", "POST"])
@router.api_route("/u/{rest:path}", methods=["GET", "POST"])
async def unknown_page(rest: str, request: Request) -> Response:
    """A mangled link under the survey pages: the friendly page, not the API's JSON 404."""
    return _message(
        request,
        N_("Page not found"),
        N_("We couldn't find this page. Please check you copied the whole link."),
        404,
    )
