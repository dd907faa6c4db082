"""The queue in a real headless Chromium against a real `opensure serve`: an admin finds a
request by its reference, cancels it through the confirmation, and the page says so; axe-core
and the phone width are checked as on every console page, and the page is photographed."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest

from tests.console.test_browser import check_page, console_user, sign_in_here
from tests.fixtures.browser import driver, submit
from tests.fixtures.server import OpenSureServer, opensure_server

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for the queue"


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_an_admin_finds_and_cancels_a_request_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By

    server = opensure_server
    account = await server.create_account(f"Queue {secrets.token_hex(2)}")
    email = await console_user(server, account.name, PASSWORD)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    references = [f"TCK-{secrets.token_hex(3)}" for _ in range(3)]
    async with server.client(headers=account.headers) as api:
        for i, reference in enumerate(references):
            body = {
                "email": f"customer{i}@example.com",
                "survey_id": account.survey_id,
                "reference": reference,
                "send_at": (later + dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            r = await api.post("/feedback_requests", json=body)
            assert r.status_code == 201, r.text

    driver.get(server.base_url + "/app/queue")
    sign_in_here(driver, email, PASSWORD)
    assert driver.current_url.endswith("/app/queue")
    rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr[id^=request-]")
    assert len(rows) == 3
    check_page(driver, "queue")

    # Find one by its reference, then cancel it behind the confirmation.
    driver.find_element(By.ID, "q").send_keys(references[1])
    submit(driver, "form.filters button[type=submit]")
    (row,) = driver.find_elements(By.CSS_SELECTOR, "tbody tr[id^=request-]")
    assert references[1] in row.text
    button = row.find_element(By.CSS_SELECTOR, "details button[type=submit]")
    assert not button.is_displayed()  # inside the closed <details>
    row.find_element(By.TAG_NAME, "summary").click()
    assert button.is_displayed()
    submit(driver, "details[open] button[type=submit]")
    main = driver.find_element(By.TAG_NAME, "main").text
    assert "is cancelled" in main
    assert "No feedback requests match" in main
    assert driver.find_element(By.ID, "q").get_attribute("value") == references[1]

    driver.get(server.base_url + "/app/queue")
    shown = driver.find_element(By.TAG_NAME, "tbody").text
    assert references[0] in shown and references[2] in shown and references[1] not in shown
    assert "Traceback" not in server.stderr()
