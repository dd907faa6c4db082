"""The API reference: vendor media type, token scheme, error bodies, request bodies; and the
pages that show it (``/docs``, ``/redoc``), whose scripts and styles OpenSure serves itself."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from opensure.api.negotiation import MEDIA_TYPE, is_exempt

_BODY_MODELS: dict[str, type[BaseModel]] = {}


class ValidationErrorItem(BaseModel):
    resource: str = Field(examples=["/feedback_requests/33"])
    field: str = Field(examples=["machine_id"])
    error: str = Field(
        description="required, invalid_format, wrong_length, invalid_value, forbidden_value, "
        "invalid_date or custom",
        examples=["wrong_length"],
    )
    extra_info: dict[str, Any] = Field(examples=[{"maximum": "36"}])


class Error(BaseModel):
    message: str = Field(examples=["Validation error"])
    errors: list[ValidationErrorItem] | None = Field(
        None, description="Present on 422: every problem of the request at once."
    )


_DESCRIPTIONS = {
    400: "Malformed JSON",
    401: "Missing or bad token",
    403: "Missing User-Agent, or unpermitted parameters (named in the message)",
    404: "No such object in your account",
    406: "The Accept header does not ask for " + MEDIA_TYPE,
    408: "The request body did not arrive in time",
    413: "The request body is larger than 1 MiB",
    415: "The body is not JSON",
    422: "Validation error",
    429: "Rate limit exceeded: Retry-After says how many seconds to wait",
    503: "The database cannot be reached: retry after Retry-After seconds",
}
# Every operation passes the User-Agent, Accept, token and rate-limit checks first, and needs
# the database; one with a body may also fail reading it.
_EVERY_OPERATION = (401, 403, 406, 429, 503)
_WITH_BODY = (408, 413)
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def errors_for(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Error, "description": _DESCRIPTIONS[code]} for code in codes}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra for an endpoint that reads its JSON body itself (to report all errors)."""
    _BODY_MODELS[model.__name__] = model
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref}},
        }
    }


def _common_parameters() -> list[dict[str, Any]]:
    return [
        {
            "name": "Accept",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "default": MEDIA_TYPE},
            "description": f"Must name `{MEDIA_TYPE}`, else 406.",
        },
    ]


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name, model in _BODY_MODELS.items():
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(model_schema.pop("$defs", {}))
            schemas[name] = model_schema
        components["securitySchemes"] = {
            "TokenAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": 'Send `Authorization: Token token=YOUR_TOKEN` (or `token="…"`).',
            }
        }
        for path, operations in schema.get("paths", {}).items():
            if is_exempt(path):
                continue
            for operation in operations.values():
                operation["security"] = [{"TokenAuth": []}]
                operation.setdefault("parameters", [])[:0] = _common_parameters()
                responses = operation.setdefault("responses", {})
                codes = _EVERY_OPERATION + (_WITH_BODY if "requestBody" in operation else ())
                for code in codes:
                    response: dict[str, Any] = {
                        "description": _DESCRIPTIONS[code],
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    if code in (429, 503):
                        response["headers"] = _RETRY_AFTER
                    responses.setdefault(str(code), response)
                # FastAPI documents its own 422 body for path parameters; ours never sends it.
                if "HTTPValidationError" in str(responses.get("422")):
                    del responses["422"]
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# Swagger UI and ReDoc as the fastapi-offline package ships them, served under the /docs tree
# (outside the API gate, like the pages themselves): FastAPI's own pages load them from a CDN,
# which behind a firewall or offline leaves a blank page.
DOCS_ASSETS = "/docs/assets"
_ASSETS_PACKAGE = ("fastapi_offline", "static")
# And the browser is told to load nothing from elsewhere, whatever a later version of either
# bundle refers to: ReDoc 2 shows Redocly's logo from their CDN (blocked here, it hides it).
# FastAPI's pages start the bundles with an inline script, and both style inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _same_host_only(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` loading nothing from another host. The app is
    created with ``docs_url=None, redoc_url=None`` so that FastAPI's CDN pages are not mounted."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    favicon = f"{DOCS_ASSETS}/favicon.png"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=root + favicon,
            oauth2_redirect_url=root + oauth2_redirect,
            # No badge fetched from the public Swagger validator.
            swagger_ui_parameters={"validatorUrl": None},
        )
        return _same_host_only(page)

    async def swagger_ui_redirect() -> HTMLResponse:
        return _same_host_only(get_swagger_ui_oauth2_redirect_html())

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=root + favicon,
            with_google_fonts=False,
        )
        return _same_host_only(page)

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        oauth2_redirect, swagger_ui_redirect, methods=["GET"], include_in_schema=False
    )
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    app.mount(DOCS_ASSETS, StaticFiles(packages=[_ASSETS_PACKAGE]), name="docs-assets")
