"""Take the talk home: one self-contained HTML file, a folder of 1920x1080 PNGs, and a PDF.

The HTML is the app's deck (``deck.js``) with plotly.js embedded once and every image inlined; it
needs no network or Python: keys move between steps, N opens the presenter view in its own window.
PNGs are screenshots of that same file in a headless Chromium (Playwright); the PDF is Chromium's
print of it (text stays text: selectable, searchable), plus a notes handout.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from plotly.offline import get_plotlyjs

from wiseft_core.errors import WiseftError
from wiseft_core.talk.deck import DECK_CSS, DECK_JS, deck_payload, payload_json
from wiseft_core.talk.slides import Slide
from wiseft_core.talk.texts import Texts
from wiseft_core.talk.theme import PANEL_CSS

SLIDE_SIZE = (1920, 1080)
BROWSER_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]

EXPORT_CSS = """
html, body { margin: 0; height: 100%; overflow: hidden; background: #fff; }
#deck { position: fixed; inset: 0; }
"""

BOOT_JS = """
(function () {
  const payload = JSON.parse(document.getElementById("talk-payload").textContent);
  let notesWindow = null;
  const deck = wiseftDeckCreate(document.getElementById("deck"), {
    onStep: function (step) {
      if (location.hash !== "#" + step) { history.replaceState(null, "", "#" + step); }
    },
    onNotes: function () {  // the presenter view in its own window, never on the projected slide
      if (notesWindow && !notesWindow.closed) { notesWindow.focus(); return; }
      notesWindow = window.open("", "wiseft-talk-notes", "width=1100,height=800");
      if (notesWindow) { wiseftNotesView(deck, notesWindow, payload.minutes || 20); }
    }
  });
  window.talkDeck = deck;
  window.talkShow = function (index) { deck.show(index, "remote"); };
  window.talkDrawAll = function () { return deck.drawAll(); };
  payload.step = parseInt(location.hash.slice(1), 10) || 1;
  deck.mount(payload);
  window.addEventListener("hashchange", function () {
    deck.show((parseInt(location.hash.slice(1), 10) || 1) - 1, "hash");
  });
})();
"""


def talk_html(slides: Sequence[Slide], texts: Texts, live: dict | None = None) -> str:
    """The whole talk as one HTML document: plotly.js and the deck once, figures as JSON, images as data URIs."""
    payload = deck_payload(slides, texts, 1, live)
    title = html.escape(slides[0].title if slides else "WiSE-FT")
    return (
        f'<!DOCTYPE html><html lang="{texts.lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{PANEL_CSS}{DECK_CSS}{EXPORT_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        '<div id="deck" class="wiseft-deck"></div>'
        f'<script type="application/json" id="talk-payload">{payload_json(payload)}</script>'
        f"<script>{DECK_JS}</script><script>{BOOT_JS}</script></body></html>"
    )


def handout_html(slides: Sequence[Slide], texts: Texts) -> str:
    """The speaker notes as a printable handout: each step's title, its text and its notes."""
    parts = [f"<section><h2>{s.step}. {html.escape(s.title)}</h2><div class='talk-text'>{s.text_html}</div>"
             f"<h3>{html.escape(texts.ui['notes'])}</h3><div class='talk-text'>{s.notes_html}</div></section>"
             for s in slides]
    css = ("body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em;color:#000}section{break-inside:avoid;"
           "border-bottom:2px solid #000;padding-bottom:0.6em}.talk-text,.talk-text p,.talk-text li{font-size:14px}"
           "h2{font-size:20px}h3{font-size:15px;margin:0.4em 0}")
    title = html.escape(f"{slides[0].title if slides else 'WiSE-FT'} · {texts.ui['notes']}")
    return (f'<!DOCTYPE html><html lang="{texts.lang}"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{PANEL_CSS}{css}</style></head><body><h1>{title}</h1>{''.join(parts)}</body></html>")


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


class _Chromium:
    """Headless Chromium through Playwright for the PNGs and PDFs, with one clear line when it cannot run."""

    def __enter__(self):
        self.executable = find_browser()
        try:
            from playwright.sync_api import Error, sync_playwright
        except ImportError:
            raise WiseftError("PNG and PDF export need the playwright package (pip install playwright==1.65.2); "
                              "or export only the HTML with --format html") from None
        self.error = Error
        self.manager = sync_playwright()
        try:
            self.browser = self.manager.__enter__().chromium.launch(executable_path=self.executable,
                                                                    args=BROWSER_ARGS)
        except Error as err:
            self.manager.__exit__(None, None, None)
            raise self.fail(err) from None
        return self

    def fail(self, err) -> WiseftError:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return WiseftError(f"the browser at {self.executable} could not render the slides: {first}")

    def page(self, html_path: Path, size: tuple[int, int]):
        page = self.browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.goto(html_path.resolve().as_uri() + "#1")
        return page

    def __exit__(self, kind, err, tb):
        self.browser.close()
        self.manager.__exit__(None, None, None)
        if err is not None and isinstance(err, self.error):
            raise self.fail(err) from None


def screenshot_slides(html_path: Path, out_dir: Path, count: int, size: tuple[int, int] = SLIDE_SIZE) -> list[Path]:
    """One PNG per step of an exported talk, rendered by headless Chromium at ``size``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with _Chromium() as chromium:
        page = chromium.page(html_path, size)
        for step in range(1, count + 1):
            page.evaluate(f"window.talkShow({step - 1})")
            page.wait_for_function(f"window.talkReady === {step}", timeout=30_000)
            page.wait_for_timeout(150)
            path = out_dir / f"step{step:02d}.png"
            page.screenshot(path=str(path))
            paths.append(path)
    return paths


def print_pdfs(html_path: Path, pdf_path: Path, handout_path: Path | None = None,
               size: tuple[int, int] = SLIDE_SIZE) -> list[Path]:
    """The talk as a text PDF (one slide per page, selectable and searchable) and the notes handout (A4)."""
    written = []
    with _Chromium() as chromium:
        page = chromium.page(html_path, size)
        page.wait_for_function("window.talkReady === 1", timeout=30_000)
        page.evaluate("window.talkDrawAll()")
        page.emulate_media(media="print")
        page.wait_for_timeout(300)
        page.pdf(path=str(pdf_path), width=f"{size[0]}px", height=f"{size[1]}px", print_background=True,
                 prefer_css_page_size=True)
        written.append(pdf_path)
        if handout_path is not None:
            notes = chromium.browser.new_page()
            notes.goto(handout_path.with_suffix(".html").resolve().as_uri())
            notes.pdf(path=str(handout_path), format="A4", print_background=True)
            written.append(handout_path)
    return written


def export_talk(slides: Sequence[Slide], texts: Texts, out_dir: str | Path,
                formats: Sequence[str] = ("html", "png", "pdf"), live: dict | None = None) -> dict[str, list[Path]]:
    """Write ``talk_<lang>.html`` and ``notes_<lang>.html`` and, when asked, ``png_<lang>/stepNN.png``,
    ``talk_<lang>.pdf`` (text, one slide a page) and ``notes_<lang>.pdf`` (the handout)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / f"talk_{texts.lang}.html"
    html_path.write_text(talk_html(slides, texts, live), encoding="utf-8")
    handout = out / f"notes_{texts.lang}.html"
    handout.write_text(handout_html(slides, texts), encoding="utf-8")
    written: dict[str, list[Path]] = {"html": [html_path, handout]}
    if "png" in formats:
        written["png"] = screenshot_slides(html_path, out / f"png_{texts.lang}", len(slides))
    if "pdf" in formats:
        written["pdf"] = print_pdfs(html_path, out / f"talk_{texts.lang}.pdf", handout.with_suffix(".pdf"))
    return written


def figure_json_count(document: str) -> int:
    """How many figures an exported document holds (for checks and tests)."""
    return len(exported_payload(document)["figures"])


def exported_payload(document: str) -> dict:
    """The deck payload inside an exported document."""
    start = document.index('id="talk-payload">') + len('id="talk-payload">')
    end = document.index("</script>", start)
    return json.loads(document[start:end].replace("<\\/", "</"))
