"""The rules for feedback requests: validation, linking data to staff/sites/segments, state."""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api import timestamps
from opensure.api import validation as v
from opensure.api.errors import Errors, NotFound, UnpermittedParameters, ValidationFailed
from opensure.core import csvsafe
from opensure.core.clock import utcnow
from opensure.core.emails import normalise_email, normalised_or_none
from opensure.db.fast import SaSession, Session
from opensure.db.notify import announce_due
from opensure.feedback_requests import repository as repo
from opensure.feedback_requests.repository import QueueFilters, RequestRow
from opensure.feedback_requests.schemas import to_json
from opensure.models.feedback import (
    EMAIL_MAX,
    ITEM_KEY_MAX,
    ITEM_VALUE_MAX,
    ITEMS_MAX,
    REQUEST_TEXT_MAX,
    STATES,
)
from opensure.stores import idempotency as idempotency_store

COLLECTION = "/feedback_requests/"
CREATE_FIELDS = (
    "email",
    "send_at",
    "survey_id",
    "email_template_id",
    "first_name",
    "surname",
    "reference",
    "machine_id",
    "data",
    "query_params",
)
ITEM_FIELDS = ("id", "key", "value")
# A send_at up to this far in the past means "as soon as possible" (clients send "now").
PAST_GRACE = dt.timedelta(hours=24)
ITEM_KINDS = {"data": "data", "query_params": "query_param"}


@dataclass
class ItemChange:
    kind: str
    item_id: int | None
    key: str | None
    value: str | None


@dataclass
class Parsed:
    values: dict[str, Any] = field(default_factory=dict)
    items: dict[str, list[ItemChange]] = field(default_factory=dict)


def _check_unpermitted(body: dict[str, Any]) -> None:
    bad = [k for k in body if k not in CREATE_FIELDS]
    for kind in ITEM_KINDS:
        entries = body.get(kind)
        if isinstance(entries, list):
            for i, entry in enumerate(entries):
                if isinstance(entry, dict):
                    bad.extend(f"{kind}[{i}].{k}" for k in entry if k not in ITEM_FIELDS)
    if bad:
        raise UnpermittedParameters(bad)


def _parse_items(errors: Errors, kind: str, entries: Any, *, creating: bool) -> list[ItemChange]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        errors.add(kind, "invalid_value", {"message": "must be an array of {key, value} objects"})
        return []
    if len(entries) > ITEMS_MAX:
        errors.add(kind, "wrong_length", {"maximum": str(ITEMS_MAX)})
        return []
    changes: list[ItemChange] = []
    for i, entry in enumerate(entries):
        name = f"{kind}[{i}]"
        if not isinstance(entry, dict):
            errors.add(name, "invalid_value", {"message": "must be an object with key and value"})
            continue
        item_id = None
        if "id" in entry and not creating:
            item_id = v.identifier(errors, f"{name}.id", entry["id"], required=True)
            if item_id is None:
                continue
        elif "id" in entry:
            raise UnpermittedParameters([f"{name}.id"])
        updating = item_id is not None
        key = v.string(
            errors, f"{name}.key", entry.get("key"), maximum=ITEM_KEY_MAX, required=not updating
        )
        if updating and "value" not in entry:
            value = None
        elif entry.get("value") == "":
            value = ""
        else:
            value = v.string(
                errors, f"{name}.value", entry.get("value"), maximum=ITEM_VALUE_MAX, required=True
            )
        changes.append(ItemChange(ITEM_KINDS[kind], item_id, key, value))
    return changes


def _parse(body: dict[str, Any], errors: Errors, *, creating: bool, now: dt.datetime) -> Parsed:
    _check_unpermitted(body)
    out = Parsed()
    given = body if not creating else {f: body.get(f) for f in CREATE_FIELDS}
    if creating or "email" in given:
        out.values["email"] = v.email(
            errors, "email", given.get("email"), required=True, maximum=EMAIL_MAX
        )
        out.values["email_normalized"] = normalised_or_none(out.values["email"])
    if creating or "send_at" in given:
        out.values["send_at"] = v.timestamp(
            errors, "send_at", given.get("send_at"), required=True, minimum=now - PAST_GRACE
        )
    if creating or "survey_id" in given:
        out.values["survey_id"] = v.identifier(
            errors, "survey_id", given.get("survey_id"), required=True
        )
    if "email_template_id" in given:
        out.values["email_template_id"] = v.identifier(
            errors, "email_template_id", given.get("email_template_id"), required=False
        )
    for name, maximum in REQUEST_TEXT_MAX.items():
        if name in given:
            out.values[name] = v.string(errors, name, given.get(name), maximum=maximum)
    for kind in ITEM_KINDS:
        if kind in given:
            out.items[kind] = _parse_items(errors, kind, given.get(kind), creating=creating)
    return out


def _data_links(data: Sequence[tuple[str, str | None]]) -> tuple[str | None, str | None]:
    staff_code = next((val for key, val in data if key == "staff_code"), None)
    site_code = next((val for key, val in data if key == "site_code"), None)
    return staff_code, site_code


@dataclass
class Links:
    """What the data links to: staff and site ids, and (segment id, option value) pairs."""

    values: dict[str, Any]
    segment_pairs: list[tuple[int, str]]


async def _check_refs(
    session: Session,
    account_id: int,
    errors: Errors,
    values: dict[str, Any],
    data: Sequence[tuple[str, str | None]] | None,
) -> Links:
    """Ownership of survey/template ids, and the staff/site/segments the data points at."""
    data = data or []
    staff_code, site_code = _data_links(data)
    found = await repo.lookups(
        session,
        account_id,
        survey_id=values.get("survey_id"),
        template_id=values.get("email_template_id"),
        staff_code=staff_code,
        site_code=site_code,
        segment_keys=sorted({key for key, _ in data if key not in ("staff_code", "site_code")}),
    )
    if values.get("survey_id") is not None and found.survey_id is None:
        errors.add(
            "survey_id", "invalid_value", {"message": "no survey with this id in your account"}
        )
    if values.get("email_template_id") is not None and found.template_id is None:
        errors.add(
            "email_template_id",
            "invalid_value",
            {"message": "no email template with this id in your account"},
        )
    pairs = [(found.segments[key], val) for key, val in data if key in found.segments and val]
    return Links({"staff_id": found.staff_id, "site_id": found.site_id}, pairs)


async def create(*, session: Session, account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    errors = Errors(COLLECTION)
    parsed = _parse(body, errors, creating=True, now=now)
    changes = [c for kind in ITEM_KINDS for c in parsed.items.get(kind, [])]
    data = [(c.key, c.value) for c in changes if c.kind == "data" and c.key is not None]
    links = await _check_refs(session, account_id, errors, parsed.values, data)
    errors.raise_if_any()
    send_at = parsed.values["send_at"]
    row = await repo.insert_request(
        session,
        {
            **parsed.values,
            **links.values,
            "account_id": account_id,
            "state": "pending",
            "token": secrets.token_urlsafe(24),
            "send_at": session.ts(send_at),
            "created_at": session.ts(now),
            "updated_at": session.ts(now),
        },
    )
    items = [(c.kind, c.key, c.value or "") for c in changes if c.key is not None]
    rows = await repo.insert_items(session, row.id, items)
    if links.segment_pairs:
        await repo.link_segments(session, row.id, links.segment_pairs, replace=False)
    if send_at <= now:
        await announce_due(session)
    return to_json(row, rows)


async def get(*, session: Session, account_id: int, request_id: int | None) -> dict[str, Any]:
    found = await repo.get(session, account_id, request_id) if request_id else None
    if found is None:
        raise NotFound()
    return to_json(*found)


async def update(
    *, conn: AsyncConnection, account_id: int, request_id: int | None, body: dict[str, Any]
) -> dict[str, Any]:
    locked = await repo.lock_for_update(conn, account_id, request_id) if request_id else None
    if locked is None:
        raise NotFound()
    assert request_id is not None
    now = utcnow()
    errors = Errors(f"/feedback_requests/{request_id}")
    if locked.state != "pending":
        _check_unpermitted(body)
        errors.add("state", "invalid_value", {"allowed_values": ["pending"]})
        raise ValidationFailed(errors.items)
    parsed = _parse(body, errors, creating=False, now=now)
    session = SaSession(conn)
    current = await repo.get(session, account_id, request_id)
    assert current is not None
    _, existing = current
    by_id = {i.id: i for i in existing}
    # The request's items after this update, to re-link staff/site/segments.
    merged: dict[int | str, tuple[str, str, str]] = {
        i.id: (i.kind, i.key, i.value) for i in existing
    }
    new_items: list[tuple[str, str, str]] = []
    updates: list[tuple[int, dict[str, str]]] = []
    for kind, changes in parsed.items.items():
        for index, change in enumerate(changes):
            if change.item_id is None:
                if change.key is not None:
                    new_items.append((change.kind, change.key, change.value or ""))
                continue
            target = by_id.get(change.item_id)
            if target is None or target.kind != change.kind:
                errors.add(
                    f"{kind}[{index}].id",
                    "invalid_value",
                    {"message": f"no {kind} item with this id on this feedback request"},
                )
                continue
            fields = {
                k: val
                for k, val in (("key", change.key), ("value", change.value))
                if val is not None
            }
            updates.append((change.item_id, fields))
            merged[change.item_id] = (
                target.kind,
                fields.get("key", target.key),
                fields.get("value", target.value),
            )
    all_items = list(merged.values()) + new_items
    # The limit holds for the request as a whole, not per PATCH (else repeated PATCHes grow it).
    for kind, item_kind in ITEM_KINDS.items():
        if not errors.has(kind) and sum(k == item_kind for k, _, _ in all_items) > ITEMS_MAX:
            errors.add(kind, "wrong_length", {"maximum": str(ITEMS_MAX)})
    data = [(key, val) for kind, key, val in all_items if kind == "data"]
    links = await _check_refs(session, account_id, errors, parsed.values, data)
    errors.raise_if_any()
    for item_id, fields in updates:
        if fields:
            await repo.update_item(conn, item_id, fields)
    await repo.insert_items(session, request_id, new_items)
    values = {**parsed.values, "updated_at": now}
    if "data" in parsed.items:
        values.update(links.values)
        await repo.link_segments(session, request_id, links.segment_pairs, replace=True)
    await repo.update_request(conn, request_id, values)
    if values.get("send_at") is not None and values["send_at"] <= now:
        await announce_due(session)
    fetched = await repo.get(session, account_id, request_id)
    assert fetched is not None
    return to_json(*fetched)


async def delete(
    *, conn: AsyncConnection, account_id: int, request_id: int | None, only_pending: bool = False
) -> None:
    """Pending: removed. Sent or not sent: the customer's personal data erased (SPEC §4).

    ``only_pending`` (the console's "cancel"): a request that is no longer pending is left as
    it is, refused like an update of it (``422``, ``state`` must be ``pending``)."""
    locked = await repo.lock_for_update(conn, account_id, request_id) if request_id else None
    if locked is None:
        raise NotFound()
    if only_pending and locked.state != "pending":
        errors = Errors(f"/feedback_requests/{locked.id}")
        errors.add("state", "invalid_value", {"allowed_values": ["pending"]})
        errors.raise_if_any()
    session = SaSession(conn)
    # In the same transaction: the response an Idempotency-Key stored for this request holds
    # the personal data too. A replay of that key answers what a GET answers from now on
    # (docs/api.md, "Idempotent creates"), and never creates the request again.
    if locked.state == "pending":
        await repo.delete_request(conn, locked.id)
        gone = NotFound()
        await idempotency_store.gone(
            session,
            account_id,
            locked.id,
            status_code=gone.status_code,
            body=orjson.dumps(gone.body()).decode(),
        )
    else:
        await repo.erase_request(conn, locked.id, utcnow())
        erased = await repo.get(session, account_id, locked.id)
        assert erased is not None
        await idempotency_store.rewrite(
            session, account_id, locked.id, orjson.dumps(to_json(*erased)).decode()
        )


def parse_list_filters(
    states: list[str] | None, survey_ids: list[str] | None, errors: Errors
) -> tuple[list[str] | None, list[int] | None]:
    if states is not None:
        bad = [s for s in states if s not in STATES]
        if bad:
            errors.add("states", "invalid_value", {"allowed_values": list(STATES)})
    return states, v.id_list(errors, "survey_ids", survey_ids)


# ---- the console's queue and its CSV export ----

QUEUE_PAGE_SIZE = 50
# Rows read per statement while exporting: memory holds one batch, whatever the total.
EXPORT_BATCH = 1000
# A search box's text: the longest e-mail address or reference there can be.
SEARCH_MAX = max(EMAIL_MAX, REQUEST_TEXT_MAX["reference"])


def parse_queue_filters(
    errors: Errors,
    *,
    states: list[str] | None,
    survey_ids: list[str] | None,
    search: str | None,
    from_time: str | None,
    to_time: str | None,
) -> QueueFilters:
    """The queue's filters from what a person typed: the API list's ``states`` and
    ``survey_ids`` (the same checks), a search (an e-mail address, compared normalised, or a
    reference, exactly) and a ``send_at`` window inclusive at both ends, like the metrics: to
    the end of the ``to_time`` second, or of the day when ``to_time`` is a bare date."""
    state_list, ids = parse_list_filters(states or None, survey_ids, errors)
    text = v.string(errors, "q", search, maximum=SEARCH_MAX)
    text = text.strip() if text is not None else None
    start = v.timestamp(errors, "from_time", from_time, required=False)
    end = v.timestamp(errors, "to_time", to_time, required=False)
    if start is not None and end is not None and start > end:
        errors.add("from_time", "invalid_date", {"maximum": timestamps.format(end)})
    end_before = None
    if end is not None and end.year < dt.MAXYEAR:  # to 9999-12-31: no end at all
        whole_day = to_time is not None and "T" not in to_time.strip().upper()
        end_before = end + (dt.timedelta(days=1) if whole_day else dt.timedelta(seconds=1))
    return QueueFilters(
        states=state_list,
        survey_ids=ids,
        search=text or None,
        search_email=normalise_email(text) if text else None,
        send_from=start,
        send_to=end_before,
    )


def _position(row: RequestRow) -> tuple[dt.datetime, int]:
    """A row's place in the queue's order: its send_at (to the microsecond) and id."""
    send_at = row.send_at
    if isinstance(send_at, str):  # SQLite's text, UTC
        send_at = dt.datetime.fromisoformat(send_at).replace(tzinfo=dt.UTC)
    return send_at.astimezone(dt.UTC), row.id


def cursor_of(row: RequestRow) -> str:
    """Where the page after ``row`` starts, as a query parameter (``after``)."""
    at, request_id = _position(row)
    return f"{at:%Y-%m-%dT%H:%M:%S.%f}Z~{request_id}"


def parse_cursor(errors: Errors, raw: str | None) -> tuple[dt.datetime, int] | None:
    """A cursor made by :func:`cursor_of`, or None (an error recorded if it is not one)."""
    if raw is None or not raw.strip():
        return None
    moment, _, number = raw.strip().partition("~")
    request_id = v.parse_path_id(number)
    try:
        at = dt.datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        at = None
    if at is None or request_id is None:
        errors.add("after", "invalid_value", {"message": "not a page of this list"})
        return None
    return at, request_id


@dataclass(frozen=True)
class QueuePage:
    rows: list[RequestRow]
    # The cursor of the next page, None on the last one.
    next_after: str | None


async def queue_page(
    session: Session,
    account_id: int,
    filters: QueueFilters,
    *,
    after: tuple[dt.datetime, int] | None,
    size: int = QUEUE_PAGE_SIZE,
) -> QueuePage:
    """One page of the queue; one row more is read to know whether another page follows."""
    rows = await repo.queue_page(session, account_id, filters, after=after, limit=size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return QueuePage(rows, cursor_of(rows[-1]) if more and rows else None)


def _scalar_columns() -> tuple[str, ...]:
    blank = repo.RequestRow._make([None] * len(repo.COLUMNS))
    return tuple(k for k, val in to_json(blank, []).items() if not isinstance(val, list | dict))


# The export's columns: the API's attributes of a request that are not lists or objects, in
# the API's order (SPEC §8), named as the API names them.
EXPORT_COLUMNS = _scalar_columns()


def _export_row(shown: dict[str, Any]) -> list[str]:
    return csvsafe.row(shown[c] for c in EXPORT_COLUMNS)


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


async def export_csv(
    read: Callable[[], AbstractAsyncContextManager[Session]],
    account_id: int,
    filters: QueueFilters,
    *,
    batch: int = EXPORT_BATCH,
) -> AsyncIterator[str]:
    """The queue's requests as CSV text: the header row, then a chunk per keyset batch, each
    read on a connection of its own (``read``), so neither memory nor a connection is held
    for the whole export. Values as the API gives them, each cell through ``core.csvsafe``."""
    yield _csv_text([list(EXPORT_COLUMNS)])
    after: tuple[dt.datetime, int] | None = None
    while True:
        async with read() as session:
            rows = await repo.queue_page(session, account_id, filters, after=after, limit=batch)
        if not rows:
            return
        yield _csv_text([_export_row(to_json(row, ())) for row in rows])
        if len(rows) < batch:
            return
        after = _position(rows[-1])
