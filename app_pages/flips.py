"""Flips: which images alpha gets right that the endpoints did not (rescued), and which it loses."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import streamlit as st

from app_pages import room_jobs
from app_pages.shared import current_alpha, dataset_picker
from wiseft_core.data.datasets import load_dataset
from wiseft_core.demo.build import DEFAULT_OUT
from wiseft_core.demo.inspection import FLIPS_FILE, POINTING_CSV, SUBDIR, read_pointing
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import file_sha256
from wiseft_core.inspection.along_alpha import along_alpha
from wiseft_core.inspection.flips import (
    GROUP_HELP,
    GROUPS,
    FlipsFile,
    counts_along,
    groups_at,
    image_ref,
    load_flips,
    open_ref,
)
from wiseft_core.plots.inspection import flip_counts_figure, pointing_game_figure

DEMO_FLIPS = DEFAULT_OUT / SUBDIR / FLIPS_FILE
DEMO_POINTING = DEFAULT_OUT / SUBDIR / POINTING_CSV
THUMBNAILS = 24
USER_KEY = "_flips_user"


@st.cache_data(show_spinner="Reading the demo's per-image predictions…", max_entries=2)
def demo_flips(stamp: tuple):
    return load_flips(DEMO_FLIPS)


@st.cache_data(show_spinner=False, max_entries=4)
def checkpoint_sha(path: str, stamp: tuple) -> str:
    return file_sha256(path)


def stamp_of(path: Path) -> tuple:
    return (str(path), path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else (str(path),)


@st.cache_data(show_spinner=False, max_entries=2)
def demo_pointing(file_stamp: tuple):
    return read_pointing(DEMO_POINTING)


def pointing_section(flips_shown: bool) -> None:
    """The demo's pointing game: does the saliency peak fall on the object, along alpha?"""
    if not (flips_shown and DEMO_POINTING.is_file()):
        return
    st.subheader("Where the model looks, along α")
    st.caption("Pointing game on the demo world, whose generator knows every object's mask: the share of test "
               "images whose saliency peak (class-activation map of the prediction) falls on the object. "
               "Dotted: chance, the object's share of the image.")
    st.plotly_chart(pointing_game_figure(demo_pointing(stamp_of(DEMO_POINTING)), current_alpha()),
                    key="pointing_chart")


def precomputed_for(context):
    """The shipped flips when the loaded pair is exactly the one they were measured on, else None."""
    if not DEMO_FLIPS.is_file():
        return None
    flips = demo_flips(stamp_of(DEMO_FLIPS))
    wanted = (flips.info.get("zeroshot_sha256"), flips.info.get("finetuned_sha256"))
    have = tuple(checkpoint_sha(p, stamp_of(Path(p))) for p in (context.zeroshot_path, context.finetuned_path))
    return flips if wanted == have else None


def flips_work(context, spec: str, step: float):
    """The job computing per-image predictions of the loaded pair on ``spec`` (both ensembles)."""

    def work(job):
        loaded = load_dataset(spec)
        alphas = [round(k * step, 6) for k in range(int(round(1 / step)) + 1)]
        job.report(0.0, f"predicting {len(loaded)} images at {len(alphas)} alphas")
        results = along_alpha(context.pair, loaded, alphas, ("weights", "outputs"), room_jobs.APP_BATCH,
                              progress=lambda done, total: job.report(done / total, f"pass {done} of {total}"),
                              **room_jobs.along_options(context, job))
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
        step = c2.selectbox("α step", [0.05, 0.1, 0.25], index=1, key="flips_step")
        submitted = st.form_submit_button("Compute flips for the loaded pair")
    job = room_jobs.current("flips")
    if submitted:
        job = room_jobs.start("flips", "Flips", flips_work(context, spec, step), (context.key, spec, step))
    if job is None or job.key[1] != context.key:
        return
    if not job.finished:
        room_jobs.progress_panel(job, "flips_job")
    result = room_jobs.outcome(job)
    if result is not None:
        st.session_state[USER_KEY] = (context.key, result)


st.title("Which images flip")
st.caption("Per test image: right or wrong at α = 0 (zero-shot), α = 1 (fine-tuned) and the α you pick. "
           "**Rescued**: wrong at both ends, right at α. **Lost**: right at an end, wrong at α.")
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info("Load a model pair in the sidebar first.")
    st.stop()

flips = precomputed_for(context)
demo_shown = flips is not None
if flips is not None:
    st.caption("Precomputed for the demo pair: test images of the six distributions along α "
               "(`python -m wiseft_core.demo.inspection`).")
with st.expander("Compute flips on a dataset for the loaded pair", expanded=flips is None):
    user_section(context)
held = st.session_state.get(USER_KEY)
if held is not None and held[0] == context.key:
    flips = held[1]
if flips is None:
    st.info("No per-image predictions yet for this pair: compute them above.")
    st.stop()

specs = flips.specs()
c1, c2, c3 = st.columns([2, 1, 2])
spec = c1.selectbox("Distribution", specs, index=min(2, len(specs) - 1) if len(specs) > 2 else 0,
                    key="flips_distribution")
ensembles = [r.ensemble for r in flips.results if r.spec == spec]
ensemble = c2.radio("Ensemble", ensembles, horizontal=True, key="flips_ensemble",
                    format_func={"weights": "weights", "outputs": "outputs"}.get)
result = flips.get(spec, ensemble)
measured = [a for a in result.alphas if 0 < a < 1] or result.alphas
wanted = current_alpha()
alpha = c3.select_slider("α", options=measured, value=min(measured, key=lambda a: abs(a - wanted)),
                         key="flips_alpha")

groups = groups_at(result, alpha)
columns = st.columns(len(GROUPS))
for column, name in zip(columns, GROUPS):
    column.metric(name, int(groups[name].sum()), help=GROUP_HELP[name])
st.plotly_chart(flip_counts_figure(result.alphas, counts_along(result), result.n, alpha), key="flips_chart")

classnames = flips.info.get("classnames") or context.pair.classnames
allowed = tuple(flips.specs())
tabs = st.tabs([f"{name} ({int(groups[name].sum())})" for name in GROUPS])
k0, k1, ka = result.index_of(0.0), result.index_of(1.0), result.index_of(alpha)
for tab, name in zip(tabs, GROUPS):
    with tab:
        indices = groups[name].nonzero()[0][:THUMBNAILS]
        if len(indices) == 0:
            st.caption("No image in this group at this α.")
            continue
        st.caption(f"{GROUP_HELP[name]} — the first {len(indices)}; click one to open it in the Playground at "
                   f"α = {alpha:g}.")
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
