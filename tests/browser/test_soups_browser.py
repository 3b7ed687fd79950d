"""The Soups page in a real browser: the plane's heatmap renders (same harness as test_browser_e2e.py)."""

from __future__ import annotations

import pytest
from app_pair import APP, server_app_args, streamlit_server
from test_browser_e2e import screenshot, wait_idle

from wiseft_core.demo.assets import DEMO_DIR
from wiseft_core.demo.soups import PLANE_CSV, SUBDIR

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIRST_RUN_MS = 240_000  # the first script run imports torch and open_clip: slow on a busy CPU


@pytest.fixture(scope="module")
def server(app_pair, tmp_path_factory):
    log = tmp_path_factory.mktemp("streamlit_soups") / "server.log"
    with streamlit_server(APP, log, server_app_args(app_pair)) as base:
        yield base


@pytest.mark.skipif(not (DEMO_DIR / SUBDIR / PLANE_CSV).is_file(), reason="demo soups not built")
def test_soups_page_draws_the_plane_heatmap_with_the_models_marked(server, page):
    page.goto(f"{server}/soups")
    page.get_by_role("heading", name="Model soups: averaging many fine-tunes").wait_for(timeout=FIRST_RUN_MS)
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(timeout=FIRST_RUN_MS)
    wait_idle(page)
    plot = page.locator(".js-plotly-plot").first
    assert plot.locator(".heatmaplayer image").count() >= 1  # zsmooth heatmaps are drawn as one image
    assert plot.get_by_text("uniform soup of θ₁, θ₂").first.is_visible()
    assert page.get_by_text("of 5 right").first.is_visible()
    screenshot(page, "soups.png")
