"""End to end in a real browser: `streamlit run app.py` on 127.0.0.1, driven by Playwright + Debian's Chromium.

Opens each page, moves the alpha slider with the keyboard, uploads an image with `set_input_files`,
checks that the shown prediction changes, and saves a screenshot of each page to docs/screenshots/.
Under CI=true a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import re

import pytest
from app_pair import (
    APP,
    REPO,
    png_bytes,
    server_app_args,
    streamlit_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = REPO / "docs" / "screenshots"
STEP_MS = 60_000


@pytest.fixture(scope="module")
def server(app_pair, tmp_path_factory):
    """A real `streamlit run app.py` (the demo pair when present, else the generated pair via launch options)."""
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with streamlit_server(APP, log, server_app_args(app_pair)) as base:
        yield base


def wait_idle(page) -> None:
    """Wait until Streamlit has finished running (its status widget shows no "Running")."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=STEP_MS)
    page.wait_for_timeout(300)


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def uploaded_prediction(page) -> str:
    """The prediction line of the uploaded image (its card comes first on the page)."""
    line = page.get_by_text(re.compile(r"^Prediction at α = ")).first
    line.wait_for()
    return re.sub(r"^Prediction at α = [-0-9.]+: ", "", line.inner_text())


def test_home_page_shows_the_paper_headline(server, page):
    page.goto(server)
    page.get_by_role("heading", name="WiSE-FT Explorer").wait_for(timeout=STEP_MS * 3)  # a cold server
    page.locator(".js-plotly-plot").first.wait_for()
    wait_idle(page)
    assert page.get_by_text("Model pair").first.is_visible()
    screenshot(page, "home.png")


def test_the_app_requests_nothing_outside_its_own_server_so_it_works_in_an_offline_room(server, browser):
    """A seminar room may have no internet: the favicon, fonts and scripts all come from the app itself."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    outside = []
    context.on("request", lambda request: outside.append(request.url)
               if not request.url.startswith((server, "data:", "blob:")) else None)
    page = context.new_page()
    page.set_default_timeout(STEP_MS * 3)
    page.goto(f"{server}/playground?alpha=0.3")
    page.locator(".wiseft-verdict").first.wait_for()
    page.goto(f"{server}/curves")
    page.locator(".js-plotly-plot").first.wait_for()
    wait_idle(page)
    context.close()
    assert outside == []


def test_playground_keyboard_slider_and_upload_change_the_prediction(server, page, tmp_path):
    image = tmp_path / "uploaded_shape.png"
    image.write_bytes(png_bytes())
    page.goto(f"{server}/playground?alpha=0")
    page.get_by_role("heading", name="Playground").wait_for()
    wait_idle(page)
    page.get_by_role("tab", name="Upload").click()
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Upload images")
    uploader.locator("input[type=file]").set_input_files(str(image))
    page.get_by_text("uploaded_shape.png").first.wait_for()
    wait_idle(page)
    at_zero = uploaded_prediction(page)
    assert page.get_by_text(re.compile(r"^Prediction at α = 0:")).first.is_visible()

    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("End")  # keyboard: jump to alpha = 1
    page.get_by_text(re.compile(r"^Prediction at α = 1:")).first.wait_for()
    wait_idle(page)
    at_one = uploaded_prediction(page)
    assert at_one != at_zero
    assert "alpha=1" in page.url

    slider.focus()
    for _ in range(10):  # ten steps of 0.05 back: alpha = 0.5
        slider.press("ArrowLeft")
    page.get_by_text(re.compile(r"^Prediction at α = 0.5:")).first.wait_for()
    # ten releases, ten fragment reruns: the last one (alpha 0.5) must be what the server keeps in the URL
    page.wait_for_function("() => window.location.search.includes('alpha=0.5&') "
                           "|| window.location.search.endsWith('alpha=0.5')", timeout=STEP_MS)
    wait_idle(page)
    page.wait_for_timeout(1500)  # any rerun still queued would have rewritten it by now
    assert "alpha=0.5" in page.url
    assert page.get_by_text(re.compile(r"^Prediction at α = 0.5:")).first.is_visible()
    page.get_by_role("tab", name="Gallery").click()
    wait_idle(page)
    screenshot(page, "playground.png")


def test_at_1280x720_the_playground_shows_the_slider_and_the_first_prediction_without_scrolling(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    page.goto(f"{server}/playground?alpha=0.55")
    verdict = page.locator('.wiseft-live[data-preview="0"] .wiseft-verdict').first  # the live page, not a preview
    verdict.wait_for()
    slider = page.locator('input[type="range"]').first
    for element in (slider, verdict):
        box = element.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720, box
    assert re.match(r"^Prediction at α = 0\.55: .+ \(\d+%\)", verdict.inner_text())
    context.close()


def test_dragging_the_thumb_paints_intermediate_alphas_and_matches_the_server_at_release(server, page):
    page.goto(f"{server}/playground?alpha=0")
    page.wait_for_selector('.wiseft-live[data-pending="0"]', timeout=STEP_MS * 3)
    wait_idle(page)
    slider = page.locator('input[type="range"]').first
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.evaluate("""() => { window.__seen = new Set(); window.__sampling = true;
        const look = () => {
          for (const m of document.body.innerText.matchAll(/Prediction at α = (-?[0-9.]+):/g)) window.__seen.add(m[1]);
          if (window.__sampling) requestAnimationFrame(look);
        };
        requestAnimationFrame(look); }""")
    for k in range(1, 21):  # across [0, 1] in about one second
        page.mouse.move(box["x"] + 2 + (box["width"] - 4) * k / 20, y)
        page.wait_for_timeout(50)
    page.evaluate("() => { window.__sampling = false; }")
    page.mouse.up()
    seen = page.evaluate("() => [...window.__seen]")
    assert len(seen) >= 10, seen  # painted while moving, not only at the release point
    page.wait_for_function("() => document.querySelector('[data-wiseft-shown][data-alpha=\"1\"]')")
    assert "alpha=1" in page.url
    # what the browser drew from the grid at alpha 1 is what the server computed there
    drawn = page.locator(".wiseft-verdict").first.inner_text()
    probs = page.evaluate("() => JSON.parse(document.querySelector('[data-wiseft-shown]').dataset.probs)")
    assert drawn.endswith(f"({max(probs):.0%})") or f"({max(probs):.0%})" in drawn


def test_curves_page_plots_and_marks_the_alpha(server, page):
    page.goto(server)
    page.get_by_role("link", name="Curves").first.click()
    page.get_by_role("heading", name="Accuracy vs robustness curves").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    wait_idle(page)
    assert page.get_by_text(re.compile("★ marks α = ")).first.is_visible()
    screenshot(page, "curves.png")


def test_weights_page_shows_the_per_block_chart(server, page):
    page.goto(f"{server}/weights")
    page.get_by_role("heading", name="What fine-tuning changed").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    wait_idle(page)
    screenshot(page, "weights.png")
