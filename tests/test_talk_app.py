"""The Talk page through Streamlit's AppTest: the deck's payload in both languages, URL state, live alpha,
the room secret, and the presenter view that follows and drives the projected tab.

AppTest runs no JavaScript: these tests read what the page sends to the browser (the deck element's data)
and play the browser's part by setting the elements' state; tests/browser/ drives the real thing.
"""

from __future__ import annotations

import json
import re

import pytest
from app_pair import APP
from streamlit.testing.v1 import AppTest

from wiseft_core.demo import assets
from wiseft_core.talk import STEP_COUNT, html_text, load_texts
from wiseft_core.talk.slides import STEP_IDS

TIMEOUT = 300
SECRET = "0123456789abcdef0123456789abcdef"


def open_talk(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "talk"
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def component_data(at: AppTest, name: str) -> dict:
    """The data a Components v2 element of the page received (what its JavaScript draws)."""
    found = [e.proto for e in at.get("bidi_component") if e.proto.component_name.endswith(name)]
    assert found, f"no {name} element on the page"
    return json.loads(found[-1].json)[0]


def deck(at: AppTest) -> dict:
    return component_data(at, "wiseft_talk_deck")


def titles(payload: dict) -> list[str]:
    return [html_text.html.unescape(t) for t in re.findall(r"<h1>(.*?)</h1>", payload["html"])]


def html_texts(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def as_presenter(at: AppTest, **state) -> AppTest:
    """Play the projected tab's browser: report its secret (and a step) through the sync element."""
    at.session_state["talk_sync"] = {"secret": SECRET, **state}
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.usefixtures("app_argv")
def test_every_step_is_in_the_one_deck_in_both_languages(lang):
    texts = load_texts(lang)
    at = open_talk(lang=lang, step="3")
    payload = deck(at)
    assert titles(payload) == [s.title for s in texts.steps] and payload["lang"] == lang
    assert payload["step"] == 3 and "plotly" in payload  # plotly.js comes with the first mount only
    for step in texts.steps:
        first = re.sub(r"^(- |\d+\. )", "", (step.body or ("",))[0])
        if first and "{" not in first:
            assert html_text.inline(first) in payload["html"]
    assert at.query_params["step"] == "3" and at.query_params["lang"] == lang
    at.run()
    assert "plotly" not in deck(at)


@pytest.mark.usefixtures("app_argv")
def test_a_bookmarked_url_returns_to_the_same_step_alpha_and_language():
    at = open_talk(step="5", alpha="0.3", lang="ru", presenter="Анна", hacker="Артём")
    payload = deck(at)
    assert payload["step"] == 5
    if payload["live"]:
        live = payload["live"]
        assert live["labels"][live["active"]] == "0.3"
        assert payload["figures"][live["fig"]]["layout"]["title"]["text"] == "α = 0.3"
    assert "<strong>Анна</strong>" in payload["html"] and "<strong>Артём</strong>" in payload["html"]
    assert at.query_params["alpha"] == "0.3" and at.query_params["presenter"] == "Анна"
    at.session_state["talk_deck"] = {"alpha": 0.8}  # the presenter released the live step's slider at 0.8
    at.run()
    assert at.query_params["alpha"] == "0.8"
    if deck(at)["live"]:
        assert deck(at)["figures"][deck(at)["live"]["fig"]]["layout"]["title"]["text"] == "α = 0.8"


@pytest.mark.usefixtures("app_argv")
def test_out_of_range_steps_and_unknown_languages_fall_back_instead_of_failing():
    at = open_talk(step="99", lang="xx")
    assert deck(at)["step"] == STEP_COUNT and deck(at)["lang"] == "en"
    assert at.query_params["step"] == str(STEP_COUNT) and at.query_params["lang"] == "en"


@pytest.mark.usefixtures("app_argv")
def test_switching_the_language_in_the_sidebar_keeps_the_step():
    at = as_presenter(open_talk(step="2"), step=7)
    at.sidebar.radio(key="talk_lang").set_value("ru").run()
    assert deck(at)["lang"] == "ru" and deck(at)["step"] == 7
    assert at.query_params["step"] == "7"


@pytest.mark.usefixtures("app_argv")
def test_the_presenter_view_follows_and_drives_the_projected_tab_with_the_secret_only():
    texts = load_texts("en")
    main = as_presenter(open_talk(step="3", room="r42"))
    link = component_data(main, "wiseft_talk_sync")["notes_url"]
    assert f"key={SECRET}" in link and "room=r42" in link
    stranger = open_talk(view="notes", room="r42")
    assert texts.ui["notes_locked"] in str([w.value for w in stranger.warning])
    assert texts.steps[2].notes[0] not in html_texts(stranger)
    wrong = open_talk(view="notes", room="r42", key="f" * 32)
    assert not wrong.button and texts.ui["notes_locked"] in str([w.value for w in wrong.warning])

    notes = open_talk(view="notes", room="r42", key=SECRET)
    assert any(f"3 / {STEP_COUNT} · {texts.steps[2].title}" in m.value for m in notes.markdown)
    assert html_text.inline(texts.steps[2].notes[0]) in html_texts(notes)
    assert texts.steps[3].title in html_texts(notes)  # the next step's preview
    assert "00:00" in html_texts(notes)  # the clock waits for the talk to start
    notes.button(key="notes_next").click().run()
    main.run()
    sync = component_data(main, "wiseft_talk_sync")
    assert (sync["goto"], sync["seq"]) == (4, 1)  # the projected tab's browser shows step 4 on this
    as_presenter(main, step=4)
    notes.run()
    assert any(f"4 / {STEP_COUNT} · {texts.steps[3].title}" in m.value for m in notes.markdown)


@pytest.mark.usefixtures("app_argv")
def test_another_tab_cannot_take_over_a_claimed_room():
    as_presenter(open_talk(step="2", room="r43"))
    other = open_talk(step="9", room="r43")
    other.session_state["talk_sync"] = {"secret": "e" * 32, "step": 9}
    other.run()
    assert component_data(other, "wiseft_talk_sync")["notes_url"] == ""  # no presenter view for it
    notes = open_talk(view="notes", room="r43", key=SECRET)
    assert any(f"2 / {STEP_COUNT} ·" in m.value for m in notes.markdown)  # the room did not move


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
    curve = STEP_IDS.index("curve")
    assert html_text.inline(texts.ui["no_sweep"]) in deck(at)["html"]
    before = len(deck(at)["figures"])
    at.file_uploader(key="talk_sweep").set_value(("sweep.csv", assets.DEMO_SWEEP.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception
    assert html_text.inline(texts.ui["no_sweep"]) not in deck(at)["html"]
    assert len(deck(at)["figures"]) > before  # the uploaded sweep's own curves
    assert titles(deck(at))[curve] == texts.steps[curve].title


@pytest.mark.usefixtures("app_argv")
def test_a_room_id_with_markup_from_the_url_never_reaches_the_page():
    at = open_talk(step="2", room='x"><script>alert(1)</script>')
    assert "<script>alert" not in html_texts(at) and "<script>alert" not in deck(at)["html"]
    assert re.fullmatch(r"[a-z0-9]{1,16}", at.query_params["room"])
