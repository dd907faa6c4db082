"""/sites: the account's business units (shops, hotels, offices), keyed by site_code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opensure_client._base import Call, query, segment
from opensure_client._models import Site
from opensure_client._pagination import AsyncPager, Pager
from opensure_client._params import UNSET, UnsetType, body, present

if TYPE_CHECKING:
    from opensure_client._async_client import AsyncClient
    from opensure_client._client import Client

PATH = "/sites"


def _path(site_code: str) -> str:
    return f"{PATH}/{segment(site_code)}"


def _create(fields: dict[str, Any], idempotency_key: str | None) -> Call:
    return Call("POST", PATH, json=present(**fields), idempotency_key=idempotency_key)


def _update(code: str, fields: dict[str, Any], idempotency_key: str | None) -> Call:
    return Call("PATCH", _path(code), json=body(**fields), idempotency_key=idempotency_key)


def _replace(site_code: str, fields: dict[str, Any]) -> Call:
    # Every field is sent: PUT replaces the whole site, so an omitted one becomes null.
    return Call("PUT", _path(site_code), json={"site_code": site_code, **fields})


def _list(per_page: int | None) -> Call:
    return Call("GET", PATH, query(per_page=per_page))


class Sites:
    """``client.sites``: create, read, rename, replace and delete sites.

    A renamed site's old code still works: the server redirects it and the client follows.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        *,
        site_code: str,
        name: str,
        city: str | None = None,
        region: str | None = None,
        country_code: str | None = None,
        idempotency_key: str | None = None,
    ) -> Site:
        """Create a site (``region`` is required with ``country_code``)."""
        fields = {
            "site_code": site_code,
            "name": name,
            "city": city,
            "region": region,
            "country_code": country_code,
        }
        return self._client._parse(Site, _create(fields, idempotency_key))

    def get(self, site_code: str) -> Site:
        """One site by its code."""
        return self._client._parse(Site, Call("GET", _path(site_code)))

    def update(
        self,
        code: str,
        /,
        *,
        site_code: str | UnsetType = UNSET,
        name: str | UnsetType = UNSET,
        city: str | UnsetType | None = UNSET,
        region: str | UnsetType | None = UNSET,
        country_code: str | UnsetType | None = UNSET,
        idempotency_key: str | None = None,
    ) -> Site:
        """Change the fields given of site ``code``; a new ``site_code`` renames it."""
        fields = {
            "site_code": site_code,
            "name": name,
            "city": city,
            "region": region,
            "country_code": country_code,
        }
        return self._client._parse(Site, _update(code, fields, idempotency_key))

    def replace(
        self,
        site_code: str,
        *,
        name: str,
        city: str | None = None,
        region: str | None = None,
        country_code: str | None = None,
    ) -> Site:
        """Create the site at ``site_code`` or replace all its fields (PUT; safe to retry)."""
        fields = {"name": name, "city": city, "region": region, "country_code": country_code}
        return self._client._parse(Site, _replace(site_code, fields))

    def delete(self, site_code: str) -> None:
        """Delete a site; requests and responses linked to it keep their other data."""
        self._client._request(Call("DELETE", _path(site_code)))

    def list(self, *, per_page: int | None = None) -> Pager[Site]:
        """Every site, sorted by name."""
        return self._client._pager(Site, _list(per_page))


class AsyncSites:
    """``client.sites`` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        site_code: str,
        name: str,
        city: str | None = None,
        region: str | None = None,
        country_code: str | None = None,
        idempotency_key: str | None = None,
    ) -> Site:
        """Create a site (``region`` is required with ``country_code``)."""
        fields = {
            "site_code": site_code,
            "name": name,
            "city": city,
            "region": region,
            "country_code": country_code,
        }
        return await self._client._parse(Site, _create(fields, idempotency_key))

    async def get(self, site_code: str) -> Site:
        """One site by its code."""
        return await self._client._parse(Site, Call("GET", _path(site_code)))

    async def update(
        self,
        code: str,
        /,
        *,
        site_code: str | UnsetType = UNSET,
        name: str | UnsetType = UNSET,
        city: str | UnsetType | None = UNSET,
        region: str | UnsetType | None = UNSET,
        country_code: str | UnsetType | None = UNSET,
        idempotency_key: str | None = None,
    ) -> Site:
        """Change the fields given of site ``code``; a new ``site_code`` renames it."""
        fields = {
            "site_code": site_code,
            "name": name,
            "city": city,
            "region": region,
            "country_code": country_code,
        }
        return await self._client._parse(Site, _update(code, fields, idempotency_key))

    async def replace(
        self,
        site_code: str,
        *,
        name: str,
        city: str | None = None,
        region: str | None = None,
        country_code: str | None = None,
    ) -> Site:
        """Create the site at ``site_code`` or replace all its fields (PUT; safe to retry)."""
        fields = {"name": name, "city": city, "region": region, "country_code": country_code}
        return await self._client._parse(Site, _replace(site_code, fields))

    async def delete(self, site_code: str) -> None:
        """Delete a site; requests and responses linked to it keep their other data."""
        await self._client._request(Call("DELETE", _path(site_code)))

    def list(self, *, per_page: int | None = None) -> AsyncPager[Site]:
        """Every site, sorted by name; await it or ``async for`` over it."""
        return self._client._pager(Site, _list(per_page))
