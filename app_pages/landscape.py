"""Landscape: the loss along the straight line between two sets of weights, and its barrier."""

from __future__ import annotations

import streamlit as st

from app_pages import room_jobs
from app_pages.lang import current_lang, plot_labels, t
from app_pages.shared import current_alpha, dataset_picker
from wiseft_core.data.datasets import load_dataset
from wiseft_core.demo.assets import DEMO_LANDSCAPE, PATHS
from wiseft_core.engine.alphas import alpha_range
from wiseft_core.inspection.landscape import barrier_table, measure_path, read_csv
from wiseft_core.plots.inspection import landscape_figure
from wiseft_core.serve.file_stamps import file_stamp
from wiseft_core.serve.i18n import translate

USER_KEY = "_landscape_user"


@st.cache_data(show_spinner=False, max_entries=2)
def demo_paths(file_stamp: tuple):
    return read_csv(DEMO_LANDSCAPE)


def show_paths(paths, key: str) -> None:
    datasets = list(dict.fromkeys(p.dataset for p in paths))
    labels = plot_labels()
    dataset = (st.selectbox(t("common.distribution"), datasets, key=f"{key}_dataset", format_func=labels.name)
               if len(datasets) > 1 else datasets[0])
    shown = [p for p in paths if p.dataset == dataset]
    st.plotly_chart(landscape_figure(shown, current_alpha(), labels=labels), key=f"{key}_chart")
    st.dataframe([{t(f"landscape.col.{key}"): labels.name(value) if key in ("path", "dataset") else value
                   for key, value in row.items()} for row in barrier_table(shown)], hide_index=True)


def landscape_work(context, spec: str, step: float):
    """The job measuring the loaded pair's path on ``spec`` at alphas -0.5..1.5."""

    pool = room_jobs.shared_pool(context)
    lang = current_lang()  # the worker thread has no session: its words are fixed here

    def work(job):
        loaded = load_dataset(spec)
        alphas = alpha_range(-0.5, 1.5, step)
        job.report(0.0, translate(lang, "landscape.loss_on", n=len(loaded), k=len(alphas)))

        def progress(done: int, total: int) -> None:
            job.report(done / total, translate(lang, "landscape.progress", done=done, total=total))

        return measure_path("your pair", context.pair, [loaded], alphas, room_jobs.APP_BATCH, progress=progress,
                            **room_jobs.along_options(pool, job))

    return work


def user_section(context) -> None:
    with st.form("landscape_compute"):
        c1, c2 = st.columns([3, 1])
        spec = dataset_picker(c1, "demo:photo", key="landscape_spec")
        step = c2.selectbox(t("common.alpha_step"), [0.1, 0.25], key="landscape_step")
        submitted = st.form_submit_button(t("landscape.compute"))
    paths = room_jobs.pair_job("landscape", t("app.nav.landscape"), submitted,
                               lambda: landscape_work(context, spec, step), (context.key, spec, step), context.key)
    if paths is not None:
        st.session_state[USER_KEY] = (context.key, paths)


st.title(t("landscape.title"))
st.caption(t("landscape.intro"))

if DEMO_LANDSCAPE.is_file():
    st.subheader(t("landscape.demo"))
    paths = demo_paths(file_stamp(DEMO_LANDSCAPE))
    st.markdown("\n".join(f"- {t(f'landscape.path.{name}', name=t(f'plot.name.{name}'))}" for name in PATHS
                          if any(p.path == name for p in paths)))
    missing = [name for name in PATHS if not any(p.path == name for p in paths)]
    if missing:
        st.caption(t("landscape.not_measured", names=", ".join(t(f"plot.name.{name}") for name in missing)))
    show_paths(paths, "demo_landscape")
else:
    st.info(t("landscape.not_built"))

st.subheader(t("landscape.your_pair"))
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info(t("landscape.no_pair"))
else:
    user_section(context)
    held = st.session_state.get(USER_KEY)
    if held is not None and held[0] == context.key:
        show_paths(held[1], "user_landscape")

