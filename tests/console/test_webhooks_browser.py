"""Webhooks in a real headless Chromium against a real `opensure serve`: an admin is refused a
loopback URL with the address check's message, rotates the secret of an endpoint the operator
made for a receiver on 127.0.0.1 (the new secret shown once), opens its delivery log, sends a
test event and sees it delivered by the server's own dispatcher. axe-core and the phone width
are checked and both pages are photographed.

Adding a public endpoint from the browser is left to the httpx tests (a stub resolver there):
the server here runs in its own process with the system resolver, and tests never point at a
public address."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from tests.console.test_browser import check_page, console_user, sign_in_here
from tests.fixtures.browser import driver, submit
from tests.fixtures.server import OpenSureServer, opensure_server
from tests.webhooks.conftest import receiver
from tests.webhooks.support import Receiver

__all__ = ["driver", "opensure_server", "receiver"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for webhooks"


async def delivered(receiver: Receiver, count: int, seconds: float = 30) -> None:
    """Wait until the server's own dispatcher (``opensure serve`` runs one) has delivered."""
    deadline = time.monotonic() + seconds
    while len(receiver.hits) < count:
        assert time.monotonic() < deadline, "not delivered in time"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_an_admin_manages_webhooks_in_chromium(
    driver: Any, opensure_server: OpenSureServer, receiver: Receiver
) -> None:
    from selenium.webdriver.common.by import By

    server = opensure_server
    account = await server.create_account(f"Hooks {secrets.token_hex(2)}")
    email = await console_user(server, account.name, PASSWORD)
    made = await server.cli_json(
        *("webhooks", "create", "--account", account.name, "--url", receiver.url),
        "--allow-private-network",
    )

    driver.get(server.base_url + "/app/settings/tokens")
    sign_in_here(driver, email, PASSWORD)
    driver.find_element(By.LINK_TEXT, "Webhooks").click()
    assert driver.current_url.endswith("/app/settings/webhooks")
    assert receiver.url in driver.find_element(By.TAG_NAME, "tbody").text

    # The console never allows the private network: a loopback URL is refused, kept typed.
    driver.find_element(By.ID, "url").send_keys("http://127.0.0.1:9/elsewhere")
    driver.find_element(By.CSS_SELECTOR, "input[value='feedback_request.sent']").click()
    submit(driver, "form[action='/app/settings/webhooks'] button[type=submit]")
    problem = driver.find_element(By.ID, "webhook-problem").text
    assert "a loopback address" in problem
    assert (
        driver.find_element(By.ID, "url").get_attribute("value") == "http://127.0.0.1:9/elsewhere"
    )
    assert driver.find_element(By.ID, "url").get_attribute("aria-describedby") == "webhook-problem"

    # Rotate: the new secret once, never in the URL.
    row = driver.find_element(By.ID, f"webhook-{made['id']}")
    row.find_element(By.XPATH, ".//summary[contains(., 'Rotate secret')]").click()
    submit(driver, f"form[action='/app/settings/webhooks/{made['id']}/rotate'] button")
    shown = driver.find_element(By.ID, "new-secret").text
    assert "will not be shown again" in shown
    secret = driver.find_element(By.CSS_SELECTOR, "#new-secret code.secret").text
    assert secret.startswith("whsec_") and secret != made["secret"]
    assert "whsec" not in driver.current_url
    check_page(driver, "settings-webhooks")
    driver.get(server.base_url + "/app/settings/webhooks")
    assert secret not in driver.page_source

    # The log: send a test event, a dispatcher delivers it, the log shows it.
    driver.find_element(By.LINK_TEXT, "Delivery log").click()
    assert driver.current_url.endswith(f"/app/settings/webhooks/{made['id']}")
    submit(driver, f"form[action='/app/settings/webhooks/{made['id']}/test'] button")
    assert "A test event is queued" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    await delivered(receiver, 1)
    [body] = receiver.verified(secret)
    assert body["type"] == "webhook.test"
    deadline = time.monotonic() + 10  # the attempt is recorded just after the answer
    while "HTTP 200" not in driver.find_element(By.TAG_NAME, "tbody").text:
        assert time.monotonic() < deadline, "the delivery is not in the log"
        await asyncio.sleep(0.2)
        driver.refresh()
    log = driver.find_element(By.TAG_NAME, "tbody").text
    assert "webhook.test" in log and "HTTP 200" in log and receiver.hits[0].id in log
    check_page(driver, "settings-webhook")
    assert "Traceback" not in server.stderr()
