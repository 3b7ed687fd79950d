"""The Soups page and the Curves page's model-soups cloud through Streamlit's AppTest."""

from __future__ import annotations

import json

import pytest
from app_pair import open_app

from wiseft_core.demo.assets import DEMO_DIR
from wiseft_core.demo.soups import PLANE_CSV, SUBDIR

TIMEOUT = 180
needs_soups = pytest.mark.skipif(not (DEMO_DIR / SUBDIR / PLANE_CSV).is_file(),
                                 reason="the demo soups are not built (wiseft demo build --soups)")


def right_counts(at) -> dict[str, str]:
    """{distribution: 'k of 5 right'} as the gallery's headings show it."""
    return {m.value.split("**")[1]: m.value.split(": ")[1] for m in at.markdown if " right" in m.value}


def chart(at, index: int = -1) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


@needs_soups
def test_a_point_in_the_plane_mixes_three_models_and_moves_the_star_on_the_heatmap(app_argv):
    at = open_app("soups", timeout=TIMEOUT)
    assert not at.error, [e.value for e in at.error]
    assert len(right_counts(at)) == 6
    names = [trace.get("name") for trace in chart(at)["data"]]
    assert names[0] in ("top-1 (%)", "loss") and "your mix" in names and "WiSE-FT to the soup" in names
    at.slider(key="soups_u").set_value(0.0).run()
    at.slider(key="soups_v").set_value(0.0).run()  # the zero-shot model itself
    assert not at.exception
    star = next(t for t in chart(at)["data"] if t.get("name") == "your mix")
    assert (star["x"], star["y"]) == ([0.0], [0.0])
    assert any("(1.00, 0.00, 0.00)" in c.value for c in at.caption)
    at.radio(key="soups_plane_metric").set_value("loss").run()
    assert chart(at)["data"][0]["name"] == "loss"


@needs_soups
def test_free_weights_are_normalised_and_all_zero_weights_warn_instead_of_predicting(app_argv):
    at = open_app("soups", timeout=TIMEOUT)
    at.radio(key="soups_mode").set_value("any ingredients and weights").run()
    picked = at.multiselect(key="soups_picked").value
    assert len(picked) >= 2 and not at.exception
    at.slider(key=f"soups_w_{picked[0]}").set_value(0.5).run()
    weights = next(c.value for c in at.caption if c.value.startswith("Normalised weights"))
    assert f"{picked[0]} {0.5 / (0.5 + len(picked) - 1):.2f}" in weights
    for name in picked:
        at.slider(key=f"soups_w_{name}").set_value(0.0).run()
    assert any("not all zero" in w.value for w in at.warning) and not right_counts(at)


@needs_soups
def test_the_soups_page_shows_the_demo_table_and_the_papers_findings(app_argv):
    at = open_app("soups", timeout=TIMEOUT)
    table = next(m.value for m in at.markdown if m.value.startswith("| model"))
    assert "uniform soup" in table and "greedy soup" in table and "fine-tune 0" in table
    assert any("greedy soup >= best single model on the reference" in m.value for m in at.markdown)


def test_the_curves_page_shows_the_published_soups_cloud_on_request(app_argv):
    at = open_app("curves", timeout=TIMEOUT)
    charts = len(at.get("plotly_chart"))
    at.toggle(key="curves_soups").set_value(True).run()
    assert not at.exception and len(at.get("plotly_chart")) == charts + 1
    traces = {}
    for trace in chart(at)["data"]:  # the published panel comes first; the demo's traces share its names
        traces.setdefault(trace["name"], trace)
    assert len(traces["fine-tune"]["x"]) == 71 and traces["greedy soup"]["x"] == [pytest.approx(81.026)]


def triangle_corners(at) -> list[str] | None:
    """The corner labels of the page's triangle picker, None when it is not shown."""
    for element in at.get("plotly_chart"):
        traces = json.loads(element.proto.spec)["data"]
        if any(t.get("name") == "grid" for t in traces):
            return next(t["text"] for t in traces if t.get("mode") == "markers+text")
    return None


@needs_soups
def test_the_triangle_picker_appears_for_the_plane_and_for_exactly_three_ingredients(app_argv):
    at = open_app("soups", timeout=TIMEOUT)
    assert triangle_corners(at) == ["θ₀ zero-shot", "θ₁", "θ₂"]
    at.radio(key="soups_mode").set_value("any ingredients and weights").run()
    names = at.multiselect(key="soups_picked").options
    at.multiselect(key="soups_picked").set_value(names[:3]).run()
    assert triangle_corners(at) == names[:3] and not at.exception
    at.multiselect(key="soups_picked").set_value(names[:2]).run()
    assert triangle_corners(at) is None
