"""In a real browser, hostile names render as their own characters: no link, no tag, no script, no bold, no LaTeX.

AppTest sees the escaped text the server sends; only a browser shows what Streamlit's Markdown, the
live slider and Plotly make of it. The pair's class names, an upload's name, a link's parameter and
a sweep CSV's names are all hostile here.
"""

from __future__ import annotations

import re

import pytest
from app_pair import APP, png_bytes, streamlit_server

from wiseft_core import testing

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = ["[x](http://evil.example)", "<img src=x onerror=alert(1)>", "**bold**", "$math$"]
STEP_MS = 60_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile_pair")
    zeroshot, finetuned = testing.write_random_pair(folder, classnames=[*HOSTILE, "plain"])
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with streamlit_server(APP, log, ["--zeroshot", str(zeroshot), "--finetuned", str(finetuned)]) as base:
        yield base


def wait_idle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=STEP_MS)
    page.wait_for_timeout(300)


def nothing_became_markup(page) -> None:
    """No link to the evil host, no injected image, no KaTeX, no bold made of a name."""
    assert page.locator("a[href^='http://evil']").count() == 0 and page.locator("a[href^='javascript']").count() == 0
    assert page.locator("img[src='x']").count() == 0
    assert page.locator(".katex").count() == 0
    assert page.locator("strong").filter(has_text=re.compile(r"^(b|bold)$")).count() == 0


def test_hostile_names_in_the_playground_and_a_link_render_literally(server, page, tmp_path):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    image = tmp_path / "[x](javascript:alert(1)) **b**.png"  # a file name cannot hold a slash
    image.write_bytes(png_bytes())
    page.goto(f"{server}/playground?image=http://evil.example/login%231", timeout=STEP_MS * 3)
    page.get_by_role("heading", name="Playground").wait_for(timeout=STEP_MS * 3)
    wait_idle(page)
    page.get_by_text("evil.example/login", exact=False).first.wait_for()  # shown, as text (no link: see below)
    page.get_by_role("tab", name="Upload").click()
    page.get_by_test_id("stFileUploader").filter(has_text="Upload images").locator("input[type=file]") \
        .set_input_files(str(image))
    page.locator(".wiseft-verdict").first.wait_for()
    wait_idle(page)
    page.get_by_text("Where the model looks").first.click()  # the filmstrip's captions name the classes
    page.get_by_text("Where θ(α) looks: [x](javascript:alert(1)) **b**.png").first.wait_for(timeout=STEP_MS * 2)
    wait_idle(page)
    text = page.locator("body").inner_text().replace("\u2060", "")  # the invisible joiner that breaks autolinks
    assert "http://evil.example/login" in text
    assert any(f"{name} (" in text for name in HOSTILE), text  # a caption or verdict names a hostile class
    nothing_became_markup(page)
    assert dialogs == []


def test_hostile_names_in_a_sweep_csv_render_literally_in_the_chart(server, page, tmp_path):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    lines = ["model,finetuning,alpha,ensemble,dataset,role,top1,n"]
    for alpha in (0.0, 0.5, 1.0):
        lines += [f'"{HOSTILE[1]}",{HOSTILE[2]},{alpha},weights,ref,reference,{60 + alpha},10',
                  f'"{HOSTILE[1]}",{HOSTILE[2]},{alpha},weights,"{HOSTILE[0]}",shift,{40 + alpha},10']
    csv = tmp_path / "sweep.csv"
    csv.write_text("\n".join(lines) + "\n")
    page.goto(f"{server}/curves", timeout=STEP_MS * 3)
    page.locator(".js-plotly-plot").first.wait_for(timeout=STEP_MS * 3)
    page.get_by_test_id("stFileUploader").filter(has_text="sweep").locator("input[type=file]").set_input_files(str(csv))
    page.locator(".legendtext", has_text="onerror").first.wait_for()
    wait_idle(page)
    legend = page.locator(".legendtext", has_text="onerror").first.text_content()
    assert f"upload: sweep.csv · {HOSTILE[1]} · {HOSTILE[2]} · weights" in legend
    nothing_became_markup(page)
    assert dialogs == []
