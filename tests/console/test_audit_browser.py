"""The audit log in a real headless Chromium against a real `opensure serve`: an admin changes
a user's role, opens the audit log and finds the change at the top, with the CLI's changes
(the account, its survey and template, made by `opensure`) below it; a long value opens from
its <details>. axe-core and the phone width are checked as on every console page, and the page
is photographed."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.console.test_browser import check_page, console_user, sign_in_here
from tests.fixtures.browser import driver, submit
from tests.fixtures.server import OpenSureServer, opensure_server

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for the audit log"
LONG_BODY = (
    "Hello {{ first_name }},\n\n"
    "Thank you for getting in touch with our support team last week. We would love to hear "
    "how we did: it takes a minute.\n\n{{ survey_link }}\n\nThe support team\n"
)


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_an_admin_changes_a_role_and_finds_it_in_the_audit_log_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server = opensure_server
    account = await server.create_account(f"Audit {secrets.token_hex(2)}")
    email = await console_user(server, account.name, PASSWORD)
    colleague = await console_user(server, account.name, "another long passphrase", "viewer")
    templates = await server.cli_json("templates", "list", "--account", account.name)
    body = server.write("body.txt", LONG_BODY)
    updated = await server.cli(
        "templates", "update", str(templates[0]["id"]), "--account", account.name,
        "--body-file", str(body),
    )  # fmt: skip
    assert updated.returncode == 0, updated.describe()

    driver.get(server.base_url + "/app/settings/users")
    sign_in_here(driver, email, PASSWORD)
    row = driver.find_element(By.XPATH, f"//tr[td/bdi[text()='{colleague}']]")
    Select(row.find_element(By.CSS_SELECTOR, "select[name=role]")).select_by_visible_text("Admin")
    user_id = row.get_attribute("id").removeprefix("user-")
    submit(driver, f"form[action='/app/settings/users/{user_id}/role'] button[type=submit]")
    assert "The role is changed." in driver.find_element(By.TAG_NAME, "main").text

    driver.find_element(By.LINK_TEXT, "Audit log").click()
    assert driver.current_url.endswith("/app/settings/audit")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Audit log"
    newest = driver.find_elements(By.CSS_SELECTOR, "tbody tr[id^=event-]")[0]
    cells = [c.text for c in newest.find_elements(By.TAG_NAME, "td")]
    assert cells[1] == email
    assert cells[2].splitlines() == ["changed the role of the user", f"User {colleague}"]
    # "changed to" is for screen readers (the arrow is hidden from them).
    assert " ".join(cells[3].split()) == "role: viewer → changed to admin"
    main = driver.find_element(By.TAG_NAME, "main").text
    assert "(command line)" in main and "created the account" in main

    # The template's body folds away; it opens with a click (or Enter), as written.
    summary = driver.find_element(By.CSS_SELECTOR, "tbody details summary")
    assert summary.text == "body"
    summary.click()
    shown = driver.find_element(By.CSS_SELECTOR, "tbody details[open]").text
    assert "Thank you for getting in touch" in shown and "{{ survey_link }}" in shown

    # The filter: users only.
    Select(driver.find_element(By.ID, "subject_type")).select_by_visible_text("Users and roles")
    submit(driver, "form[role=search] button[type=submit]")
    assert "subject_type=user" in driver.current_url
    kinds = {
        r.find_elements(By.TAG_NAME, "td")[2].text.splitlines()[0]
        for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr[id^=event-]")
    }
    assert kinds == {"changed the role of the user", "created the user"}
    driver.get(server.base_url + "/app/settings/audit")
    driver.find_element(By.CSS_SELECTOR, "tbody details summary").click()
    check_page(driver, "settings-audit")
    assert "Traceback" not in server.stderr()
