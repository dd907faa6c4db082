"""Issue 14's browser test, in a real headless Chromium against a real `opensure serve`: an
admin builds a survey with all five types of question in the console, previews it, a customer
answers it from their e-mail, then the admin renames one question and removes another; the
earlier response still reads as it was answered, in the console and through the API. The
builder, the preview and the list are checked with axe-core and at phone width, and
photographed into docs/screenshots/."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest

from tests.console.test_browser import check_page, console_user, sign_in_here
from tests.fixtures.browser import driver, submit
from tests.fixtures.server import OpenSureServer, opensure_server
from tests.surveys.test_browser import label_for, wait_for_link

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for surveys"


def add_question(driver: Any, kind: str, text: str) -> str:
    """Add a question of ``kind`` (the form comes back unsaved, the new text box focused),
    type its text; its row key."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "new-type")).select_by_value(kind)
    submit(driver, "button[name=add]")
    focused = driver.switch_to.active_element
    assert str(focused.get_attribute("name")).endswith(".text"), focused.get_attribute("outerHTML")
    focused.send_keys(text)
    return str(focused.get_attribute("name"))[1:].split(".")[0]


def field(driver: Any, key: str, name: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.NAME, f"q{key}.{name}")


def set_value(element: Any, value: str) -> None:
    element.clear()
    element.send_keys(value)


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_build_preview_answer_then_edit_a_survey_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server = opensure_server
    account = await server.create_account(f"Harbour Hotel {secrets.token_hex(2)}")
    admin = await console_user(server, account.name, PASSWORD)
    driver.get(server.base_url + "/app/surveys")
    sign_in_here(driver, admin, PASSWORD)
    driver.find_element(By.LINK_TEXT, "New survey").click()
    assert driver.current_url.endswith("/app/surveys/new")

    # Build: the NPS question the builder starts with, then one of each other type.
    driver.find_element(By.ID, "survey-name").send_keys("Your stay")
    rating = add_question(driver, "rating", "How clean was your room?")
    text = add_question(driver, "text", "Anything else?")
    field(driver, text, "required").click()  # optional
    dropdown = add_question(driver, "dropdown", "How did you book?")
    field(driver, dropdown, "options").send_keys("Our website\nBy phone\nA travel agent")
    radio = add_question(driver, "radio", "Was check-in quick?")
    field(driver, radio, "options").send_keys("Yes\nNo")
    checkbox = add_question(driver, "checkbox", "What did you use?")
    field(driver, checkbox, "options").send_keys("Pool\nGym\nRestaurant")
    field(driver, checkbox, "required").click()
    # The script moves "Anything else?" to the end, in the page (no reload).
    html = driver.find_element(By.TAG_NAME, "html")
    for _ in range(3):
        driver.find_element(By.ID, f"q{text}-move-down").click()
    assert html.is_displayed()  # the same page: nothing was sent
    order = [
        e.get_attribute("data-key")
        for e in driver.find_elements(By.CSS_SELECTOR, "#questions > li")
    ]
    assert order[1:] == [rating, dropdown, radio, checkbox, text]
    # A problem is shown beside its field, and what was typed stays.
    set_value(field(driver, rating, "scale_max"), "1")
    set_value(field(driver, rating, "scale_min"), "5")
    submit(driver, ".builder-bar button[name=save]")
    assert driver.title.startswith("Error:")
    assert "Scale: must be [min, max]" in driver.find_element(By.ID, "error-summary").text
    scale_box = driver.find_element(By.ID, f"q{rating}-scale")
    assert scale_box.get_attribute("aria-invalid") == "true"
    assert field(driver, checkbox, "options").get_attribute("value").splitlines() == [
        "Pool",
        "Gym",
        "Restaurant",
    ]
    set_value(field(driver, rating, "scale_min"), "1")
    set_value(field(driver, rating, "scale_max"), "5")
    submit(driver, ".builder-bar button[name=save]")
    assert "The survey is created" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    survey_id = int(driver.current_url.split("/")[-1].split("?")[0])
    check_page(driver, "survey-builder")

    # Preview: the survey as a customer sees it, at two widths, recording nothing.
    driver.find_element(By.LINK_TEXT, "Preview").click()
    frames = driver.find_elements(By.TAG_NAME, "iframe")
    assert len(frames) == 2
    driver.switch_to.frame(frames[1])
    assert "Preview." in driver.find_element(By.CSS_SELECTOR, ".preview-note").text
    assert "How clean was your room?" in driver.find_element(By.TAG_NAME, "main").text
    driver.switch_to.default_content()
    check_page(driver, "survey-preview")

    # A customer answers from their e-mail.
    email = f"guest.{secrets.token_hex(4)}@example.com"
    async with server.client(headers=account.headers) as api:
        body = {
            "email": email,
            "first_name": "Noor",
            "send_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "survey_id": survey_id,
        }
        r = await api.post("/feedback_requests", json=body)
        assert r.status_code == 201, r.text
        link = await wait_for_link(server.outbox, email)
        driver.get(link)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Your stay"
        nps_id = int(
            driver.find_element(By.CSS_SELECTOR, "fieldset.question").get_attribute("id")[1:]
        )
        label_for(driver, f"q{nps_id}-9").click()
        radio_id = int(field_id(driver, "Was check-in quick?"))
        rating_id = int(field_id(driver, "How clean was your room?"))
        checkbox_id = int(field_id(driver, "What did you use?"))
        label_for(driver, f"q{rating_id}-4").click()
        dropdown_id = int(field_id(driver, "How did you book?"))
        Select(driver.find_element(By.ID, f"q{dropdown_id}")).select_by_visible_text("By phone")
        label_for(driver, f"q{radio_id}-1").click()
        label_for(driver, f"q{checkbox_id}-1").click()
        label_for(driver, f"q{checkbox_id}-3").click()
        submit(driver, "button[type=submit]")
        assert driver.current_url.endswith("/thanks")

        [answered] = (await api.get("/feedback_responses")).json()
        as_answered = {a["question_id"]: (a["question"], a["answer"]) for a in answered["answers"]}
        assert as_answered[radio_id] == ("Was check-in quick?", "Yes")
        assert as_answered[checkbox_id] == ("What did you use?", "Pool, Restaurant")

        # The admin renames the radio question and removes the checkbox question.
        driver.get(f"{server.base_url}/app/surveys/{survey_id}")
        set_value(field(driver, str(radio_id), "text"), "How quick was check-in?")
        field(driver, str(checkbox_id), "remove").click()
        submit(driver, ".builder-bar button[name=save]")
        assert "Saved as a new version" in driver.find_element(By.CSS_SELECTOR, ".notice").text
        assert "version 2" in driver.find_element(By.CSS_SELECTOR, ".lead").text
        assert not driver.find_elements(By.NAME, f"q{checkbox_id}.text")

        # The earlier response reads as it was answered: through the API …
        [again] = (await api.get("/feedback_responses")).json()
        assert {a["question_id"]: (a["question"], a["answer"]) for a in again["answers"]} == (
            as_answered
        )
        # … and in the console.
        driver.get(f"{server.base_url}/app/responses/{answered['id']}")
        shown = driver.find_element(By.TAG_NAME, "main").text
        assert "Was check-in quick?" in shown and "How quick was check-in?" not in shown
        assert "What did you use?" in shown and "Pool, Restaurant" in shown

    driver.get(f"{server.base_url}/app/surveys")
    row = driver.find_element(By.ID, f"survey-{survey_id}").text
    assert "Your stay" in row and "2" in row
    check_page(driver, "surveys")
    assert "Traceback" not in server.stderr()


def field_id(driver: Any, question: str) -> str:
    """The id of the question whose text is ``question`` on the survey page (its q-number)."""
    from selenium.webdriver.common.by import By

    for label in driver.find_elements(By.CSS_SELECTOR, ".question-text"):
        if label.text.startswith(question):
            box = label.find_element(By.XPATH, "./ancestor::*[self::fieldset or self::div][1]")
            found = box.get_attribute("id") or label.get_attribute("for")
            return str(found)[1:]
    raise AssertionError(f"no question {question!r} on the page")
