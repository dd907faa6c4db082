"""A person answers a survey in a real headless Chromium, from the link in their email.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; skips without
them unless OPENSURE_TEST_REQUIRE_ALL=1. Saves screenshots to docs/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.dispatch.support import survey_link
from tests.fixtures.browser import (
    DESKTOP,
    PHONE,
    driver,
    no_horizontal_scroll,
    screenshot,
    submit,
    viewport,
)
from tests.fixtures.server import OpenSureServer, opensure_server, wait_for_email
from tests.surveys.conftest import EVERYTHING

__all__ = ["driver", "opensure_server"]  # fixtures: Chromium; a real `opensure serve`

pytestmark = pytest.mark.e2e


def label_for(driver: Any, input_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//input[@id='{input_id}']/ancestor::label")


def outline_of(driver: Any, element: Any) -> tuple[str, str]:
    style = driver.execute_script(
        "const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth];",
        element,
    )
    return style[0], style[1]


async def wait_for_link(outbox: Path, address: str, deadline: float = 15.0) -> str:
    """The survey link in the email to ``address`` that the dispatcher wrote to the outbox
    (not one of its scale's answer links, ``&q{id}=``)."""
    return survey_link(await wait_for_email(outbox, address, deadline))


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_a_person_answers_the_survey_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    server = opensure_server
    account = await server.create_account("Acme Ltd", EVERYTHING)
    nps, rating, dropdown, radio, checkbox, text = (q["id"] for q in account.survey["questions"])
    email = f"kate.{secrets.token_hex(4)}@example.com"
    async with server.client(headers=account.headers) as api:
        body = {
            "email": email,
            "first_name": "Kate",
            "surname": "Smith",
            "send_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "survey_id": account.survey_id,
        }
        r = await api.post("/feedback_requests", json=body)
        assert r.status_code == 201, r.text
        link = await wait_for_link(server.outbox, email)
        assert link.startswith(f"{server.base_url}/s/")

        # On a phone: the whole form fits the width; the NPS scale and its ends show.
        viewport(driver, *PHONE, mobile=True)
        driver.get(link)
        assert driver.find_element(By.TAG_NAME, "h1").text == "How did we do?"
        assert "Hi Kate" in driver.find_element(By.TAG_NAME, "main").text
        no_horizontal_scroll(driver)
        nps_box = driver.find_element(By.ID, f"q{nps}")
        assert "Not likely" in nps_box.text and "Very likely" in nps_box.text
        # 0 to 10 in one row, from "Not likely" on the left to "Very likely" on the right.
        ends = [label_for(driver, f"q{nps}-{n}").rect for n in (0, 10)]
        assert ends[0]["y"] == ends[1]["y"] and ends[0]["x"] < ends[1]["x"]
        assert min(r["width"] for r in ends) >= 24, "touch targets of at least 24px"
        screenshot(driver, "survey-phone.png", PHONE[0], mobile=True)
        viewport(driver, 320, 640, mobile=True)  # the narrowest phones still in use
        no_horizontal_scroll(driver)

        # Answer everything but the NPS question, and send: the form comes back with
        # the problem beside that question and everything else as it was left.
        viewport(driver, *DESKTOP, mobile=False)
        label_for(driver, f"q{rating}-4").click()
        Select(driver.find_element(By.ID, f"q{dropdown}")).select_by_visible_text("Web")
        label_for(driver, f"q{radio}-1").click()
        label_for(driver, f"q{checkbox}-1").click()
        label_for(driver, f"q{checkbox}-3").click()
        driver.find_element(By.ID, f"q{text}").send_keys("Quick & friendly <3")
        submit(driver, "button[type=submit]")
        summary = driver.find_element(By.ID, "error-summary")
        # Without any script, the summary takes the focus, so it is read out first.
        assert driver.switch_to.active_element.get_attribute("id") == "error-summary"
        assert "How likely are you to recommend us? \N{EN DASH} Please answer this question." in (
            summary.text
        )
        nps_box = driver.find_element(By.ID, f"q{nps}")
        assert "Please answer this question." in nps_box.text
        assert driver.find_element(By.ID, f"q{rating}-4").is_selected()
        assert driver.find_element(By.ID, f"q{checkbox}-3").is_selected()
        assert not driver.find_element(By.ID, f"q{checkbox}-2").is_selected()
        chosen = Select(driver.find_element(By.ID, f"q{dropdown}")).first_selected_option
        assert chosen.text == "Web"
        textarea = driver.find_element(By.ID, f"q{text}")
        assert textarea.get_attribute("value") == "Quick & friendly <3"
        no_horizontal_scroll(driver)
        screenshot(driver, "survey-errors.png", DESKTOP[0], mobile=False)
        viewport(driver, *DESKTOP, mobile=False)

        # Now by keyboard, as well: click 9 on the NPS scale, Tab to the next scale, which
        # shows where the focus is, and move along it with the arrow keys.
        label_for(driver, f"q{nps}-9").click()
        assert driver.find_element(By.ID, f"q{nps}-9").is_selected()
        driver.switch_to.active_element.send_keys(Keys.TAB)
        focused = driver.switch_to.active_element
        assert focused.get_attribute("id") == f"q{rating}-4"
        shown = focused.find_element(By.XPATH, "following-sibling::span")
        style, width = outline_of(driver, shown)
        assert style != "none" and width != "0px", "keyboard focus must be visible"
        focused.send_keys(Keys.ARROW_LEFT)
        assert driver.find_element(By.ID, f"q{rating}-3").is_selected()
        label_for(driver, f"q{checkbox}-2").click()  # tick one more
        submit(driver, "button[type=submit]")

        assert driver.find_element(By.TAG_NAME, "h1").text == "Thank you!"
        assert driver.current_url.endswith("/thanks")

        # The same link again shows the answers given, ready to change.
        driver.get(link)
        assert driver.find_element(By.ID, f"q{nps}-9").is_selected()
        assert driver.find_element(By.ID, f"q{checkbox}-2").is_selected()
        screenshot(driver, "survey-desktop.png", DESKTOP[0], mobile=False)

        # What the person chose is what the API reports.
        r = await api.get("/feedback_responses", params={"email": email})
        assert r.status_code == 200, r.text
        [response] = r.json()
        assert response["fields"]["name"] == "Kate Smith"
        assert {a["question_id"]: a["answer"] for a in response["answers"]} == {
            nps: "9",
            rating: "3",
            dropdown: "Web",
            radio: "Yes",
            checkbox: "Speed, Friendliness, Price",
            text: "Quick & friendly <3",
        }
    assert "Traceback" not in server.stderr()
