"""The whole talk as one browser deck: every step's HTML, its figures as JSON, the live step's alpha grid.

``deck.js`` shows the steps in the browser (a key press changes the step in one frame, no server round
trip). The app mounts it as a Streamlit element and the export writes it into one HTML file, so both
present the same deck; only the payload's hooks differ (URL and room in the app, ``#step`` in the file).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Sequence
from pathlib import Path

import plotly.io as pio

from wiseft_core.talk.slides import Slide, TalkState, build_talk, live_frames
from wiseft_core.talk.texts import Texts

DECK_JS = (Path(__file__).resolve().parent / "deck.js").read_text(encoding="utf-8")

DECK_CSS = """
.wiseft-deck { position: relative; overflow: hidden; background: #fff; color: #000;
  font-family: "DejaVu Sans", Arial, sans-serif; --talk-font: clamp(24px, 3.3vh, 44px); --talk-thumb: 7.5vh; }
.wiseft-deck .slide { visibility: hidden; position: absolute; inset: 0; box-sizing: border-box;
  padding: 2vh 3vw 0.6vh; display: flex; flex-direction: column; background: #fff; }
.wiseft-deck .slide.active { visibility: visible; z-index: 1; }
.wiseft-deck .slide h1 { font-size: calc(var(--talk-font) * 1.6); margin: 0 0 1.6vh 0; line-height: 1.15;
  color: #000; font-weight: 700; padding: 0; }
.slide-body { flex: 1; min-height: 0; display: flex; gap: 2.5vw; }
.layout-stack .slide-body { flex-direction: column; gap: 1.2vh; }
.layout-side .slide-body > .talk-text { flex: 0 0 30%; }
.layout-center h1 { text-align: center; margin-top: 8vh !important; }
.layout-center .slide-body { justify-content: center; }
.layout-center .talk-text { max-width: 80vw; }
.panels { flex: 1; min-height: 0; min-width: 0; display: flex; gap: 1.5vw; }
.dir-column { flex-direction: column; }
.panel { flex: 1 1 0; min-width: 0; min-height: 0; display: flex; flex-direction: column;
  justify-content: safe center; }
.wiseft-deck .talk-table th, .wiseft-deck .talk-table td { padding: 0.02em 0.3em; }
.dir-column > .panel { flex: 0 0 auto; }
.panel:has(.talk-live-image) { flex: 0 0 16%; }
.plot { flex: 1; min-height: 0; width: 100%; }
.deck-footer { flex: none; display: flex; align-items: center; gap: 1em; height: 40px; font-size: 24px;
  color: #333; white-space: nowrap; overflow: hidden; border-top: 1px solid #ccc; }
.deck-footer .deck-keys { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; }
.deck-footer button { font-size: 24px; padding: 0 0.6em; background: #fff; border: 2px solid #000; border-radius: 6px;
  color: #000; cursor: pointer; }
.deck-alpha { display: flex; align-items: center; gap: 0.8em; font-size: var(--talk-font); font-weight: 700; }
.deck-range { flex: 1; height: 2.2em; accent-color: #0072B2; cursor: pointer; }
.deck-range::-webkit-slider-runnable-track { height: 0.5em; background: #0072B2; border-radius: 0.25em; }
.deck-range::-webkit-slider-thumb { -webkit-appearance: none; width: 1.4em; height: 1.4em; margin-top: -0.45em;
  border-radius: 50%; background: #D55E00; border: 3px solid #000; }
.deck-range { -webkit-appearance: none; background: transparent; }
.deck-range:focus { outline: 3px dashed #D55E00; outline-offset: 4px; }
.deck-range-value { min-width: 5.5em; font-variant-numeric: tabular-nums; }
.talk-roles { font-size: var(--talk-font); margin-top: 0.6em; }
.talk-qr { display: flex; align-items: center; gap: 1em; margin-top: 0.6em; font-size: var(--talk-font); }
.talk-qr code { font-size: 1em; }
.talk-qr svg { width: 7em; height: 7em; flex: none; }
.talk-table .best { text-decoration: underline; text-decoration-thickness: 3px; font-weight: 700; }
.talk-marks td { text-align: center; }
.wiseft-deck .talk-marks { align-self: flex-start; min-width: 40%; }
@media print {
  @page { size: 1920px 1080px; margin: 0; }
  html, body { height: auto !important; overflow: visible !important; }
  .wiseft-deck { position: static !important; height: auto !important; overflow: visible; }
  .wiseft-deck .slide { visibility: visible; position: relative; inset: auto; width: 100vw; height: 100vh;
    break-after: page; page-break-after: always; }
  .wiseft-deck .slide:last-child { break-after: auto; page-break-after: auto; }
  .deck-footer button { display: none; }
}
"""


def _panel_html(slide: Slide, figure_ids: list[int], alpha_control: str) -> str:
    panels = []
    ids = iter(figure_ids)
    for panel in slide.panels:
        inner = f'<div class="plot" data-fig="{next(ids)}"></div>' if panel.kind == "figure" else panel.html
        panels.append(f'<div class="panel">{inner}</div>')
    if not panels:
        return ""
    return f'{alpha_control}<div class="panels dir-{slide.panel_direction}">{"".join(panels)}</div>'


def slide_section(slide: Slide, texts: Texts, figure_ids: list[int], total: int, alpha_control: str = "") -> str:
    """One step as a ``<section>``: title, text, panels and a one-line footer (keys, step count, buttons)."""
    ui = texts.ui
    footer = (f'<footer class="deck-footer">'
              f'<button data-deck-go="prev" title="{html.escape(ui["previous"])}">←</button>'
              f'<span class="deck-count">{html.escape(ui["step"])} {slide.step} / {total}</span>'
              f'<button data-deck-go="next" title="{html.escape(ui["next"])}">→</button>'
              f'<span class="deck-keys">{html.escape(ui["export_keys_help"])}</span>'
              f'<button data-deck-go="notes">{html.escape(ui["notes_button"])}</button></footer>')
    return (f'<section class="slide layout-{slide.layout}" id="step-{slide.step}" data-step="{slide.step}">'
            f"<h1>{html.escape(slide.title)}</h1>"
            f'<div class="slide-body"><div class="talk-text">{slide.text_html}</div>'
            f"{_panel_html(slide, figure_ids, alpha_control)}</div>{footer}</section>")


def _alpha_control(texts: Texts) -> str:
    label = html.escape(texts.labels["alpha_axis"])
    return (f'<div class="deck-alpha"><span>α</span><input type="range" class="deck-range" aria-label="{label}">'
            '<output class="deck-range-value"></output></div>')


def deck_payload(slides: Sequence[Slide], texts: Texts, step: int = 1, live: dict | None = None) -> dict:
    """Everything ``deck.js`` needs, JSON-ready: the sections' HTML, figures, notes, the live step's frames.

    ``live`` (``slides.live_frames``) names the live step's alpha figure by ``(step, panel)``; its figure
    index in this deck is filled in here.
    """
    figures: list[dict] = []
    sections = []
    live_fig = poll = None
    for slide in slides:
        ids = []
        for j, panel in enumerate(slide.panels):
            if panel.kind == "figure":
                if live and (slide.step, j) == (live["step"], live["panel"]):
                    live_fig = len(figures)
                if panel.role == "poll":
                    poll = {"fig": len(figures), "title": texts.labels["poll_answers"]}
                ids.append(len(figures))
                figures.append(json.loads(pio.to_json(panel.figure, validate=False)))
        control = _alpha_control(texts) if live and slide.step == live["step"] else ""
        sections.append(slide_section(slide, texts, ids, len(slides), control))
    live_part = None if live is None or live_fig is None else {**live, "fig": live_fig}
    notes = [{"title": s.title, "notes": s.notes_html, "text": s.text_html} for s in slides]
    body = {"html": "".join(sections), "figures": figures, "live": live_part, "poll": poll, "notes": notes,
            "lang": texts.lang, "ui": {k: texts.ui[k] for k in NOTES_UI}}
    version = hashlib.sha1(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return {**body, "version": version, "step": min(max(int(step), 1), max(len(slides), 1))}


def live_of(slides: Sequence[Slide], data, texts: Texts, state: TalkState) -> dict | None:
    """The live step's alpha frames (None without a pair)."""
    live = next((s for s in slides if s.id == "live"), None)
    return live_frames(live, data, texts, state) if live else None


def build_deck(data, texts: Texts, state: TalkState | None = None, step: int = 1) -> dict:
    """The deck payload of the whole talk for one language and the presenter's choices."""
    state = state or TalkState()
    slides = build_talk(data, texts, state)
    return deck_payload(slides, texts, step, live_of(slides, data, texts, state))


NOTES_UI = ("notes", "timer", "on_this_step", "next_step", "last_step", "countdown", "previous", "next",
            "restart_timer", "current_step", "step")


def payload_json(payload: dict) -> str:
    """The payload for a ``<script type="application/json">`` block (no ``</script>`` inside)."""
    return json.dumps(payload, ensure_ascii=False).replace("</", "<\\/")
