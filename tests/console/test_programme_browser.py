"""The programme's settings in a real headless Chromium against a real `opensure serve`: an
admin adds a staff member and a site, searches the unsubscribe list and adds an address, and
uploads a CSV file with a bad line (its problems shown by line), then a good one. axe-core
and the phone width are checked on every page, and each is photographed."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.console.test_browser import check_page, console_user, sign_in_here
from tests.fixtures.browser import driver, submit
from tests.fixtures.server import OpenSureServer, opensure_server

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for the programme"


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_an_admin_sets_up_the_programme_in_chromium(
    driver: Any, opensure_server: OpenSureServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    server = opensure_server
    account = await server.create_account(f"Programme {secrets.token_hex(2)}")
    email = await console_user(server, account.name, PASSWORD)
    for address in ("old.customer@example.com", "kate@example.org"):
        added = await server.cli("unsubscribes", "add", "--account", account.name, address)
        assert added.returncode == 0, added.describe()
    made = await server.cli("segments", "create", "--account", account.name, "--key", "product")
    assert made.returncode == 0, made.describe()

    driver.get(server.base_url + "/app/settings/staff")
    sign_in_here(driver, email, PASSWORD)
    assert driver.current_url.endswith("/app/settings/staff")

    # Staff and teams: a new team name makes the team.
    driver.find_element(By.ID, "f-code").send_keys("ana")
    driver.find_element(By.ID, "f-name").send_keys("Ana López")
    driver.find_element(By.ID, "f-team").send_keys("Support")
    submit(driver, "form[action='/app/settings/staff'] button[type=submit]")
    assert "The staff member is added." in driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert "Ana López" in driver.find_element(By.CSS_SELECTOR, "tbody").text
    assert "Support" in driver.find_element(By.ID, "teams").text
    check_page(driver, "settings-staff")

    # Sites: added with the API's rules, listed by name.
    driver.find_element(By.LINK_TEXT, "Sites").click()
    driver.find_element(By.ID, "f-site_code").send_keys("hq")
    driver.find_element(By.ID, "f-name").send_keys("Head Office")
    driver.find_element(By.ID, "f-city").send_keys("Newcastle")
    driver.find_element(By.ID, "f-region").send_keys("Tyne and Wear")
    driver.find_element(By.ID, "f-country_code").send_keys("GB")
    submit(driver, "form[action='/app/settings/sites'] button[type=submit]")
    row = driver.find_element(By.ID, "site-hq").text
    assert "Head Office" in row and "Newcastle, Tyne and Wear, GB" in row
    check_page(driver, "settings-sites")

    driver.find_element(By.LINK_TEXT, "Segments").click()
    assert "product" in driver.find_element(By.CSS_SELECTOR, "tbody").text
    check_page(driver, "settings-segments")

    # Unsubscribes: search, then add an address.
    driver.find_element(By.LINK_TEXT, "Unsubscribes").click()
    driver.find_element(By.ID, "f-q").send_keys("KATE")
    submit(driver, "form[role=search] button[type=submit]")
    listed = driver.find_element(By.CSS_SELECTOR, "tbody").text
    assert "kate@example.org" in listed and "old.customer" not in listed
    driver.find_element(By.ID, "f-email").send_keys("New.Customer@Example.com")
    submit(driver, "form[action='/app/settings/unsubscribes/add'] button[type=submit]")
    assert "sent no more surveys" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert "new.customer@example.com" in rows[0].text  # newest first
    assert len(rows) == 3
    check_page(driver, "settings-unsubscribes")

    # CSV import: a bad line is shown by its number and nothing is imported; then a good file.
    bad = tmp_path / "staff.csv"
    bad.write_text("code,name,team\nben,Ben Okafor,Sales\n,No code,Sales\n", encoding="utf-8")
    driver.find_element(By.LINK_TEXT, "Import from CSV").click()
    driver.find_element(By.ID, "file-staff").send_keys(str(bad))
    submit(driver, "form[action='/app/settings/import/staff'] button[value=import]")
    problems = driver.find_element(By.ID, "import-problems").text
    assert "Nothing imported: 1 problem" in problems
    assert "3 code: required" in problems
    good = tmp_path / "staff-good.csv"
    good.write_text("code,name,team\nben,Ben Okafor,Sales\ncy,Cy Ng,\n", encoding="utf-8")
    driver.find_element(By.ID, "file-staff").send_keys(str(good))
    submit(driver, "form[action='/app/settings/import/staff'] button[value=check]")
    assert "2 rows are fine" in driver.find_element(By.ID, "import-result").text
    driver.find_element(By.ID, "file-staff").send_keys(str(good))
    submit(driver, "form[action='/app/settings/import/staff'] button[value=import]")
    result = driver.find_element(By.ID, "import-result").text
    assert "2 rows imported" in result and "new teams: Sales" in result
    check_page(driver, "settings-import")

    driver.find_element(By.LINK_TEXT, "Staff and teams").click()
    staff = driver.find_element(By.CSS_SELECTOR, "tbody").text
    assert "Ben Okafor" in staff and "Cy Ng" in staff
    assert "Traceback" not in server.stderr()
