"""A support manager uses the console in a real headless Chromium against a real
`opensure serve`: sets a password from the one-time link, signs in, switches account, signs
out. Every page is checked with axe-core (selenium-axe-python ships it) for WCAG 2.1 A/AA
violations, at phone width for sideways scrolling, and photographed into docs/screenshots/.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest

from tests.fixtures.browser import (
    DESKTOP,
    PHONE,
    driver,
    new_page_loaded,
    no_horizontal_scroll,
    screenshot,
    submit,
    viewport,
)
from tests.fixtures.server import OpenSureServer, opensure_server, run_cli

__all__ = ["console_user", "driver", "opensure_server", "sign_in_here", "submit"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for the browser"
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def accessible(driver: Any) -> None:
    """axe-core finds no WCAG 2.1 A or AA violation on the page as it is now."""
    from selenium_axe_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run(options=WCAG)
    assert not results["violations"], Axe.report(results["violations"])


async def console_user(
    server: OpenSureServer, account: str, password: str, role: str = "admin"
) -> str:
    """A user of ``account`` made by ``opensure users create --password-stdin``; its e-mail."""
    email = f"{role}.{secrets.token_hex(4)}@example.com"
    made = await run_cli(
        *("users", "create", "--account", account, "--email", email, "--role", role),
        "--password-stdin",
        db_url=server.db_url,
        cwd=server.workdir,
        stdin=password + "\n",
    )
    assert made.returncode == 0, made.describe()
    return email


def sign_in_here(driver: Any, email: str, password: str) -> None:
    """Fill in and send the sign-in form the browser shows now."""
    from selenium.webdriver.common.by import By

    assert "/app/sign-in" in driver.current_url, driver.current_url
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    submit(driver)


def check_page(driver: Any, name: str) -> None:
    """Accessible, no sideways scrolling at phone widths, photographed at both widths."""
    viewport(driver, *PHONE, mobile=True)
    no_horizontal_scroll(driver)
    screenshot(driver, f"console-{name}-phone.png", PHONE[0], mobile=True)
    viewport(driver, 320, 640, mobile=True)
    no_horizontal_scroll(driver)
    screenshot(driver, f"console-{name}-desktop.png", DESKTOP[0], mobile=False)
    viewport(driver, *DESKTOP, mobile=False)
    accessible(driver)


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_sign_in_switch_account_and_sign_out_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    server = opensure_server
    first = await server.create_account(f"Northwind {secrets.token_hex(2)}")
    second = await server.create_account(f"Southwind {secrets.token_hex(2)}")
    email = f"manager.{secrets.token_hex(4)}@example.com"
    made = await server.cli("users", "create", "--account", first.name, "--email", email)
    assert made.returncode == 0, made.describe()
    link = re.search(r"http://\S+/app/set-password/\S+", made.stdout)
    assert link, made.stdout
    viewer = await server.cli(
        "users", "create", "--account", second.name, "--email", email, "--role", "viewer"
    )
    assert viewer.returncode == 0, viewer.describe()

    # The one-time link: choose a password.
    driver.get(link[0].replace("http://127.0.0.1:8000", server.base_url))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Set your password"
    check_page(driver, "set-password")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "confirm").send_keys(PASSWORD)
    submit(driver)
    assert "Your password is set" in driver.find_element(By.TAG_NAME, "main").text

    # Asked for a page while signed out: sign in, then land on that page.
    driver.get(server.base_url + "/app/account")
    assert "/app/sign-in?next=/app/account" in driver.current_url
    check_page(driver, "sign-in")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys("not it at all")
    submit(driver)
    alert = driver.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert alert.text == "The e-mail address or password is not right."
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    submit(driver)
    assert driver.current_url.endswith("/app/account")
    main = driver.find_element(By.TAG_NAME, "main").text
    assert email in main and first.name in main and second.name in main
    check_page(driver, "account")

    # Keyboard: the first Tab reaches "Skip to content", and it shows where the focus is.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = driver.switch_to.active_element
    assert focused.text == "Skip to content"
    assert focused.value_of_css_property("outline-style") != "none"

    # The account switcher (it submits itself on change; the button is there without script).
    switch = Select(driver.find_element(By.ID, "account-switch"))
    assert [o.text for o in switch.options] == [first.name, f"{second.name} (viewer)"]
    old = driver.find_element(By.TAG_NAME, "html")
    switch.select_by_visible_text(f"{second.name} (viewer)")
    new_page_loaded(driver, old)
    driver.get(server.base_url + "/app/account")
    shown = driver.find_element(By.XPATH, "//span[@class='badge' and text()='shown now']/..")
    assert second.name in shown.text

    # Sign out: the console is closed to this browser afterwards.
    submit(driver, "form[action='/app/sign-out'] button")
    assert "You are signed out" in driver.find_element(By.TAG_NAME, "main").text
    driver.get(server.base_url + "/app/account")
    assert "/app/sign-in" in driver.current_url
    assert "Traceback" not in server.stderr()
