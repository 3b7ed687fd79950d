"""The Soups page in a real browser: the plane's heatmap renders, and a click in the triangle picks three weights
(chart clicks are invisible to AppTest). Same harness as test_browser_e2e.py."""

from __future__ import annotations

import pytest
from app_pair import APP, server_app_args, streamlit_server
from test_browser_e2e import SCREENSHOTS, screenshot, wait_idle

from wiseft_core.demo.assets import DEMO_DIR
from wiseft_core.demo.soups import PLANE_CSV, SUBDIR
from wiseft_core.plots.soups import triangle_xy

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not (DEMO_DIR / SUBDIR / PLANE_CSV).is_file(), reason="demo soups not built")]
FIRST_RUN_MS = 240_000  # the first script run imports torch and open_clip: slow on a busy CPU
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(app_pair, tmp_path_factory):
    log = tmp_path_factory.mktemp("streamlit_soups") / "server.log"
    with streamlit_server(APP, log, server_app_args(app_pair)) as base:
        yield base


TITLES = {"en": "Model soups: averaging many fine-tunes", "ru": "Супы моделей: усреднение многих дообучений"}
WEIGHTS = {"en": "Weights (θ₀, θ₁, θ₂) = (0.20, 0.30, 0.50)", "ru": "Веса (θ₀, θ₁, θ₂) = (0.20, 0.30, 0.50)"}


def open_soups(page, server, lang: str = "en") -> None:
    page.goto(f"{server}/soups?lang={lang}")
    page.get_by_role("heading", name=TITLES[lang]).wait_for(timeout=FIRST_RUN_MS)
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(timeout=FIRST_RUN_MS)
    wait_idle(page)


def click_weights(page, chart, weights) -> None:
    """Click where ``weights`` sit in the triangle, in page pixels from the chart's own axes."""
    x, y = triangle_xy(weights)
    box = chart.evaluate("(el, p) => { const L = el._fullLayout, r = el.getBoundingClientRect();"
                         " return [r.left + L._size.l + L.xaxis.l2p(p[0]), r.top + L._size.t + L.yaxis.l2p(p[1])]; }",
                         [x, y])
    page.mouse.click(box[0], box[1])


def test_soups_page_draws_the_plane_heatmap_with_the_models_marked(server, page):
    open_soups(page, server)
    plot = page.locator(".js-plotly-plot", has=page.locator(".heatmaplayer")).first
    assert plot.locator(".heatmaplayer image").count() >= 1  # zsmooth heatmaps are drawn as one image
    assert plot.get_by_text("uniform soup of θ₁, θ₂").first.is_visible()
    assert page.get_by_text("of 5 right").first.is_visible()
    screenshot(page, "soups.png")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_click_in_the_triangle_sets_the_three_weights_and_the_sliders(server, browser, lang):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        open_soups(page, server, lang)
        triangle = page.locator(".st-key-soups_triangle_plane .js-plotly-plot")
        triangle.scroll_into_view_if_needed()
        assert triangle.bounding_box()["width"] <= PHONE["width"]
        click_weights(page, triangle, (0.2, 0.3, 0.5))
        page.get_by_text(WEIGHTS[lang]).wait_for(timeout=FIRST_RUN_MS)
        wait_idle(page)
        values = [page.locator(f".st-key-soups_{axis} [data-testid='stSliderThumbValue']").inner_text()
                  for axis in "uv"]
        assert values == ["0.30", "0.50"]
        triangle.evaluate("el => el.scrollIntoView({block: 'center'})")
        name = "soups_triangle_phone.png" if lang == "en" else f"soups_triangle_phone_{lang}.png"
        page.screenshot(path=str(SCREENSHOTS / name))  # the phone's screen, not the whole page
    finally:
        context.close()
