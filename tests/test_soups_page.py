"""The Soups page and the Curves page's model-soups cloud through Streamlit's AppTest."""

from __future__ import annotations

import base64
import json
import re
import time

import numpy as np
import pytest
from app_pair import APP, launch_with, open_app
from PIL import Image
from streamlit.testing.v1 import AppTest

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
    at.radio(key="soups_mode").set_value("free").run()
    picked = at.multiselect(key="soups_picked").value
    assert len(picked) >= 2 and not at.exception
    at.slider(key=f"soups_w_{picked[0]}").set_value(0.5).run()
    weights = next(c.value for c in at.caption if c.value.startswith("Normalised weights"))
    assert f"{picked[0]} {0.5 / (0.5 + len(picked) - 1):.2f}" in weights
    for name in picked:
        at.slider(key=f"soups_w_{name}").set_value(0.0).run()
    assert any("must not all be zero" in w.value for w in at.warning) and not right_counts(at)


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
        if any(t.get("meta") == "grid" for t in traces):
            return next(t["text"] for t in traces if t.get("mode") == "markers+text")
    return None


@needs_soups
def test_the_triangle_picker_appears_for_the_plane_and_for_exactly_three_ingredients(app_argv):
    at = open_app("soups", timeout=TIMEOUT)
    assert triangle_corners(at) == ["θ₀ zero-shot", "θ₁", "θ₂"]
    at.radio(key="soups_mode").set_value("free").run()
    names = at.multiselect(key="soups_picked").options
    at.multiselect(key="soups_picked").set_value(names[:3]).run()
    assert triangle_corners(at) == names[:3] and not at.exception
    at.multiselect(key="soups_picked").set_value(names[:2]).run()
    assert triangle_corners(at) is None


@pytest.fixture
def shelf(app_argv, tmp_path, monkeypatch):
    """An operator's ``--data-dir`` with six labelled images (labels 0..5), listed as ``shelf/list.csv``."""
    folder = tmp_path / "shelf"
    folder.mkdir()
    rows = ["path,label"]
    for i in range(6):
        Image.new("RGB", (32, 32), (40 * i, 200 - 30 * i, 90)).save(folder / f"im{i}.png")
        rows.append(f"im{i}.png,{i}")
    (folder / "list.csv").write_text("\n".join(rows) + "\n")
    launch_with(monkeypatch, "--data-dir", str(folder))
    return folder


def finish_job(at, cancel_key: str):
    """Rerun the page (as its polling fragment would) until the session's job has finished."""
    for _ in range(TIMEOUT * 4):
        if not any(b.key == cancel_key for b in at.button):
            break
        time.sleep(0.25)
        at.run()
    assert not any(b.key == cancel_key for b in at.button), "the job did not finish"
    return at


@needs_soups
def test_the_plane_of_the_loaded_pair_and_a_third_model_is_computed_as_a_job_and_drawn(shelf):
    at = open_app("soups", timeout=TIMEOUT)
    assert "fine-tune θ₂" in at.selectbox(key="soups_third").options
    at.selectbox(key="soups_third").set_value("fine-tune θ₂")
    at.selectbox(key="soups_plane_spec").set_value("shelf/list.csv")
    at.selectbox(key="soups_plane_step").set_value(0.5)
    next(b for b in at.button if b.label == "Compute the plane").click().run()
    finish_job(at, "soups_plane_job_cancel")
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    figure = chart(at)  # the last chart: the plane of your models
    heat = figure["data"][0]
    assert heat["x"] == heat["y"] == [-0.5, 0.0, 0.5, 1.0, 1.5]
    z = np.frombuffer(base64.b64decode(heat["z"]["bdata"]), dtype=heat["z"]["dtype"])
    assert heat["z"]["shape"] == "5, 5" and np.all((z >= 0) & (z <= 100))  # top-1 (%) on the six images
    assert set(np.round(z * 6 / 100, 6)) <= set(range(7))  # k of 6 right at every point
    assert any(t.get("name") == "WiSE-FT to the soup" for t in figure["data"])


@needs_soups
def test_a_plane_over_the_memory_budget_is_refused_in_one_line_before_any_job(shelf, monkeypatch):
    from wiseft_core.serve import soup_mix

    monkeypatch.setattr(soup_mix, "SOUP_BUDGET_BYTES", 1000)
    at = open_app("soups", timeout=TIMEOUT)
    at.selectbox(key="soups_plane_spec").set_value("shelf/list.csv")
    next(b for b in at.button if b.label == "Compute the plane").click().run()
    assert [e.value for e in at.error if "over the" in e.value] and not at.exception
    assert not any(b.key == "soups_plane_job_cancel" for b in at.button)


@needs_soups
def test_in_russian_the_free_mix_names_its_ingredients_and_weights_in_russian(app_argv):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "soups", "lang": "ru"})
    at.run()
    at.radio(key="soups_mode").set_value("free").run()
    picked = at.multiselect(key="soups_picked")
    shown = [picked.format_func(name) for name in picked.value]
    labels = [at.slider(key=f"soups_w_{name}").label for name in picked.value]
    caption = next(c.value for c in at.caption if c.value.startswith("Нормированные веса"))
    assert "жадный суп моделей" in shown and labels == shown and not at.exception
    assert not re.search(r"fine-tune|greedy|shipped|Normalised", " ".join([*shown, *labels, caption]))
    for name in picked.value:
        at.slider(key=f"soups_w_{name}").set_value(0.0).run()
    assert [w.value for w in at.warning] == ["Веса не могут быть все нулевыми: дайте хотя бы одному ингредиенту "
                                             "ненулевой вес."]
