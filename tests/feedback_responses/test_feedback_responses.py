"""GET /feedback_responses and /feedback_responses/:id, for answers left through the survey page."""

from __future__ import annotations

import asyncio
import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select

from opensure.accounts import service as admin
from opensure.core.clock import utcnow
from opensure.models import FeedbackResponse, RequestSegmentOption, SegmentOption, Site
from opensure.surveys import importer
from tests.conftest import Account
from tests.dispatch.support import SmtpServer, address, answer, hidden_inputs, iso
from tests.feedback_responses.support import (
    FULL_SURVEY,
    UTC,
    answer_ok,
    emailed_link,
    full_answers,
    list_responses,
    qids,
    respond_anonymously,
)

RESPONSE_KEYS = {
    "id",
    "reference",
    "machine_id",
    "survey_id",
    "fields",
    "answers",
    "submitted_at",
    "updated_at",
    "feedback_request",
}


def near_now(stamp: str, seconds: float = 30) -> bool:
    moment = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return abs((dt.datetime.now(dt.UTC) - moment).total_seconds()) < seconds


async def test_response_through_the_emailed_link_has_the_seed_attributes(
    app: FastAPI, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    to = address()
    created, link = await emailed_link(
        app,
        surveyed,
        smtp,
        email=to,
        first_name="Kate",
        surname="Smith",
        reference="#6764",
        machine_id="345-457-346-234",
        data=[{"key": "order", "value": "1234"}, {"key": "channel", "value": "phone"}],
        query_params=[{"key": "utm_source", "value": "email"}],
    )
    assert ("utm_source", "email") in parse_qsl(urlsplit(link).query)
    await answer_ok(client, link, full_answers(surveyed))

    listed = await list_responses(surveyed)
    (body,) = listed.json()
    assert set(body) == RESPONSE_KEYS
    assert isinstance(body["id"], int)
    assert body["reference"] == "#6764"
    assert body["machine_id"] == "345-457-346-234"
    assert body["survey_id"] == surveyed.survey_id
    assert body["fields"] == {
        "email": to,
        "name": "Kate Smith",
        "telephone_number": None,
        "order": "1234",
        "channel": "phone",
        "utm_source": "email",
    }
    rating, text, dropdown, radio, checkbox = qids(surveyed)
    texts = [q["text"] for q in FULL_SURVEY["questions"]]
    assert body["answers"] == [
        {"question_id": rating, "question": texts[0], "answer": "9", "type": "Rating"},
        {
            "question_id": text,
            "question": texts[1],
            "answer": "Quick and friendly, thanks!",
            "type": "Text",
        },
        {"question_id": dropdown, "question": texts[2], "answer": "Web", "type": "Dropdown"},
        {"question_id": radio, "question": texts[3], "answer": "Yes", "type": "Radio"},
        {
            "question_id": checkbox,
            "question": texts[4],
            "answer": "Speed, Price",
            "type": "Checkbox",
        },
    ]
    assert UTC.match(body["submitted_at"]) and near_now(body["submitted_at"])
    assert body["updated_at"] == body["submitted_at"]

    request = await surveyed.get(f"/feedback_requests/{created['id']}")
    assert body["feedback_request"] == request.json()
    assert body["feedback_request"]["id"] == created["id"]
    assert body["feedback_request"]["state"] == "sent"

    one = await surveyed.get(f"/feedback_responses/{body['id']}")
    assert one.status_code == 200
    assert one.headers["content-type"] == "application/json; charset=utf-8"
    assert one.json() == body


async def test_answering_again_through_the_same_link_updates_the_response(
    app: FastAPI, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    created, link = await emailed_link(app, surveyed, smtp, first_name="Kate")
    await answer_ok(client, link, full_answers(surveyed))
    (first,) = (await list_responses(surveyed)).json()

    # The page shows the earlier answers again.
    page = await client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert "Quick and friendly, thanks!" in page.text

    await asyncio.sleep(1.1)  # timestamps have whole seconds
    changed = full_answers(surveyed, rating="3", text="", checkbox=["Friendliness"], radio="No")
    await answer_ok(client, link, changed)

    listed = (await list_responses(surveyed)).json()
    assert len(listed) == 1
    second = listed[0]
    assert second["id"] == first["id"]
    assert second["submitted_at"] == first["submitted_at"]
    assert second["updated_at"] > first["updated_at"]
    answers = {a["type"]: a["answer"] for a in second["answers"]}
    assert answers == {"Rating": "3", "Dropdown": "Web", "Radio": "No", "Checkbox": "Friendliness"}
    assert second["feedback_request"]["id"] == created["id"]

    one = (await surveyed.get(f"/feedback_responses/{first['id']}")).json()
    assert one == second


async def test_anonymous_response_takes_contact_fields_from_the_form(
    client: httpx.AsyncClient, surveyed: Account
) -> None:
    page = await client.get(f"/s/{surveyed.survey['code']}")
    assert page.status_code == 200
    hidden = dict(hidden_inputs(page.text))
    assert "form_token" in hidden and "t" not in hidden
    for field in ('name="name"', 'name="email"', 'name="telephone_number"'):
        assert field in page.text

    to = address("anon")
    await respond_anonymously(client, surveyed, to)
    (body,) = (await list_responses(surveyed, email=to)).json()
    assert set(body) == RESPONSE_KEYS
    assert body["fields"] == {
        "email": to,
        "name": "Anon Ymous",
        "telephone_number": "01234 567 890",
    }
    assert body["feedback_request"] is None
    assert body["reference"] is None and body["machine_id"] is None
    assert body["survey_id"] == surveyed.survey_id
    assert body["answers"][0]["answer"] == "9"

    # Each anonymous submission is a response of its own.
    await respond_anonymously(client, surveyed, to, rating="10")
    assert len((await list_responses(surveyed, email=to)).json()) == 2


async def test_invalid_submission_is_not_stored(
    app: FastAPI, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    _, link = await emailed_link(app, surveyed, smtp)
    r = await answer(client, link, full_answers(surveyed, rating="11"))
    assert r.status_code == 422
    assert (await list_responses(surveyed)).json() == []


async def test_list_filters_order_and_pagination(
    app: FastAPI, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    kate = address("Kate")
    _, kate_link = await emailed_link(app, surveyed, smtp, email=kate)
    await answer_ok(client, kate_link, full_answers(surveyed))
    await respond_anonymously(client, surveyed, address("anon"))
    async with app.state.engine.begin() as conn:
        second_survey = await importer.import_survey(
            conn,
            surveyed.id,
            {"name": "Second", "questions": [{"type": "text", "text": "Say something"}]},
        )
    text_q = second_survey["questions"][0]["id"]
    await answer_ok(
        client,
        f"/s/{second_survey['code']}",
        {text_q: "hello"},
        name="Other",
        email=address("other"),
    )

    everything = (await list_responses(surveyed)).json()
    assert len(everything) == 3
    # Newest first.
    ids = [r["id"] for r in everything]
    assert ids == sorted(ids, reverse=True)
    assert everything[0]["survey_id"] == second_survey["id"]

    # email: exact address, any case.
    by_email = (await list_responses(surveyed, email=kate.upper())).json()
    assert [r["fields"]["email"] for r in by_email] == [kate]
    assert (await list_responses(surveyed, email="nobody@example.com")).json() == []

    # survey_ids[]
    only_second = (await list_responses(surveyed, **{"survey_ids[]": second_survey["id"]})).json()
    assert [r["survey_id"] for r in only_second] == [second_survey["id"]]
    only_first = (await list_responses(surveyed, **{"survey_ids[]": surveyed.survey_id})).json()
    assert len(only_first) == 2
    both = await surveyed.get(
        "/feedback_responses",
        params=[("survey_ids[]", surveyed.survey_id), ("survey_ids[]", second_survey["id"])],
    )
    assert len(both.json()) == 3

    # Pagination.
    page1 = await list_responses(surveyed, per_page=2)
    assert [r["id"] for r in page1.json()] == ids[:2]
    assert page1.headers["X-Total-Count"] == "3"
    assert page1.headers["X-Total-Pages"] == "2"
    link = page1.headers["Link"]
    assert 'rel="next"' in link and 'rel="last"' in link and 'rel="first"' in link
    assert 'rel="prev"' not in link
    assert "per_page=2" in link and "page=2" in link
    page2 = await list_responses(surveyed, per_page=2, page=2)
    assert [r["id"] for r in page2.json()] == ids[2:]
    assert 'rel="prev"' in page2.headers["Link"]
    assert (await list_responses(surveyed, per_page=2, page=3)).json() == []
    bad = await surveyed.get("/feedback_responses", params={"per_page": "zero"})
    assert bad.status_code == 422


async def test_updated_since_returns_created_and_updated_responses(
    app: FastAPI, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    first, second = address("first"), address("second")
    _, first_link = await emailed_link(app, surveyed, smtp, email=first)
    _, second_link = await emailed_link(app, surveyed, smtp, email=second)
    await answer_ok(client, first_link, full_answers(surveyed))
    await answer_ok(client, second_link, full_answers(surveyed))

    await asyncio.sleep(1.1)
    since = iso(utcnow())
    assert (await list_responses(surveyed, updated_since=since)).json() == []

    anonymous = address("third")
    await respond_anonymously(client, surveyed, anonymous)
    await answer_ok(client, first_link, full_answers(surveyed, rating="0"))

    recent = (await list_responses(surveyed, updated_since=since)).json()
    assert sorted(r["fields"]["email"] for r in recent) == sorted([first, anonymous])
    assert len((await list_responses(surveyed, updated_since="2015-01-01")).json()) == 3
    bad = await surveyed.get("/feedback_responses", params={"updated_since": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "updated_since"
    assert bad.json()["errors"][0]["error"] == "invalid_date"


async def test_other_accounts_responses_are_invisible(
    app: FastAPI,
    client: httpx.AsyncClient,
    surveyed: Account,
    other_account: Account,
    smtp: SmtpServer,
) -> None:
    to = address()
    _, link = await emailed_link(app, surveyed, smtp, email=to)
    await answer_ok(client, link, full_answers(surveyed))
    (mine,) = (await list_responses(surveyed)).json()

    r = await other_account.get(f"/feedback_responses/{mine['id']}")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
    listed = await list_responses(other_account)
    assert mine["id"] not in [x["id"] for x in listed.json()]
    assert (await list_responses(other_account, email=to)).json() == []
    missing = await surveyed.get(f"/feedback_responses/{mine['id'] + 10_000_000}")
    assert missing.status_code == 404


async def test_response_is_linked_to_the_requests_staff_team_site_and_segment(
    app: FastAPI, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    async with app.state.engine.begin() as conn:
        staff = await admin.create_staff(conn, surveyed.id, code="luke", name="Luke", team="Help")
        site_id = (
            await conn.execute(
                insert(Site.__table__)
                .values(
                    account_id=surveyed.id,
                    site_code="LDN",
                    name="London",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                .returning(Site.__table__.c.id)
            )
        ).scalar_one()
        await admin.create_segment(conn, surveyed.id, key="region")
    created, link = await emailed_link(
        app,
        surveyed,
        smtp,
        data=[
            {"key": "staff_code", "value": "luke"},
            {"key": "site_code", "value": "LDN"},
            {"key": "region", "value": "North"},
        ],
    )
    await answer_ok(client, link, full_answers(surveyed))
    (body,) = (await list_responses(surveyed)).json()
    assert body["fields"]["staff_code"] == "luke"
    assert body["fields"]["site_code"] == "LDN"
    assert body["fields"]["region"] == "North"

    resp = FeedbackResponse.__table__
    link_t, opt = RequestSegmentOption.__table__, SegmentOption.__table__
    async with app.state.engine.connect() as conn:
        row = (
            await conn.execute(
                select(resp.c.staff_id, resp.c.team_id, resp.c.site_id).where(
                    resp.c.id == body["id"]
                )
            )
        ).one()
        segment_values = (
            await conn.execute(
                select(opt.c.value)
                .join(link_t, link_t.c.segment_option_id == opt.c.id)
                .where(link_t.c.feedback_request_id == created["id"])
            )
        ).scalars()
        values = list(segment_values)
    assert row.staff_id == staff["id"]
    assert row.team_id == staff["team_id"] is not None
    assert row.site_id == site_id
    assert values == ["North"]


async def test_erasing_the_request_erases_the_customers_details_on_its_response(
    app: FastAPI, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    to = address("forget")
    created, link = await emailed_link(
        app,
        surveyed,
        smtp,
        email=to,
        first_name="Kate",
        data=[{"key": "order", "value": "1234"}],
    )
    await answer_ok(client, link, full_answers(surveyed))
    (before,) = (await list_responses(surveyed)).json()

    assert (await surveyed.delete(f"/feedback_requests/{created['id']}")).status_code == 204
    after = (await surveyed.get(f"/feedback_responses/{before['id']}")).json()
    assert after["fields"].get("email") is None
    assert after["fields"].get("name") is None
    assert "order" not in after["fields"]
    assert to not in str(after)
    assert after["feedback_request"]["deletion_requested_at"] is not None
    assert after["answers"] == before["answers"]
    assert (await list_responses(surveyed, email=to)).json() == []


async def test_the_same_link_submitted_twice_at_once_makes_one_response(
    app: FastAPI, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    _, link = await emailed_link(app, surveyed, smtp)
    first, second = await asyncio.gather(
        answer(client, link, full_answers(surveyed)),
        answer(client, link, full_answers(surveyed, rating="10")),
    )
    assert first.status_code == second.status_code == 303
    listed = (await list_responses(surveyed)).json()
    assert len(listed) == 1
    assert listed[0]["answers"][0]["answer"] in ("9", "10")


async def test_list_and_get_parameters_are_checked(surveyed: Account) -> None:
    r = await surveyed.get("/feedback_responses", params={"state": "sent"})
    assert r.status_code == 403
    assert "state" in r.json()["message"]
    r = await surveyed.get("/feedback_responses", params={"survey_ids[]": "abc"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "survey_ids"
    assert r.json()["errors"][0]["error"] == "invalid_value"
    for bad in ("abc", "0", "-1"):
        r = await surveyed.get(f"/feedback_responses/{bad}")
        assert r.status_code == 404, bad
        assert r.json() == {"message": "Not Found"}


async def test_survey_ids_accepts_every_array_spelling(
    client: httpx.AsyncClient, surveyed: Account, app: FastAPI
) -> None:
    async with app.state.engine.begin() as conn:
        other = await importer.import_survey(
            conn, surveyed.id, {"name": "B", "questions": [{"type": "text", "text": "Why?"}]}
        )
    await respond_anonymously(client, surveyed, address())
    await answer_ok(
        client,
        f"/s/{other['code']}",
        {other["questions"][0]["id"]: "because"},
        name="B",
        email=address(),
    )
    a, b = surveyed.survey_id, other["id"]
    for params in (
        [("survey_ids[]", a), ("survey_ids[]", b)],
        [("survey_ids", a), ("survey_ids", b)],
        [("survey_ids", f"{a},{b}")],
    ):
        r = await surveyed.get("/feedback_responses", params=params)
        assert r.status_code == 200, (params, r.text)
        assert sorted(x["survey_id"] for x in r.json()) == sorted([a, b]), params
    r = await surveyed.get("/feedback_responses", params={"survey_ids": str(b)})
    assert [x["survey_id"] for x in r.json()] == [b]
