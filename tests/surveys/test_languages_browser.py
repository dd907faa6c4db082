"""The survey page in three languages in a real headless Chromium, one of them right to left:
each fits a phone without sideways scrolling, and the Arabic page is the mirror image of the
German one (the scale starts on the right, the button sits on the right). Screenshots go to
docs/screenshots/ (survey-de.png, survey-fr-phone.png, survey-ar.png, survey-ar-phone.png)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest

from tests.fixtures.browser import (
    DESKTOP,
    PHONE,
    driver,
    no_horizontal_scroll,
    screenshot,
    submit,
    viewport,
)
from tests.fixtures.server import OpenSureServer, opensure_server
from tests.surveys.conftest import EVERYTHING
from tests.surveys.test_accessibility_browser import accessible
from tests.surveys.test_browser import label_for, wait_for_link

__all__ = ["driver", "opensure_server"]  # fixtures: Chromium; a real `opensure serve`

pytestmark = pytest.mark.e2e


def rect(driver: Any, css: str) -> dict[str, float]:
    from selenium.webdriver.common.by import By

    return dict(driver.find_element(By.CSS_SELECTOR, css).rect)


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_survey_page_in_three_languages_one_right_to_left(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server = opensure_server
    account = await server.create_account("Acme Ltd", EVERYTHING)
    nps = account.survey["questions"][0]["id"]
    links: dict[str, str] = {}
    async with server.client(headers=account.headers) as api:
        addresses = {}
        for lang in ("de", "fr-CA", "ar"):
            addresses[lang] = f"kate.{lang}.{secrets.token_hex(4)}@example.com"
            body = {
                "email": addresses[lang],
                "first_name": "Kate",
                "send_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "survey_id": account.survey_id,
                "data": [{"key": "language", "value": lang}],
            }
            r = await api.post("/feedback_requests", json=body)
            assert r.status_code == 201, r.text
        for lang, address in addresses.items():
            links[lang] = await wait_for_link(server.outbox, address)

    layout: dict[str, dict[str, Any]] = {}
    for lang, expected in (("de", ("de", "ltr")), ("fr-CA", ("fr", "ltr")), ("ar", ("ar", "rtl"))):
        viewport(driver, *PHONE, mobile=True)
        driver.get(links[lang])
        html = driver.find_element(By.TAG_NAME, "html")
        assert (html.get_attribute("lang"), html.get_attribute("dir")) == expected
        # WCAG 2.2 AA in every language, right to left included (axe-core).
        accessible(driver, f"the survey page in {lang}")
        no_horizontal_scroll(driver)
        zero, ten = (label_for(driver, f"q{nps}-{n}").rect for n in (0, 10))
        assert zero["y"] == ten["y"], "the scale is one row"
        form = rect(driver, "form")
        button = rect(driver, "button[type=submit]")
        layout[lang] = {"zero": zero["x"], "ten": ten["x"], "form": form, "button": button}
        name = expected[0]
        if name == "fr":
            screenshot(driver, "survey-fr-phone.png", PHONE[0], mobile=True)
        if name == "ar":
            screenshot(driver, "survey-ar-phone.png", PHONE[0], mobile=True)
        viewport(driver, 320, 640, mobile=True)  # the narrowest phones
        no_horizontal_scroll(driver)
        if name in ("de", "ar"):
            viewport(driver, *DESKTOP, mobile=False)
            no_horizontal_scroll(driver)
            screenshot(driver, f"survey-{name}.png", DESKTOP[0], mobile=False)

    # Left to right: the scale runs from 0 on the left, the button starts at the left edge.
    de = layout["de"]
    assert de["zero"] < de["ten"]
    assert abs(de["button"]["x"] - de["form"]["x"]) < 2
    # Right to left, the mirror image: 0 on the right, the button at the right edge.
    ar = layout["ar"]
    assert ar["zero"] > ar["ten"]
    right = ar["form"]["x"] + ar["form"]["width"]
    assert abs(ar["button"]["x"] + ar["button"]["width"] - right) < 2
    assert ar["button"]["x"] > ar["form"]["x"] + 2

    # The Arabic page is answered like any other: a missing answer is said in Arabic, then
    # the thank-you page is Arabic too.
    viewport(driver, *PHONE, mobile=True)
    driver.get(links["ar"])
    submit(driver, "button[type=submit]")
    assert "يرجى الإجابة عن هذا السؤال." in driver.find_element(By.ID, f"q{nps}").text
    no_horizontal_scroll(driver)
    _, rating, dropdown, radio, *_ = (q["id"] for q in account.survey["questions"])
    label_for(driver, f"q{nps}-9").click()
    label_for(driver, f"q{rating}-4").click()
    Select(driver.find_element(By.ID, f"q{dropdown}")).select_by_visible_text("Web")
    label_for(driver, f"q{radio}-1").click()
    submit(driver, "button[type=submit]")
    assert driver.find_element(By.TAG_NAME, "h1").text == "شكرًا لك!"
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
    assert "Traceback" not in server.stderr()
