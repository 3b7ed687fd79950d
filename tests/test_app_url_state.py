"""What a viewer can type into a link: each parameter is checked in serve/url_state.py; no link breaks a page."""

from __future__ import annotations

import math

import pytest
from app_pair import APP, plain
from streamlit.testing.v1 import AppTest

from wiseft_core.serve import url_state

TIMEOUT = 120


@pytest.mark.parametrize("text,expected", [
    ("0.4", 0.4), ("-0.5", -0.5), ("1.5", 1.5), (" 1 ", 1.0),
    ("nan", None), ("NaN", None), ("inf", None), ("-inf", None), ("1e308", None), ("1.6", None), ("-0.51", None),
    ("²", None), ("٠.٥", None), ("0x1", None), ("", None), ("1" * 40, None), ("0.4,0.5", None),
])
def test_an_alpha_from_a_link_is_a_finite_number_in_the_slider_range_or_refused(text, expected):
    assert url_state.checked_alpha(text) == expected
    assert url_state.alpha_param(text, 0.5) == (0.5 if expected is None else expected)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, None, [0.5], {"a": 1}, "0.5x", 2, -1])
def test_a_forged_alpha_of_any_type_is_refused(value):
    assert url_state.checked_alpha(value) is None


def test_indices_are_ascii_digits_only_so_unicode_digits_and_huge_numbers_are_refused():
    assert "²".isdigit() and "٣".isdigit()  # what the old check let through, and int("²") raises
    assert [url_state.index_param(t) for t in ("0", "17", "²", "٣", "-1", "1.0", "", "1" * 10, None)] == [
        0, 17, None, None, None, None, None, None, None]


def test_image_links_keep_well_formed_refs_and_count_the_rest():
    refs, bad = url_state.image_refs("demo:sketch#17,demo:sketch#²,nohash,[x](http://evil)#1,demo:real#3", 6)
    assert refs == [("demo:sketch", 17), ("demo:real", 3)] and bad == 3
    assert url_state.image_refs("demo:sketch#1," * 100, 6)[0] == [("demo:sketch", 1)] * 6  # capped before parsing
    assert url_state.image_refs("x" * 5000, 6) == ([], 0)


def test_names_from_a_link_are_only_known_ones():
    assert url_state.name_param("curves", {"home", "curves"}, "home") == "curves"
    assert url_state.name_param("../etc", {"home", "curves"}, "home") == "home"
    assert url_state.known_names("a,zz,b,,a", {"a", "b"}) == ["a", "b", "a"]


def open_link(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
@pytest.mark.parametrize("params", [
    {"page": "playground", "sample": "²"},
    {"page": "playground", "image": "demo:sketch#²"},
    {"page": "playground", "image": "demo:sketch#99999999999999999999"},
    {"page": "playground", "alpha": "nan"},
    {"page": "playground", "alpha": "1e308", "sample": "x" * 5000},
    {"page": "curves", "alpha": "inf"},
    {"page": "\u0000"},
])
def test_a_crafted_link_opens_the_page_without_a_traceback(params):
    at = open_link(**params)
    assert not at.exception, at.exception
    alpha = at.session_state["wiseft_alpha"] if "wiseft_alpha" in at.session_state else 0.5
    assert math.isfinite(alpha) and -0.5 <= alpha <= 1.5


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_a_malformed_image_link_is_named_in_one_line_and_a_good_one_still_opens():
    at = open_link(page="playground", image="demo:sketch#²,demo:sketch#3")
    assert not at.exception
    assert any("Ignored 1 image link" in plain(w.value) for w in at.warning), [w.value for w in at.warning]
    assert at.session_state["wiseft_alpha"] == 0.5
