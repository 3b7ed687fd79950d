"""Flips: which images alpha gets right that the endpoints did not (rescued), and which it loses."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import streamlit as st

from app_pages import room_jobs
from app_pages.lang import current_lang, names_for, plot_labels, t
from app_pages.shared import current_alpha, dataset_picker
from wiseft_core.data.datasets import load_dataset
from wiseft_core.demo.assets import DEMO_FLIPS, DEMO_POINTING, read_pointing
from wiseft_core.engine.alphas import alpha_range
from wiseft_core.errors import WiseftError
from wiseft_core.files.digests import file_sha256
from wiseft_core.inspection.along_alpha import along_alpha
from wiseft_core.inspection.flips import GROUPS, FlipsFile, counts_along, groups_at, image_ref, load_flips, open_ref
from wiseft_core.plots.inspection import flip_counts_figure, pointing_game_figure
from wiseft_core.serve.file_stamps import file_stamp
from wiseft_core.serve.i18n import translate

THUMBNAILS = 24
USER_KEY = "_flips_user"


@st.cache_data(show_spinner=False, max_entries=2)
def demo_flips(stamp: tuple):
    return load_flips(DEMO_FLIPS)


@st.cache_data(show_spinner=False, max_entries=4)
def checkpoint_sha(path: str, stamp: tuple) -> str:
    return file_sha256(path)


@st.cache_data(show_spinner=False, max_entries=2)
def demo_pointing(file_stamp: tuple):
    return read_pointing(DEMO_POINTING)


def pointing_section(flips_shown: bool) -> None:
    """The demo's pointing game: does the saliency peak fall on the object, along alpha?"""
    if not (flips_shown and DEMO_POINTING.is_file()):
        return
    st.subheader(t("flips.pointing_title"))
    st.caption(t("flips.pointing_caption"))
    st.plotly_chart(pointing_game_figure(demo_pointing(file_stamp(DEMO_POINTING)), current_alpha(),
                                         plot_labels()), key="pointing_chart")


def precomputed_for(context):
    """The shipped flips when the loaded pair is exactly the one they were measured on, else None."""
    if not DEMO_FLIPS.is_file():
        return None
    with st.spinner(t("flips.reading")):
        flips = demo_flips(file_stamp(DEMO_FLIPS))
    wanted = (flips.info.get("zeroshot_sha256"), flips.info.get("finetuned_sha256"))
    have = tuple(checkpoint_sha(p, file_stamp(Path(p))) for p in (context.zeroshot_path, context.finetuned_path))
    return flips if wanted == have else None


def flips_work(context, spec: str, step: float):
    """The job computing per-image predictions of the loaded pair on ``spec`` (both ensembles)."""

    pool = room_jobs.shared_pool(context)
    lang = current_lang()  # the worker thread has no session: its words are fixed here

    def work(job):
        loaded = load_dataset(spec)
        alphas = alpha_range(0, 1, step)
        job.report(0.0, translate(lang, "flips.predicting", n=len(loaded), k=len(alphas)))

        def progress(done: int, total: int) -> None:
            job.report(done / total, translate(lang, "flips.pass", done=done, total=total))

        results = along_alpha(context.pair, loaded, alphas, ("weights", "outputs"), room_jobs.APP_BATCH,
                              progress=progress, **room_jobs.along_options(pool, job))
        return FlipsFile(results, {"classnames": context.pair.classnames})

    return work


@st.cache_data(show_spinner=False, max_entries=512)
def thumbnail(ref: str, allowed: tuple[str, ...]) -> bytes:


    image, _ = open_ref(ref, allowed)
    if min(image.size) < 96:  # the demo's 32-px images: enlarge with crisp pixels
        scale = -(-96 // min(image.size))
        image = image.resize((image.width * scale, image.height * scale), 0)
    image.thumbnail((128, 128))
    handle = io.BytesIO()
    image.save(handle, format="PNG")
    return handle.getvalue()


def user_section(context) -> None:
    with st.form("flips_compute"):
        c1, c2 = st.columns([3, 1])
        spec = dataset_picker(c1, "demo:sketch", key="flips_spec")
        step = c2.selectbox(t("common.alpha_step"), [0.05, 0.1, 0.25], index=1, key="flips_step")
        submitted = st.form_submit_button(t("flips.compute"))
    result = room_jobs.pair_job("flips", t("app.nav.flips"), submitted, lambda: flips_work(context, spec, step),
                                (context.key, spec, step), context.key)
    if result is not None:
        st.session_state[USER_KEY] = (context.key, result)


st.title(t("flips.title"))
st.caption(t("flips.intro"))
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info(t("common.no_pair"))
    st.stop()

flips = precomputed_for(context)
demo_shown = flips is not None
if flips is not None:
    st.caption(t("flips.precomputed"))
with st.expander(t("flips.compute_expander"), expanded=flips is None):
    user_section(context)
held = st.session_state.get(USER_KEY)
if held is not None and held[0] == context.key:
    flips = held[1]
if flips is None:
    st.info(t("flips.none_yet"))
    st.stop()

specs = flips.specs()
c1, c2, c3 = st.columns([2, 1, 2])
spec = c1.selectbox(t("common.distribution"), specs, index=min(2, len(specs) - 1) if len(specs) > 2 else 0,
                    key="flips_distribution", format_func=plot_labels().name)
ensembles = [r.ensemble for r in flips.results if r.spec == spec]
ensemble = c2.radio(t("common.ensemble"), ensembles, horizontal=True, key="flips_ensemble",
                    format_func=names_for(ensembles, lambda e: t(f"flips.ensemble.{e}")))
result = flips.get(spec, ensemble)
measured = [a for a in result.alphas if 0 < a < 1] or result.alphas
wanted = current_alpha()
alpha = c3.select_slider("α", options=measured, value=min(measured, key=lambda a: abs(a - wanted)),
                         key="flips_alpha")

groups = groups_at(result, alpha)
columns = st.columns(len(GROUPS))
for column, name in zip(columns, GROUPS):
    column.metric(t(f"flips.group.{name}"), int(groups[name].sum()), help=t(f"flips.help.{name}"))
st.plotly_chart(flip_counts_figure(result.alphas, counts_along(result), result.n, alpha, plot_labels()),
                key="flips_chart")

classnames = flips.info.get("classnames") or context.pair.classnames
allowed = tuple(flips.specs())
tabs = st.tabs([f"{t(f'flips.group.{name}')} ({int(groups[name].sum())})" for name in GROUPS])
k0, k1, ka = result.index_of(0.0), result.index_of(1.0), result.index_of(alpha)
for tab, name in zip(tabs, GROUPS):
    with tab:
        indices = groups[name].nonzero()[0][:THUMBNAILS]
        if len(indices) == 0:
            st.caption(t("flips.empty_group"))
            continue
        st.caption(t("flips.group_caption", help=t(f"flips.help.{name}"), n=len(indices), alpha=f"{alpha:g}"))
        grid = st.columns(8)
        for slot, i in enumerate(indices):
            ref = image_ref(spec, int(i))
            p = result.predictions
            with grid[slot % 8]:
                try:
                    st.image(thumbnail(ref, allowed), width=96)
                except WiseftError as err:
                    st.caption(str(err))
                    continue
                true = classnames[result.labels[i]]
                st.markdown(f"[#{i}](?page=playground&alpha={alpha:g}&image={quote(ref, safe='')}) **{true}**  \n"
                            f"0: {classnames[p[k0, i]]} · α: {classnames[p[ka, i]]} · 1: {classnames[p[k1, i]]}")

pointing_section(demo_shown)
