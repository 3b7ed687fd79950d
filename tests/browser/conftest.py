"""Browser fixtures shared by the end-to-end tests: one headless Debian Chromium per module, a fresh page per test."""

from __future__ import annotations

import pytest
from app_pair import CHROMIUM, CHROMIUM_ARGS, require_browser

STEP_MS = 60_000  # one step of a test on a busy CPU (a page's first run imports torch and open_clip)


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    yield page
    context.close()
