"""Talk: the paper's story in twelve steps, presented from the app; ``?view=notes`` is the speaker-notes tab.

Keys (→ / PageDown / Space, ← / PageUp, Home, End) come from a tiny inline component; the step,
alpha, language, presenter and date live in the URL, so a reload returns to the same screen.
Content, figures and export are ``wiseft_core.talk``; this page only lays them out.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets

import streamlit as st

from app_pages.shared import current_alpha, set_alpha
from wiseft_core.errors import WiseftError
from wiseft_core.serve import audience
from wiseft_core.talk import LANGS, STEP_COUNT, TalkState, build_slide, build_talk, load_texts
from wiseft_core.talk.data import build_talk_data, default_sweep
from wiseft_core.talk.export import talk_html
from wiseft_core.talk.rooms import TalkRooms, format_elapsed
from wiseft_core.talk.slides import clamp_step, live_alpha_index, notes_for
from wiseft_core.talk.theme import PANEL_CSS

ROOM_ID = re.compile(r"[a-z0-9]{1,16}")  # rooms come from URLs and go into a link: nothing else is let in
DEFAULT_VIEWPORT = (1280, 720)  # the smaller projector size: a slide built for it fits both
KEYS_JS = """
export default function (component) {
  const { setTriggerValue, setStateValue } = component;
  const report = () => setStateValue("viewport", [window.innerWidth, window.innerHeight]);
  const actions = {ArrowRight: "next", PageDown: "next", " ": "next", ArrowLeft: "prev", PageUp: "prev",
                   Home: "first", End: "last"};
  const onKey = (event) => {
    const action = actions[event.key];
    const target = event.target;
    if (!action || event.altKey || event.ctrlKey || event.metaKey) return;
    const typing = 'input, textarea, select, [role="slider"], [contenteditable]';
    if (target && target.closest && target.closest(typing)) return;
    event.preventDefault();
    setTriggerValue("nav", action);
  };
  report();
  window.addEventListener("keydown", onKey);
  window.addEventListener("resize", report);
  return () => { window.removeEventListener("keydown", onKey); window.removeEventListener("resize", report); };
}
"""
talk_keys = st.components.v2.component("wiseft_talk_keys", js=KEYS_JS)


@st.cache_resource
def rooms() -> TalkRooms:
    return TalkRooms()


@st.cache_resource(show_spinner="Preparing the talk: live predictions and timings (once per pair)…", max_entries=4)
def talk_data(pair_key: str, _pair, sweep_key: str, _sweep, source: str):
    return build_talk_data(_pair, _sweep, source)


def page_css(font: int) -> str:
    return f"""<style>{PANEL_CSS}
:root {{ --talk-font: {font}px; --talk-thumb: {round(font * 2.3)}px; }}
[data-testid="stMainBlockContainer"] {{ padding: 3.2rem 2.2rem 0.5rem 2.2rem; max-width: 100%; }}
[data-testid="stMain"] {{ background: #fff; }}
.st-key-talk_keys {{ display: none; }}
.talk-h1 {{ font-size: {round(font * 1.6)}px; font-weight: 700; line-height: 1.15; margin: 0; color: #000; }}
.talk-center {{ text-align: left; margin: 0 auto; max-width: 80%; }}
.talk-center .talk-h1 {{ text-align: center; margin-top: 6vh; margin-bottom: 0.6em; }}
.st-key-talk_slide label p, .st-key-talk_slide [data-testid="stSliderThumbValue"],
.st-key-talk_slide [data-testid="stSliderTickBarMin"], .st-key-talk_slide [data-testid="stSliderTickBarMax"],
.st-key-talk_footer p, .st-key-talk_footer button p, .st-key-talk_alpha * {{ font-size: {font}px; color: #000; }}
</style>"""


def query_default(name: str, default: str) -> str:
    value = st.query_params.get(name)
    return value if value else default


def init_state() -> None:
    """Seed the page's widgets from the URL once per session; afterwards the widgets drive the URL."""
    if "talk_step" not in st.session_state:
        st.session_state.talk_step = clamp_step(query_default("step", "1"))
    if "talk_lang" not in st.session_state:
        lang = query_default("lang", "en")
        st.session_state.talk_lang = lang if lang in LANGS else "en"
    for name in ("presenter", "date"):
        st.session_state.setdefault(f"talk_{name}", query_default(name, ""))
    room = query_default("room", "")
    st.session_state.setdefault("talk_room", room if ROOM_ID.fullmatch(room) else secrets.token_hex(3))


def go(action: str) -> None:
    step = st.session_state.talk_step
    st.session_state.talk_step = clamp_step(
        {"next": step + 1, "prev": step - 1, "first": 1, "last": STEP_COUNT}.get(action, step))


def current_data(context, texts):
    """The talk's numbers for the loaded pair: the demo sweep for the demo pairs, an uploaded sweep otherwise."""
    sweep, source = default_sweep(context.zeroshot_path) if context else (None, "")
    sweep_key = str(sweep.stat().st_mtime_ns) if sweep else ""
    if context is not None and sweep is None:
        upload = st.sidebar.file_uploader(texts.ui["sweep_upload"], type=["csv"], key="talk_sweep")
        if upload is not None:
            sweep, source = upload.getvalue(), "this_pair"
            sweep_key = hashlib.sha256(sweep).hexdigest()
    try:
        return talk_data(context.key if context else "", context.pair if context else None, sweep_key, sweep, source)
    except WiseftError as err:
        st.sidebar.error(str(err))
        return talk_data(context.key if context else "", context.pair if context else None, "", None, "")


def fit_figures(slide, screen_height: int, font: int) -> None:
    """Give the slide's figures the height left once the title, text, controls and footer have theirs."""
    reserved = 175 + font * 1.9
    if slide.layout == "stack":
        reserved += (slide.text_html.count("<li>") + slide.text_html.count("<p>")) * font * 1.75
    if slide.id == "live":
        reserved += font * 3.6
    for panel in slide.panels:
        if panel.kind == "figure":
            panel.figure.update_layout(height=max(200, int(screen_height - reserved)))


def render_panels(slide, container, height_key: str) -> None:
    panels = slide.panels
    if not panels:
        return
    if slide.panel_direction == "column":
        slots = [container.container() for _ in panels]
    else:
        slots = container.columns([0.6 if "talk-live-image" in p.html else 1 for p in panels], gap="medium")
    for j, (slot, panel) in enumerate(zip(slots, panels)):
        if panel.kind == "figure":
            slot.plotly_chart(panel.figure, key=f"{height_key}_{slide.step}_{j}", config={"displayModeBar": False},
                              theme=None)
        else:
            slot.html(panel.html)


def slide_view(context, texts) -> None:
    keys = talk_keys(key="talk_keys", on_nav_change=lambda: None, on_viewport_change=lambda: None)
    if keys.nav:
        go(keys.nav)
    _, height = keys.viewport or DEFAULT_VIEWPORT
    font = max(24, round(height * 0.033))
    st.html(page_css(font))
    step = st.session_state.talk_step
    data = current_data(context, texts)
    alpha = current_alpha()
    state = TalkState(alpha=alpha, presenter=st.session_state.talk_presenter, date=st.session_state.talk_date,
                      live_index=st.session_state.get("talk_image"), font_size=max(20, round(font * 0.85)))
    slide = build_slide(step, data, texts, state)
    fit_figures(slide, height, font)
    rooms().update(st.session_state.talk_room, step, texts.lang)
    audience.publish(st.session_state.talk_room, step, alpha, texts.lang)  # students' phones follow

    box = st.container(key="talk_slide")
    if slide.layout == "center":
        box.html(f'<div class="talk-center"><div class="talk-h1">{html.escape(slide.title)}</div>'
                 f'<div class="talk-text">{slide.text_html}</div></div>')
    else:
        box.html(f'<div class="talk-h1">{html.escape(slide.title)}</div>')
        if slide.layout == "side":
            left, right = box.columns([0.3, 0.7], gap="large")
            left.html(f'<div class="talk-text">{slide.text_html}</div>')
            render_panels(slide, right, "talk_fig")
        else:
            box.html(f'<div class="talk-text">{slide.text_html}</div>')
            if slide.id == "live" and data.live:
                grid = data.live_alphas
                value = grid[live_alpha_index(data, alpha)]
                picked = box.select_slider("α", options=list(grid), value=value, format_func=lambda a: f"{a:g}",
                                           key="talk_alpha")
                if picked != alpha:
                    set_alpha(picked)
                    st.rerun()
            render_panels(slide, box, "talk_fig")
    footer(step, texts)
    st.query_params.update({"page": "talk", "step": str(step), "alpha": f"{alpha:g}", "lang": texts.lang,
                            "room": st.session_state.talk_room})
    for name in ("presenter", "date"):
        value = st.session_state[f"talk_{name}"].strip()
        if value:
            st.query_params[name] = value
        elif name in st.query_params:
            del st.query_params[name]
    sidebar_extras(data, texts)


def footer(step: int, texts) -> None:
    bar = st.container(key="talk_footer", horizontal=True, vertical_alignment="center")
    bar.button("←", key="talk_prev", on_click=go, args=("prev",), disabled=step == 1, help=texts.ui["previous"])
    bar.markdown(f"{texts.ui['step']} {step} / {STEP_COUNT}")
    bar.button("→", key="talk_next", on_click=go, args=("next",), disabled=step == STEP_COUNT, help=texts.ui["next"])


def sidebar_extras(data, texts) -> None:
    side = st.sidebar
    side.caption(texts.ui["keys_help"])
    side.html(f'<a href="talk?view=notes&room={st.session_state.talk_room}&lang={texts.lang}" target="_blank">'
              f'{texts.ui["open_notes"]}</a>')
    if data.live:
        options = list(range(len(data.live)))
        side.selectbox(texts.ui["image"], options, index=data.live_default, key="talk_image",
                       format_func=lambda i: f"{data.live[i].distribution}: {data.live[i].label or data.live[i].key}")
    state = TalkState(alpha=current_alpha(), presenter=st.session_state.talk_presenter,
                      date=st.session_state.talk_date, live_index=st.session_state.get("talk_image"),
                      alpha_slider_in_figure=True)
    side.download_button(texts.ui["download_html"], lambda: talk_html(build_talk(data, texts, state), texts),
                         file_name=f"wiseft_talk_{texts.lang}.html", mime="text/html", key="talk_download")


@st.fragment(run_every=1.0)
def notes_view(texts) -> None:
    """Follows the presenting tab through the shared room: its step's notes, the next step, the timers."""
    room = query_default("room", "")
    state = rooms().get(room)
    if state is None:
        st.info(texts.ui["keys_help"])
        return
    texts = load_texts(state.lang)
    title, notes, following = notes_for(state.step, texts)
    total, on_step = state.elapsed(rooms().clock())
    st.html(f"<style>{PANEL_CSS}</style>")
    st.markdown(f"## {state.step} / {STEP_COUNT} · {title}")
    st.markdown(f"### ⏱ {texts.ui['timer']} {format_elapsed(total)} · {format_elapsed(on_step)} "
                f"{texts.ui['on_this_step']}")
    st.html(f'<div class="talk-text">{notes}</div>')
    st.markdown(f"**{texts.ui['next_step']}:** {following}" if following else texts.ui["last_step"])
    if st.button(texts.ui["restart_timer"], key="talk_restart"):
        rooms().restart(room)


st.set_page_config(initial_sidebar_state="collapsed")  # a projector needs the whole width
init_state()
lang = st.sidebar.radio("Language / Язык", LANGS, key="talk_lang", horizontal=True,
                        format_func={"en": "English", "ru": "Русский"}.get)
texts = load_texts(lang)
st.sidebar.text_input(texts.ui["presenter"], key="talk_presenter")
st.sidebar.text_input(texts.ui["date"], key="talk_date")
if query_default("view", "slides") == "notes":
    st.title(texts.ui["notes"])
    notes_view(texts)
else:
    slide_view(st.session_state.get("_pair_context_now"), texts)
