"""The audience page through AppTest: ten students' phones in one server follow the presenter, then vote,
and the presenter's talk page carries their answers to its poll step."""

from __future__ import annotations

import json

import pytest
from app_pair import APP
from streamlit.testing.v1 import AppTest

from wiseft_core.serve import audience
from wiseft_core.talk import STEP_COUNT
from wiseft_core.talk.slides import STEP_IDS

STUDENTS = 10
TIMEOUT = 300


def student(room: str, lang: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "audience", "room": room, "lang": lang})
    at.run()
    assert not at.exception, at.exception
    return at


def shown_alpha(at: AppTest) -> float:
    return at.select_slider(key="aud_alpha").value


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_ten_students_follow_the_presenter_until_one_takes_over_and_their_votes_make_the_histogram():
    room = "lecture7"
    audience.publish(room, 5, 0.3, "ru")
    phones = [student(room, "ru" if i % 2 else "en") for i in range(STUDENTS)]
    for i, at in enumerate(phones):
        heading = f"Шаг 5 из {STEP_COUNT}" if i % 2 else f"Step 5 of {STEP_COUNT}"
        assert any(h.value.startswith(heading) for h in at.subheader), [h.value for h in at.subheader]
        assert shown_alpha(at) == 0.3
        assert any("0.3" in m.value and ("✓" in m.value or "✗" in m.value) for m in at.markdown)

    phones[0].select_slider(key="aud_alpha").set_value(0.85).run()  # this student takes over
    audience.publish(room, 6, 0.6, "ru")
    for at in phones:
        at.run()
    assert shown_alpha(phones[0]) == 0.85
    assert [shown_alpha(at) for at in phones[1:]] == [0.6] * (STUDENTS - 1)
    phones[0].button(key="aud_follow").click().run()
    assert shown_alpha(phones[0]) == 0.6

    answers = [0.5, 0.5, 0.5, 0.45, 0.6, 0.3, 0.5, 1.0, 0.45, 0.5]
    for at, alpha in zip(phones, answers):
        at.select_slider(key="aud_poll_alpha").set_value(alpha)
        at.button[-1].click().run()  # the form's "Send" button
        assert not at.exception, at.exception
    assert {a: n for a, n in audience.histogram(room).items() if n} == {0.3: 1, 0.45: 2, 0.5: 5, 0.6: 1, 1.0: 1}
    assert any(s.value.startswith("Ваш ответ: α = 0.5") for s in phones[1].success)

    talk = AppTest.from_file(APP, default_timeout=TIMEOUT)  # the presenter's poll step hears the same votes
    talk.query_params.update({"page": "talk", "room": room, "step": str(STEP_IDS.index("poll") + 1)})
    talk.run()
    assert not talk.exception, talk.exception
    votes = dict(zip(audience.POLL_ALPHAS, sync_data(talk)["votes"]))
    assert {a: n for a, n in votes.items() if n} == {0.3: 1, 0.45: 2, 0.5: 5, 0.6: 1, 1.0: 1}
    payload = json.loads(next(e.proto.json for e in talk.get("bidi_component")
                              if e.proto.component_name.endswith("wiseft_talk_deck")))[0]
    assert payload["poll"]["title"] == "{n} answers from the room"
    phones[2].select_slider(key="aud_poll_alpha").set_value(0.35)  # a student changes their mind
    phones[2].button[-1].click().run()
    talk.run()
    votes = dict(zip(audience.POLL_ALPHAS, sync_data(talk)["votes"]))
    assert votes[0.35] == 1 and votes[0.5] == 4 and sum(votes.values()) == STUDENTS


def sync_data(at: AppTest) -> dict:
    """What the talk page's sync element got: the room's votes per poll alpha, for the deck's poll step."""
    found = [e.proto for e in at.get("bidi_component") if e.proto.component_name.endswith("wiseft_talk_sync")]
    return json.loads(found[-1].json)[0]


@pytest.mark.usefixtures("app_argv")
def test_a_link_without_a_valid_room_explains_where_to_find_one():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "audience", "room": "../../etc", "lang": "ru"})
    at.run()
    assert not at.exception
    assert any("титульного слайда" in i.value for i in at.info)
