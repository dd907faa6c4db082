"""The dashboard in a real headless Chromium against a real `opensure serve`: a viewer signs in,
opens the dashboard, narrows it with the filter form, sorts a breakdown by a column header.
The page passes axe-core's WCAG 2.1 A/AA checks, does not scroll sideways at phone widths, and
is photographed into docs/screenshots/."""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Any

import pytest

from opensure.db.engine import create_engine
from tests.console.test_browser import check_page, console_user, sign_in_here, submit
from tests.fixtures.browser import driver
from tests.fixtures.server import OpenSureServer, opensure_server
from tests.metrics.dashboard_data import build

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for the dashboard"


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_a_viewer_reads_filters_and_sorts_the_dashboard_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By

    server = opensure_server
    account = await server.create_account(f"Dashboards {secrets.token_hex(2)}")
    engine = create_engine(server.db_url)
    try:
        data = await build(SimpleNamespace(state=SimpleNamespace(engine=engine)), account)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    email = await console_user(server, account.name, PASSWORD, "viewer")

    # Signed out, the dashboard's link leads through the sign-in form and back.
    wanted = "/app/dashboard?from_time=2021-03-01&to_time=2021-03-31&grain=week"
    driver.get(server.base_url + wanted)
    sign_in_here(driver, email, PASSWORD)
    assert driver.current_url.endswith(wanted)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Dashboard"
    charts = driver.find_elements(By.CSS_SELECTOR, "svg[role=img]")
    assert len(charts) == 3 and all(c.size["width"] > 200 for c in charts)
    check_page(driver, "dashboard")

    # The filter form: one survey, by day.
    driver.find_element(
        By.CSS_SELECTOR, f"input[name='survey_ids[]'][value='{data.surveys[1]}']"
    ).click()
    driver.find_element(By.CSS_SELECTOR, "#grain option[value='day']").click()
    submit(driver, "form.filters button[type=submit]")
    assert f"survey_ids%5B%5D={data.surveys[1]}" in driver.current_url
    assert "grain=day" in driver.current_url
    rows = driver.find_elements(By.CSS_SELECTOR, "table[data-table='nps-trend'] tbody tr")
    assert len(rows) == 31

    # A column header sorts its table, and says so.
    driver.find_element(By.CSS_SELECTOR, "table[data-breakdown='site'] a[data-sort='name']").click()
    header = driver.find_element(By.CSS_SELECTOR, "table[data-breakdown='site'] th[aria-sort]")
    assert header.get_attribute("aria-sort") == "ascending" and "Name" in header.text
    names = [
        r.text
        for r in driver.find_elements(
            By.CSS_SELECTOR,
            "table[data-breakdown='site'] tbody tr[data-row]:not([data-row='none']) th",
        )
    ]
    assert names == sorted(names, key=str.casefold) and names
    assert "Traceback" not in server.stderr()
