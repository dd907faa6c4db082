"""Issue 16 §2 in a real headless Chromium against a real `opensure serve`: an admin adds a
French translation to a survey in the console (no script needed: "Add language" re-shows the
form), a problem shows beside its field, the translation saves as a new version; a customer
whose request says ``language: fr`` answers the French page and the API reads the answers
under the original question ids and options; `surveys export` writes the translation and
`surveys import` takes the file back. The page is checked with axe-core, at phone width, and
photographed into docs/screenshots/."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest
import yaml

from tests.console.test_browser import check_page, console_user, sign_in_here
from tests.console.test_survey_builder_browser import set_value
from tests.fixtures.browser import DESKTOP, driver, screenshot, submit
from tests.fixtures.server import OpenSureServer, opensure_server
from tests.surveys.test_browser import label_for, wait_for_link

__all__ = ["driver", "opensure_server"]

pytestmark = pytest.mark.e2e
PASSWORD = "a long passphrase for languages"
FRENCH = {
    "name": "Satisfaction du support",
    "texts": [
        "Quelle est la probabilité que vous nous recommandiez ?",
        "Quel est votre niveau de satisfaction ?",
        "Autre chose ?",
        "Votre problème est-il résolu ?",
    ],
}


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_translate_a_survey_in_the_console_and_answer_it_in_french_in_chromium(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By

    server = opensure_server
    account = await server.create_account(f"Cafe Lumiere {secrets.token_hex(2)}")
    survey_id = int(account.survey["id"])
    ids = [int(q["id"]) for q in account.survey["questions"]]
    nps, _rating, _text, radio = ids
    admin = await console_user(server, account.name, PASSWORD)
    driver.get(f"{server.base_url}/app/surveys/{survey_id}")
    sign_in_here(driver, admin, PASSWORD)
    driver.find_element(By.LINK_TEXT, "Translations").click()
    assert driver.current_url.endswith(f"/app/surveys/{survey_id}/translations")

    driver.find_element(By.ID, "new-language").send_keys("fr")
    submit(driver, "button[name=add]")
    assert "Not saved yet" in driver.find_element(By.CSS_SELECTOR, ".notice-warning").text
    assert driver.switch_to.active_element.get_attribute("id") == "t-fr-name"
    driver.switch_to.active_element.send_keys(FRENCH["name"])
    for qid, text in zip(ids, FRENCH["texts"], strict=True):
        driver.find_element(By.ID, f"t-fr-q{qid}-text").send_keys(text)
    options = driver.find_element(By.ID, f"t-fr-q{radio}-options")
    options.send_keys("Oui")  # one option of two: refused beside the field
    submit(driver, ".builder-bar button[name=save]")
    assert driver.title.startswith("Error:")
    summary = driver.find_element(By.ID, "error-summary").text
    assert "2 options expected, 1 given" in summary
    options = driver.find_element(By.ID, f"t-fr-q{radio}-options")
    assert options.get_attribute("aria-invalid") == "true"
    assert driver.find_element(By.ID, "t-fr-name").get_attribute("value") == FRENCH["name"]
    set_value(options, "Oui\nNon")
    submit(driver, ".builder-bar button[name=save]")
    assert "Translations saved" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert "version 2" in driver.find_element(By.CSS_SELECTOR, ".lead").text
    check_page(driver, "survey-translations")

    # A French customer answers from their e-mail.
    email = f"client.{secrets.token_hex(4)}@example.com"
    async with server.client(headers=account.headers) as api:
        body = {
            "email": email,
            "first_name": "Amélie",
            "send_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "survey_id": survey_id,
            "data": [{"key": "language", "value": "fr-FR"}],
        }
        r = await api.post("/feedback_requests", json=body)
        assert r.status_code == 201, r.text
        driver.get(await wait_for_link(server.outbox, email))
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        assert driver.find_element(By.TAG_NAME, "h1").text == FRENCH["name"]
        assert FRENCH["texts"][3] in driver.find_element(By.ID, f"q{radio}").text
        screenshot(driver, "survey-translated-fr-desktop.png", DESKTOP[0], mobile=False)
        label_for(driver, f"q{nps}-9").click()
        label_for(driver, f"q{ids[1]}-4").click()
        label_for(driver, f"q{radio}-1").click()  # "Oui"
        submit(driver, "button[type=submit]")
        # The thank-you page, in the customer's language too.
        assert driver.current_url.endswith("/thanks?lang=fr")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"

        [answered] = (await api.get("/feedback_responses")).json()
        as_answered = {a["question_id"]: (a["question"], a["answer"]) for a in answered["answers"]}
        assert as_answered[radio] == ("Was your issue solved?", "Yes")
        assert as_answered[nps] == ("How likely are you to recommend us?", "9")

    # The survey file carries the translation, and imports again as a new survey.
    exported = await server.cli("surveys", "export", str(survey_id), "--account", account.name)
    assert exported.returncode == 0, exported.describe()
    doc = yaml.safe_load(exported.stdout)
    assert doc["translations"]["fr"]["questions"][3] == {
        "text": FRENCH["texts"][3],
        "options": ["Oui", "Non"],
    }
    for q in doc["questions"]:
        q.pop("id")
    copy = server.write("translated.yaml", yaml.safe_dump(doc, allow_unicode=True))
    imported = await server.cli_json("surveys", "import", "--account", account.name, str(copy))
    async with server.client() as anonymous:
        r = await anonymous.get(f"/s/{imported['code']}", headers={"Accept-Language": "fr-CA"})
        assert r.status_code == 200 and FRENCH["name"] in r.text
    assert "Traceback" not in server.stderr()
