"""Take the talk home: one self-contained HTML file, a folder of 1920x1080 PNGs, and a PDF.

The HTML embeds plotly.js once, inlines every image and needs no network or Python: arrow keys
move between steps, N shows the speaker notes. PNGs are screenshots of that same file in a headless
Chromium (Playwright), so slides look identical everywhere; the PDF is those PNGs, one per page.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from wiseft_core.errors import WiseftError
from wiseft_core.talk.slides import Slide
from wiseft_core.talk.texts import Texts
from wiseft_core.talk.theme import PANEL_CSS

SLIDE_SIZE = (1920, 1080)
BROWSER_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]

SLIDE_CSS = """
:root { --talk-font: clamp(24px, 3.3vh, 44px); --talk-thumb: 7.5vh; }
html, body { margin: 0; height: 100%; overflow: hidden; background: #fff; color: #000;
  font-family: "DejaVu Sans", Arial, sans-serif; }
.slide { display: none; position: fixed; inset: 0; box-sizing: border-box; padding: 3vh 3.5vw 5vh;
  flex-direction: column; background: #fff; }
.slide.active { display: flex; }
.slide h1 { font-size: calc(var(--talk-font) * 1.6); margin: 0 0 2vh 0; line-height: 1.15; }
.slide-body { flex: 1; min-height: 0; display: flex; gap: 2.5vw; }
.layout-stack .slide-body { flex-direction: column; gap: 1.5vh; }
.layout-side .slide-body > .talk-text { flex: 0 0 30%; }
.layout-center h1 { text-align: center; margin-top: 12vh; }
.layout-center .slide-body { justify-content: center; }
.layout-center .talk-text { max-width: 80vw; }
.panels { flex: 1; min-height: 0; min-width: 0; display: flex; gap: 1.5vw; }
.dir-column { flex-direction: column; }
.panel { flex: 1 1 0; min-width: 0; min-height: 0; display: flex; flex-direction: column; justify-content: center; }
.panel:has(.talk-live-image) { flex: 0 0 16%; }
.plot { flex: 1; min-height: 0; width: 100%; }
.slide footer { position: absolute; left: 3.5vw; right: 3.5vw; bottom: 1.2vh; display: flex;
  justify-content: space-between; font-size: 24px; color: #333; }
.notes { display: none; position: absolute; right: 1vw; bottom: 5vh; width: 46vw; max-height: 70vh; overflow: auto;
  background: #111; color: #fff; padding: 1em 1.4em; font-size: 24px; border-radius: 6px; z-index: 10; }
.notes h2 { margin-top: 0; font-size: 28px; }
body.show-notes .slide.active .notes { display: block; }
"""

NAV_JS = """
(function () {
  const figures = JSON.parse(document.getElementById("talk-figures").textContent);
  const slides = Array.from(document.querySelectorAll(".slide"));
  let current = -1;
  function render(slide) {
    return Promise.all(Array.from(slide.querySelectorAll(".plot")).map(function (div) {
      if (div.dataset.drawn) { return Plotly.Plots.resize(div); }
      div.dataset.drawn = "1";
      const fig = figures[Number(div.dataset.fig)];
      return Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displayModeBar: false});
    }));
  }
  function show(index) {
    index = Math.max(0, Math.min(slides.length - 1, index));
    if (index === current) { return; }
    current = index;
    window.talkReady = 0;
    slides.forEach(function (s, j) { s.classList.toggle("active", j === index); });
    if (location.hash !== "#" + (index + 1)) { location.hash = "#" + (index + 1); }
    render(slides[index]).then(function () { window.talkReady = index + 1; });
  }
  window.talkShow = show;
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    const key = event.key;
    if (key === "ArrowRight" || key === "PageDown" || key === " " || key === "ArrowDown") { show(current + 1); }
    else if (key === "ArrowLeft" || key === "PageUp" || key === "ArrowUp") { show(current - 1); }
    else if (key === "Home") { show(0); }
    else if (key === "End") { show(slides.length - 1); }
    else if (key === "n" || key === "N") { document.body.classList.toggle("show-notes"); }
    else { return; }
    event.preventDefault();
  });
  window.addEventListener("hashchange", function () { show((parseInt(location.hash.slice(1), 10) || 1) - 1); });
  show((parseInt(location.hash.slice(1), 10) || 1) - 1);
})();
"""


def _slide_html(slide: Slide, texts: Texts, figure_ids: list[int], total: int, footer: str) -> str:
    panels = []
    ids = iter(figure_ids)
    for panel in slide.panels:
        inner = f'<div class="plot" data-fig="{next(ids)}"></div>' if panel.kind == "figure" else panel.html
        panels.append(f'<div class="panel">{inner}</div>')
    panels_html = f'<div class="panels dir-{slide.panel_direction}">{"".join(panels)}</div>' if panels else ""
    return (
        f'<section class="slide layout-{slide.layout}" id="step-{slide.step}" data-step="{slide.step}">'
        f"<h1>{html.escape(slide.title)}</h1>"
        f'<div class="slide-body"><div class="talk-text">{slide.text_html}</div>{panels_html}</div>'
        f'<aside class="notes"><h2>{html.escape(texts.ui["notes"])}</h2>{slide.notes_html}</aside>'
        f"<footer><span>{html.escape(footer)}</span><span>{slide.step} / {total}</span></footer></section>"
    )


def talk_html(slides: Sequence[Slide], texts: Texts, footer: str = "") -> str:
    """The whole talk as one HTML document: plotly.js once, figures as JSON, images as data URIs."""
    figure_json: list[str] = []
    sections = []
    for slide in slides:
        ids = []
        for panel in slide.panels:
            if panel.kind == "figure":
                ids.append(len(figure_json))
                figure_json.append(pio.to_json(panel.figure, validate=False))
        sections.append(_slide_html(slide, texts, ids, len(slides), footer or texts.ui["export_keys_help"]))
    figures = ("[" + ",".join(figure_json) + "]").replace("</", "<\\/")
    title = html.escape(slides[0].title if slides else "WiSE-FT")
    return (
        f'<!DOCTYPE html><html lang="{texts.lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{PANEL_CSS}{SLIDE_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        + "".join(sections)
        + f'<script type="application/json" id="talk-figures">{figures}</script><script>{NAV_JS}</script>'
        "</body></html>"
    )


def find_browser() -> str:
    """A Chromium for PNG/PDF export: $WISEFT_CHROMIUM, else the first Chromium on PATH; a clear error if none."""
    wanted = os.environ.get("WISEFT_CHROMIUM")
    candidates = [wanted] if wanted else ["/usr/bin/chromium", *BROWSER_CANDIDATES]
    for candidate in candidates:
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found:
            return str(found)
    raise WiseftError("PNG and PDF export need a Chromium browser and none was found "
                      f"(looked for {wanted or ', '.join(BROWSER_CANDIDATES)}); install one (Debian: apt-get install "
                      "chromium) or set WISEFT_CHROMIUM, or export only the HTML with --format html")


def screenshot_slides(html_path: Path, out_dir: Path, count: int, size: tuple[int, int] = SLIDE_SIZE) -> list[Path]:
    """One PNG per step of an exported talk, rendered by headless Chromium at ``size``."""
    executable = find_browser()
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise WiseftError("PNG and PDF export need the playwright package (pip install playwright==1.65.2); "
                          "or export only the HTML with --format html") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.goto(html_path.resolve().as_uri() + "#1")
            for step in range(1, count + 1):
                page.evaluate(f"window.talkShow({step - 1})")
                page.wait_for_function(f"window.talkReady === {step}", timeout=30_000)
                page.wait_for_timeout(150)
                path = out_dir / f"step{step:02d}.png"
                page.screenshot(path=str(path))
                paths.append(path)
            browser.close()
    except PlaywrightError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WiseftError(f"the browser at {executable} could not render the slides: {first}") from None
    return paths


def pngs_to_pdf(pngs: Sequence[Path], pdf_path: Path) -> Path:
    """A PDF with one slide per page (the PNGs at 96 dpi, so a page is 20 x 11.25 inches)."""
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in pngs]
    if not images:
        raise WiseftError("no slides to put into the PDF")
    images[0].save(pdf_path, "PDF", save_all=True, append_images=images[1:], resolution=96.0)
    return pdf_path


def export_talk(slides: Sequence[Slide], texts: Texts, out_dir: str | Path,
                formats: Sequence[str] = ("html", "png", "pdf")) -> dict[str, list[Path]]:
    """Write ``talk_<lang>.html`` and, when asked, ``png_<lang>/stepNN.png`` and ``talk_<lang>.pdf``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / f"talk_{texts.lang}.html"
    html_path.write_text(talk_html(slides, texts), encoding="utf-8")
    written: dict[str, list[Path]] = {"html": [html_path]}
    if "png" in formats or "pdf" in formats:
        pngs = screenshot_slides(html_path, out / f"png_{texts.lang}", len(slides))
        if "png" in formats:
            written["png"] = pngs
        if "pdf" in formats:
            written["pdf"] = [pngs_to_pdf(pngs, out / f"talk_{texts.lang}.pdf")]
    return written


def figure_json_count(document: str) -> int:
    """How many figures an exported document holds (for checks and tests)."""
    start = document.index('id="talk-figures">') + len('id="talk-figures">')
    end = document.index("</script>", start)
    return len(json.loads(document[start:end].replace("<\\/", "</")))
