"""Rules for sites: codes that are URL segments, ISO country codes, renames that redirect."""

from __future__ import annotations

import re
from typing import Any

import pycountry
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api import validation as v
from opensure.api.errors import (
    ApiError,
    Errors,
    NotFound,
    UnpermittedParameters,
    ValidationFailed,
)
from opensure.core import csvimport
from opensure.core.clock import utcnow
from opensure.core.errors import AdminError
from opensure.sites import repository as repo
from opensure.sites.schemas import SITE_CODE_PATTERN, to_json

FIELDS = ("site_code", "name", "city", "region", "country_code")
_CODE = re.compile(SITE_CODE_PATTERN)
# ISO 3166-1 alpha-2 from pycountry's maintained data, plus the exceptionally reserved UK
# (the CustomerSure document's own example uses it).
COUNTRY_CODES = frozenset(c.alpha_2 for c in pycountry.countries) | {"UK"}


class Moved(ApiError):
    """The site was renamed: answer with a redirect to its current code."""

    def __init__(self, location: str, permanent: bool) -> None:
        super().__init__(
            "Moved Permanently" if permanent else "Temporary Redirect",
            status_code=301 if permanent else 307,
            headers={"Location": location},
        )
        self.location = location

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "url": self.location}


def _parse(body: dict[str, Any], errors: Errors, *, creating: bool) -> dict[str, Any]:
    bad = [k for k in body if k not in FIELDS]
    if bad:
        raise UnpermittedParameters(bad)
    values: dict[str, Any] = {}
    if creating or "site_code" in body:
        code = v.string(errors, "site_code", body.get("site_code"), maximum=50, required=True)
        # "." and ".." match the pattern but are no URL segment: clients resolve /sites/.. to /.
        if code is not None and (not _CODE.fullmatch(code) or code in (".", "..")):
            errors.add("site_code", "invalid_format", {"valid_format": SITE_CODE_PATTERN})
        values["site_code"] = code
    if creating or "name" in body:
        values["name"] = v.string(errors, "name", body.get("name"), maximum=200, required=True)
    for name in ("city", "region"):
        if creating or name in body:
            values[name] = v.string(errors, name, body.get(name), maximum=200)
    if creating or "country_code" in body:
        raw = v.string(errors, "country_code", body.get("country_code"), maximum=2)
        country = raw.strip().upper() if raw else None
        if country is not None and country not in COUNTRY_CODES:
            errors.add("country_code", "invalid_value", {"allowed_values": sorted(COUNTRY_CODES)})
        values["country_code"] = country
    return values


def _check_region(errors: Errors, region: str | None, country_code: str | None) -> None:
    if country_code and not region and not errors.has("region"):
        errors.add(
            "region", "required", {"message": "region is required when country_code is given"}
        )


async def _check_code_free(
    conn: AsyncConnection, account_id: int, errors: Errors, code: str | None, current: str | None
) -> None:
    if code is None or code == current or errors.has("site_code"):
        return
    if await repo.code_taken(conn, account_id, code):
        errors.add(
            "site_code",
            "custom",
            {"message": f"site_code {code!r} is already used by another site"},
        )


async def create(*, conn: AsyncConnection, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    errors = Errors("/sites/")
    values = _parse(body, errors, creating=True)
    _check_region(errors, values.get("region"), values.get("country_code"))
    await _check_code_free(conn, account_id, errors, values.get("site_code"), None)
    errors.raise_if_any()
    now = utcnow()
    row = await repo.insert_site(
        conn, {**values, "account_id": account_id, "created_at": now, "updated_at": now}
    )
    return to_json(row)


async def _find(
    conn: AsyncConnection, account_id: int, code: str, base: str, *, method: str
) -> Any:
    row = await repo.by_code(conn, account_id, code, lock=method != "GET")
    if row is not None:
        return row
    moved_to = await repo.alias_target(conn, account_id, code)
    if moved_to is not None:
        raise Moved(f"{base}/sites/{moved_to}", permanent=method in ("GET", "HEAD"))
    raise NotFound()


async def get(*, conn: AsyncConnection, account_id: int, code: str, base: str) -> dict[str, Any]:
    return to_json(await _find(conn, account_id, code, base, method="GET"))


async def update(
    *, conn: AsyncConnection, account_id: int, code: str, body: dict[str, Any], base: str
) -> dict[str, Any]:
    current = await _find(conn, account_id, code, base, method="PATCH")
    errors = Errors(f"/sites/{code}")
    values = _parse(body, errors, creating=False)
    # The rule binds a request that specifies a country (as CustomerSure words it), so a sync
    # client that sends only name/city/region keeps working on a site whose country was set
    # some other way.
    if "country_code" in values:
        _check_region(errors, values.get("region", current.region), values["country_code"])
    await _check_code_free(conn, account_id, errors, values.get("site_code"), current.site_code)
    errors.raise_if_any()
    return to_json(await _apply(conn, account_id, current, values))


async def _apply(
    conn: AsyncConnection, account_id: int, current: Any, values: dict[str, Any]
) -> Any:
    new_code = values.get("site_code") or current.site_code
    if new_code != current.site_code:
        await repo.drop_alias(conn, account_id, new_code)
        await repo.add_alias(conn, account_id, current.site_code, current.id)
    return await repo.update_site(conn, current.id, {**values, "updated_at": utcnow()})


async def replace(
    *, conn: AsyncConnection, account_id: int, code: str, body: dict[str, Any], base: str
) -> tuple[dict[str, Any], bool]:
    """PUT: create the site at this code (True) or replace every field of it (False)."""
    current = await repo.by_code(conn, account_id, code, lock=True)
    errors = Errors(f"/sites/{code}" if current is not None else "/sites/")
    values = _parse({"site_code": code, **body}, errors, creating=True)
    if values.get("site_code") not in (None, code) and not errors.has("site_code"):
        errors.add("site_code", "invalid_value", {"allowed_values": [code]})
    _check_region(errors, values.get("region"), values.get("country_code"))
    errors.raise_if_any()
    if current is None:
        now = utcnow()
        row = await repo.insert_site(
            conn, {**values, "account_id": account_id, "created_at": now, "updated_at": now}
        )
        return to_json(row), True
    return to_json(await _apply(conn, account_id, current, values)), False


async def delete(*, conn: AsyncConnection, account_id: int, code: str, base: str) -> None:
    current = await _find(conn, account_id, code, base, method="DELETE")
    await repo.delete_site(conn, current.id)


# ---- the admin side (CLI, console): the same rules, problems as one-line messages ----


def describe(error: dict[str, Any]) -> str:
    """One API field error in words."""
    field, code, extra = error["field"], error["error"], error.get("extra_info") or {}
    if "message" in extra:
        return f"{field}: {extra['message']}"
    if code == "required":
        return f"{field}: required"
    if code == "wrong_length":
        return f"{field}: longer than {extra.get('maximum')} characters"
    if code == "invalid_format":
        return f"{field}: must match {extra.get('valid_format')}"
    if field == "country_code":
        return f"{field}: not an ISO 3166-1 alpha-2 country code"
    return f"{field}: invalid value"


def _admin_error(exc: ApiError) -> AdminError:
    if isinstance(exc, ValidationFailed):
        return AdminError("; ".join(describe(e) for e in exc.errors or []))
    if isinstance(exc, Moved):
        return AdminError(
            f"that site was renamed: its code is now {exc.location.rsplit('/', 1)[-1]!r}"
        )
    if isinstance(exc, NotFound):
        return AdminError("no site with that code in this account")
    return AdminError(exc.message)


async def list_all(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """Every site of the account, in the API's order."""
    out: list[dict[str, Any]] = []
    while True:
        rows, total = await repo.list_page(conn, account_id, limit=1000, offset=len(out))
        out.extend(to_json(r) for r in rows)
        if not rows or len(out) >= total:
            return out


async def list_with_aliases(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """Every site as :func:`list_all` gives it, with ``aliases``: the codes it was renamed from
    (they still redirect to it)."""
    former = await repo.aliases(conn, account_id)
    rows = await list_all(conn, account_id)
    return [{**s, "aliases": former.get(s["site_code"], [])} for s in rows]


async def admin_create(
    conn: AsyncConnection, account_id: int, values: dict[str, Any]
) -> dict[str, Any]:
    """POST /sites's rules, problems as one AdminError."""
    try:
        return await create(conn=conn, account_id=account_id, body=values)
    except ApiError as exc:
        raise _admin_error(exc) from None


async def admin_get(conn: AsyncConnection, account_id: int, code: str) -> dict[str, Any]:
    try:
        return await get(conn=conn, account_id=account_id, code=code, base="")
    except ApiError as exc:
        raise _admin_error(exc) from None


async def admin_update(
    conn: AsyncConnection, account_id: int, code: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """PATCH's rules: a new site_code renames the site and the old code then redirects."""
    if not changes:
        raise AdminError(
            "nothing to change: give at least one of --code, --name, --city, "
            "--region, --country-code"
        )
    try:
        return await update(conn=conn, account_id=account_id, code=code, body=changes, base="")
    except ApiError as exc:
        raise _admin_error(exc) from None


async def admin_delete(conn: AsyncConnection, account_id: int, code: str) -> None:
    try:
        await delete(conn=conn, account_id=account_id, code=code, base="")
    except ApiError as exc:
        raise _admin_error(exc) from None


async def import_rows(
    conn: AsyncConnection, account_id: int, text: str, *, dry_run: bool
) -> dict[str, Any]:
    """Sites from CSV (header: site_code,name[,city][,region][,country_code]), each line as
    ``PUT /sites/{site_code}``: a new code creates the site, a known one has every field
    replaced. Every problem of every line is reported (AdminError) and then nothing is
    imported; ``dry_run`` checks and imports nothing either way."""
    parsed = csvimport.read(text, columns=FIELDS, required=("site_code", "name"))
    checked: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, row in parsed.rows:
        errors = Errors("/sites/")
        values = _parse({k: (v or None) for k, v in row.items()}, errors, creating=True)
        _check_region(errors, values.get("region"), values.get("country_code"))
        code = values.get("site_code")
        if code is not None and not errors.has("site_code"):
            if code in seen:
                errors.add(
                    "site_code", "custom", {"message": f"{code!r} is on line {seen[code]} too"}
                )
            seen.setdefault(code, line)
        for error in errors.items:
            parsed.problem(line, describe(error))
        checked.append(values)
    parsed.raise_if_any("sites")
    created: list[str] = []
    replaced: list[str] = []
    for values in checked:
        current = await repo.by_code(conn, account_id, values["site_code"], lock=True)
        (created if current is None else replaced).append(values["site_code"])
        if dry_run:
            continue
        if current is None:
            now = utcnow()
            await repo.insert_site(
                conn, {**values, "account_id": account_id, "created_at": now, "updated_at": now}
            )
        else:
            await _apply(conn, account_id, current, values)
    return {"created": created, "replaced": replaced, "dry_run": dry_run}
