"""The template editor in a real headless Chromium against a real `opensure serve`: an admin
opens Templates, creates a template, sees the live preview follow the typing (the editor's
script), saves an error and sees it with its line, then saves a good one. axe-core and the
phone width are checked, and the list and the editor are photographed."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.console.test_browser import accessible, check_page, console_user, sign_in_here
from tests.fixtures.browser import driver, submit
from tests.fixtures.server import OpenSureServer, opensure_server

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for templates"


def preview_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.ID, "preview-text")
    return str(found[0].text) if found else ""


def html_part(driver: Any) -> str:
    """The text of the sandboxed HTML part, read inside its frame."""
    from selenium.webdriver.common.by import By

    driver.switch_to.frame(driver.find_element(By.ID, "preview-html"))
    try:
        return str(driver.find_element(By.TAG_NAME, "body").text)
    finally:
        driver.switch_to.default_content()


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_an_admin_writes_a_template_with_a_live_preview_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    server = opensure_server
    account = await server.create_account(f"Templates {secrets.token_hex(2)}")
    email = await console_user(server, account.name, PASSWORD)

    driver.get(server.base_url + "/app/queue")
    sign_in_here(driver, email, PASSWORD)
    driver.find_element(By.LINK_TEXT, "Templates").click()
    assert driver.current_url.endswith("/app/templates")
    rows = driver.find_element(By.TAG_NAME, "tbody").text
    assert "Helpdesk follow-up" in rows  # made by `opensure templates create`
    check_page(driver, "templates")

    driver.find_element(By.LINK_TEXT, "New template").click()
    assert driver.current_url.endswith("/app/templates/new")
    placeholders = driver.find_element(By.CLASS_NAME, "placeholder-list").text
    assert "{{ survey_link }}" in placeholders and "{{ unsubscribe_link }}" in placeholders

    driver.find_element(By.ID, "f-name").send_keys("Returns")
    subject = driver.find_element(By.ID, "f-subject")
    subject.clear()
    subject.send_keys("Your return, {{ first_name }}")
    body = driver.find_element(By.ID, "f-body")
    body.send_keys(Keys.CONTROL, "a")
    body.send_keys(Keys.DELETE)
    body.send_keys("Hello {{ name }},\n\nHow was your return? {{ survey_link }}\n")
    # The preview follows the typing, without a page load.
    wait = WebDriverWait(driver, 10)
    wait.until(lambda d: "Hello Kate O'Neill," in preview_text(d))
    assert driver.current_url.endswith("/app/templates/new")
    assert driver.find_element(By.ID, "preview-subject").text == "Your return, Kate"
    assert "How was your return?" in html_part(driver)

    # An error: the preview shows it instead of a preview, and saving shows it with its line.
    body.send_keys("{% if reference %}Ref {{ reference }\n")
    wait.until(lambda d: d.find_elements(By.ID, "preview-problems"))
    assert "line 4" in driver.find_element(By.ID, "preview-problems").text
    submit(driver, "#template-form button[type=submit]:not([formaction])")
    assert driver.current_url.endswith("/app/templates/new")
    summary = driver.find_element(By.ID, "error-summary").text
    assert "The template is not saved" in summary and "Body, line 4:" in summary
    error = driver.find_element(By.ID, "e-body").text
    assert error.startswith("Line 4:")
    body = driver.find_element(By.ID, "f-body")
    assert "e-body" in (body.get_attribute("aria-describedby") or "")
    assert "{{ reference }" in (body.get_attribute("value") or "")  # as typed
    assert "line 4" in driver.find_element(By.ID, "preview-problems").text
    accessible(driver)

    # Fixed and saved: the editor of the new template, in the list too.
    body.send_keys(Keys.BACKSPACE, Keys.BACKSPACE, "}}{% endif %}\n")
    submit(driver, "#template-form button[type=submit]:not([formaction])")
    assert "/app/templates/" in driver.current_url and "done=created" in driver.current_url
    assert "The template is saved." in driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert "Ref TICKET-1042" in preview_text(driver)
    assert "Ref TICKET-1042" in html_part(driver)
    check_page(driver, "template-editor")
    driver.find_element(By.LINK_TEXT, "All templates").click()
    assert "Returns" in driver.find_element(By.TAG_NAME, "tbody").text
    assert "Traceback" not in server.stderr()
