"""Audience: a student's phone follows the talk (``?page=audience&room=ID``, the link on the title step).

Every second the page reads where the presenter is (``wiseft_core.serve.audience``): the step, and the alpha,
with the talk's shifted sample image predicted at that alpha by the loaded pair (its 21 grid alphas
computed once per pair, shared by every phone). Moving the slider takes over: the phone keeps its own
alpha until "Follow the presenter again". Below, the poll: which alpha is best?
"""

from __future__ import annotations

import html
import re
import uuid

import streamlit as st

from app_pages.lang import current_lang, t
from app_pages.shared import live_pool
from wiseft_core.demo.assets import DEMO_SAMPLES
from wiseft_core.demo.gallery import gallery_samples
from wiseft_core.engine.predict import to_batch
from wiseft_core.files.images import open_image
from wiseft_core.serve import audience
from wiseft_core.serve.alpha_grid import ALPHA_GRID, compute_alpha_grid
from wiseft_core.serve.slider_data import thumbnail_data_url
from wiseft_core.talk import load_texts

ROOM_ID = re.compile(r"[a-z0-9]{1,16}")  # as the talk's rooms: nothing else from a URL is let in
SHOWN_DISTRIBUTION = "sketch"  # a shifted image: where alpha matters


@st.cache_resource(max_entries=4, show_spinner=False)
def shown_image(pair_key: str, _pair, device: str):
    """(sample, inline thumbnail, probabilities at each grid alpha) for the talk's shifted sample, or None.

    The thumbnail is a data URL: the page redraws every second, and an inline picture needs no new request.
    """
    groups = gallery_samples(DEMO_SAMPLES, _pair.classnames)
    candidates = [s for s in groups.get(SHOWN_DISTRIBUTION, []) + sum(groups.values(), []) if s.label]
    if not candidates:
        return None
    sample = candidates[0]
    image = open_image(sample.path.read_bytes())
    batch = to_batch([image], _pair.preprocessing)
    with live_pool(pair_key, _pair, device).lease() as interpolator:
        grid = compute_alpha_grid(interpolator, batch)
    return sample, thumbnail_data_url(image, size=72), grid.logits.softmax(dim=-1)[:, 0]


def nearest(alpha: float) -> float:
    return min(ALPHA_GRID, key=lambda a: abs(a - alpha))


def take_over() -> None:
    st.session_state.aud_own = True


def follow_again() -> None:
    st.session_state.aud_own = False


def verdict(context, alpha: float) -> None:
    shown = shown_image(context.key, context.pair, context.device) if context is not None else None
    if shown is None:
        return
    sample, thumb, probs = shown
    row = probs[ALPHA_GRID.index(alpha)]
    best = int(row.argmax())
    name = context.pair.classnames[best]
    mark = " ✓" if name == sample.label else " ✗"
    picture, words = st.columns([1, 3], vertical_alignment="center")
    picture.html(f'<img src="{thumb}" width="72" height="72" alt="{html.escape(sample.label or "")}" '
                 'style="image-rendering: pixelated">')
    words.markdown(f"**{t('slider.prediction', alpha=f'{alpha:g}')}{name} ({float(row[best]):.0%}){mark}**")


@st.fragment(run_every=1.0)
def follow(room: str, context) -> None:
    """The presenter's step and alpha (unless this phone took over), and the poll's count, once a second."""
    state = audience.AUDIENCE.presenter(room)
    if state is None:
        st.caption(t("audience.waiting"))
    else:
        steps = load_texts(current_lang()).steps  # as the presenter shows them (a teacher's plan applied)
        title = steps[state.step - 1].title if 1 <= state.step <= len(steps) else ""
        st.subheader(f"{t('audience.step', step=state.step, total=len(steps))} · {title}")
    presenter_alpha = nearest(state.alpha) if state is not None else 0.5
    own = st.session_state.get("aud_own", False)
    if not own:
        st.session_state.aud_alpha = presenter_alpha
    alpha = st.select_slider(t("slider.label"), options=ALPHA_GRID, key="aud_alpha", on_change=take_over,
                             format_func=lambda a: f"{a:g}")
    if own:
        st.caption(t("audience.own", alpha=f"{presenter_alpha:g}"))
        st.button(t("audience.follow_again"), on_click=follow_again, key="aud_follow")
    else:
        st.caption(t("audience.following", alpha=f"{presenter_alpha:g}"))
    verdict(context, alpha)
    st.caption(t("audience.votes", n=sum(audience.histogram(room).values())))


def poll(room: str, student: str) -> None:
    st.subheader(t("audience.poll_title"))
    with st.form("aud_poll"):
        pick = st.select_slider(t("audience.poll_help"), options=audience.POLL_ALPHAS, value=0.5, key="aud_poll_alpha",
                                format_func=lambda a: f"{a:g}")
        if st.form_submit_button(t("audience.vote"), width="stretch"):
            st.session_state.aud_voted = audience.AUDIENCE.vote(room, student, pick)
    if "aud_voted" in st.session_state:
        st.success(t("audience.voted", alpha=f"{st.session_state.aud_voted:g}"))


st.title(t("audience.title"))
room = st.query_params.get("room", "")
if not ROOM_ID.fullmatch(room):
    st.info(t("audience.no_room"))
    st.stop()
student = st.session_state.setdefault("aud_student", uuid.uuid4().hex)
follow(room, st.session_state.get("_pair_context_now"))
poll(room, student)
