"""wiseft_core.serve.audience: the presenter's state per room, one answer per student, the live histogram."""

from __future__ import annotations

import threading

import pytest

from wiseft_core.errors import WiseftError
from wiseft_core.serve import audience
from wiseft_core.serve.audience import MAX_ROOMS, POLL_ALPHAS, Audience, poll_alpha


def test_students_follow_what_the_presenter_published_last_in_their_room_only():
    rooms = Audience(clock=iter(range(100)).__next__)
    assert rooms.presenter("r1") is None
    rooms.publish("r1", 3, 0.25, "ru")
    rooms.publish("r1", 5, 0.7, "ru")
    rooms.publish("r2", 1, 0.5)
    state = rooms.presenter("r1")
    assert (state.step, state.alpha, state.lang) == (5, 0.7, "ru")
    assert rooms.presenter("r2").step == 1


def test_the_histogram_counts_each_students_latest_answer_on_the_grid():
    rooms = Audience()
    for student, alpha in enumerate([0.5, 0.5, 0.45, 0.3, 0.52, 1.0, 0.0]):
        rooms.vote("r1", f"s{student}", alpha)
    rooms.vote("r1", "s3", 0.6)  # s3 changes their mind: 0.3 -> 0.6
    counts = rooms.histogram("r1")
    assert list(counts) == list(POLL_ALPHAS)
    assert {a: n for a, n in counts.items() if n} == {0.0: 1, 0.45: 1, 0.5: 3, 0.6: 1, 1.0: 1}
    assert sum(rooms.histogram("nobody").values()) == 0
    rooms.reset_poll("r1")
    assert sum(rooms.histogram("r1").values()) == 0


def test_answers_are_clamped_to_the_grid_and_nan_is_refused():
    assert poll_alpha(0.52) == 0.5 and poll_alpha(-3) == 0.0 and poll_alpha(7.5) == 1.0
    with pytest.raises(WiseftError, match="finite alpha"):
        poll_alpha(float("nan"))


def test_rooms_are_bounded_and_the_least_recently_used_goes_first():
    rooms = Audience()
    for i in range(MAX_ROOMS + 5):
        rooms.publish(f"r{i}", 1, 0.5)
    assert rooms.presenter("r0") is None and rooms.presenter(f"r{MAX_ROOMS + 4}") is not None


def test_fifty_students_voting_at_once_are_all_counted():
    rooms = Audience()
    threads = [threading.Thread(target=rooms.vote, args=("r1", f"s{i}", (i % 5) / 4)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(rooms.histogram("r1").values()) == 50 and rooms.histogram("r1")[0.25] == 10


def test_the_module_functions_use_one_process_wide_registry():
    audience.publish("modtest", 2, 0.35)
    audience.AUDIENCE.vote("modtest", "x", 0.35)
    assert audience.AUDIENCE.presenter("modtest").alpha == 0.35
    assert audience.histogram("modtest")[0.35] == 1
