"""No viewer-supplied string or file-supplied name becomes Markdown or HTML: links, tags, bold and LaTeX stay text.

Hostile names are fed through every place a name is shown (class names of a pair, an upload's file
name, a link's parameter, a sweep CSV's names, a file's parameter names, the talk's figures) and
each element must carry them escaped, so the viewer reads exactly the characters of the name.
"""

from __future__ import annotations

import html
import json
import sys
from types import SimpleNamespace

import pytest
from app_pair import APP, plain, png_bytes
from streamlit.testing.v1 import AppTest

from wiseft_core import testing
from wiseft_core.plots.curves import (
    accuracy_curves_figure,
    top_k_figure,
    weight_diff_figure,
)
from wiseft_core.plots.inspection import landscape_figure, pointing_game_figure
from wiseft_core.serve.markup import escape_markdown, plot_text

HOSTILE = ["[x](http://evil.example)", "<img src=x onerror=alert(1)>", "**bold**", "$math$"]
CLASSES = [*HOSTILE, "plain"]
TIMEOUT = 120


def literal_in_markdown(body: str) -> None:
    """Every hostile name in a Markdown body is there only escaped (and reads back as itself)."""
    for name in HOSTILE:
        if name in plain(body):
            assert escape_markdown(name) in body, body
            assert name not in body.replace(escape_markdown(name), ""), body


def literal_in_plot(figure: dict) -> list[str]:
    """No tag in any text of a figure, no stray field in a hover template; the texts as a viewer reads them."""
    texts = [(key, text) for key, text in figure_strings(figure) if key != "legendgroup"]  # an id, never shown
    for key, text in texts:
        assert "<img" not in text and "<a " not in text, text
        assert key != "hovertemplate" or "%{meta}" not in text, text
    return [html.unescape(text) for _, text in texts]


def figure_strings(node, key: str = "") -> list[tuple[str, str]]:
    """(key, text) for every string in a parsed figure."""
    if isinstance(node, str):
        return [(key, node)]
    if isinstance(node, dict):
        return [pair for k, item in node.items() for pair in figure_strings(item, k)]
    if isinstance(node, (list, tuple)):
        return [pair for item in node for pair in figure_strings(item, key)]
    return []


def shows(texts: list[str], name: str) -> bool:
    return any(name in text for text in texts)


def test_plot_text_turns_tags_into_entities_and_keeps_template_fields_out_of_hover_templates():
    assert plot_text("<b>x</b> & 5%") == "&lt;b&gt;x&lt;/b&gt; &amp; 5%"
    assert plot_text("%{x}", template=True) == "&#37;{x}"
    assert html.unescape(plot_text("%{x} <a href='u'>", template=True)) == "%{x} <a href='u'>"


def test_every_figure_builder_shows_names_from_files_literally():
    names = [*HOSTILE, "%{meta}"]
    rows = [{"source": name, "model": "m", "finetuning": "f", "ensemble": "weights", "alpha": a,
             "reference": 50 + 10 * a, "avg_shifts": 40 + 5 * a} for name in names for a in (0.0, 0.5, 1.0)]
    curves = accuracy_curves_figure(rows, "avg_shifts", y_label="<b>shift</b>", current_alpha=0.5)
    diffs = [SimpleNamespace(block=name, rel_change=0.1, cosine=0.9) for name in names]
    paths = [SimpleNamespace(path=name, alphas=[0.0, 1.0], losses=[1.0, 1.2], top1=[50.0, 60.0], barrier=0.1)
             for name in names]
    pointing = [{"distribution": name, "alpha": a, "pointing": 50.0, "object_area": 20.0}
                for name in names for a in (0.0, 1.0)]
    figures = [curves, weight_diff_figure(diffs), landscape_figure(paths), pointing_game_figure(pointing),
               top_k_figure([(name, 0.2) for name in names], title=HOSTILE[0], true_label=HOSTILE[1])]
    for figure in figures:
        texts = literal_in_plot(json.loads(figure.to_json()))
        assert all(shows(texts, name) for name in names), texts
    bars = json.loads(figures[4].to_json())["data"][0]["marker"]["color"]
    assert bars.count("#2ca02c") == 1  # the true label is still found among escaped names


def test_talk_figures_show_class_names_literally():
    from wiseft_core.talk import slides

    assert slides.plot_text is plot_text  # the landscape's legend names a file's path through the same rule
    bars = json.loads(top_k_figure([(HOSTILE[1], 0.7), ("plain", 0.3)], "", HOSTILE[1]).to_json())
    assert bars["data"][0]["y"] == ["plain", "&lt;img src=x onerror=alert(1)&gt;"]


@pytest.fixture
def hostile_pair(tmp_path, monkeypatch) -> None:
    zeroshot, finetuned = testing.write_random_pair(tmp_path / "pair", classnames=CLASSES)
    monkeypatch.setattr(sys, "argv", ["app.py", "--zeroshot", str(zeroshot), "--finetuned", str(finetuned)])


def markdown_bodies(at: AppTest) -> list[str]:
    """Every Markdown-rendered text on the page: markdown, captions, alerts and image captions."""
    bodies = [e.value for kind in ("markdown", "caption", "warning", "error", "info", "success")
              for e in at.get(kind)]
    bodies += [e.value for e in at.sidebar.get("caption")]
    bodies += [img.caption for element in at.get("image") for img in element.proto.imgs]
    return bodies


@pytest.mark.slow
@pytest.mark.usefixtures("hostile_pair")
def test_class_names_and_an_uploads_file_name_reach_the_playground_and_filmstrip_only_as_text():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "playground"
    at.run()
    assert not at.exception, at.exception
    at.file_uploader(key="images_upload").set_value([(f"{HOSTILE[0]}.png", png_bytes(), "image/png")]).run()
    at.toggle(key="filmstrip_on").set_value(True).run()
    assert not at.exception, at.exception
    bodies = markdown_bodies(at)
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    assert any(name in plain(c) for c in captions for name in HOSTILE), captions  # a hostile class is predicted
    assert any(HOSTILE[0] in plain(b) for b in bodies)  # the file name is shown
    for body in bodies:
        literal_in_markdown(body)


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_a_link_parameter_never_becomes_a_live_link():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "playground"
    at.query_params["image"] = "http://evil.example/login#1"
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("http://evil.example/login" in plain(w) for w in warnings), warnings
    assert not any("http://" in w for w in warnings), warnings  # the colon is escaped: no auto-link


@pytest.mark.slow
@pytest.mark.usefixtures("app_argv")
def test_names_in_an_uploaded_sweep_csv_are_plotted_literally():
    lines = ["model,finetuning,alpha,ensemble,dataset,role,top1,n"]
    for alpha in (0.0, 0.5, 1.0):
        lines += [f'"{HOSTILE[1]}",{HOSTILE[2]},{alpha},weights,{HOSTILE[3]},reference,{60 + alpha},10',
                  f'"{HOSTILE[1]}",{HOSTILE[2]},{alpha},weights,"{HOSTILE[0]}",shift,{40 + alpha},10']
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "curves"
    at.run()
    at.file_uploader(key="curves_upload").set_value(("s.csv", "\n".join(lines).encode(), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.selectbox(key="curves_shift").set_value(HOSTILE[0]).run()
    texts = literal_in_plot(json.loads(at.get("plotly_chart")[0].proto.spec))
    assert shows(texts, HOSTILE[1]) and shows(texts, HOSTILE[2]) and shows(texts, f"{HOSTILE[0]} accuracy")
