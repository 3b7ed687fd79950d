"""Talk: the paper's story, presented from the app; ``?view=notes&room=ID&key=SECRET`` is the presenter view.

The whole talk is one deck in the browser (``wiseft_core/talk/deck.js`` in a Components v2 element):
a key press shows the next step at once, with no server round trip. Only live things reach the server:
alpha (released on the live step: the alpha-dependent figures are rebuilt) and, through a small
fragment, the step (URL, room) and the presenter view's next/previous requests. Content, figures and
export are ``wiseft_core.talk``; this page only mounts them.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import time
from urllib.parse import urlencode, urlsplit

import streamlit as st
from plotly.offline import get_plotlyjs

from app_pages.shared import current_alpha, set_alpha
from wiseft_core.errors import WiseftError
from wiseft_core.serve import audience
from wiseft_core.serve.markup import escape_markdown
from wiseft_core.talk import LANGS, TalkState, build_talk, load_texts
from wiseft_core.talk.data import build_talk_data, default_sweep
from wiseft_core.talk.deck import DECK_CSS, DECK_JS, build_deck, live_of
from wiseft_core.talk.export import talk_html
from wiseft_core.talk.rooms import TalkRooms, format_elapsed
from wiseft_core.talk.slides import DEMO_SOUPS_CSV, clamp_step, notes_for
from wiseft_core.talk.theme import PANEL_CSS

ROOM_ID = re.compile(r"[a-z0-9]{1,16}")  # rooms come from URLs and go into a link: nothing else is let in
SECRET = re.compile(r"[a-f0-9]{32}")
POLL_MS = 600  # how often the projected tab asks for the presenter view's step requests and the poll's votes
NAMES = ("presenter", "reviewer", "hacker", "date")

DECK_APP_JS = DECK_JS + """
const DECKS = new WeakMap();
const SETTERS = new WeakMap();  // parent element -> the latest mount's setStateValue
// Streamlit writes the URL from its own copy of the query (the step as last reported, maybe a step behind):
// the deck's step is the truth, so any URL of this page gets the deck's step.
function keepDeckStepInUrls() {
  if (window.wiseftHistoryKept) return;
  window.wiseftHistoryKept = true;
  for (const name of ["pushState", "replaceState"]) {
    const original = window.history[name].bind(window.history);
    window.history[name] = function (state, title, url) {
      const deck = window.talkDeck;
      if (url && deck && deck.current >= 0 && document.body.contains(deck.root)) {
        try {
          const next = new URL(url, window.location.href);
          if (next.searchParams.has("step") && next.searchParams.get("view") !== "notes") {
            next.searchParams.set("step", String(deck.current + 1));
            url = next.toString();
          }
        } catch (err) { /* not a URL we know: leave it */ }
      }
      return original(state, title, url);
    };
  }
}
export default function (component) {
  keepDeckStepInUrls();
  const { parentElement, setStateValue } = component;
  const payload = component.data[0];
  const fresh = payload.plotly && typeof Plotly === "undefined";
  if (fresh) {  // once per page: plotly.js comes with the first mount
    const script = document.createElement("script");
    script.textContent = payload.plotly;
    document.head.appendChild(script);
  } else if (typeof Plotly === "undefined") {
    component.setTriggerValue("plotly", Date.now());  // this page never got it: ask once more
  }
  // A rerun mounts the element again with a new component: the deck (made once) must report through the
  // latest one, or an alpha released after a rerun would never reach the server.
  SETTERS.set(parentElement, setStateValue);
  let deck = DECKS.get(parentElement);
  if (!deck) {
    const root = document.createElement("div");
    root.className = "wiseft-deck";
    parentElement.appendChild(root);
    deck = wiseftDeckCreate(root, {
      onStep: function (step) {
        const url = new URL(window.location.href);
        url.searchParams.set("step", String(step));
        window.history.replaceState(window.history.state, "", url);
        window.dispatchEvent(new CustomEvent("wiseft-talk-step", { detail: step }));
      },
      onAlpha: function (alpha) {
        const url = new URL(window.location.href);
        url.searchParams.set("alpha", String(alpha));
        window.history.replaceState(window.history.state, "", url);
        SETTERS.get(parentElement)("alpha", alpha);
      },
      onNotes: function () {
        if (window.wiseftTalkNotesUrl) window.open(window.wiseftTalkNotesUrl, "wiseft-talk-notes");
      }
    });
    window.addEventListener("wiseft-talk-goto", function (event) { deck.show(event.detail - 1, "remote"); });
    window.addEventListener("wiseft-talk-votes", function (event) { deck.setVotes(event.detail); });
    window.talkDeck = deck;
    DECKS.set(parentElement, deck);
  }
  if (fresh) deck.version = null;  // draw the figures now that plotly.js is here
  deck.mount(payload);
  if (window.wiseftTalkVotes) deck.setVotes(window.wiseftTalkVotes);  // heard before this deck was made
}
"""

SYNC_JS = """
const SYNCS = new WeakMap();
export default function (component) {
  const { parentElement, setStateValue, setTriggerValue } = component;
  const d = component.data[0];
  let sync = SYNCS.get(parentElement);
  if (!sync) {
    const name = "wiseft-talk-secret:" + d.room;
    let secret = window.sessionStorage.getItem(name);
    if (!secret || !/^[a-f0-9]{32}$/.test(secret)) {
      const bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      secret = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      window.sessionStorage.setItem(name, secret);
    }
    sync = { seq: d.seq, timer: 0 };
    window.addEventListener("wiseft-talk-step", (event) => setStateValue("step", event.detail));
    setStateValue("secret", secret);
    SYNCS.set(parentElement, sync);
  }
  if (d.seq > sync.seq) {  // the presenter view asked for a step
    sync.seq = d.seq;
    window.dispatchEvent(new CustomEvent("wiseft-talk-goto", { detail: d.goto }));
  }
  if (d.notes_url) window.wiseftTalkNotesUrl = d.notes_url;
  if (d.votes) {  // the poll step's bars: the room's answers per alpha
    window.wiseftTalkVotes = d.votes;
    window.dispatchEvent(new CustomEvent("wiseft-talk-votes", { detail: d.votes }));
  }
  clearTimeout(sync.timer);
  sync.timer = setTimeout(() => setTriggerValue("poll", Date.now()), d.poll_ms);
}
"""
talk_deck = st.components.v2.component("wiseft_talk_deck", js=DECK_APP_JS, isolate_styles=False)
talk_sync = st.components.v2.component("wiseft_talk_sync", js=SYNC_JS)


@st.cache_resource(show_spinner=False)
def rooms() -> TalkRooms:
    return TalkRooms()


@st.cache_resource(show_spinner=False, max_entries=4)  # current_data's spinner speaks the talk's language
def talk_data(pair_key: str, _pair, sweep_key: str, _sweep, source: str):
    return build_talk_data(_pair, _sweep, source)


@st.cache_resource(max_entries=16, show_spinner=False)
def deck_for(data_key: tuple, _data, lang: str, state: TalkState) -> dict:
    """The deck payload (all steps' HTML and figures) for one language and the presenter's choices."""
    return build_deck(_data, load_texts(lang), state)


def page_css() -> str:
    return f"""<style>{PANEL_CSS}{DECK_CSS}
[data-testid="stMainBlockContainer"] {{ padding: 3rem 0.6rem 0 0.6rem; max-width: 100%; }}
[data-testid="stMain"] {{ background: #fff; overflow: hidden; }}
.st-key-talk_deck .wiseft-deck {{ height: calc(100vh - 3rem); }}
.st-key-talk_sync {{ display: none; }}
[data-testid="stMainBlockContainer"] [data-testid="stVerticalBlock"] {{ gap: 0; }}
</style>"""


def step_count(lang: str) -> int:
    """How many steps the talk shows: the texts' steps after the teacher's plan (hidden, optional, added)."""
    return len(load_texts(lang).steps)


def query_default(name: str, default: str) -> str:
    value = st.query_params.get(name)
    return value if value else default


def init_state() -> None:
    """Seed the page's widgets from the URL once per session; afterwards the widgets drive the URL."""
    if "talk_step" not in st.session_state:
        lang = query_default("lang", "en")
        st.session_state.talk_step = clamp_step(query_default("step", "1"), step_count(lang if lang in LANGS else "en"))
    if "talk_lang" not in st.session_state:
        lang = query_default("lang", "en")
        st.session_state.talk_lang = lang if lang in LANGS else "en"
    for name in NAMES:
        st.session_state.setdefault(f"talk_{name}", query_default(name, "")[:80])
    room = query_default("room", "")
    st.session_state.setdefault("talk_room", room if ROOM_ID.fullmatch(room) else secrets.token_hex(3))


def current_data(context, texts):
    """The talk's numbers for the loaded pair: the demo sweep for the demo pairs, an uploaded sweep otherwise."""
    sweep, source = default_sweep(context.zeroshot_path) if context else (None, "")
    sweep_key = str(sweep.stat().st_mtime_ns) if sweep else ""
    if context is not None and sweep is None:
        upload = st.sidebar.file_uploader(texts.ui["sweep_upload"], type=["csv"], key="talk_sweep")
        if upload is not None:
            sweep, source = upload.getvalue(), "this_pair"
            sweep_key = hashlib.sha256(sweep).hexdigest()
    key = (context.key if context else "", sweep_key)
    try:
        with st.spinner(texts.ui["preparing"]):
            return key, talk_data(key[0], context.pair if context else None, sweep_key, sweep, source)
    except WiseftError as err:
        st.sidebar.error(escape_markdown(str(err)))
        return (key[0], ""), talk_data(key[0], context.pair if context else None, "", None, "")


def audience_url(room: str) -> str:
    """The link students open on their phones (the audience page follows this room)."""
    try:
        parts = urlsplit(st.context.url or "")
        base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    except (AttributeError, ValueError):
        base = ""
    return f"{base}/?{urlencode({'page': 'audience', 'room': room})}"


def soups_key() -> int:
    """The demo soups' results change when the demo is rebuilt: a new file makes a new deck (its step reads it)."""
    try:
        return DEMO_SOUPS_CSV.stat().st_mtime_ns
    except OSError:
        return 0


def talk_state(data) -> TalkState:
    names = {n: st.session_state[f"talk_{n}"].strip() for n in NAMES}
    return TalkState(alpha=current_alpha(), presenter=names["presenter"], date=names["date"],
                     reviewer=names["reviewer"], hacker=names["hacker"],
                     live_index=st.session_state.get("talk_image"),
                     audience_url=audience_url(st.session_state.talk_room))


def take_deck_alpha() -> bool:
    """The alpha the presenter released on the live step (the deck's state) becomes the session's alpha;
    True when it changed."""
    reported = (st.session_state.get("talk_deck") or {}).get("alpha")
    if reported is not None and reported != st.session_state.get("talk_alpha_seen"):
        st.session_state.talk_alpha_seen = reported
        set_alpha(float(reported))
        return True
    return False


def slide_view(context, texts) -> None:
    st.html(page_css())
    take_deck_alpha()
    data_key, data = current_data(context, texts)
    state = talk_state(data)
    payload = dict(deck_for((*data_key, soups_key()), data, texts.lang, state))
    payload["step"] = st.session_state.talk_step
    asked = bool((st.session_state.get("talk_deck") or {}).get("plotly"))  # a page that lost it asks again
    if asked or not st.session_state.get("talk_plotly_sent"):
        payload["plotly"] = get_plotlyjs()
    st.session_state.setdefault("talk_alpha_seen", state.alpha)
    talk_deck(key="talk_deck", data=[payload], default={"alpha": state.alpha},
              on_alpha_change=lambda: None, on_plotly_change=lambda: None)
    st.session_state.talk_plotly_sent = True  # after the element is on its way: an interrupted run sends it again
    sync_view(texts.lang)
    write_url(texts.lang)
    sidebar_extras(data, texts, state)


@st.fragment
def sync_view(lang: str) -> None:
    """The projected tab's link to its room: reports the step, picks up the presenter view's requests."""
    if take_deck_alpha():  # a release that reached the server in a run of this fragment only (it reruns every
        st.rerun()  # 0.6 s): the whole page reruns, so the alpha-dependent figures and the URL follow it
    room = st.session_state.talk_room
    sync = st.session_state.get("talk_sync") or {}
    secret = sync.get("secret") or ""
    step = clamp_step(sync.get("step") or st.session_state.talk_step, step_count(lang))
    st.session_state.talk_step = step
    owner = bool(SECRET.fullmatch(secret)) and rooms().claim(room, secret, step, lang)
    state = rooms().update(room, step, lang, secret, current_alpha()) if owner else None
    if owner:  # students' phones follow the room that owns the projector
        audience.publish(room, step, current_alpha(), lang)
    notes_url = "talk?" + urlencode({"view": "notes", "room": room, "key": secret, "lang": lang}) if owner else ""
    talk_sync(key="talk_sync", data=[{"room": room, "seq": state.command_seq if state else 0,
                                      "goto": state.command_step if state else 0, "notes_url": notes_url,
                                      "votes": list(audience.histogram(room).values()),  # the poll step's bars
                                      "poll_ms": POLL_MS, "tick": time.monotonic()}],  # new data: JS runs again
              on_step_change=lambda: None, on_secret_change=lambda: None, on_poll_change=lambda: None)
    write_url(lang)  # the whole query from the server's state: a fragment run's own copy can be a release behind


def write_url(lang: str) -> None:
    st.query_params.update({"page": "talk", "step": str(st.session_state.talk_step), "alpha": f"{current_alpha():g}",
                            "lang": lang, "room": st.session_state.talk_room})
    for name in NAMES:
        value = st.session_state[f"talk_{name}"].strip()
        if value:
            st.query_params[name] = value
        elif name in st.query_params:
            del st.query_params[name]


def sidebar_extras(data, texts, state: TalkState) -> None:
    side = st.sidebar
    side.caption(texts.ui["keys_help"])
    if data.live:
        options = list(range(len(data.live)))
        side.selectbox(texts.ui["image"], options, index=data.live_default, key="talk_image",
                       format_func=lambda i: f"{data.live[i].distribution}: {data.live[i].label or data.live[i].key}")

    def whole_file() -> str:
        slides = build_talk(data, texts, state)
        return talk_html(slides, texts, live_of(slides, data, texts, state))

    side.download_button(texts.ui["download_html"], whole_file, file_name=f"wiseft_talk_{texts.lang}.html",
                         mime="text/html", key="talk_download")


def preview_html(step: int, texts, label: str) -> str:
    if step > len(texts.steps):
        return f'<div class="pv"><b>{html.escape(label)}</b><p>{html.escape(texts.ui["last_step"])}</p></div>'
    words = texts.steps[step - 1]
    body = "".join(f"<li>{html.escape(line.lstrip('-0123456789. '))}</li>" for line in words.body if line.strip())
    return (f'<div class="pv"><b>{html.escape(label)} · {step}</b><div class="pv-title">{html.escape(words.title)}'
            f"</div><ul>{body}</ul></div>")


NOTES_CSS = """<style>.pv { border: 2px solid #000; padding: 0.4em 0.7em; height: 13em; overflow: hidden;
font-size: 14px; } .pv-title { font-size: 20px; font-weight: 700; margin: 0.2em 0; }
.pv ul { margin: 0; padding-left: 1.2em; } .pv-timer { font-size: 30px; font-weight: 700;
font-variant-numeric: tabular-nums; }</style>"""


@st.fragment(run_every=1.0)
def notes_view(room: str, key: str) -> None:
    """The presenter view: notes, the current and next step, the talk's clocks, buttons that drive the talk."""
    state = rooms().get(room)
    texts = load_texts(state.lang if state else st.session_state.talk_lang)
    if state is None or not rooms().is_owner(room, key):
        st.warning(texts.ui["notes_locked"])
        return
    total, on_step = state.elapsed(rooms().clock())
    minutes = st.session_state.get("talk_minutes", 20)
    st.html(f"<style>{PANEL_CSS}</style>{NOTES_CSS}")
    title, notes, _ = notes_for(state.step, texts)
    bar = st.columns([1, 1, 3, 1.4], vertical_alignment="center")
    bar[0].button(f"← {texts.ui['previous']}", key="notes_prev", disabled=state.step == 1,
                  on_click=rooms().command, args=(room, key, max(state.step - 1, 1)))
    total = len(texts.steps)
    bar[1].button(f"{texts.ui['next']} →", key="notes_next", disabled=state.step == total,
                  on_click=rooms().command, args=(room, key, min(state.step + 1, total)))
    bar[2].html(f'<div class="pv-timer">⏱ {format_elapsed(total)} · {format_elapsed(on_step)} '
                f'{html.escape(texts.ui["on_this_step"])} · {html.escape(texts.ui["countdown"])} '
                f"{format_elapsed(minutes * 60 - total)}</div>")
    bar[3].button(texts.ui["start_timer"] if state.started is None else texts.ui["restart_timer"],
                  key="notes_restart", on_click=rooms().restart, args=(room, key))
    left, right = st.columns(2)
    left.html(preview_html(state.step, texts, texts.ui["current_step"]))
    right.html(preview_html(state.step + 1, texts, texts.ui["next_step"]))
    st.markdown(f"### {state.step} / {total} · {title}")
    st.html(f'<div class="talk-text">{notes}</div>')


st.set_page_config(initial_sidebar_state="collapsed")  # a projector needs the whole width
init_state()
lang = st.sidebar.radio("Language / Язык", LANGS, key="talk_lang", horizontal=True,
                        format_func={"en": "English", "ru": "Русский"}.get)
texts = load_texts(lang)
if query_default("view", "slides") == "notes":
    st.sidebar.number_input(texts.ui["minutes"], 1, 240, 20, key="talk_minutes")
    st.title(texts.ui["notes"])
    notes_view(query_default("room", ""), query_default("key", ""))
else:
    for field in NAMES:
        st.sidebar.text_input(texts.ui[field], key=f"talk_{field}")
    slide_view(st.session_state.get("_pair_context_now"), texts)
