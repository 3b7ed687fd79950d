"""The inspection views in a real browser: Flips, Landscape and the Playground's saliency filmstrip.

Same harness as test_browser_e2e.py (`streamlit run app.py` on 127.0.0.1, Playwright + Debian's
Chromium); each view's screenshot goes to docs/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from app_pair import APP, REPO, server_app_args, streamlit_server
from test_browser_e2e import screenshot, wait_idle

from wiseft_core.demo.assets import DEMO_INSPECTION, FLIPS_FILE, LANDSCAPE_CSV

pytestmark = [pytest.mark.browser, pytest.mark.slow]
INSPECTION = DEMO_INSPECTION
FIRST_RUN_MS = 240_000  # first script run imports torch, open_clip and grad-cam (scikit-learn): slow on a busy CPU


@pytest.fixture(scope="module")
def server(app_pair, tmp_path_factory):
    log = tmp_path_factory.mktemp("streamlit_inspection") / "server.log"
    with streamlit_server(APP, log, server_app_args(app_pair)) as base:
        yield base


@pytest.mark.skipif(not (INSPECTION / FLIPS_FILE).is_file(), reason="demo inspection assets not built")
def test_flips_page_counts_groups_and_links_thumbnails_to_the_playground(server, page):
    page.goto(f"{server}/flips?alpha=0.5")
    page.get_by_role("heading", name="Which images flip").wait_for(timeout=FIRST_RUN_MS)
    page.get_by_text("rescued").first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    wait_idle(page)
    for name in ("both right", "only zero-shot right", "only fine-tuned right", "both wrong", "lost"):
        assert page.get_by_text(name).first.is_visible()
    link = page.get_by_role("link", name=re.compile(r"^#\d+$")).first
    assert "page=playground" in link.get_attribute("href") and "image=demo%3A" in link.get_attribute("href")
    screenshot(page, "flips.png")


@pytest.mark.skipif(not (INSPECTION / LANDSCAPE_CSV).is_file(), reason="demo inspection assets not built")
def test_landscape_page_plots_each_path_with_its_barrier(server, page):
    page.goto(f"{server}/landscape")
    page.get_by_role("heading", name="The landscape between the weights").wait_for(timeout=FIRST_RUN_MS)
    page.locator(".js-plotly-plot").first.wait_for()
    wait_idle(page)
    assert page.get_by_text(re.compile(r"zero-shot to fine-tuned \(barrier [0-9.]+\)")).first.is_visible()
    screenshot(page, "landscape.png")


@pytest.fixture(scope="module")
def filmstrip_server(app_pair, tmp_path_factory):
    log = tmp_path_factory.mktemp("streamlit_filmstrip") / "server.log"
    with streamlit_server(REPO / "tests" / "browser" / "filmstrip_page.py", log, list(app_pair)) as base:
        yield base


def test_filmstrip_fragment_shows_overlays_at_the_five_alphas_and_the_current_one(filmstrip_server, page):
    page.goto(filmstrip_server)
    page.get_by_role("heading", name="Filmstrip").wait_for(timeout=FIRST_RUN_MS)
    page.get_by_text("Where the model looks (saliency filmstrip)").first.click()
    page.get_by_text(re.compile(r"^Where θ\(α\) looks: shape 1")).first.wait_for(timeout=FIRST_RUN_MS)
    wait_idle(page)
    for alpha in ("0", "0.25", "0.4", "0.5", "0.75", "1"):
        assert page.get_by_text(re.compile(rf"α = {re.escape(alpha)}: ")).first.is_visible()
    page.wait_for_function("document.querySelectorAll('[data-testid=\"stImage\"] img').length >= 12")  # 2 x 6 frames
    screenshot(page, "filmstrip.png")


def test_playground_filmstrip_shows_overlays_at_five_alphas(server, page):
    page.goto(f"{server}/playground?alpha=0.5")
    page.get_by_role("heading", name="Playground").wait_for()
    wait_idle(page)
    toggle = page.get_by_text("Where the model looks (saliency filmstrip)").first
    toggle.wait_for()  # drawn by the prediction fragment, after the first answer
    toggle.click()
    page.get_by_text(re.compile(r"^Where θ\(α\) looks: ")).first.wait_for()
    wait_idle(page)
    for alpha in ("0", "0.25", "0.5", "0.75", "1"):
        assert page.get_by_text(re.compile(rf"α = {re.escape(alpha)}: ")).first.is_visible()
    page.get_by_text(re.compile(r"^Where θ\(α\) looks: ")).first.scroll_into_view_if_needed()
    screenshot(page, "playground_filmstrip.png")
