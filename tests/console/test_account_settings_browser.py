"""Account settings in a real headless Chromium against a real `opensure serve`: an admin sets
the brand colour and uploads a logo, then opens a survey page as a customer and sees the logo
and the colour; axe-core checks the settings page and the branded survey page."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.console.test_browser import accessible, check_page, console_user, sign_in_here
from tests.fixtures.browser import driver, submit
from tests.fixtures.images import png
from tests.fixtures.server import OpenSureServer, opensure_server

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for branding"


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_an_admin_brands_the_survey_pages_in_chromium(
    driver: Any, opensure_server: OpenSureServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    server = opensure_server
    account = await server.create_account(f"Brand {secrets.token_hex(2)}")
    email = await console_user(server, account.name, PASSWORD)

    driver.get(server.base_url + "/app/settings/account")
    sign_in_here(driver, email, PASSWORD)
    assert driver.current_url.endswith("/app/settings/account")

    # A colour that is not one is explained beside the field; nothing is saved.
    colour = driver.find_element(By.ID, "f-brand_colour")
    colour.send_keys("purple")
    submit(driver, "form[action='/app/settings/account'] button[type=submit]")
    problem = driver.find_element(By.ID, "e-brand_colour").text
    assert "six hexadecimal digits" in problem

    colour = driver.find_element(By.ID, "f-brand_colour")
    colour.clear()
    colour.send_keys("#6b21a8")
    driver.find_element(By.ID, "f-display_name").send_keys("Brand & Co")
    submit(driver, "form[action='/app/settings/account'] button[type=submit]")
    assert "The settings are saved." in driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert driver.find_element(By.ID, "f-brand_colour").get_attribute("value") == "#6b21a8"

    logo = tmp_path / "logo.png"
    logo.write_bytes(png(120, 40, (107, 33, 168)))
    driver.find_element(By.ID, "f-logo").send_keys(str(logo))
    submit(driver, "form[action='/app/settings/account/logo'] button[type=submit]")
    assert "The logo is uploaded" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    preview = driver.find_element(By.CSS_SELECTOR, ".logo-preview img")
    assert driver.execute_script("return arguments[0].naturalWidth", preview) == 120
    check_page(driver, "settings-account")

    # A customer opens the survey: the logo is shown and the button is in the colour.
    driver.get(f"{server.base_url}/s/{account.survey['code']}")
    shown = driver.find_element(By.CSS_SELECTOR, ".brand-logo img")
    assert f"/brand/{account.id}/logo-" in (shown.get_attribute("src") or "")
    assert driver.execute_script("return arguments[0].naturalWidth", shown) == 120
    assert "Brand & Co" in driver.find_element(By.CSS_SELECTOR, ".company").text
    button = driver.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    assert button.value_of_css_property("background-color") in (
        "rgba(107, 33, 168, 1)",
        "rgb(107, 33, 168)",
    )
    assert button.value_of_css_property("color") in ("rgba(255, 255, 255, 1)", "rgb(255, 255, 255)")
    accessible(driver)
    assert "Traceback" not in server.stderr()
