"""The customer's pages meet WCAG 2.2 AA, checked in a real headless Chromium against a real
`opensure serve` (docs/accessibility.md):

- axe-core (tags wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa) finds nothing on the survey page
  with every question type, the same page after a 422, the thank-you page, the unsubscribe page
  before and after, the error pages, and all of them again in an account's brand;
- every question type is answered with the keyboard alone, and the API reports the answers;
- every control shows where the focus is, in a ring of at least 3:1 against what is behind it;
- after a 422 the focus is on the error summary, whose links take the focus to each field;
- 320 CSS px wide, and 1280 px at 200 % zoom (640 CSS px): nothing scrolls sideways, no text
  is cut off, every control is a target of at least 24 by 24 CSS px, the 0-10 scale wraps.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` and
``selenium-axe-python`` packages; skips without them unless OPENSURE_TEST_REQUIRE_ALL=1.
Saves screenshots to docs/screenshots/.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.dispatch.support import links, parts, survey_link
from tests.fixtures.browser import DESKTOP, SCREENSHOTS, driver, new_page_loaded
from tests.fixtures.images import png
from tests.fixtures.server import ApiAccount, OpenSureServer, opensure_server, wait_for_email
from tests.surveys.conftest import EVERYTHING

__all__ = ["driver", "opensure_server"]  # fixtures: Chromium; a real `opensure serve`

pytestmark = pytest.mark.e2e

WCAG22 = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
    }
}
# The narrowest screen WCAG's reflow criterion (1.4.10) names, and a 1280 px window at 200 %.
NARROW = (320, 1)
ZOOM_200 = (DESKTOP[0] // 2, 2)


# ---- what is checked on every page ----


def accessible(driver: Any, what: str) -> None:
    """axe-core finds no WCAG 2.2 A or AA violation on the page as it is now."""
    from selenium_axe_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run(options=WCAG22)
    assert results["passes"], f"{what}: axe-core checked nothing"
    assert not results["violations"], f"{what}: " + Axe.report(results["violations"])


def emulate(driver: Any, width: int, scale: int, height: int = 700) -> None:
    """A screen ``width`` CSS px wide; ``scale`` 2 is what 200 % zoom does to a window twice
    as wide (the page lays out in half the CSS pixels, each drawn twice as large)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": width < 400},
    )


# Every element that scrolls sideways, clips its text, or sticks out of the window.
OVERFLOWS = """
const width = document.documentElement.clientWidth;
const found = [];
const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
  (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '');
for (const e of document.querySelectorAll('body *')) {
  if (e.closest('.visually-hidden')) continue;
  const s = getComputedStyle(e);
  if (s.display === 'none' || s.visibility === 'hidden') continue;
  const r = e.getBoundingClientRect();
  if (r.width > 1 && (r.right > width + 0.5 || r.left < -0.5)) {
    found.push(name(e) + ' from ' + Math.round(r.left) + ' to ' + Math.round(r.right));
  }
  const clips = s.overflowX !== 'visible' || s.overflowY !== 'visible' || s.textOverflow !== 'clip';
  if (clips && !['INPUT', 'SELECT'].includes(e.tagName) &&
      (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)) {
    found.push(name(e) + ' clips its content');
  }
}
return found;
"""

# Every control (a radio or checkbox by the label drawn for it) smaller than 24 by 24 CSS px.
SMALL_TARGETS = """
const found = [];
for (const e of document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea')) {
  const target = ['radio', 'checkbox'].includes(e.type) ? e.closest('label') : e;
  const r = target.getBoundingClientRect();
  if (r.width < 24 || r.height < 24) {
    found.push((e.id || e.name || e.textContent.trim()) + ': ' +
               Math.round(r.width) + ' x ' + Math.round(r.height));
  }
}
return found;
"""


# WCAG 1.4.12's spacing, set on every element through the CSSOM (which the pages' CSP allows
# a user's tools, as it must).
TEXT_SPACING = """
for (const e of document.querySelectorAll('body, body *')) {
  e.style.setProperty('line-height', '1.5', 'important');
  e.style.setProperty('letter-spacing', '0.12em', 'important');
  e.style.setProperty('word-spacing', '0.16em', 'important');
  if (e.tagName === 'P') e.style.setProperty('margin-bottom', '2em', 'important');
}
"""


def reflows(driver: Any, what: str, *, photo: str = "") -> None:
    """At 320 CSS px and at 200 % zoom: no sideways scrolling, no text cut off, targets of at
    least 24 by 24 CSS px; at 320 px with WCAG's text spacing, nothing cut off. ``photo``:
    screenshots named ``{photo}-320.png`` and ``{photo}-zoom200.png``."""
    for width, scale in (NARROW, ZOOM_200):
        emulate(driver, width, scale)
        sideways = driver.execute_script(
            "const s = document.scrollingElement; return [s.scrollWidth, s.clientWidth];"
        )
        assert sideways[0] <= sideways[1], f"{what} at {width} px scrolls sideways: {sideways}"
        assert driver.execute_script(OVERFLOWS) == [], f"{what} at {width} px"
        assert driver.execute_script(SMALL_TARGETS) == [], f"{what} at {width} px"
        if photo:
            suffix = "320" if scale == 1 else "zoom200"
            photograph(driver, f"{photo}-{suffix}.png", width, scale)
    # Text spaced out as 1.4.12 asks, at 320 px: still nothing cut off or sideways.
    emulate(driver, *NARROW)
    driver.execute_script(TEXT_SPACING)
    spaced = "return getComputedStyle(document.querySelector('h1')).wordSpacing"
    assert driver.execute_script(spaced) != "0px", "the text spacing was not applied"
    assert driver.execute_script(OVERFLOWS) == [], f"{what} with spaced-out text"
    emulate(driver, DESKTOP[0], 1, DESKTOP[1])


def photograph(driver: Any, name: str, width: int, scale: int = 1) -> None:
    """The whole page at this width, as tall as its content."""
    emulate(driver, width, scale)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    emulate(driver, width, scale, int(height))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOTS / name))


def check(driver: Any, what: str, *, photo: str = "") -> None:
    accessible(driver, what)
    reflows(driver, what, photo=photo)


# The focus indicator of the focused element (for a radio or checkbox drawn by its label, the
# box drawn for it) and its contrast with the colour behind it (WCAG 1.4.11: 3:1).
FOCUS_RING = """
const e = document.activeElement;
const shown = ['radio', 'checkbox'].includes(e.type) ? e.nextElementSibling : e;
const s = getComputedStyle(shown);
const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = c => {
  const v = rgb(c).slice(0, 3).map(x => x / 255)
    .map(x => x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
};
let behind = 'rgb(255, 255, 255)';
for (let p = shown.parentElement; p; p = p.parentElement) {
  const bg = getComputedStyle(p).backgroundColor;
  if (rgb(bg).length === 3 || (rgb(bg).length === 4 && rgb(bg)[3] > 0)) { behind = bg; break; }
}
const a = lum(s.outlineColor), b = lum(behind);
return {
  id: e.id || e.textContent.trim(),
  outline: s.outlineStyle + ' ' + s.outlineWidth,
  visible: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
  contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
};
"""


# The contrast of a chosen value's mark with the white around it: the scale's border, or the
# dot (box) drawn for a radio button (checkbox).
CHOSEN_MARK = """
const input = document.getElementById(arguments[0]);
const shown = input.nextElementSibling;
const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = c => {
  const v = rgb(c).slice(0, 3).map(x => x / 255)
    .map(x => x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
};
const mark = input.type === 'radio' && input.closest('.scale-option')
  ? getComputedStyle(shown).borderTopColor
  : getComputedStyle(shown, '::before').backgroundColor;
const a = lum(mark), b = lum('rgb(255, 255, 255)');
return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
"""


def focus_ring(driver: Any) -> dict[str, Any]:
    ring: dict[str, Any] = driver.execute_script(FOCUS_RING)
    assert ring["visible"], f"no visible focus on {ring}"
    assert ring["contrast"] >= 3, f"focus ring of too little contrast: {ring}"
    return ring


def every_control_shows_focus(driver: Any, what: str) -> int:
    """Tab through the page from its top, and along each radio group with the arrow keys (on a
    copy of the page nobody sends): every stop has a visible focus ring. The number of stops."""
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    seen: list[str] = []
    rings = 0
    press(driver, Keys.TAB)
    for _ in range(100):
        element = driver.switch_to.active_element
        key = element.id or element.get_attribute("href") or element.text
        if element.tag_name == "body" or key in seen:
            break
        seen.append(key)
        focus_ring(driver)
        rings += 1
        if element.get_attribute("type") == "radio":
            group = driver.find_elements("name", element.get_attribute("name"))
            for _ in group[1:]:
                press(driver, Keys.ARROW_RIGHT)
                focus_ring(driver)
                rings += 1
        press(driver, Keys.TAB)
    else:
        raise AssertionError(f"{what}: Tab never leaves the page")
    return rings


def right_to_left(driver: Any) -> None:
    """The page as a right-to-left language shows it (``dir="rtl"`` on <html>): it mirrors,
    because its CSS is written in logical properties, and still fits 320 px."""
    from selenium.webdriver.common.by import By

    driver.execute_script("document.documentElement.dir = 'rtl'")
    emulate(driver, *NARROW)
    assert driver.execute_script(OVERFLOWS) == [], "right to left at 320 px"
    emulate(driver, DESKTOP[0], 1, DESKTOP[1])
    scale = driver.find_elements(By.CSS_SELECTOR, ".scale")[0]
    values = scale.find_elements(By.CSS_SELECTOR, ".scale-option")
    assert values[0].rect["x"] > values[-1].rect["x"], "the scale starts on the right"
    option = driver.find_element(By.CSS_SELECTOR, ".option span")
    box = driver.execute_script(
        "const s = getComputedStyle(arguments[0], '::before'); return [s.left, s.right];", option
    )
    left, right = (float(side.removesuffix("px")) for side in box)
    assert right == 12 and left > right, f"the radio's circle is on the right: {box}"


# ---- the way there ----


async def emailed_links(outbox: Path, address: str, deadline: float = 15.0) -> tuple[str, str]:
    """The survey and unsubscribe links of the email to ``address`` in the outbox."""
    message = await wait_for_email(outbox, address, deadline)
    text, _ = parts(message)
    unsubscribe = next(u for u in links(text) if "/u/" in u)
    return survey_link(message), unsubscribe


async def ask(server: OpenSureServer, account: ApiAccount, email: str) -> tuple[str, str]:
    """A feedback request to ``email`` through the API, due now: its email's links."""
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
    return await emailed_links(server.outbox, email)


def press(driver: Any, *keys: str) -> None:
    """Keys sent to whatever has the focus, as a keyboard would."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*keys).perform()


def shift_tab(driver: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()


def focused_id(driver: Any) -> str:
    return str(driver.switch_to.active_element.get_attribute("id"))


def submit_by_keyboard(driver: Any, key: str) -> None:
    """Tab to the form's button and press ``key`` on it; wait for the page that follows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    old = driver.find_element(By.TAG_NAME, "html")
    for _ in range(60):
        if driver.switch_to.active_element.get_attribute("type") == "submit":
            break
        press(driver, Keys.TAB)
    else:
        raise AssertionError("the submit button is not reached with Tab")
    focus_ring(driver)
    press(driver, key)
    new_page_loaded(driver, old)


# ---- the tests ----


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_every_page_passes_axe_and_reflows_unbranded_and_branded(
    driver: Any, opensure_server: OpenSureServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    server = opensure_server
    # Names without chance in them, so that the screenshots change only when the pages do.
    account = await server.create_account("Northwind Support", EVERYTHING)
    code = account.survey["code"]
    base = server.base_url
    nps = account.survey["questions"][0]["id"]

    async def every_page(brand: str) -> None:
        link, unsubscribe = await ask(server, account, f"kate.{brand or 'plain'}@example.com")
        # The anonymous form has the contact fields too.
        driver.get(f"{base}/s/{code}")
        check(driver, f"{brand} anonymous survey page")
        driver.get(link)
        assert driver.find_element(By.TAG_NAME, "h1").text == "How did we do?"
        check(driver, f"{brand} survey page", photo="survey" if not brand else "")
        # At 320 px the 0-10 scale wraps into two rows of at least 24 px values (0-5, 6-10).
        emulate(driver, *NARROW)
        first, sixth, last = (
            driver.find_element(By.XPATH, f"//input[@id='q{nps}-{n}']/ancestor::label").rect
            for n in (0, 6, 10)
        )
        assert sixth["x"] == first["x"] and sixth["y"] > first["y"], "0-10 wraps after 5"
        assert last["y"] == sixth["y"] and min(first["width"], last["width"]) >= 24
        emulate(driver, DESKTOP[0], 1, DESKTOP[1])
        if not brand:
            right_to_left(driver)
            driver.get(link)

        # Sent empty: a 422 with every problem in the summary and beside its question.
        driver.get(f"{base}/s/{code}")
        submit_button = driver.find_element(By.CSS_SELECTOR, "form button[type=submit]")
        old = driver.find_element(By.TAG_NAME, "html")
        submit_button.click()
        new_page_loaded(driver, old)
        assert driver.find_element(By.ID, "error-summary").is_displayed()
        check(driver, f"{brand} survey page with errors")
        # Every link, field and value: 6 links (name, e-mail and four questions), 3 contact
        # fields, 11 + 5 + 2 values, the list, 3 boxes, the text and the button.
        assert every_control_shows_focus(driver, f"{brand} survey page") == 33

        driver.get(f"{base}/s/{code}/thanks")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Thank you!"
        check(driver, f"{brand} thank-you page", photo="thanks" if not brand else "")

        driver.get(unsubscribe)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Unsubscribe?"
        check(driver, f"{brand} unsubscribe page", photo="unsubscribe" if not brand else "")
        assert every_control_shows_focus(driver, f"{brand} unsubscribe page") == 1
        old = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        new_page_loaded(driver, old)
        assert driver.find_element(By.TAG_NAME, "h1").text == "You're unsubscribed"
        check(driver, f"{brand} unsubscribed page")

        for path, title in (
            ("/s/no-such-survey", "Survey not found"),
            (f"/s/{code}?t=not-a-token", None),
            ("/u/not-a-token", "This link isn't valid"),
            ("/s/a/mangled/link", "Page not found"),
        ):
            driver.get(base + path)
            if title:
                assert driver.find_element(By.TAG_NAME, "h1").text == title
            photo = "message" if path == "/s/no-such-survey" and not brand else ""
            check(driver, f"{brand} error page {path}", photo=photo)

    await every_page("")

    # The account's brand: a light colour (dark text on its buttons) and a logo.
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(240, 60, (180, 120, 10)))
    updated = await server.cli(
        "accounts", "update", str(account.id), "--brand-colour", "#fbbf24", "--logo", str(logo)
    )
    assert updated.returncode == 0, updated.describe()
    await every_page("branded")
    driver.get(f"{base}/s/{code}")
    assert driver.find_element(By.CSS_SELECTOR, ".brand-logo img").is_displayed()
    button = driver.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    assert button.value_of_css_property("background-color") == "rgba(251, 191, 36, 1)"
    assert button.value_of_css_property("color") == "rgba(0, 0, 0, 1)"
    # A light brand colour still leaves a chosen value distinguishable at 3:1 (WCAG 1.4.11).
    _, _, _, radio, checkbox, _ = (q["id"] for q in account.survey["questions"])
    for value in (f"q{nps}-9", f"q{radio}-1", f"q{checkbox}-1"):
        driver.find_element(By.XPATH, f"//input[@id='{value}']/ancestor::label").click()
        assert driver.find_element(By.ID, value).is_selected()
        assert driver.execute_script(CHOSEN_MARK, value) >= 3, value
    photograph(driver, "survey-branded-320.png", NARROW[0])
    assert "Traceback" not in server.stderr()


@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_every_question_is_answered_with_the_keyboard_alone(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    server = opensure_server
    account = await server.create_account("Contoso Care", EVERYTHING)
    nps, rating, dropdown, radio, checkbox, text = (q["id"] for q in account.survey["questions"])
    email = "kate.keys@example.com"
    link, _ = await ask(server, account, email)
    driver.get(link)

    # Sent at once with Space on the button: the page comes back with the focus on the error
    # summary, which a screen reader reads out first.
    submit_by_keyboard(driver, Keys.SPACE)
    assert focused_id(driver) == "error-summary"
    focus_ring(driver)
    summary = driver.find_element(By.ID, "error-summary")
    assert summary.get_attribute("role") == "alert"
    links = summary.find_elements(By.TAG_NAME, "a")
    assert [a.get_attribute("hash") for a in links] == [
        f"#q{nps}-0",
        f"#q{rating}-1",
        f"#q{dropdown}",
        f"#q{radio}-1",
    ]
    # Each question with a problem says so to assistive technology, and names its message.
    for key, field in (
        (f"q{nps}", f"q{nps}"),
        (f"q{dropdown}", f"q{dropdown}"),
        (f"q{radio}", f"q{radio}"),
    ):
        element = driver.find_element(By.ID, field)
        assert element.get_attribute("aria-invalid") == "true"
        described = element.get_attribute("aria-describedby")
        message = driver.find_element(By.ID, f"{key}-error")
        assert described == message.get_attribute("id")
        assert message.text == "Please answer this question."
    for control in driver.find_elements(By.CSS_SELECTOR, f"input[name=q{nps}]"):
        # The radio buttons are named by their group, whose description is the message.
        assert control.find_element(By.XPATH, "ancestor::fieldset").get_attribute("id") == (
            f"q{nps}"
        )

    # Tab to each link of the summary and follow it with Enter: the focus goes to its field;
    # Shift+Tab walks back to the summary for the next one.
    press(driver, Keys.TAB)
    for i, target in enumerate(links):
        assert driver.switch_to.active_element == target
        focus_ring(driver)
        press(driver, Keys.ENTER)
        assert focused_id(driver) == str(target.get_attribute("hash"))[1:], f"link {i}"
        focus_ring(driver)
        for _ in range(20):  # back through the questions before it and the later links
            shift_tab(driver)
            if driver.switch_to.active_element == target:
                break
        else:
            raise AssertionError(f"Shift+Tab does not lead back to link {i}")
        press(driver, Keys.TAB)
    for _ in range(len(links)):
        shift_tab(driver)
    assert driver.switch_to.active_element == links[0]
    press(driver, Keys.ENTER)
    photograph(driver, "survey-errors-focus.png", DESKTOP[0])
    emulate(driver, DESKTOP[0], 1, DESKTOP[1])

    # The first question has the focus (from the summary's first link). Answer everything by
    # keyboard: arrows in a radio group, Space on a checkbox, keys in the list, typing.
    assert focused_id(driver) == f"q{nps}-0"
    press(driver, *[Keys.ARROW_RIGHT] * 9)  # 0 → 9, each arrow choosing the next value
    assert focused_id(driver) == f"q{nps}-9"
    focus_ring(driver)
    press(driver, Keys.TAB)  # the next group
    assert focused_id(driver) == f"q{rating}-1"
    focus_ring(driver)
    press(driver, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_LEFT)
    assert focused_id(driver) == f"q{rating}-3"
    press(driver, Keys.TAB)
    assert focused_id(driver) == f"q{dropdown}"
    focus_ring(driver)
    press(driver, Keys.ARROW_DOWN, Keys.ARROW_DOWN)  # Choose… → App → Web
    press(driver, Keys.TAB)
    assert focused_id(driver) == f"q{radio}-1"
    focus_ring(driver)
    press(driver, Keys.SPACE)  # Yes
    press(driver, Keys.TAB)
    assert focused_id(driver) == f"q{checkbox}-1"
    focus_ring(driver)
    press(driver, Keys.SPACE)  # Speed
    press(driver, Keys.TAB, Keys.TAB)
    assert focused_id(driver) == f"q{checkbox}-3"
    press(driver, Keys.SPACE)  # Price
    shift_tab(driver)
    assert focused_id(driver) == f"q{checkbox}-2"
    focus_ring(driver)
    press(driver, Keys.SPACE, Keys.SPACE)  # Friendliness on, and off again
    press(driver, Keys.TAB, Keys.TAB)
    assert focused_id(driver) == f"q{text}"
    focus_ring(driver)
    press(driver, "Quick & friendly <3")
    press(driver, Keys.TAB)
    submit_by_keyboard(driver, Keys.ENTER)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Thank you!"

    async with server.client(headers=account.headers) as api:
        r = await api.get("/feedback_responses", params={"email": email})
        assert r.status_code == 200, r.text
    [response] = r.json()
    assert {a["question_id"]: a["answer"] for a in response["answers"]} == {
        nps: "9",
        rating: "3",
        dropdown: "Web",
        radio: "Yes",
        checkbox: "Speed, Price",
        text: "Quick & friendly <3",
    }
    assert "Traceback" not in server.stderr()
