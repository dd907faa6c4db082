"""One click in the e-mail, in a real headless Chromium: the HTML e-mail the dispatcher wrote
is opened as a mail client would show it, a score in it is clicked, the survey opens with that
score chosen, and once sent the API reports it.

Saves docs/screenshots/email-one-click-desktop.png and -phone.png.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
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
from tests.fixtures.server import OpenSureServer, opensure_server, wait_for_email
from tests.surveys.conftest import EVERYTHING

__all__ = ["driver", "opensure_server"]  # fixtures: Chromium; a real `opensure serve`

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_a_customer_clicks_a_score_in_the_email_and_sends_it(
    driver: Any, opensure_server: OpenSureServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server = opensure_server
    account = await server.create_account("Acme Ltd", EVERYTHING)
    nps, rating, dropdown, radio, _, _ = (q["id"] for q in account.survey["questions"])
    address = f"kate.{secrets.token_hex(4)}@example.com"
    async with server.client(headers=account.headers) as api:
        body = {
            "email": address,
            "first_name": "Kate",
            "send_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "survey_id": account.survey_id,
        }
        r = await api.post("/feedback_requests", json=body)
        assert r.status_code == 201, r.text
        message = await wait_for_email(server.outbox, address)
        html = message.get_body(preferencelist=("html",))
        assert html is not None
        page = tmp_path / "email.html"
        page.write_text(html.get_content(), encoding="utf-8")

        # The e-mail as a mail client shows it: on the narrowest phone the eleven values fit
        # in one row, each a target of at least 24px, the ends' words under the ends.
        driver.get(page.as_uri())
        scores = driver.find_elements(By.CSS_SELECTOR, "table.os-scale a")
        assert [a.text for a in scores] == [str(n) for n in range(11)]
        for width in (320, PHONE[0]):
            viewport(driver, width, 700, mobile=True)
            no_horizontal_scroll(driver)
            rects = [a.rect for a in scores]
            assert len({r["y"] for r in rects}) == 1, "one row"
            assert min(r["width"] for r in rects) >= 24 and min(r["height"] for r in rects) >= 40
            ends = driver.find_elements(By.CSS_SELECTOR, "table.os-scale td.os-muted")
            assert [e.text for e in ends] == ["Not likely", "Very likely"]
            assert ends[0].rect["x"] <= rects[0]["x"] + 2
            assert (
                ends[1].rect["x"] + ends[1].rect["width"] >= rects[-1]["x"] + rects[-1]["width"] - 2
            )
        screenshot(driver, "email-one-click-phone.png", PHONE[0], mobile=True)
        screenshot(driver, "email-one-click-desktop.png", DESKTOP[0], mobile=False)
        viewport(driver, *DESKTOP, mobile=False)

        # In dark mode (a client that applies the e-mail's own dark styles) every text still
        # reads: light text on the dark background, the numbers on their cells as before.
        driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        )
        colours = driver.execute_script(
            "const c = e => getComputedStyle(e);"
            "const q = document.querySelector('table.os-scale td.os-text');"
            "const end = document.querySelector('table.os-scale td.os-muted');"
            "const a = document.querySelector('table.os-scale a');"
            "return [c(document.body).backgroundColor, c(q).color, c(end).color,"
            " c(document.querySelector('table.os-scale')).backgroundColor,"
            " c(a).color, c(a).backgroundColor];"
        )
        assert colours == [
            "rgb(17, 24, 39)",
            "rgb(243, 244, 246)",
            "rgb(209, 213, 219)",
            "rgb(17, 24, 39)",
            "rgb(255, 255, 255)",
            "rgb(29, 78, 216)",
        ]
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

        # A click on 8 opens the survey with 8 chosen and the rest of it below; nothing is
        # recorded yet.
        driver.find_element(By.LINK_TEXT, "8").click()
        assert driver.current_url.startswith(f"{server.base_url}/s/{account.survey['code']}?t=")
        assert driver.find_element(By.ID, f"q{nps}-8").is_selected()
        assert not driver.find_element(By.ID, f"q{rating}-4").is_selected()
        r = await api.get("/feedback_responses", params={"email": address})
        assert r.status_code == 200 and r.json() == []

        driver.find_element(By.XPATH, f"//input[@id='q{rating}-4']/ancestor::label").click()
        Select(driver.find_element(By.ID, f"q{dropdown}")).select_by_visible_text("Web")
        driver.find_element(By.XPATH, f"//input[@id='q{radio}-1']/ancestor::label").click()
        submit(driver, "button[type=submit]")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Thank you!"

        r = await api.get("/feedback_responses", params={"email": address})
        assert r.status_code == 200, r.text
        [response] = r.json()
        answers = {a["question_id"]: a["answer"] for a in response["answers"]}
        assert answers[nps] == "8"
        assert answers[rating] == "4"
    assert "Traceback" not in server.stderr()
