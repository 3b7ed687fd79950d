"""The language, presenter and date survive a Talk -> Playground -> Talk round trip through the sidebar.

Streamlit drops the URL's query on a page switch; ``app_pages/lang.py`` puts the sticky parameters
back, so the Playground opens in the talk's language (the live slider's words included) and the talk
comes back with its presenter and date.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from app_pair import APP, server_app_args, streamlit_server

from wiseft_core.talk import STEP_COUNT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEP_MS = 60_000


@pytest.fixture(scope="module")
def server(app_pair, tmp_path_factory):
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with streamlit_server(APP, log, server_app_args(app_pair)) as base:
        yield base


def params(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_idle(page) -> None:
    """Until Streamlit has finished running (a click during a run may be lost in the rerun)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')")
    page.wait_for_timeout(300)


def open_sidebar_link(page, name: str) -> None:
    wait_idle(page)
    expand = page.get_by_test_id("stExpandSidebarButton")
    if expand.count() and expand.first.is_visible():
        expand.first.click()
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=name)
    link.wait_for()
    link.click()


def test_talk_to_playground_and_back_keeps_russian_the_presenter_and_the_date(server, page):
    page.set_default_timeout(STEP_MS * 3)
    page.goto(f"{server}/?page=talk&lang=ru&presenter=Анна&date=2026-12-07&step=2")
    page.locator(".wiseft-deck .slide.active h1").first.wait_for()

    open_sidebar_link(page, "Песочница")
    page.get_by_role("heading", name="Песочница").wait_for()
    page.locator(".wiseft-verdict").first.wait_for()
    page.wait_for_function("() => document.querySelector('.wiseft-verdict').innerText.startsWith('Предсказание при α')")
    assert page.locator(".wiseft-label").first.inner_text().startswith("α (0 — zero-shot")
    assert {"lang": "ru", "presenter": "Анна", "date": "2026-12-07"}.items() <= params(page).items()

    open_sidebar_link(page, "Доклад")
    page.locator(".wiseft-deck .slide.active h1").first.wait_for()
    page.wait_for_function("() => new URL(location.href).searchParams.get('step') !== null")
    got = params(page)
    assert {"lang": "ru", "presenter": "Анна", "date": "2026-12-07"}.items() <= got.items(), got
    assert page.locator(".wiseft-deck .slide.active .deck-count").inner_text() == f"Шаг 2 / {STEP_COUNT}"
