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

STEP = {step_id: i + 1 for i, step_id in enumerate(slides.STEP_IDS)}  # step numbers by id, as shipped
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


def test_both_languages_tell_the_same_fifteen_steps_with_titles_and_notes():
    en, ru = load_texts("en"), load_texts("ru")
    assert [s.id for s in en.steps] == [s.id for s in ru.steps] == list(slides.STEP_IDS)
    assert STEP_COUNT == 15
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


def test_the_code_step_shows_the_real_interpolation_code_read_from_its_source_file():
    code, where = slides.interpolation_source()
    source = (REPO / "wiseft_core" / where).read_text()
    assert code.startswith("def interpolate_state_dicts(")
    assert all(line in source for line in code.splitlines())  # every line is the file's own, verbatim
    assert '"""' not in code  # docstrings dropped, code kept
    slide = build_slide(STEP["code"], talk_data.TalkData("", [], [], [], {}), load_texts("en"))
    assert html.escape(code.splitlines()[0]) in slide.panels[1].html and where in slide.panels[1].html
    assert "(1-alpha) * theta_0[key] + alpha * theta_1[key]" in slide.panels[0].html


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
    assert [slides.clamp_step(v) for v in ("5", 0, 16, "x", None, 15)] == [5, 1, 15, 1, 1, 15]
    assert slides.clamp_step(9, count=6) == 6


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
    assert [s.step for s in talk] == list(range(1, STEP_COUNT + 1))
    assert [s.title for s in talk] == [s.title for s in texts.steps]
    assert "<strong>Ada</strong>" in talk[0].text_html and "2026-11-30" in talk[0].text_html
    for role in ("role_presenter", "role_reviewer", "role_hacker"):
        assert texts.labels[role] in talk[0].text_html
    assert all(s.notes_html.count("<li>") == len(texts.steps[i].notes) for i, s in enumerate(talk))
    assert all("{" not in s.text_html for s in talk), "an unfilled placeholder"
    figure_steps = {s.id for s in talk if any(p.kind == "figure" for p in s.panels)}
    assert figure_steps == {"live", "poll", "curve", "cost", "linear", "why"}


@needs_demo
def test_the_tradeoff_step_shows_the_demo_sweeps_endpoints_next_to_the_papers_table_one(demo_data):
    html = build_slide(STEP["tradeoff"], demo_data, load_texts("en")).panels[1].html
    for alpha in (0.0, 1.0):
        numbers = demo_summary("end-to-end", "weights", alpha)
        assert f"<td>{numbers['reference']:.1f}</td>" in html and f"<td>{numbers['avg_shifts']:.1f}</td>" in html
    assert "<td>76.6</td>" in html and "<td>86.2</td>" in html  # Table 1: zero-shot and fine-tuned E2E on ImageNet


@needs_demo
def test_the_curve_marks_the_presenters_alpha_on_the_demo_sweep(demo_data):
    slide = build_slide(STEP["curve"], demo_data, load_texts("en"), TalkState(alpha=0.5))
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
    text = build_slide(STEP["linear"], demo_data, load_texts("en")).text_html
    assert f"{expected:.2f} points" in text


@needs_demo
def test_costs_are_measured_on_the_gallery_batch_of_the_loaded_pair(demo_data):
    costs = demo_data.costs
    assert costs.batch == len(demo_data.live) == 12
    assert costs.weights_ms > 0 and costs.outputs_ms > 0 and costs.merge_ms > 0
    assert costs.params == 1_363_244 or costs.params > 1_000_000
    text = build_slide(STEP["cost"], demo_data, load_texts("en")).text_html
    assert f"{costs.weights_ms:.1f} ms" in text and f"{costs.outputs_ms:.1f} ms" in text
    assert len(costs.ratios) == talk_data.TIMING_REPEATS and f"<strong>{costs.ratio:.1f}×</strong>" in text
    assert ("too busy to tell" in text) == costs.too_noisy


def test_without_a_pair_or_sweep_the_talk_shows_the_paper_and_says_what_is_missing():
    bare = talk_data.build_talk_data(None, None)
    texts = load_texts("en")
    talk = build_talk(bare, texts)
    assert len(talk) == STEP_COUNT
    curve = talk[STEP["curve"] - 1]
    note = html_text.inline(texts.ui["no_sweep"])
    assert any(note in p.html for p in curve.panels)  # the curve: paper only
    assert curve.panels[0].figure.data  # ... and the paper's curve is there


def test_rooms_follow_the_presenting_step_and_restart_the_step_timer_only_on_a_new_step():
    now = [100.0]
    rooms = TalkRooms(clock=lambda: now[0])
    rooms.update("r1", 3, "ru")
    now[0] = 130.0
    same = rooms.update("r1", 3, "ru")
    assert same.elapsed(now[0]) == (0.0, 0.0)  # the talk has not started: no step change yet
    now[0] = 160.0
    moved = rooms.update("r1", 4, "en")
    assert (moved.step, moved.lang, moved.elapsed(175.0)) == (4, "en", (15.0, 15.0))  # the clock starts here
    now[0] = 200.0
    assert rooms.update("r1", 5, "en").elapsed(210.0) == (50.0, 10.0)
    assert rooms.get("other") is None
    rooms.restart("r1")
    assert rooms.get("r1").elapsed(200.0) == (0.0, 0.0)
    assert format_elapsed(75.0) == "01:15" and format_elapsed(-75.0) == "−01:15"


def test_a_room_obeys_only_the_tab_holding_its_secret():
    rooms = TalkRooms(clock=lambda: 0.0)
    assert rooms.claim("r2", "a" * 32, step=2)
    assert not rooms.claim("r2", "b" * 32)  # another tab cannot take the room over
    assert rooms.update("r2", 7, "en", secret="b" * 32) is None and rooms.get("r2").step == 2
    assert not rooms.command("r2", "b" * 32, 9) and not rooms.command("r2", "", 9)
    assert not rooms.is_owner("r2", "") and not rooms.restart("r2", "b" * 32)
    assert rooms.command("r2", "a" * 32, 9) and rooms.command("r2", "a" * 32, 4)
    state = rooms.get("r2")
    assert (state.command_step, state.command_seq) == (4, 2)
    assert rooms.update("r2", 4, "ru", secret="a" * 32, alpha=0.3).alpha == 0.3


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
    payload = export.exported_payload(document)
    assert payload["html"].count('<section class="slide') == STEP_COUNT
    assert export.figure_json_count(document) == sum(p.kind == "figure" for s in talk for p in s.panels)
    assert [n["title"] for n in payload["notes"]] == [s.title for s in texts.steps]
    assert html_text.inline(texts.steps[0].notes[0]) in payload["notes"][0]["notes"]
    assert 'class="notes"' not in payload["html"]  # notes open in their own window (N), never on the slide
    assert 'lang="ru"' in document and texts.steps[4].title in payload["html"]


def test_the_handout_lists_every_steps_notes():
    texts = load_texts("en")
    talk = build_talk(talk_data.build_talk_data(None, None), texts)
    handout = export.handout_html(talk, texts)
    assert handout.count("<section>") == STEP_COUNT
    assert all(html_text.inline(s.notes[-1]) in handout for s in texts.steps)


def test_png_export_without_a_browser_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("WISEFT_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(WiseftError, match="need a Chromium browser.*--format html"):
        export.find_browser()


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
def test_cli_writes_full_hd_pngs_a_text_pdf_and_a_notes_handout(tmp_path):
    from app_pair import require_browser
    from PIL import Image

    require_browser()
    result = run_cli("talk", "export", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    pngs = sorted((tmp_path / "png_en").glob("step*.png"))
    assert [p.name for p in pngs] == [f"step{i:02d}.png" for i in range(1, STEP_COUNT + 1)]
    assert {Image.open(p).size for p in pngs} == {(1920, 1080)}
    assert len(set(p.read_bytes() for p in pngs)) == STEP_COUNT  # every step looks different
    pdf = (tmp_path / "talk_en.pdf").read_bytes()
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == STEP_COUNT
    assert b"/Font" in pdf and b"/Image" not in pdf.split(b"/Font")[0][:0]  # text, not pictures of text
    handout = (tmp_path / "notes_en.pdf").read_bytes()
    assert handout.startswith(b"%PDF") and b"/Font" in handout


def test_the_why_step_shows_the_landscape_once_measured_and_accuracy_along_alpha_before():
    from wiseft_core.inspection.landscape import LandscapePath

    alphas = [round(-0.5 + 0.1 * k, 1) for k in range(21)]
    path = LandscapePath("zero-shot to fine-tuned", "demo:photo", alphas, [1 + 0.2 * (a - 0.5) ** 2 for a in alphas],
                         [60.0] * 21, 100)
    texts = load_texts("en")
    why = STEP["why"]
    before = build_slide(why, talk_data.build_talk_data(None, None), texts)
    assert before.panels[0].figure.layout.xaxis.title.text == texts.labels["alpha_axis"]  # accuracy along alpha
    shifted = LandscapePath("zero-shot to fine-tuned", "demo:sketch", alphas, [2.0] * 21, [50.0] * 21, 100)
    after = build_slide(why, talk_data.TalkData("demo", [], [], [], {}, landscape=[path, shifted]), texts)
    names = [t.name for t in after.panels[0].figure.data if t.name]
    assert len(after.panels) == 1 and names == ["zero-shot ↔ fine-tuned<br>(barrier 0.00)"]  # the reference only
    assert "Frankle" in after.text_html and "barrier" in after.text_html.lower()
    russian = build_slide(why, talk_data.TalkData("demo", [], [], [], {}, landscape=[path]), load_texts("ru"))
    assert [t.name for t in russian.panels[0].figure.data if t.name] == ["zero-shot ↔ дообученная<br>(барьер 0.00)"]
    assert russian.panels[0].figure.layout.annotations[0].text == "средняя кросс-энтропия"


@needs_demo
def test_the_live_steps_slider_redraws_from_frames_over_the_precomputed_grid(demo_data):
    from wiseft_core.engine.predict import top_k
    from wiseft_core.talk.deck import build_deck

    texts = load_texts("ru")
    payload = build_deck(demo_data, texts, TalkState(alpha=0.5))
    live = payload["live"]
    assert live["alphas"] == list(demo_data.live_alphas) and live["labels"][live["active"]] == "0.5"
    assert live["step"] == STEP["live"] and 'class="deck-range"' in payload["html"]
    assert payload["figures"][live["fig"]]["layout"]["title"]["text"] == "α = 0.5"  # the middle chart follows α
    i = demo_data.live_default
    for k in (0, 7, 20):
        expected = [texts.classname(c) for c, _ in top_k(demo_data.live_probs[k, i], demo_data.classnames,
                                                          slides.TOP_K)][::-1]
        assert [y.replace("<br>", " ") for y in live["frames"][k]["y"]] == expected  # class names in Russian
    assert all(not any("a" <= ch <= "z" for ch in name.replace("<br>", " ")) for name in live["frames"][0]["y"])


def test_the_poll_step_compares_the_rooms_answers_with_the_alpha_measured_best_on_the_sweep():
    from wiseft_core.serve.audience import POLL_ALPHAS
    from wiseft_core.talk.deck import deck_payload

    sweep = talk_data.TalkData("demo", [
        {"finetuning": "end-to-end", "ensemble": "weights", "alpha": a, "reference": ref, "avg_shifts": shifts}
        for a, ref, shifts in ((0.0, 70.0, 60.0), (0.3, 90.0, 68.5), (0.5, 95.0, 66.0), (0.7, 96.5, 63.0),
                               (1.0, 96.0, 55.0))], [], [], {})
    assert slides.best_alphas(sweep) == {"avg_shifts": (0.3, 68.5), "reference": (0.7, 96.5)}
    for lang, words in (("en", "best on the shifts<br>α = 0.3 (68.5 %)"),
                        ("ru", "лучший на сдвигах<br>α = 0.3 (68.5 %)")):
        texts = load_texts(lang)
        slide = build_slide(STEP["poll"], sweep, texts)
        figure = slide.panels[0].figure
        assert list(figure.data[0].x) == list(POLL_ALPHAS) and set(figure.data[0].y) == {0}
        assert [s.x0 for s in figure.layout.shapes] == [0.3, 0.7]
        assert words in [a.text for a in figure.layout.annotations]
        assert "0.3" in slide.text_html and "0.7" in slide.text_html
        payload = deck_payload([slide], texts)
        assert payload["poll"] == {"fig": 0, "title": texts.labels["poll_answers"]}
        assert "{n}" in payload["poll"]["title"]
    without = build_slide(STEP["poll"], talk_data.TalkData("", [], [], [], {}), load_texts("en"))
    assert not without.panels[0].figure.layout.shapes and "—" in without.text_html  # no sweep: no measured answer


def test_long_class_names_on_the_live_step_take_two_lines_split_at_their_middle_space():
    from wiseft_core.talk.figures import two_lines

    assert two_lines("большой треугольник") == "большой<br>треугольник"
    assert two_lines("a very long class name") == "a very long<br>class name"
    assert two_lines("large star") == "large star" and two_lines("hippopotamuses") == "hippopotamuses"


def test_russian_texts_keep_no_calques_and_no_english_labels():
    raw = (TEXTS_DIR / "ru.json").read_text(encoding="utf-8").lower()
    assert not [w for w in ("бассейн", "сид", "свип", "батч") if re.search(rf"\b{w}", raw)]
    en, ru = load_texts("en"), load_texts("ru")
    names = {"prediction_at", "missing", "t1_zeroshot", "zero_shot", "wiseft_half", "alpha0",
             "soups_curve"}  # α, names: the same
    same = [k for k in en.labels if en.labels[k] == ru.labels[k] and k not in names]
    assert not same, same
    assert all(any("а" <= ch <= "я" for ch in ru.classname(c)) for c in en.classes)


def test_a_teachers_plan_hides_reorders_and_adds_steps_without_code(tmp_path, monkeypatch):
    plan = {"order": ["title", "quiz", "live", "cost", "takeaways"], "hide": ["cost"],
            "add": [{"id": "quiz", "after": "title", "title": {"en": "Your guess", "ru": "Ваша догадка"},
                     "body": {"en": ["- Which α is best?"], "ru": ["- Какой α лучше?"]}, "notes": ["Ask the room."]}]}
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    monkeypatch.setenv("WISEFT_TALK_PLAN", str(tmp_path / "plan.json"))
    load_texts.cache_clear()
    try:
        texts = load_texts("ru")
        assert [s.id for s in texts.steps] == ["title", "quiz", "live", "takeaways"]
        talk = build_talk(talk_data.build_talk_data(None, None), texts)
        assert [s.title for s in talk][1] == "Ваша догадка" and "Какой α лучше?" in talk[1].text_html
        assert slides.notes_for(4, texts)[2] is None and len(talk) == 4
        (tmp_path / "plan.json").write_text(json.dumps({"hide": ["nope"]}), encoding="utf-8")
        load_texts.cache_clear()
        with pytest.raises(WiseftError, match="unknown step ids \\['nope'\\]"):
            load_texts("en")
    finally:
        monkeypatch.delenv("WISEFT_TALK_PLAN")
        load_texts.cache_clear()


def shown_steps(tmp_path, monkeypatch, plan: dict, lang: str = "en") -> list[str]:
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    monkeypatch.setenv("WISEFT_TALK_PLAN", str(tmp_path / "plan.json"))
    load_texts.cache_clear()
    try:
        return [s.id for s in load_texts(lang).steps]
    finally:
        monkeypatch.delenv("WISEFT_TALK_PLAN")
        load_texts.cache_clear()


def test_the_soups_step_is_optional_until_a_teachers_plan_shows_it(tmp_path, monkeypatch):
    assert "soups" not in [s.id for s in load_texts("en").steps] and slides.OPTIONAL_STEP_IDS == ("soups",)
    raw = json.loads((TEXTS_DIR / "ru.json").read_text(encoding="utf-8"))
    assert [s["id"] for s in raw["steps"] if s.get("optional")] == ["soups"]
    shown = shown_steps(tmp_path, monkeypatch, {"show": ["soups"]}, "ru")
    assert shown == [*slides.STEP_IDS[:slides.STEP_IDS.index("results") + 1], "soups", "takeaways", "sources"]
    assert shown_steps(tmp_path, monkeypatch, {"order": ["title", "soups", "sources"]}) == ["title", "soups", "sources"]
    assert "soups" not in shown_steps(tmp_path, monkeypatch, {"hide": ["soups", "cost"]})
    with pytest.raises(WiseftError, match="show names \\['soup'\\]"):
        shown_steps(tmp_path, monkeypatch, {"show": ["soup"]})


def soups_texts(tmp_path, monkeypatch, lang: str):
    (tmp_path / "plan.json").write_text(json.dumps({"show": ["soups"]}), encoding="utf-8")
    monkeypatch.setenv("WISEFT_TALK_PLAN", str(tmp_path / "plan.json"))
    load_texts.cache_clear()
    return load_texts(lang)


@pytest.mark.parametrize("lang", LANGS)
def test_the_soups_step_shows_the_published_cloud_its_soups_and_a_wise_ft_curve(tmp_path, monkeypatch, lang):
    texts = soups_texts(tmp_path, monkeypatch, lang)
    try:
        data = talk_data.build_talk_data(None, None)
        slide = build_slide([s.id for s in texts.steps].index("soups") + 1, data, texts)
        traces = {t.name: t for t in slide.panels[0].figure.data}
        assert len(traces[texts.labels["soups_cloud"]].x) == 72
        assert round(traces[texts.labels["greedy_soup"]].x[0], 2) == 81.03
        assert round(traces[texts.labels["uniform_soup"]].y[0], 2) == 51.58
        curve = traces[texts.labels["soups_curve"]]
        assert len(curve.x) == 21 and curve.x[0] < curve.x[-1] and max(curve.x) > curve.x[-1]  # alpha order
        assert "81.03" in slide.text_html and "80.39" in slide.text_html and "47.97" in slide.text_html
        assert slides.demo_soups_line(texts) in html.unescape(slide.text_html)
        html_file = export.talk_html(build_talk(data, texts), texts)
        assert texts.step("soups").title in html.unescape(html_file)
    finally:
        load_texts.cache_clear()


def test_the_demo_soups_line_is_read_from_the_csv_each_time(tmp_path):
    texts = load_texts("en")
    source = slides.DEMO_SOUPS_CSV.read_text(encoding="utf-8").splitlines()
    greedy_test = next(i for i, line in enumerate(source) if line.startswith("greedy soup,") and ",test," in line)
    cells = source[greedy_test].split(",")
    cells[7] = "12.34"  # the reference ("photo") column of the greedy soup's test row
    source[greedy_test] = ",".join(cells)
    (tmp_path / "soups.csv").write_text("\n".join(source) + "\n", encoding="utf-8")
    line = slides.demo_soups_line(texts, tmp_path / "soups.csv")
    assert "greedy soup 12.3 %" in line and line != slides.demo_soups_line(texts)
    assert slides.demo_soups_line(texts, tmp_path / "missing.csv") == texts.labels["demo_soups_missing"]


def test_the_title_step_links_the_audience_page_with_a_qr_code():
    state = TalkState(audience_url="http://10.0.0.2:8501/?page=audience&room=ab12", reviewer="Злата")
    slide = build_slide(1, talk_data.TalkData("", [], [], [], {}), load_texts("ru"), state)
    assert "<svg" in slide.text_html and "10.0.0.2:8501/?page=audience&amp;room=ab12" in slide.text_html
    assert "Рецензент-исследователь: <strong>Злата</strong>" in slide.text_html


def test_results_show_the_full_table_one_with_the_clip_rows_and_the_best_values_marked():
    texts = load_texts("ru")
    table = build_slide(STEP["results"], talk_data.build_talk_data(None, None), texts).panels[0].html
    for number in ("76.2", "85.4", "74.8", "81.9"):  # CLIP paper rows; the "Avg ref., shifts" column
        assert number in table
    assert texts.labels["avg_ref_shifts_col"] in table and texts.labels["t1_wise_e2e_opt"] in table
    assert '<td class="best">87.1</td>' in table and '<td class="best">81.9</td>' in table
    assert table.count('class="best"') == 9  # one per column; V2 has a tie (79.5 twice)


def test_the_marks_summarise_the_seminars_story():
    texts = load_texts("en")
    html_ = build_slide(STEP["tradeoff"], talk_data.build_talk_data(None, None), texts).panels[0].html
    rows = re.findall(r"<tr[^>]*><th>([^<]*)</th><td>([^<]*)</td><td>([^<]*)</td></tr>", html_)
    assert rows == [("Zero-shot", "✓", "✓"), ("Fine-tuned", "✓", "✗"), ("WiSE-FT", "✓", "✓")]


def test_algorithm_one_is_the_papers_text_with_both_functions():
    assert slides.ALGORITHM_1.startswith("def wse(model, zeroshot_checkpoint, finetuned_checkpoint, alpha):")
    assert "def wise_ft(model, dataset, zeroshot_checkpoint, alpha, hparams):" in slides.ALGORITHM_1
    assert 'theta_0 = torch.load(zeroshot_checkpoint)["state_dict"]' in slides.ALGORITHM_1


def test_a_noisy_machine_is_said_to_be_too_noisy_to_tell_the_cost_ratio():
    quiet = talk_data.Costs(10.0, 20.0, 1.0, 12, "cpu", 1, ratios=(1.8, 1.9, 2.1, 2.2))
    busy = talk_data.Costs(10.0, 20.0, 1.0, 12, "cpu", 1, ratios=(0.9, 1.2, 2.0, 5.5, 6.0))
    assert quiet.ratio == 2.0 and not quiet.too_noisy
    assert busy.ratio == 2.0 and busy.too_noisy
    texts = load_texts("en")
    assert "median of 4 interleaved runs, 1.9–2.1× between quartiles" in slides._ratio_note(quiet, texts)
    assert "0.9× to 6.0×" in slides._ratio_note(busy, texts)
