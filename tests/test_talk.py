"""Talk mode's library: texts in two languages, slides from real numbers, the real code path, rooms, export."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wiseft_core.demo import assets
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.results import read_sweep_csv
from wiseft_core.talk import (
    LANGS,
    STEP_COUNT,
    TalkState,
    build_slide,
    build_talk,
    export,
    html_text,
    load_texts,
    slides,
)
from wiseft_core.talk import data as talk_data
from wiseft_core.talk.rooms import TalkRooms, format_elapsed
from wiseft_core.talk.texts import TEXTS_DIR

REPO = Path(__file__).resolve().parent.parent
GLOSSARY_TERMS = ["дообуч", "робастн", "ансамблирование в пространстве весов", "ансамблирование выходов",
                  "коэффициент смешивания", "линейная интерполяция весов", "линейная связность мод",
                  "барьер", "функции потерь", "без дополнительной стоимости на инференсе", "Источники", "Главное"]

needs_demo = pytest.mark.skipif(not assets.demo_pair_available(), reason="the demo pair is not in this checkout")


@pytest.fixture(scope="module")
def demo_data():
    """The talk's numbers on the demo pair and its sweep, as the app and the CLI build them."""
    if not assets.demo_pair_available():
        pytest.skip("the demo pair is not in this checkout")
    from wiseft_core.engine.pair import load_pair

    pair = load_pair(assets.DEMO_ZEROSHOT, assets.DEMO_FINETUNED)
    return talk_data.build_talk_data(pair, *talk_data.default_sweep(assets.DEMO_ZEROSHOT))


def demo_summary(finetuning: str, ensemble: str, alpha: float) -> dict:
    """Reference and shift-average accuracy of the shipped pair (seed 0) straight from the CSV, independently."""
    rows = [r for r in read_sweep_csv(assets.DEMO_SWEEP) if r.get("seed", "0") == "0" and r["finetuning"] == finetuning
            and r["ensemble"] == ensemble and abs(r["alpha"] - alpha) < 1e-9]
    ref = [r["top1"] for r in rows if r["role"] == "reference"]
    shifts = [r["top1"] for r in rows if r["role"] == "shift"]
    return {"reference": sum(ref) / len(ref), "avg_shifts": sum(shifts) / len(shifts)}


def test_both_languages_tell_the_same_twelve_steps_with_titles_and_notes():
    en, ru = load_texts("en"), load_texts("ru")
    assert [s.id for s in en.steps] == [s.id for s in ru.steps] == list(slides.STEP_IDS)
    assert STEP_COUNT == 12
    for a, b in zip(en.steps, ru.steps):
        assert a.title and b.title and a.title != b.title
        assert a.notes and b.notes and a.notes != b.notes
    assert set(en.ui) == set(ru.ui) and set(en.labels) == set(ru.labels)


def test_russian_texts_use_the_glossary_terms_of_the_seminar():
    raw = (TEXTS_DIR / "ru.json").read_text(encoding="utf-8")
    missing = [term for term in GLOSSARY_TERMS if term.lower() not in raw.lower()]
    assert not missing, missing


def test_a_translation_missing_a_key_is_refused_with_the_key_named(tmp_path):
    shutil.copy(TEXTS_DIR / "en.json", tmp_path / "en.json")
    broken = json.loads((TEXTS_DIR / "ru.json").read_text(encoding="utf-8"))
    del broken["ui"]["next_step"]
    (tmp_path / "ru.json").write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    load_texts.cache_clear()
    with pytest.raises(WiseftError, match="ui lacks next_step"):
        load_texts("ru", tmp_path)
    with pytest.raises(WiseftError, match="unknown talk language 'de'"):
        load_texts("de")


def test_slide_text_markup_escapes_html_and_renders_lists_and_bold():
    out = html_text.to_html(["- one **two**", "- <script>x</script>", "", "1. first", "plain *it*"])
    assert out.count("<ul>") == 1 and out.count("<ol>") == 1
    assert "<strong>two</strong>" in out and "<em>it</em>" in out
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_step_four_shows_the_real_interpolation_code_read_from_its_source_file():
    code, where = slides.interpolation_source()
    source = (REPO / "wiseft_core" / where).read_text()
    assert code.startswith("def interpolate_state_dicts(")
    assert all(line in source for line in code.splitlines())  # every line is the file's own, verbatim
    assert '"""' not in code  # docstrings dropped, code kept
    slide = build_slide(4, talk_data.TalkData("", [], [], [], {}), load_texts("en"))
    assert html.escape(code.splitlines()[0]) in slide.panels[1].html and where in slide.panels[1].html
    assert "(1 - alpha) * theta_0[key]" in slide.panels[0].html


def test_the_code_on_the_slide_follows_the_source_file_when_it_changes(tmp_path, monkeypatch):
    module = tmp_path / "talk_probe.py"
    module.write_text('def merge(a, b, t):\n    """Doc."""\n    return (1 - t) * a + t * b\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import talk_probe

    assert slides.function_source(talk_probe.merge) == "def merge(a, b, t):\n    return (1 - t) * a + t * b"
    module.write_text("def merge(a, b, t):\n    return a + t * (b - a)\n")
    importlib.reload(talk_probe)
    assert slides.function_source(talk_probe.merge).endswith("return a + t * (b - a)")


def test_clamp_step_keeps_urls_and_key_presses_inside_the_talk():
    assert [slides.clamp_step(v) for v in ("5", 0, 13, "x", None, 12)] == [5, 1, 12, 1, 1, 12]


def test_the_live_image_is_one_the_fine_tuned_model_gets_wrong_and_alpha_half_gets_right():
    classes = ["a", "b", "c"]
    images = [talk_data.LiveImage(f"k{i}", d, label, b"") for i, (d, label) in
              enumerate([("photo", "a"), ("sketch", "b"), ("sketch", "c")])]
    alphas = (0.0, 0.5, 1.0)
    probs = np.zeros((3, 3, 3))
    probs[:, 0, 0] = 0.9  # photo image: right everywhere
    probs[:, 1, 0] = 0.9  # sketch "b": wrong everywhere
    probs[0, 2, 2] = probs[1, 2, 2] = 0.8  # sketch "c": right at 0 and 0.5 ...
    probs[2, 2, 0] = 0.9  # ... wrong at 1
    assert talk_data.pick_live_image(images, alphas, probs, classes) == 2


def test_optimal_row_takes_the_best_alpha_for_each_column_separately():
    rows = [{"alpha": 0.0, "x": 1.0, "y": 9.0}, {"alpha": 1.0, "x": 5.0, "y": 2.0}]
    assert slides.optimal_row(rows, ["x", "y"]) == {"x": 5.0, "y": 9.0}


@needs_demo
@pytest.mark.parametrize("lang", LANGS)
def test_every_step_builds_in_both_languages_on_the_demo_pair(demo_data, lang):
    texts = load_texts(lang)
    talk = build_talk(demo_data, texts, TalkState(alpha=0.5, presenter="Ada", date="2026-11-30"))
    assert [s.step for s in talk] == list(range(1, 13))
    assert [s.title for s in talk] == [s.title for s in texts.steps]
    assert "Ada · 2026-11-30" in talk[0].text_html
    assert all(s.notes_html.count("<li>") == len(texts.steps[i].notes) for i, s in enumerate(talk))
    assert all("{" not in s.text_html for s in talk), "an unfilled placeholder"
    figure_steps = {s.id for s in talk if any(p.kind == "figure" for p in s.panels)}
    assert figure_steps == {"live", "curve", "cost", "linear", "why"}


@needs_demo
def test_step_three_shows_the_demo_sweeps_endpoints_next_to_the_papers_table_one(demo_data):
    html = build_slide(3, demo_data, load_texts("en")).panels[0].html
    for alpha in (0.0, 1.0):
        numbers = demo_summary("end-to-end", "weights", alpha)
        assert f"<td>{numbers['reference']:.1f}</td>" in html and f"<td>{numbers['avg_shifts']:.1f}</td>" in html
    assert "<td>76.6</td>" in html and "<td>86.2</td>" in html  # Table 1: zero-shot and fine-tuned E2E on ImageNet


@needs_demo
def test_the_curve_marks_the_presenters_alpha_on_the_demo_sweep(demo_data):
    slide = build_slide(6, demo_data, load_texts("en"), TalkState(alpha=0.5))
    star = next(t for t in slide.panels[1].figure.data if t.name == "current α")
    expected = demo_summary("end-to-end", "weights", 0.5)
    assert star.x[0] == pytest.approx(expected["reference"]) and star.y[0] == pytest.approx(expected["avg_shifts"])


@needs_demo
def test_linear_classifier_gap_is_the_largest_difference_between_weight_and_output_curves(demo_data):
    alphas = sorted({r["alpha"] for r in read_sweep_csv(assets.DEMO_SWEEP)})
    expected = max(abs(demo_summary("linear classifier", "weights", a)[k] - demo_summary("linear classifier",
                                                                                          "outputs", a)[k])
                   for a in alphas for k in ("reference", "avg_shifts"))
    assert slides.lc_gap(demo_data) == pytest.approx(expected)
    text = build_slide(8, demo_data, load_texts("en")).text_html
    assert f"{expected:.2f} points" in text


@needs_demo
def test_costs_are_measured_on_the_gallery_batch_of_the_loaded_pair(demo_data):
    costs = demo_data.costs
    assert costs.batch == len(demo_data.live) == 12
    assert costs.weights_ms > 0 and costs.outputs_ms > 0 and costs.merge_ms > 0
    assert costs.params == 1_363_244 or costs.params > 1_000_000
    text = build_slide(7, demo_data, load_texts("en")).text_html
    assert f"{costs.weights_ms:.1f} ms" in text and f"{costs.outputs_ms:.1f} ms" in text


def test_without_a_pair_or_sweep_the_talk_shows_the_paper_and_says_what_is_missing():
    bare = talk_data.build_talk_data(None, None)
    texts = load_texts("en")
    talk = build_talk(bare, texts)
    assert len(talk) == 12
    note = html_text.inline(texts.ui["no_sweep"])
    assert any(note in p.html for p in talk[5].panels)  # the curve: paper only
    assert talk[5].panels[0].figure.data  # ... and the paper's curve is there


def test_rooms_follow_the_presenting_step_and_restart_the_step_timer_only_on_a_new_step():
    now = [100.0]
    rooms = TalkRooms(clock=lambda: now[0])
    rooms.update("r1", 3, "ru")
    now[0] = 130.0
    same = rooms.update("r1", 3, "ru")
    assert same.elapsed(now[0]) == (30.0, 30.0)
    now[0] = 160.0
    moved = rooms.update("r1", 4, "en")
    assert (moved.step, moved.lang, moved.elapsed(175.0)) == (4, "en", (75.0, 15.0))
    assert rooms.get("other") is None
    rooms.restart("r1")
    assert rooms.get("r1").elapsed(160.0) == (0.0, 0.0)
    assert format_elapsed(75.0) == "01:15"


@needs_demo
def test_exported_html_is_self_contained_with_plotly_embedded_once(demo_data):
    texts = load_texts("ru")
    talk = build_talk(demo_data, texts)
    document = export.talk_html(talk, texts)
    from plotly.offline import get_plotlyjs

    marker = get_plotlyjs()[:120]
    assert document.count(marker) == 1
    ours = document.replace(get_plotlyjs(), "")
    assert not re.search(r'<script[^>]+src=|<link[^>]+href=|src="(?!data:)', ours)  # nothing fetched
    assert document.count('<section class="slide') == 12
    assert export.figure_json_count(document) == sum(p.kind == "figure" for s in talk for p in s.panels)
    assert document.count('<aside class="notes">') == 12 and texts.steps[0].notes[0] in document
    assert 'lang="ru"' in document and texts.steps[4].title in document


def test_png_export_without_a_browser_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("WISEFT_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(WiseftError, match="need a Chromium browser.*--format html"):
        export.find_browser()


def test_pdf_has_one_page_per_slide(tmp_path):
    from PIL import Image

    pngs = []
    for i in range(3):
        pngs.append(tmp_path / f"s{i}.png")
        Image.new("RGB", (192, 108), (i * 80, 0, 0)).save(pngs[-1])
    pdf = export.pngs_to_pdf(pngs, tmp_path / "talk.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) == 3


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "wiseft_core", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=600)


@needs_demo
def test_cli_exports_the_russian_talk_as_one_html_file(tmp_path):
    result = run_cli("talk", "export", "--out", str(tmp_path), "--lang", "ru", "--format", "html",
                     "--presenter", "Докладчик Д.")
    assert result.returncode == 0, result.stderr
    document = (tmp_path / "talk_ru.html").read_text(encoding="utf-8")
    assert load_texts("ru").steps[0].title in document and "Докладчик Д." in document
    assert not (tmp_path / "png_ru").exists()


def test_cli_errors_are_one_line_with_status_two(tmp_path):
    half = run_cli("talk", "export", "--out", str(tmp_path), "--zeroshot", "a.safetensors")
    assert half.returncode == 2 and half.stderr.strip().count("\n") == 0 and "--finetuned" in half.stderr
    if assets.demo_pair_available():
        nobrowser = run_cli("talk", "export", "--out", str(tmp_path), "--format", "png",
                            env={"WISEFT_CHROMIUM": str(tmp_path / "none")})
        assert nobrowser.returncode == 2 and nobrowser.stderr.strip().count("\n") == 0
        assert "need a Chromium browser" in nobrowser.stderr


@needs_demo
@pytest.mark.slow
@pytest.mark.browser
def test_cli_writes_twelve_full_hd_pngs_and_a_twelve_page_pdf(tmp_path):
    from app_pair import require_browser
    from PIL import Image

    require_browser()
    result = run_cli("talk", "export", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    pngs = sorted((tmp_path / "png_en").glob("step*.png"))
    assert [p.name for p in pngs] == [f"step{i:02d}.png" for i in range(1, 13)]
    assert {Image.open(p).size for p in pngs} == {(1920, 1080)}
    assert len(set(p.read_bytes() for p in pngs)) == 12  # every step looks different
    pdf = (tmp_path / "talk_en.pdf").read_bytes()
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 12


def test_step_nine_shows_the_landscape_once_measured_and_accuracy_along_alpha_before():
    from wiseft_core.inspection.landscape import LandscapePath

    alphas = [round(-0.5 + 0.1 * k, 1) for k in range(21)]
    path = LandscapePath("zero-shot to fine-tuned", "demo:photo", alphas, [1 + 0.2 * (a - 0.5) ** 2 for a in alphas],
                         [60.0] * 21, 100)
    texts = load_texts("en")
    before = build_slide(9, talk_data.build_talk_data(None, None), texts)
    assert before.panels[0].figure.layout.xaxis.title.text == texts.labels["alpha_axis"]  # accuracy along alpha
    shifted = LandscapePath("zero-shot to fine-tuned", "demo:sketch", alphas, [2.0] * 21, [50.0] * 21, 100)
    after = build_slide(9, talk_data.TalkData("demo", [], [], [], {}, landscape=[path, shifted]), texts)
    names = [t.name for t in after.panels[0].figure.data if t.name]
    assert len(after.panels) == 1 and names == ["zero-shot ↔ fine-tuned<br>(barrier 0.00)"]  # the reference only
    assert "α ∈ [-0.5, 1.5]" in after.text_html
    russian = build_slide(9, talk_data.TalkData("demo", [], [], [], {}, landscape=[path]), load_texts("ru"))
    assert [t.name for t in russian.panels[0].figure.data if t.name] == ["zero-shot ↔ дообученная<br>(барьер 0.00)"]
    assert russian.panels[0].figure.layout.annotations[0].text == "средняя кросс-энтропия"


@needs_demo
def test_the_exported_live_step_carries_an_alpha_slider_over_the_precomputed_grid(demo_data):
    from wiseft_core.engine.predict import top_k

    texts = load_texts("en")
    plain = build_slide(5, demo_data, texts, TalkState(alpha=0.5))
    assert not any(p.figure.layout.sliders for p in plain.panels if p.kind == "figure")  # the app has its own
    slide = build_slide(5, demo_data, texts, TalkState(alpha=0.5, alpha_slider_in_figure=True))
    sliders = [p.figure.layout.sliders[0] for p in slide.panels if p.kind == "figure" and p.figure.layout.sliders]
    assert len(sliders) == 1
    steps = sliders[0].steps
    assert [float(s.label) for s in steps] == list(demo_data.live_alphas)
    assert steps[sliders[0].active].label == "0.5"
    i = demo_data.live_default
    for k in (0, 7, 20):
        expected = [c for c, _ in top_k(demo_data.live_probs[k, i], demo_data.classnames, slides.TOP_K)][::-1]
        assert list(steps[k].args[0]["y"][0]) == expected
