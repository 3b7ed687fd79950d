"""Curves and Landscape in Russian in a real browser: the charts' words are Russian and none is cut off.

Same harness as test_browser_e2e.py; saves docs/screenshots/curves_ru.png and landscape_ru.png.
"""

from __future__ import annotations

import pytest
from app_pair import APP, server_app_args, streamlit_server
from test_browser_e2e import screenshot, wait_idle

from wiseft_core.demo.assets import DEMO_LANDSCAPE, DEMO_SWEEP
from wiseft_core.serve.i18n import translate

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIRST_RUN_MS = 240_000  # a cold server imports torch and open_clip
# Every text Plotly draws (axis and panel titles, legend, annotations) and whether it lies inside its chart.
CUT_OFF_TEXTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(plot => {
    const box = plot.getBoundingClientRect();
    return Array.from(plot.querySelectorAll('.xtitle, .ytitle, .y2title, .legendtext, .annotation-text, .gtitle'))
        .filter(text => text.textContent.trim())
        .filter(text => {
            const r = text.getBoundingClientRect();
            return r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1;
        })
        .map(text => text.textContent);
})"""


@pytest.fixture(scope="module")
def server(app_pair, tmp_path_factory):
    log = tmp_path_factory.mktemp("streamlit_plots_ru") / "server.log"
    with streamlit_server(APP, log, server_app_args(app_pair)) as base:
        yield base


def chart_words(page) -> str:
    return " ".join(page.locator(".js-plotly-plot .main-svg").all_text_contents())


@pytest.mark.skipif(not DEMO_SWEEP.is_file(), reason="demo sweep not built")
@pytest.mark.parametrize("width", [1280, 1024])
def test_curves_in_russian_draw_russian_axis_titles_and_legend_none_cut_off(server, page, width):
    page.set_viewport_size({"width": width, "height": 1300})  # tall enough for the whole chart in the screenshot
    page.goto(f"{server}/curves?lang=ru&alpha=0.5")
    page.get_by_role("heading", name=translate("ru", "curves.title")).wait_for(timeout=FIRST_RUN_MS)
    page.locator(".js-plotly-plot .legendtext").first.wait_for()
    wait_idle(page)
    words = chart_words(page)
    for text in ("Точность на исходном распределении (%)", "Средняя точность на сдвигах (%)", "текущий α",
                 "демо-мир · demo-clip · дообучение всей модели · веса"):
        assert text in words
    assert page.evaluate(CUT_OFF_TEXTS) == []  # the seeds' note made a legend entry too wide at 1024 px once
    if width == 1280:
        screenshot(page, "curves_ru.png")


@pytest.mark.skipif(not DEMO_LANDSCAPE.is_file(), reason="demo inspection assets not built")
def test_landscape_in_russian_names_paths_and_barriers_in_russian_none_cut_off(server, page):
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.goto(f"{server}/landscape?lang=ru&alpha=0.5")
    page.locator(".js-plotly-plot .legendtext").first.wait_for(timeout=FIRST_RUN_MS)
    wait_idle(page)
    words = chart_words(page)
    for text in ("средняя кросс-энтропия", "точность top-1 (%)", "α (0 — zero-shot, 1 — дообученная)",
                 "от zero-shot к дообученной (барьер "):
        assert text in words
    assert page.evaluate(CUT_OFF_TEXTS) == []
    screenshot(page, "landscape_ru.png")
