"""The Talk page through Streamlit's AppTest: every step in both languages, URL state, live alpha, notes tab."""

from __future__ import annotations

import html
import re

import pytest
from app_pair import APP
from streamlit.testing.v1 import AppTest

from wiseft_core.demo import assets
from wiseft_core.talk import STEP_COUNT, html_text, load_texts

TIMEOUT = 300


def open_talk(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "talk"
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def html_texts(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def shown_title(at: AppTest, lang: str) -> str:
    """The step title the page shows, as the viewer reads it."""
    return html.unescape(re.search(r'class="talk-h1">(.*?)</div>', html_texts(at)).group(1))


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.usefixtures("app_argv")
def test_every_step_renders_in_both_languages_when_walked_with_the_next_button(lang):
    texts = load_texts(lang)
    at = open_talk(lang=lang, step="1")
    for step in range(1, STEP_COUNT + 1):
        if step > 1:
            at.button(key="talk_next").click().run()
            assert not at.exception, (step, at.exception)
        assert shown_title(at, lang) == texts.steps[step - 1].title
        assert at.query_params["step"] == str(step) and at.query_params["lang"] == lang
        assert any(m.value == f"{texts.ui['step']} {step} / {STEP_COUNT}" for m in at.markdown)
        first_line = re.sub(r"^(- |\d+\. )", "", (texts.steps[step - 1].body or ("",))[0])
        if first_line and "{" not in first_line:
            assert html_text.inline(first_line) in html_texts(at)
    assert at.button(key="talk_next").disabled
    at.button(key="talk_prev").click().run()
    assert at.query_params["step"] == "11"


@pytest.mark.usefixtures("app_argv")
def test_a_bookmarked_url_returns_to_the_same_step_alpha_and_language():
    at = open_talk(step="5", alpha="0.3", lang="ru", presenter="Анна")
    assert shown_title(at, "ru") == load_texts("ru").steps[4].title
    assert at.select_slider(key="talk_alpha").value == pytest.approx(0.3)
    assert "α = 0.3" in str([c.proto.spec for c in at.get("plotly_chart")])
    assert at.query_params["alpha"] == "0.3" and at.query_params["presenter"] == "Анна"
    at.select_slider(key="talk_alpha").set_value(0.8).run()
    assert at.query_params["alpha"] == "0.8"
    assert "α = 0.8" in str([c.proto.spec for c in at.get("plotly_chart")])


@pytest.mark.usefixtures("app_argv")
def test_out_of_range_steps_and_unknown_languages_fall_back_instead_of_failing():
    at = open_talk(step="99", lang="xx")
    assert shown_title(at, "en") == load_texts("en").steps[-1].title
    assert at.query_params["step"] == "12" and at.query_params["lang"] == "en"


@pytest.mark.usefixtures("app_argv")
def test_switching_the_language_in_the_sidebar_keeps_the_step():
    at = open_talk(step="7")
    at.sidebar.radio(key="talk_lang").set_value("ru").run()
    assert shown_title(at, "ru") == load_texts("ru").steps[6].title
    assert at.query_params["step"] == "7"


@pytest.mark.usefixtures("app_argv")
def test_the_notes_tab_follows_the_presenting_tab_through_its_room():
    main = open_talk(step="3", room="r42")
    notes = open_talk(view="notes", room="r42")
    texts = load_texts("en")
    assert any(f"3 / {STEP_COUNT} · {texts.steps[2].title}" in m.value for m in notes.markdown)
    assert texts.steps[2].notes[0] in html_texts(notes)
    assert any(texts.steps[3].title in m.value for m in notes.markdown)  # the next step
    main.button(key="talk_next").click().run()
    notes.run()
    assert any(f"4 / {STEP_COUNT} · {texts.steps[3].title}" in m.value for m in notes.markdown)
    assert any("00:0" in m.value for m in notes.markdown)  # the timer


@pytest.mark.usefixtures("app_argv")
def test_the_sidebar_offers_the_whole_talk_as_one_html_file():
    at = open_talk(step="2")
    assert any(b.proto.label == load_texts("en").ui["download_html"] for b in at.sidebar.get("download_button"))


@pytest.mark.slow
@pytest.mark.skipif(not assets.demo_pair_available(), reason="needs the demo pair's sweep to upload")
@pytest.mark.usefixtures("app_argv")
def test_a_loaded_pair_without_a_sweep_shows_the_paper_then_its_own_sweep_once_uploaded(tmp_path, monkeypatch):
    import sys

    from wiseft_core import testing

    zeroshot, finetuned = testing.write_random_pair(tmp_path)
    monkeypatch.setattr(sys, "argv", ["app.py", "--zeroshot", str(zeroshot), "--finetuned", str(finetuned)])
    at = open_talk(step="6")
    at.sidebar.radio(key="pair_source").set_value("files").run()
    assert not at.exception, at.exception
    texts = load_texts("en")
    assert html_text.inline(texts.ui["no_sweep"]) in html_texts(at)
    assert len(at.get("plotly_chart")) == 1  # the paper's curve only
    at.file_uploader(key="talk_sweep").set_value(("sweep.csv", assets.DEMO_SWEEP.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception
    assert html_text.inline(texts.ui["no_sweep"]) not in html_texts(at)
    assert len(at.get("plotly_chart")) == 2  # the paper's and the uploaded sweep's curves
    assert shown_title(at, "en") == texts.steps[5].title


@pytest.mark.usefixtures("app_argv")
def test_a_room_id_with_markup_from_the_url_never_reaches_the_page():
    at = open_talk(step="2", room='x"><script>alert(1)</script>')
    assert "<script>alert" not in html_texts(at)
    assert re.fullmatch(r"[a-z0-9]{1,16}", at.query_params["room"])
