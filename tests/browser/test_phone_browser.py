"""The Playground on a phone (390x844, touch): students open the talk's link on theirs.

No horizontal scrolling, the verdict line at most two lines high, alpha's value fully visible, and a
slider a finger can hit (a 44 px target) and move by touch. Saves docs/screenshots/playground_phone.png.
"""

from __future__ import annotations

import re

import pytest
from app_pair import APP, REPO, server_app_args, streamlit_server

from wiseft_core.talk import STEP_COUNT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
STEP_MS = 60_000
TOUCH_TARGET_PX = 44


@pytest.fixture(scope="module")
def server(app_pair, tmp_path_factory):
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with streamlit_server(APP, log, server_app_args(app_pair)) as base:
        yield base


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(STEP_MS * 3)
    yield page
    context.close()


def open_playground(phone, server: str, alpha: str = "0.5") -> None:
    phone.goto(f"{server}/playground?alpha={alpha}")
    phone.wait_for_selector('.wiseft-live[data-pending="0"]')
    phone.wait_for_timeout(500)


def test_on_a_phone_nothing_scrolls_sideways_and_the_verdict_takes_at_most_two_lines(server, phone):
    open_playground(phone, server)
    widths = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    verdicts = phone.locator(".wiseft-verdict")
    assert verdicts.count() >= 1
    for i in range(verdicts.count()):
        box = verdicts.nth(i).bounding_box()
        line = phone.evaluate("(e) => parseFloat(getComputedStyle(e).lineHeight)", verdicts.nth(i).element_handle())
        assert box["height"] <= 2 * line + 1, (box, line, verdicts.nth(i).inner_text())
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], box
    for selector in (".wiseft-readout", ".wiseft-range", ".wiseft-chart", ".wiseft-bars"):  # nothing cut off
        box = phone.locator(selector).first.bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"] + 0.5, (selector, box)
    assert phone.locator(".wiseft-readout").first.inner_text() == "α = 0.5"
    shots = REPO / "docs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(shots / "playground_phone.png"))


def test_on_a_phone_the_slider_is_a_44_px_target_that_moves_by_touch(server, phone):
    open_playground(phone, server)
    slider = phone.locator(".wiseft-range").first
    box = slider.bounding_box()
    thumb = phone.evaluate("(e) => { const s = getComputedStyle(e, '::-webkit-slider-thumb');"
                           " return [parseFloat(s.width), parseFloat(s.height)]; }", slider.element_handle())
    assert box["height"] >= TOUCH_TARGET_PX and min(thumb) >= TOUCH_TARGET_PX, (box, thumb)
    phone.touchscreen.tap(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)  # near the right end
    phone.wait_for_function("() => !document.querySelector('.wiseft-readout').innerText.endsWith('= 0.5')")
    value = float(re.sub(r"^α = ", "", phone.locator(".wiseft-readout").first.inner_text()))
    assert value >= 0.9, value
    phone.wait_for_function("(v) => new URL(location.href).searchParams.get('alpha') === String(v)", arg=value)


def test_a_students_phone_follows_the_presenters_step_and_fits_the_screen(server, phone, browser):
    projector = browser.new_context(viewport={"width": 1280, "height": 720})
    talk = projector.new_page()
    talk.set_default_timeout(STEP_MS * 3)
    talk.goto(f"{server}/?page=talk&room=phone1&step=3&lang=ru")
    talk.locator(".wiseft-deck .slide.active h1").first.wait_for()
    phone.goto(f"{server}/?page=audience&room=phone1&lang=ru")
    phone.get_by_text(f"Шаг 3 из {STEP_COUNT}").first.wait_for()
    talk.keyboard.press("PageDown")  # the presenter's clicker: next step
    phone.get_by_text(f"Шаг 4 из {STEP_COUNT}").first.wait_for()
    phone.get_by_text(re.compile(r"^Предсказание при α = ")).first.wait_for()
    widths = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    phone.screenshot(path=str(REPO / "docs" / "screenshots" / "audience_phone.png"), full_page=True)
    projector.close()
