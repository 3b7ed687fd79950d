"""The Talk in a real browser: keyboard walk at 1920x1080 and 1280x720 with no scrolling, large text and no
chart text cut off (optional steps shown, as a teacher's plan would),
URL state, the clicker after the alpha slider, the presenter view (drives the talk, needs the secret),
Russian without English left, and the exported HTML opened from file:// with the network blocked.

Playwright drives Debian's Chromium against `streamlit run app.py`. Screenshots of every step go to
docs/screenshots/talk/. Under CI=true a missing browser fails instead of skipping.
"""

from __future__ import annotations

import json
import re

import pytest
from app_pair import (
    APP,
    REPO,
    server_app_args,
    streamlit_server,
)

from wiseft_core.talk import load_texts
from wiseft_core.talk.slides import OPTIONAL_STEP_IDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = REPO / "docs" / "screenshots" / "talk"
MIN_BODY_PX = 24
MIN_CODE_PX = 16  # code listings are set at 0.72x the body size
STEP_MS = 120_000
NEXT_KEYS = ["ArrowRight", "PageDown", "Space"]
IDLE_JS = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
           " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')")
# Smallest font of visible text (code separately), and how far content reaches past the screen.
MEASURE_JS = """(root) => {
  const box = document.querySelector(root);
  let body = 999, code = 999, where = "";
  for (const el of box.querySelectorAll("*")) {
    if (el.closest("svg") || el.closest(".notes")) continue;
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    const r = el.getBoundingClientRect();
    if (!own || !r.width || !r.height) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (el.closest("pre")) { code = Math.min(code, size); continue; }
    if (size < body) { body = size; where = el.tagName + ": " + el.textContent.trim().slice(0, 40); }
  }
  let bottom = 0, right = 0;
  for (const el of box.querySelectorAll("*")) {
    if (el.closest(".notes")) continue;
    const r = el.getBoundingClientRect();
    if (r.width && r.height) { bottom = Math.max(bottom, r.bottom); right = Math.max(right, r.right); }
  }
  // A chart's own text (tick labels, titles, legend, annotations) drawn past the chart's box is cut off there.
  const clipped = [];
  for (const plot of box.querySelectorAll(".plot")) {
    const p = plot.getBoundingClientRect();
    for (const text of plot.querySelectorAll(".main-svg text")) {
      const r = text.getBoundingClientRect();
      if (!r.width || !text.textContent.trim()) continue;
      if (r.left < p.left - 1 || r.right > p.right + 1 || r.top < p.top - 1 || r.bottom > p.bottom + 1)
        clipped.push(text.textContent.trim().slice(0, 40));
    }
  }
  const main = document.querySelector('[data-testid="stMain"]') || document.scrollingElement;
  return {body, code, where, bottom, right, clipped, width: innerWidth, height: innerHeight,
          scroll: [main.scrollHeight - main.clientHeight, main.scrollWidth - main.clientWidth,
                   document.scrollingElement.scrollHeight - innerHeight]};
}"""


@pytest.fixture(scope="module")
def every_step(tmp_path_factory):
    """A teacher's plan that shows the optional steps too: every size test below covers them."""
    plan = tmp_path_factory.mktemp("talk_plan") / "plan.json"
    plan.write_text(json.dumps({"show": list(OPTIONAL_STEP_IDS)}), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WISEFT_TALK_PLAN", str(plan))  # the server inherits it
        load_texts.cache_clear()
        yield
    load_texts.cache_clear()


@pytest.fixture(scope="module")
def server(every_step, app_pair, tmp_path_factory):
    log = tmp_path_factory.mktemp("streamlit_talk") / "server.log"
    with streamlit_server(APP, log, server_app_args(app_pair)) as base:
        yield base


def new_page(browser, size: tuple[int, int]):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    return context, page


def wait_idle(page) -> None:
    page.wait_for_timeout(400)
    page.wait_for_function(IDLE_JS, timeout=STEP_MS)
    page.wait_for_timeout(600)


def fits(m: dict) -> bool:
    return (m["scroll"] == [0, 0, 0] and m["bottom"] <= m["height"] + 1 and m["right"] <= m["width"] + 1
            and not m["clipped"])


def assert_fits(page, root: str, label: str) -> None:
    """No scrollbar, nothing off screen, text large enough; layout gets a few seconds to settle (charts resize)."""
    for _ in range(20):
        m = page.evaluate(MEASURE_JS, root)
        if fits(m):
            break
        page.wait_for_timeout(500)
    assert m["scroll"] == [0, 0, 0], (label, "scrollbar", m)
    assert m["bottom"] <= m["height"] + 1 and m["right"] <= m["width"] + 1, (label, "content off screen", m)
    assert not m["clipped"], (label, "chart text cut off at its chart's edge", m["clipped"])
    assert m["body"] >= MIN_BODY_PX, (label, "small text", m)
    assert m["code"] >= MIN_CODE_PX, (label, "small code", m)


TITLE_JS = "() => { const h = document.querySelector('.wiseft-deck .slide.active h1'); return h && h.textContent; }"
DRAWN_JS = ("() => Array.from(document.querySelectorAll('.wiseft-deck .slide.active .plot'))"
            ".every(p => p.querySelector('.main-svg'))")
# Latin words a Russian slide may keep: names of models, data sets, methods and people, units of maths.
LATIN_OK = {"zero", "shot", "wise", "ft", "clip", "vit", "px", "imagenet", "imagenetv", "sketch", "objectnet", "objnet",
            "in", "v2", "imagenetv2", "pytorch", "top", "frankle", "et", "al", "lerp", "torch",
            "deng", "recht", "wang", "hendrycks", "barbu", "b"}  # b: ViT-B/32, ViT-B/16


def step_of(texts, step_id: str) -> int:
    return [s.id for s in texts.steps].index(step_id) + 1


def show_step(page, texts, step: int) -> None:
    """The deck shows ``step``: its heading painted, its figures drawn, the URL updated."""
    title = texts.steps[step - 1].title
    page.wait_for_function(f"() => ({TITLE_JS})() === {title!r}")
    page.wait_for_function(f"window.talkReady === {step}")
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('step') === '{step}'")
    page.wait_for_function(DRAWN_JS)


def open_deck(page, url: str, texts, step: int) -> None:
    page.goto(url)
    show_step(page, texts, step)


@pytest.mark.parametrize("size,lang", [((1920, 1080), "en"), ((1280, 720), "en"), ((1280, 720), "ru"),
                                       ((1920, 1080), "ru")],
                         ids=["1920x1080-en", "1280x720-en", "1280x720-ru", "1920x1080-ru"])
def test_keyboard_walks_every_step_without_scrolling_and_with_large_text(server, browser, size, lang):
    texts = load_texts(lang)
    context, page = new_page(browser, size)
    open_deck(page, f"{server}/talk?step=1&lang={lang}", texts, 1)
    for step in range(1, len(texts.steps) + 1):
        if step > 1:
            page.keyboard.press(NEXT_KEYS[step % len(NEXT_KEYS)])
            show_step(page, texts, step)
        assert f"step={step}" in page.url and f"lang={lang}" in page.url
        assert_fits(page, ".wiseft-deck .slide.active", f"{lang} {size} step {step}")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{lang}_{size[0]}x{size[1]}_step{step:02d}.png"))
    page.keyboard.press("ArrowLeft")
    show_step(page, texts, len(texts.steps) - 1)
    page.keyboard.press("PageUp")
    show_step(page, texts, len(texts.steps) - 2)
    page.keyboard.press("Home")
    show_step(page, texts, 1)
    page.keyboard.press("End")
    show_step(page, texts, len(texts.steps))
    context.close()


def vote_on_a_phone(context, server: str, room: str, clicks: int) -> None:
    """One student (a page of its own: a session of its own) moves the poll's slider from 0.5 and sends it."""
    phone = context.new_page()
    phone.set_default_timeout(STEP_MS)
    phone.goto(f"{server}/?page=audience&room={room}&lang=en")
    thumb = phone.locator('[data-testid="stForm"] input[type="range"]').first
    thumb.focus()
    for _ in range(abs(clicks)):
        phone.keyboard.press("ArrowRight" if clicks > 0 else "ArrowLeft")
    want = f"{0.5 + 0.05 * clicks:g}"
    phone.locator(f'[data-testid="stForm"] input[aria-valuetext="{want}"]').wait_for(state="attached")
    phone.get_by_role("button", name="Send my answer").click()
    phone.get_by_text(f"Your answer: α = {want}.").wait_for()
    phone.close()


POLL_Y_JS = ("() => { const p = document.querySelector('.wiseft-deck .slide.active .plot');"
             " return p && p.data ? p.data[0].y.join(',') : ''; }")


@pytest.mark.parametrize("size,lang", [((1280, 720), "en"), ((1920, 1080), "ru")], ids=["1280x720-en", "1920x1080-ru"])
def test_the_poll_step_draws_the_rooms_answers_as_they_arrive(server, browser, size, lang):
    from wiseft_core.serve.audience import POLL_ALPHAS

    texts = load_texts(lang)
    poll, room = step_of(texts, "poll"), f"poll{lang}"
    context, page = new_page(browser, size)
    open_deck(page, f"{server}/talk?step={poll}&lang={lang}&room={room}", texts, poll)
    assert page.evaluate(POLL_Y_JS) == ",".join(["0"] * len(POLL_ALPHAS))
    phones = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    for clicks in (-3, -3, 2):  # answers 0.35, 0.35 and 0.6
        vote_on_a_phone(phones, server, room, clicks)
    expected = [{0.35: 2, 0.6: 1}.get(a, 0) for a in POLL_ALPHAS]
    page.wait_for_function(f"() => ({POLL_Y_JS})() === {','.join(map(str, expected))!r}", timeout=15_000)
    page.get_by_text(texts.labels["poll_answers"].format(n=3)).wait_for()
    assert_fits(page, ".wiseft-deck .slide.active", f"poll with answers {lang} {size}")
    page.screenshot(path=str(SCREENSHOTS / f"{lang}_{size[0]}x{size[1]}_poll_answers.png"))
    phones.close()
    context.close()


def test_a_reload_returns_to_the_same_screen(server, browser):
    texts = load_texts("ru")
    context, page = new_page(browser, (1280, 720))
    open_deck(page, f"{server}/?page=talk&step=5&alpha=0.5&lang=ru", texts, 5)
    page.keyboard.press("PageDown")
    show_step(page, texts, 6)
    page.reload()
    show_step(page, texts, 6)
    assert re.search(r"step=6", page.url) and "lang=ru" in page.url and "alpha=0.5" in page.url
    context.close()


def test_a_clicker_still_advances_after_the_presenter_touched_the_alpha_slider(server, browser):
    texts = load_texts("en")
    live = step_of(texts, "live")
    context, page = new_page(browser, (1280, 720))
    open_deck(page, f"{server}/talk?step={live}&alpha=0.5", texts, live)
    slider = page.locator(".wiseft-deck .slide.active .deck-range")
    readout = page.locator(".wiseft-deck .slide.active .deck-range-value")
    slider.click()  # the thumb sits in the middle: a click there keeps 0.5 and gives the slider focus
    assert page.evaluate("document.activeElement.classList.contains('deck-range')")
    page.keyboard.press("ArrowRight")  # held on purpose: ←/→ on a focused slider move alpha
    readout.filter(has_text="α = 0.55").wait_for()
    assert page.evaluate(TITLE_JS) == texts.steps[live - 1].title
    page.keyboard.press("PageDown")  # what a clicker sends: the next step, whatever has focus
    show_step(page, texts, live + 1)
    page.keyboard.press("PageUp")
    show_step(page, texts, live)
    slider.focus()
    page.keyboard.press("Escape")  # releases the slider
    assert not page.evaluate("document.activeElement.classList.contains('deck-range')")
    page.keyboard.press("ArrowRight")
    show_step(page, texts, live + 1)
    page.wait_for_function("() => new URLSearchParams(location.search).get('alpha') === '0.55'")
    context.close()


def test_the_presenter_view_follows_and_drives_the_projected_tab_and_needs_the_secret(server, browser):
    texts = load_texts("en")
    context, page = new_page(browser, (1280, 720))
    open_deck(page, f"{server}/talk?step=2&room=brw1", texts, 2)
    page.wait_for_function("() => !!window.wiseftTalkNotesUrl")
    with context.expect_page() as popup:
        page.keyboard.press("n")
    notes = popup.value
    notes.set_default_timeout(STEP_MS)
    notes.get_by_text(f"2 / {len(texts.steps)} · {texts.steps[1].title}").wait_for()
    notes.get_by_text(texts.steps[2].title).first.wait_for()  # the next step's preview
    page.keyboard.press("ArrowRight")
    show_step(page, texts, 3)
    notes.get_by_text(f"3 / {len(texts.steps)} · {texts.steps[2].title}").wait_for(timeout=15_000)
    notes.get_by_role("button", name=f"{texts.ui['next']} →").click()  # the presenter view drives the talk
    show_step(page, texts, 4)
    notes.get_by_text(f"4 / {len(texts.steps)} · {texts.steps[3].title}").wait_for(timeout=15_000)
    notes.get_by_text(re.compile(r"⏱ \d\d:\d\d")).first.wait_for()
    stranger = context.new_page()  # the same room without the presenter's key: nothing to see or press
    stranger.goto(f"{server}/talk?view=notes&room=brw1")
    stranger.get_by_text(texts.ui["notes_locked"]).wait_for()
    assert stranger.get_by_text(texts.steps[3].title).count() == 0
    assert stranger.get_by_role("button", name=f"{texts.ui['next']} →").count() == 0
    context.close()


def test_the_russian_talk_has_no_english_left_on_its_steps(server, browser):
    texts = load_texts("ru")
    context, page = new_page(browser, (1280, 720))
    open_deck(page, f"{server}/talk?step=1&lang=ru", texts, 1)
    skip = {"title", "method", "code", "sources"}  # authors, code and references stay as published
    left = {}
    for step in range(1, len(texts.steps) + 1):
        if step > 1:
            page.keyboard.press("PageDown")
            show_step(page, texts, step)
        if texts.steps[step - 1].id in skip:
            continue
        text = page.evaluate("() => document.querySelector('.wiseft-deck .slide.active').innerText + ' ' + "
                             "Array.from(document.querySelectorAll('.wiseft-deck .slide.active svg text'))"
                             ".map(t => t.textContent).join(' ')")
        words = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", text) if w.lower() not in LATIN_OK}
        words -= {"PageDown", "PageUp", "Home", "End", "N", "A", "R", "L", "IN", "V2"}
        if words:
            left[texts.steps[step - 1].id] = sorted(words)
    assert not left, left
    context.close()


@pytest.fixture(scope="module")
def exported_html(every_step, app_pair, tmp_path_factory):
    """The whole talk exported by the library from the same pair the app runs on."""
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.talk import TalkState, build_talk
    from wiseft_core.talk.data import build_talk_data, default_sweep
    from wiseft_core.talk.deck import live_of
    from wiseft_core.talk.export import talk_html

    texts = load_texts("en")
    pair = load_pair(*app_pair)
    data = build_talk_data(pair, *default_sweep(app_pair[0]))
    slides = build_talk(data, texts)
    path = tmp_path_factory.mktemp("talk_export") / "talk_en.html"
    path.write_text(talk_html(slides, texts, live_of(slides, data, texts, TalkState())), encoding="utf-8")
    return path


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720)], ids=["1920x1080", "1280x720"])
def test_the_exported_html_works_offline_from_file_with_the_network_blocked(browser, exported_html, size):
    texts = load_texts("en")
    context, page = new_page(browser, size)
    asked = []

    def block(route):
        if route.request.url.startswith("file:") or route.request.url == "about:blank":
            return route.continue_()
        asked.append(route.request.url)
        return route.abort()

    context.route("**/*", block)
    context.set_offline(True)
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(exported_html.as_uri())
    for step in range(1, len(texts.steps) + 1):
        if step > 1:
            page.keyboard.press(NEXT_KEYS[step % len(NEXT_KEYS)])
        page.wait_for_function(f"window.talkReady === {step}")
        active = page.locator(".slide.active")
        assert active.locator("h1").inner_text() == texts.steps[step - 1].title
        assert active.locator(".plot").count() == active.locator(".plot:has(.main-svg)").count()  # all drawn
        assert_fits(page, ".slide.active", f"export {size} step {step}")
        assert page.url.endswith(f"#{step}")
    with context.expect_page() as popup:  # N: the presenter view in its own window, not on the slide
        page.keyboard.press("n")
    notes = popup.value
    notes.locator(".pv-title").filter(has_text=texts.steps[-1].title).wait_for()
    notes.get_by_role("button", name=f"← {texts.ui['previous']}").click()
    page.wait_for_function(f"window.talkReady === {len(texts.steps) - 1}")
    page.keyboard.press("Home")
    page.wait_for_function("window.talkReady === 1")
    assert asked == [] and errors == []
    context.close()
