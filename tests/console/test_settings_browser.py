"""Settings in a real headless Chromium against a real `opensure serve`: an admin invites a
user (the one-time link shown once) and creates an API token (shown once, with its warning);
axe-core and the phone width are checked as on every console page, and both pages are
photographed."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.console.test_browser import check_page, console_user, sign_in_here
from tests.fixtures.browser import driver, submit
from tests.fixtures.server import OpenSureServer, opensure_server

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for settings"


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_an_admin_invites_a_user_and_creates_a_token_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server = opensure_server
    account = await server.create_account(f"Settings {secrets.token_hex(2)}")
    email = await console_user(server, account.name, PASSWORD)

    driver.get(server.base_url + "/app/queue")
    sign_in_here(driver, email, PASSWORD)
    driver.find_element(By.LINK_TEXT, "Settings").click()
    assert driver.current_url.endswith("/app/settings/users")

    invited = f"new.{secrets.token_hex(3)}@example.com"
    driver.find_element(By.ID, "email").send_keys(invited)
    Select(driver.find_element(By.ID, "role")).select_by_visible_text("Viewer")
    submit(driver, "form[action='/app/settings/users'] button[type=submit]")
    card = driver.find_element(By.ID, "one-time-link").text
    assert invited in card and "will not be shown again" in card
    assert "/app/set-password/" in card
    assert "set-password" not in driver.current_url
    rows = driver.find_element(By.TAG_NAME, "tbody").text
    assert invited in rows and "Not set yet" in rows
    check_page(driver, "settings-users")

    driver.find_element(By.LINK_TEXT, "API tokens").click()
    assert driver.current_url.endswith("/app/settings/tokens")
    submit(driver, "form[action='/app/settings/tokens'] button[type=submit]")
    shown = driver.find_element(By.ID, "new-token").text
    assert "will not be shown again" in shown
    token = driver.find_element(By.CSS_SELECTOR, "#new-token code.secret").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "tbody tr[id^=token-]")) == 2
    check_page(driver, "settings-tokens")

    async with server.client(
        headers={**account.headers, "Authorization": f'Token token="{token}"'}
    ) as api:
        r = await api.get("/feedback_requests")
        assert r.status_code == 200, r.text
    assert "Traceback" not in server.stderr()
