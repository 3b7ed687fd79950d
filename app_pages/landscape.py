"""Landscape: the loss along the straight line between two sets of weights, and its barrier."""

from __future__ import annotations

import streamlit as st

from app_pages import room_jobs
from app_pages.lang import t
from app_pages.shared import current_alpha, dataset_picker
from wiseft_core.data.datasets import load_dataset
from wiseft_core.demo.assets import DEMO_LANDSCAPE, PATHS
from wiseft_core.inspection.landscape import barrier_table, measure_path, read_csv
from wiseft_core.plots.inspection import landscape_figure
from wiseft_core.serve.file_stamps import file_stamp

USER_KEY = "_landscape_user"


@st.cache_data(show_spinner=False, max_entries=2)
def demo_paths(file_stamp: tuple):
    return read_csv(DEMO_LANDSCAPE)


def show_paths(paths, key: str) -> None:
    datasets = list(dict.fromkeys(p.dataset for p in paths))
    dataset = (st.selectbox(t("common.distribution"), datasets, key=f"{key}_dataset") if len(datasets) > 1
               else datasets[0])
    shown = [p for p in paths if p.dataset == dataset]
    st.plotly_chart(landscape_figure(shown, current_alpha()), key=f"{key}_chart")
    st.dataframe(barrier_table(shown), hide_index=True)


def landscape_work(context, spec: str, step: float):
    """The job measuring the loaded pair's path on ``spec`` at alphas -0.5..1.5."""

    pool = room_jobs.shared_pool(context)

    def work(job):
        loaded = load_dataset(spec)
        alphas = [round(-0.5 + k * step, 6) for k in range(int(round(2 / step)) + 1)]
        job.report(0.0, f"loss on {len(loaded)} images at {len(alphas)} alphas")
        return measure_path("your pair", context.pair, [loaded], alphas, room_jobs.APP_BATCH,
                            progress=lambda done, total: job.report(done / total, f"α {done} of {total}"),
                            **room_jobs.along_options(pool, job))

    return work


def user_section(context) -> None:
    with st.form("landscape_compute"):
        c1, c2 = st.columns([3, 1])
        spec = dataset_picker(c1, "demo:photo", key="landscape_spec")
        step = c2.selectbox(t("common.alpha_step"), [0.1, 0.25], key="landscape_step")
        submitted = st.form_submit_button(t("landscape.compute"))
    job = room_jobs.current("landscape")
    if submitted:
        job = room_jobs.start("landscape", "Landscape", landscape_work(context, spec, step),
                              (context.key, spec, step))
    if job is None or job.key[1] != context.key:
        return
    if not job.finished:
        room_jobs.progress_panel(job, "landscape_job")
    paths = room_jobs.outcome(job)
    if paths is not None:
        st.session_state[USER_KEY] = (context.key, paths)


st.title(t("landscape.title"))
st.caption(t("landscape.intro"))

if DEMO_LANDSCAPE.is_file():
    st.subheader(t("landscape.demo"))
    paths = demo_paths(file_stamp(DEMO_LANDSCAPE))
    st.markdown("\n".join(f"- {t(f'landscape.path.{name}')}" for name in PATHS if any(p.path == name for p in paths)))
    missing = [name for name in PATHS if not any(p.path == name for p in paths)]
    if missing:
        st.caption(t("landscape.not_measured", names=", ".join(missing)))
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

