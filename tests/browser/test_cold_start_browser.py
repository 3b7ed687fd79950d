"""A new server's first Playground visit: the stored first answer at once, then the live page with the same numbers.

A room's first viewer opens the link before PyTorch has loaded: the prediction is there while it loads
(its slider disabled), and the live page that replaces it says the same thing.
"""

from __future__ import annotations

import pytest
from app_pair import APP, REPO, streamlit_server

from wiseft_core.demo.assets import demo_pair_available

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not demo_pair_available(), reason="needs the shipped demo pair")]

STEP_MS = 60_000
PREVIEW = '.wiseft-live[data-preview="1"]'
LIVE = '.wiseft-live[data-preview="0"]'


def test_a_new_servers_first_playground_visit_shows_the_stored_answer_then_the_live_one(browser, tmp_path):
    with streamlit_server(APP, tmp_path / "server.log") as base:  # a new server: nothing imported yet
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.set_default_timeout(STEP_MS)
        page.goto(f"{base}/playground?alpha=0.5")
        page.locator(f"{PREVIEW} .wiseft-verdict").first.wait_for()
        stored = page.locator(f"{PREVIEW} .wiseft-verdict").all_inner_texts()
        assert page.locator(f"{PREVIEW} input[type=range]").is_disabled()
        assert "loading the live model" in page.locator(f"{PREVIEW} .wiseft-note").inner_text()
        assert page.locator(PREVIEW).get_attribute("data-pending") == "1"
        page.screenshot(path=str(REPO / "docs" / "screenshots" / "playground_cold_preview.png"))
        page.locator(f"{LIVE} .wiseft-verdict").first.wait_for(timeout=STEP_MS * 3)
        page.wait_for_selector(f'{LIVE}[data-pending="0"]', timeout=STEP_MS * 3)
        assert page.locator(PREVIEW).count() == 0
        assert page.locator(f"{LIVE} input[type=range]").is_enabled()
        assert page.locator(f"{LIVE} .wiseft-verdict").all_inner_texts() == stored
        assert stored[0].startswith("Prediction at α = 0.5: ") and len(stored) == 2
        context.close()
