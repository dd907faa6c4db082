"""A support manager reads feedback in a real headless Chromium against a real `opensure
serve`: the inbox, a filter, a response and its link back to the ticket, the CSV export.
Each page is checked with axe-core, at phone width, and photographed into docs/screenshots/.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from typing import Any

import pytest

from tests.console.test_browser import check_page, console_user, sign_in_here, submit
from tests.dispatch.support import answer
from tests.fixtures.browser import driver, new_page_loaded
from tests.fixtures.server import OpenSureServer, opensure_server
from tests.surveys.test_browser import wait_for_link

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for the inbox"
DESK = "https://desk.example.com/tickets/{machine_id}"


async def _feedback(server: OpenSureServer, account: Any) -> None:
    """Three customers answer the survey their emailed link opens."""
    nps, rating, text, radio = (q["id"] for q in account.survey["questions"])
    given = [
        ("T-1001", "INC-1001", "3", "The refund took three weeks and nobody called back."),
        ("T-1002", "INC-1002", "10", "Lovely people, sorted it in one call."),
        ("T-1003", "INC-1003", "8", None),
    ]
    async with server.client(headers=account.headers) as api, server.client() as web:
        for reference, machine_id, score, comment in given:
            email = f"customer.{secrets.token_hex(4)}@example.com"
            body = {
                "email": email,
                "first_name": "Kate",
                "surname": reference,
                "survey_id": account.survey_id,
                "reference": reference,
                "machine_id": machine_id,
                "send_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            r = await api.post("/feedback_requests", json=body)
            assert r.status_code == 201, r.text
            link = await wait_for_link(server.outbox, email)
            answers = {nps: score, rating: "4", radio: "Yes"}
            if comment:
                answers[text] = comment
            done = await answer(
                web, link.replace("http://127.0.0.1:8000", server.base_url), answers
            )
            assert done.status_code == 303, done.text


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_filter_the_inbox_open_a_response_follow_it_back_and_export(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server = opensure_server
    account = await server.create_account(f"Northwind {secrets.token_hex(2)}")
    email = await console_user(server, account.name, PASSWORD)
    linked = await server.cli(
        "accounts", "link-back", "--account", account.name, "--template", DESK
    )
    assert linked.returncode == 0, linked.describe()
    await _feedback(server, account)

    # Sign in: the console opens on the inbox, newest first.
    driver.get(server.base_url + "/app/")
    sign_in_here(driver, email, PASSWORD)
    assert driver.current_url.endswith("/app/")
    rows = driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[5].text for r in rows] == [
        "T-1003",
        "T-1002",
        "T-1001",
    ]
    check_page(driver, "inbox")

    # Detractors who wrote about a refund.
    Select(driver.find_element(By.ID, "f-band")).select_by_visible_text("Detractor")
    driver.find_element(By.ID, "f-q").send_keys("refund")
    submit(driver, "form.filters button[type=submit]")
    assert "band=detractor" in driver.current_url and "q=refund" in driver.current_url
    (row,) = driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    assert "The refund took three weeks" in row.text and "T-1001" in row.text
    export = driver.find_element(By.LINK_TEXT, "Export CSV").get_attribute("href")

    # The response, and the link back to its ticket.
    old = driver.find_element(By.TAG_NAME, "html")
    row.find_element(By.TAG_NAME, "a").click()
    new_page_loaded(driver, old)
    assert "/app/responses/" in driver.current_url
    main = driver.find_element(By.TAG_NAME, "main").text
    assert "The refund took three weeks and nobody called back." in main
    assert "INC-1001" in main
    back = driver.find_element(By.LINK_TEXT, "T-1001")
    assert back.get_attribute("href") == "https://desk.example.com/tickets/INC-1001"
    check_page(driver, "response")

    # The export the filtered inbox offered, downloaded with the browser's session.
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    async with server.client(cookies=cookies) as browser_session:
        got = await browser_session.get(export)
    assert got.status_code == 200
    assert got.headers["content-disposition"] == "attachment; filename=responses.csv"
    header, *lines = list(csv.reader(io.StringIO(got.text)))
    assert [line[header.index("reference")] for line in lines] == ["T-1001"]
    assert "Traceback" not in server.stderr()
