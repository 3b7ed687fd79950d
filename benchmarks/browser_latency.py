"""Press-to-paint of the Playground's alpha slider in a real browser, against a bare Streamlit slider.

Starts ``streamlit run app.py`` (the demo pair) and a bare app whose slider only prints
"Prediction at α = <value>" (the floor any Streamlit page pays), drives both with headless Debian
Chromium through Playwright in the same run, and reports:

- press-to-paint: keyboard arrow on the slider until the new "Prediction at α = …" text is painted
  (keydown time to the animation frame that first shows it, both taken in the page), median and
  worst of ``--presses`` presses with two gallery images, app / floor ratios;
- drag continuity: distinct alphas painted while the thumb is dragged across [0, 1] in one second;
- first answer: from the upload of a new image finishing (the upload request's response) to its
  prediction being painted (each upload after the previous image's chart has filled in, so the
  server is otherwise idle), against 1.5 x (set_alpha + one forward) measured here for the same
  pair, for the demo pair and for a ViT-B-32 pair with random weights (``--skip-vit`` leaves it out);
  the bare app's own upload-to-paint (it only prints the file's name) is measured in the same run, so
  the app's share (its time minus that floor) can be compared with the forward; medians of ``--uploads``
  uploads of never-seen images.

Cold start (``--cold-start``, the room/i18n rows): a new server each time, the time from navigation to the
first text painted in the page's main area, for the app and for the bare app (same run, median of
``--cold-runs``), and from navigation to the Playground's first prediction on the demo pair.

Talk rows: step change, from a PageDown/PageUp keydown to the animation frame that first shows the
next step's heading (in-page times), median and worst of ``--presses`` presses; and ten PageDowns at
5 presses per second, counting the steps the deck, the URL and the server's room (the presenter view's
source) end on (none lost when all say 11).

``python benchmarks/browser_latency.py [--json] [--presses 20] [--uploads 5] [--skip-vit] [--first-answer-only]
[--cold-start [--cold-runs 3]] [--talk-only]``
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from wiseft_core import testing
from wiseft_core.demo.assets import DEMO_FINETUNED, DEMO_ZEROSHOT
from wiseft_core.engine.pair import load_pair
from wiseft_core.engine.predict import to_batch
from wiseft_core.files.images import open_image
from wiseft_core.serve import alpha_grid
from wiseft_core.serve.app_launch import default_threads
from wiseft_core.testing import CHROMIUM, CHROMIUM_ARGS, REPO, streamlit_server

FLOOR_APP = '''import streamlit as st

alpha = st.slider("α", 0.0, 1.0, 0.5, 0.05)
st.write(f"Prediction at α = {alpha:g}: floor")
upload = st.file_uploader("Upload images", type=["png"])
if upload is not None:
    st.write(f"Received {upload.name} ({len(upload.getvalue())} bytes)")
'''

WATCH_JS = """(prefix) => {
  window.__paint = null;
  const look = () => {
    if (document.body.innerText.includes(prefix)) { window.__paint = performance.now(); return; }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""

SAMPLER_JS = """() => {
  window.__seen = new Set(); window.__sampling = true;
  const look = () => {
    for (const m of document.body.innerText.matchAll(/Prediction at α = (-?[0-9.]+):/g)) window.__seen.add(m[1]);
    if (window.__sampling) requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""


def fmt(alpha: float) -> str:
    return f"{round(alpha, 2):g}"


def press_to_paint(page, slider, presses: int) -> list[float]:
    """Milliseconds from keydown to the painted answer, for ``presses`` arrow presses from alpha 0.5."""
    page.evaluate("() => document.addEventListener('keydown', () => { window.__t0 = performance.now(); }, true)")
    slider.focus()
    alpha, times = 0.5, []
    for i in range(presses):
        key, step = ("ArrowRight", 0.05) if i < presses // 2 else ("ArrowLeft", -0.05)
        alpha = round(alpha + step, 2)
        page.evaluate(WATCH_JS, f"Prediction at α = {fmt(alpha)}:")
        page.keyboard.press(key)
        page.wait_for_function("() => window.__paint !== null", timeout=60_000)
        times.append(page.evaluate("() => window.__paint - window.__t0"))
        page.wait_for_timeout(150)  # let the server's echo of this step land before the next press
    return times


def summary(times: list[float]) -> dict:
    return {"median_ms": round(statistics.median(times), 1), "worst_ms": round(max(times), 1), "n": len(times)}


def drag_alphas(page, slider) -> int:
    """Distinct alphas painted while dragging the thumb from 0 to 1 in one second (20 moves)."""
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.evaluate(SAMPLER_JS)
    for k in range(1, 21):
        page.mouse.move(box["x"] + 2 + (box["width"] - 4) * k / 20, y)
        page.wait_for_timeout(50)
    page.evaluate("() => { window.__sampling = false; }")
    page.mouse.up()
    return len(page.evaluate("() => [...window.__seen]"))


def fresh_png(seed: int) -> bytes:
    generator = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(64, 64, 3, generator=generator) * 255).to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def set_alpha_forward_ms(zeroshot: str, finetuned: str, image: bytes, repeats: int = 5) -> tuple[float, float]:
    """(set_alpha + one forward, the forward alone) for one image, medians, as the app's live path does them."""
    pair = load_pair(zeroshot, finetuned)
    batch = to_batch([open_image(image)], pair.preprocessing)
    interpolator = pair.new_interpolator()
    alpha_grid.live_weight_space_logits(interpolator, batch, 0.3)
    both, alone = [], []
    for i in range(repeats):
        start = time.perf_counter()
        alpha_grid.live_weight_space_logits(interpolator, batch, 0.31 + 0.01 * i)  # a new alpha: set_alpha runs
        both.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        alpha_grid.forward_logits(interpolator.model, batch)
        alone.append((time.perf_counter() - start) * 1000)
    return statistics.median(both), statistics.median(alone)


def floor_upload_ms(page, base: str, image_path: Path) -> float:
    """The bare app: ms from the upload's response to "Received …" being painted (Streamlit's own round trip)."""
    page.goto(f"{base}/")
    page.get_by_text("Prediction at α = 0.5:").wait_for()
    page.wait_for_timeout(1000)
    uploader = page.get_by_test_id("stFileUploader")
    with page.expect_response(lambda r: "/_stcore/upload_file" in r.url and r.request.method == "PUT") as response:
        uploader.locator("input[type=file]").set_input_files(str(image_path))
    response.value.finished()
    done = time.perf_counter()
    page.get_by_text(f"Received {image_path.name}").wait_for(timeout=60_000)
    return (time.perf_counter() - done) * 1000


def first_answer_row(ms: float, floor_ms: float, forward_ms: tuple[float, float]) -> dict:
    """The app's time, Streamlit's floor for an upload, and the app's own share against set_alpha + forward.

    The forward alone is reported too: the pool keeps a model at the viewer's alpha, so a new image
    usually needs no set_alpha.
    """
    both, alone = forward_ms
    return {"ms": round(ms), "floor_ms": round(floor_ms), "set_alpha_forward_ms": round(both, 1),
            "forward_only_ms": round(alone, 1), "ratio": round(ms / both, 2),
            "ratio_over_floor": round(max(ms - floor_ms, 0.0) / both, 2), "ratio_to_forward": round(ms / alone, 2)}


def first_answer_ms(page, base: str, image_path: Path) -> float:
    """Upload a new image; ms from the upload's response to its prediction being painted."""
    page.goto(f"{base}/playground?sample=none")
    page.get_by_role("heading", name="Playground").wait_for()
    page.get_by_text("Pick a sample").first.wait_for(timeout=300_000)  # the page's first run is over
    page.wait_for_timeout(1500)
    page.get_by_role("tab", name="Upload").click()
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Upload images")
    prefix = "Prediction at α = 0.5: "
    with page.expect_response(lambda r: "/_stcore/upload_file" in r.url and r.request.method == "PUT") as response:
        uploader.locator("input[type=file]").set_input_files(str(image_path))
    response.value.finished()
    done = time.perf_counter()
    page.wait_for_function(
        """(prefix) => [...document.querySelectorAll('.wiseft-verdict')].some(
               e => e.innerText.startsWith(prefix) && !e.innerText.endsWith('…'))""", arg=prefix, timeout=120_000)
    ms = (time.perf_counter() - done) * 1000
    # Let this image's chart fill in before the next upload, so each first answer meets an idle server
    # (otherwise it shares the CPU with the previous image's grid forwards).
    page.wait_for_selector('.wiseft-live[data-pending="0"]', timeout=300_000)
    return ms


HEADING_JS = """(title) => {
  window.__paint = null;
  const look = () => {
    const h = document.querySelector(".wiseft-deck .slide.active h1");
    if (h && h.textContent === title) { window.__paint = performance.now(); return; }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""


def talk_step_change(page, app: str, presses: int) -> dict:
    """Key press -> next step's heading painted (in-page), and 5 presses/s with none lost."""
    from wiseft_core.talk import STEP_COUNT, load_texts

    titles = [s.title for s in load_texts("en").steps]
    page.goto(f"{app}/talk?step=1&lang=en&room=bench1")
    page.wait_for_function("window.talkReady === 1", timeout=180_000)
    page.wait_for_timeout(3000)  # the other steps' figures are drawn in idle moments
    page.evaluate("() => window.addEventListener('keydown', () => { window.__t0 = performance.now(); }, true)")
    step, times = 1, []
    for i in range(presses):
        forward = (i // (STEP_COUNT - 1)) % 2 == 0
        step += 1 if forward else -1
        page.evaluate(HEADING_JS, titles[step - 1])
        page.keyboard.press("PageDown" if forward else "PageUp")
        page.wait_for_function("window.__paint !== null")
        times.append(page.evaluate("window.__paint - window.__t0"))
        page.wait_for_timeout(150)
    page.goto(f"{app}/talk?step=1&lang=en&room=bench2")
    page.wait_for_function("window.talkReady === 1", timeout=180_000)
    page.wait_for_timeout(3000)
    for _ in range(10):
        page.keyboard.press("PageDown")
        page.wait_for_timeout(200)
    page.wait_for_timeout(3000)
    deck = int(page.evaluate("document.querySelector('.wiseft-deck').dataset.step"))
    url = int(page.evaluate("new URLSearchParams(location.search).get('step')"))
    notes = page.context.browser.new_page()  # the presenter view shows the server room's step
    notes.goto(f"{app}/" + page.evaluate("window.wiseftTalkNotesUrl"))
    room = notes.get_by_text(re.compile(rf"^\d+ / {STEP_COUNT} · ")).first.inner_text(timeout=60_000)
    notes.close()
    return {"press_to_heading": summary(times), "five_per_second": {"presses": 10, "expected": 11, "deck": deck,
                                                                     "url": url, "room": int(room.split(" /")[0])}}


def press_and_drag(page, app: str, floor: str, presses: int) -> dict:
    """Press-to-paint in the bare floor app then in the Playground (same run), and the drag count."""
    page.goto(f"{floor}/")
    page.get_by_text("Prediction at α = 0.5:").wait_for()
    page.wait_for_timeout(1000)
    floor_times = press_to_paint(page, page.get_by_role("slider").first, presses)
    page.goto(f"{app}/playground?alpha=0.5")
    page.wait_for_selector('.wiseft-live[data-pending="0"]', timeout=180_000)
    page.wait_for_timeout(1500)
    slider = page.locator('input[type="range"]').first
    app_times = press_to_paint(page, slider, presses)
    ptp = {"app": summary(app_times), "floor": summary(floor_times)}
    ptp["median_ratio"] = round(ptp["app"]["median_ms"] / ptp["floor"]["median_ms"], 2)
    ptp["worst_ratio"] = round(ptp["app"]["worst_ms"] / ptp["floor"]["median_ms"], 2)
    return {"press_to_paint": ptp, "drag_distinct_alphas": drag_alphas(page, slider)}


# ---- cold start (room/i18n rows): first text and first prediction on a new server ----

FIRST_TEXT_JS = """() => {
  window.__firstText = null; window.__firstVerdict = null;
  const look = () => {
    const main = document.querySelector('[data-testid="stMain"]');
    if (window.__firstText === null && main && main.innerText.trim()) window.__firstText = performance.now();
    const verdict = document.querySelector('.wiseft-verdict');
    if (verdict && /\\(\\d+%\\)/.test(verdict.innerText)) { window.__firstVerdict = performance.now(); return; }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""


def cold_visit(browser, script: Path, log: Path, path: str, prediction: bool) -> dict:
    """A new server; ms from navigation start to the first text (and to the first prediction) painted."""
    with streamlit_server(script, log) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.set_default_timeout(300_000)
        page.add_init_script(f"({FIRST_TEXT_JS})()")
        page.goto(f"{base}{path}")
        page.wait_for_function("() => window.__firstText !== null")
        row = {"first_text_ms": page.evaluate("() => window.__firstText")}
        if prediction:
            page.wait_for_function("() => window.__firstVerdict !== null")
            row["first_prediction_ms"] = page.evaluate("() => window.__firstVerdict")
        context.close()
    return row


def cold_start(browser, tmp: Path, floor_script: Path, runs: int) -> dict:
    """Medians of ``runs`` cold servers each: the bare app, the app's Home, the app's Playground (interleaved)."""
    bare, home, play = [], [], []
    for i in range(runs):
        bare.append(cold_visit(browser, floor_script, tmp / f"cold_floor{i}.log", "/", False)["first_text_ms"])
        home.append(cold_visit(browser, REPO / "app.py", tmp / f"cold_home{i}.log", "/", False)["first_text_ms"])
        play.append(cold_visit(browser, REPO / "app.py", tmp / f"cold_play{i}.log", "/playground?alpha=0.5", True))
    med = statistics.median
    row = {"bare_first_text_ms": round(med(bare)), "home_first_text_ms": round(med(home)),
           "playground_first_text_ms": round(med(r["first_text_ms"] for r in play)),
           "playground_first_prediction_ms": round(med(r["first_prediction_ms"] for r in play)), "runs": runs}
    row["home_ratio"] = round(row["home_first_text_ms"] / row["bare_first_text_ms"], 2)
    row["playground_ratio"] = round(row["playground_first_text_ms"] / row["bare_first_text_ms"], 2)
    row["prediction_after_text_ms"] = row["playground_first_prediction_ms"] - row["playground_first_text_ms"]
    return row


def print_cold_start(row: dict) -> None:
    print(f"cold start, median of {row['runs']} new servers: first text bare {row['bare_first_text_ms']} ms, "
          f"Home {row['home_first_text_ms']} ms ({row['home_ratio']}x, goal <= 1.3x), Playground "
          f"{row['playground_first_text_ms']} ms ({row['playground_ratio']}x); first prediction "
          f"{row['playground_first_prediction_ms']} ms = first text + {row['prediction_after_text_ms']} ms "
          "(goal <= + 2000 ms)")


def vit_first_answer(page, tmp: Path, images: list[Path], uploads: int, floor_ms: float) -> dict:
    """The first-answer row for a ViT-B-32 pair at random weights (a server of its own, the pair loaded once)."""
    zeroshot, finetuned = testing.write_random_pair(tmp / "vit", model_name="ViT-B-32")
    with streamlit_server(REPO / "app.py", tmp / "vit.log", ["--zeroshot", str(zeroshot), "--finetuned",
                                                              str(finetuned)], startup_s=300) as vit:
        page.goto(f"{vit}/playground?sample=none")  # loads the pair once (cached for the measured visit)
        page.get_by_role("heading", name="Playground").wait_for()
        page.get_by_text("Pick a sample").first.wait_for(timeout=300_000)
        vit_ms = statistics.median(first_answer_ms(page, vit, image) for image in images[uploads:])
    forward = set_alpha_forward_ms(str(zeroshot), str(finetuned), images[1].read_bytes(), repeats=3)
    return first_answer_row(vit_ms, floor_ms, forward)


def print_rows(results: dict, presses: int) -> None:
    talk = results["talk"]
    print(f"talk step change, key press -> next heading painted, median of {presses}: "
          f"{talk['press_to_heading']['median_ms']} ms (worst {talk['press_to_heading']['worst_ms']}); 10 presses "
          f"at 5/s end on deck step {talk['five_per_second']['deck']}, URL step {talk['five_per_second']['url']}, "
          f"room step {talk['five_per_second']['room']} "
          "(11 = none lost)")
    ptp = results.get("press_to_paint")
    if ptp:
        print(f"press-to-paint, median of {presses}: app {ptp['app']['median_ms']} ms "
              f"(worst {ptp['app']['worst_ms']}), bare Streamlit floor {ptp['floor']['median_ms']} ms "
              f"(worst {ptp['floor']['worst_ms']}): {ptp['median_ratio']}x median, {ptp['worst_ratio']}x "
              "worst/floor")
        print(f"drag 0 -> 1 in 1 s: {results['drag_distinct_alphas']} distinct alphas painted")
    for name, row in results["first_answer"].items():
        print(f"first answer ({name}): {row['ms']} ms after the upload (bare Streamlit upload: {row['floor_ms']} ms), "
              f"set_alpha + forward {row['set_alpha_forward_ms']} ms: {row['ratio']}x (target <= 1.5x), the app's "
              f"share {row['ratio_over_floor']}x; the forward alone {row['forward_only_ms']} ms: "
              f"{row['ratio_to_forward']}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--skip-vit", action="store_true")
    parser.add_argument("--first-answer-only", action="store_true", help="only the first-answer measurements")
    parser.add_argument("--talk-only", action="store_true", help="only the talk's step-change rows")
    parser.add_argument("--uploads", type=int, default=5, help="first answers per pair (median; default 5)")
    parser.add_argument("--cold-start", action="store_true", help="only the cold-start rows (new servers)")
    parser.add_argument("--cold-runs", type=int, default=3, help="new servers per cold-start row (median)")
    args = parser.parse_args()
    torch.set_num_threads(default_threads())
    from playwright.sync_api import sync_playwright

    results: dict = {"presses": args.presses}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        floor_script = tmp / "floor_app.py"
        floor_script.write_text(FLOOR_APP)
        images = []
        for seed in range(2 * args.uploads):  # a never-seen image per upload: no grid, no cache
            images.append(tmp / f"new_image_{seed}.png")
            images[-1].write_bytes(fresh_png(seed))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(120_000)
            if args.cold_start:
                results = {"cold_start": cold_start(browser, tmp, floor_script, args.cold_runs)}
                browser.close()
                print(json.dumps(results, indent=2)) if args.json else print_cold_start(results["cold_start"])
                return
            with streamlit_server(REPO / "app.py", tmp / "app.log") as app, \
                    streamlit_server(floor_script, tmp / "floor.log") as floor:
                results["talk"] = talk_step_change(page, app, args.presses)
                if args.talk_only:
                    browser.close()
                    print(json.dumps(results, indent=2))
                    return
                if not args.first_answer_only:
                    results.update(press_and_drag(page, app, floor, args.presses))
                demo_ms = statistics.median(first_answer_ms(page, app, image) for image in images[:args.uploads])
                floor_ms = statistics.median(floor_upload_ms(page, floor, image) for image in images[:args.uploads])
            forward = set_alpha_forward_ms(str(DEMO_ZEROSHOT), str(DEMO_FINETUNED), images[0].read_bytes())
            results["first_answer"] = {"demo": first_answer_row(demo_ms, floor_ms, forward)}
            if not args.skip_vit:
                results["first_answer"]["vit_b_32"] = vit_first_answer(page, tmp, images, args.uploads, floor_ms)
            browser.close()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print_rows(results, args.presses)



if __name__ == "__main__":
    main()
