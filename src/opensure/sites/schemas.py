"""The site as the API shows it, and the models that document it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from opensure.db import AnyRow

SITE_CODE_PATTERN = r"^[A-Za-z0-9._~-]{1,50}$"


def to_json(row: AnyRow) -> dict[str, Any]:
    return {
        "site_code": row.site_code,
        "name": row.name,
        "city": row.city,
        "region": row.region,
        "country_code": row.country_code,
    }


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class SiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_code: str = Field(pattern=SITE_CODE_PATTERN, examples=["hq"])
    name: str = Field(max_length=200, examples=["Head Office"])
    city: str | None = Field(None, max_length=200, examples=["Newcastle"])
    region: str | None = Field(
        None,
        max_length=200,
        description="Required when country_code is given.",
        examples=["Tyne and Wear"],
    )
    country_code: str | None = Field(
        None, description="ISO 3166-1 alpha-2, any case (UK accepted).", examples=["GB"]
    )


class SiteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Optional, but not nullable: a site always has a code and a name (null is 422 required).
    site_code: Annotated[str, Field(pattern=SITE_CODE_PATTERN)] | SkipJsonSchema[None] = Field(
        None,
        description="A new code renames the site; the old one then redirects.",
        json_schema_extra=_no_default,
    )
    name: Annotated[str, Field(max_length=200)] | SkipJsonSchema[None] = Field(
        None, json_schema_extra=_no_default
    )
    city: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=200)
    country_code: str | None = None


class SiteMoved(BaseModel):
    message: str = Field(examples=["Moved Permanently"])
    url: str = Field(
        description="The site's current URL (also in Location).",
        examples=["https://feedback.example.com/sites/hq"],
    )


class SiteRead(BaseModel):
    site_code: str
    name: str
    city: str | None
    region: str | None
    country_code: str | None
